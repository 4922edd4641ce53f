// The training loop shared by `arwkv train`, `distill`, `sft` and `dpo`: one loop over optimiser
// steps and micro-batches; each stage supplies only how a micro-batch's loss and gradients are computed.
#ifndef ARWKV_TRAINER_H
#define ARWKV_TRAINER_H

#include "train/train.h"

typedef struct trainer_opts trainer_opts;

// A stage's part of the loop. Every field may be zero: the default is next-token cross-entropy on
// windows of the token file.
typedef struct {
    void *ctx;
    int32_t rows_per_item;   // sequences of the train_model per batch item (DPO: 2); 0 means 1
    int own_data;            // 1: no token file is read; micro_batch picks its data from `index`
    // once, after the model is prepared for training (trainable flags set) and before the first step
    int (*setup)(void *ctx, train_model *tm, const trainer_opts *o);
    // the loss of micro-batch `index` (counted from the start of training, so a resumed run sees the
    // same data): accumulates d(grad_scale * loss)/d(params) into tm->grads and returns the loss.
    // in, tg: (B, T) windows of the token file with tg < 0 where not trained on (NULL with own_data).
    int (*micro_batch)(void *ctx, train_model *tm, int64_t index, const int32_t *in, const int32_t *tg,
                       float grad_scale, double *loss);
    // called before the micro-batches of each optimiser step (to reset per-step statistics)
    void (*step_begin)(void *ctx);
    // appends `, "key": value` pairs of the step's statistics to its JSONL log line
    void (*log_fields)(void *ctx, char *buf, size_t cap);
} trainer_hooks;

struct trainer_opts {
    const char *name;            // command name for messages and progress ("train" when NULL)
    const char *model_dir, *data_path, *out_dir, *log_path;
    const char *device;          // NULL / "cpu", or "cuda[:N]": where parameters and activations live
    int64_t steps, ctx, batch, accum, warmup, save_every, max_bad;
    double lr, min_lr;
    int schedule_cosine, shuffle, resume, verbose;
    uint64_t seed;
    const char *const *only;     // --train-only patterns
    const char *const *freeze;   // --freeze patterns
    int n_only, n_freeze;
    const trainer_hooks *hooks;  // NULL: next-token cross-entropy
};

void trainer_opts_defaults(trainer_opts *o);
// Trains from model_dir (or OUT/checkpoint with resume), leaves OUT/checkpoint after the last step
// and writes the final model (config, weights, tokenizer files) to OUT itself: the directory the
// next stage takes as its model.
int trainer_run(const trainer_opts *o);

#endif
