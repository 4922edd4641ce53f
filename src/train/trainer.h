// The next-token training loop of `arwkv train`.
#ifndef ARWKV_TRAINER_H
#define ARWKV_TRAINER_H

#include "train/train.h"

typedef struct {
    const char *model_dir, *data_path, *out_dir, *log_path;
    int64_t steps, ctx, batch, accum, warmup, save_every, max_bad;
    double lr, min_lr;
    int schedule_cosine, shuffle, resume, verbose;
    uint64_t seed;
    const char *const *only;     // --train-only patterns
    const char *const *freeze;   // --freeze patterns
    int n_only, n_freeze;
} trainer_opts;

void trainer_opts_defaults(trainer_opts *o);
// Trains from model_dir (or OUT/checkpoint with resume) and leaves OUT/checkpoint after the last step.
int trainer_run(const trainer_opts *o);

#endif
