// Token files for training: `arwkv prepare-data` writes them, the trainer reads windows from them.
// Layout (little-endian): a 64-byte header {char magic[8] "ARWKVTOK", u32 version (1), u32 vocab size,
// u64 token count, u64 document count, zero padding}, then the u32 token stream, then one u8 mask per
// token (1 = train on this token as a target). Documents are separated by the eos token.
#ifndef ARWKV_TRAIN_DATA_H
#define ARWKV_TRAIN_DATA_H

#include "core/core.h"

#define DATA_MAGIC "ARWKVTOK"
#define DATA_VERSION 1
#define DATA_HEADER_BYTES 64

// Tokenizes plain text files (one document each), JSONL with "text" or with "messages" (the chat
// template; only assistant turns are trained on) and writes one token file atomically.
int data_prepare(const char *model_dir, const char *const *inputs, int n_inputs, const char *out_path,
                 int64_t *n_tokens, int64_t *n_docs);

// Reads fixed windows of T+1 tokens (stride T) in a seeded shuffled order per epoch, or in order.
typedef struct {
    uint8_t *buf;            // the whole file, mapped
    size_t len;
    const uint32_t *tok;
    const uint8_t *mask;
    int64_t n_tokens, n_docs, n_windows;
    int32_t vocab, T;
    int32_t shuffle;
    uint64_t seed;
    int64_t pos;             // windows consumed so far (the data position saved in checkpoints)
    int64_t *order, order_epoch;
} data_reader;

int data_reader_open(data_reader *r, const char *path, int32_t T, int32_t shuffle, uint64_t seed);
void data_reader_close(data_reader *r);
// Next B windows: inputs (B, T), targets (B, T) with -1 where the mask says not to train.
void data_reader_next(data_reader *r, int32_t B, int32_t *inputs, int32_t *targets);

#endif
