// Training: AdamW with clipping and schedules over a train_model (models/model_train.h, where the
// batched forward and backward of both model types live).
#ifndef ARWKV_TRAIN_H
#define ARWKV_TRAIN_H

#include "models/model_train.h"

// ---- AdamW (optim.c) ------------------------------------------------------------------------
typedef struct {
    float lr, beta1, beta2, eps, weight_decay, clip;
    float *m, *v;             // moments, n_params each, on the model's backend
    const backend *be;
    int64_t t;                // optimiser steps taken
} adamw;

int adamw_init(adamw *o, const train_model *tm);
void adamw_free(adamw *o);
// Global L2 norm of the trainable gradients (double accumulation).
double train_grad_norm(const train_model *tm);
// Clips (torch style: g *= min(1, clip / (norm + 1e-6))) and applies one update at learning rate lr.
void adamw_step(adamw *o, train_model *tm, float lr, double grad_norm);

// Learning rate at optimiser step `step` (0-based): linear warmup over `warmup` steps, then
// constant (cosine == 0) or cosine from lr down to min_lr at `total` steps.
float train_lr_at(int64_t step, int64_t warmup, int64_t total, float lr, float min_lr, int cosine);

#endif
