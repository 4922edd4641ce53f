// Training checkpoints (see checkpoint.c): everything --resume needs to continue bit for bit.
#ifndef ARWKV_TRAIN_CHECKPOINT_H
#define ARWKV_TRAIN_CHECKPOINT_H

#include "train/train.h"

typedef struct {
    int64_t step;       // optimiser steps done
    int64_t adam_t;     // AdamW's bias-correction step count (steps actually applied)
    int64_t data_pos;   // windows consumed by the data reader
    int64_t skipped;    // steps skipped for non-finite loss or gradients
    uint64_t seed;      // the data shuffle's seed (the only random stream of training)
    int64_t tokens;     // tokens processed
} train_state;

// Writes OUT/checkpoint atomically (OUT/checkpoint.tmp, fsync, rename); tokenizer files are
// copied from model_dir so that the checkpoint is a complete model directory.
int checkpoint_save(const char *out_dir, const char *model_dir, const train_model *tm, const adamw *opt,
                    const train_state *st);
int checkpoint_load_state(const char *ckpt_dir, train_state *st);
int checkpoint_load_optimizer(const char *ckpt_dir, adamw *opt, size_t n_params);

#endif
