// Training engine: batched forward + backward of both model types with saved activations,
// next-token cross-entropy, AdamW with clipping and schedules, token files and their reader.
#ifndef ARWKV_TRAIN_H
#define ARWKV_TRAIN_H

#include "models/model.h"

// One entry per tensor of the model, in visit order: where it lives in the flat parameter vector.
typedef struct {
    char name[160];
    size_t off, n;     // offset and count in floats
    int decay;         // >= 2 dims after squeezing size-1 dims: weight-decayed
    int trainable;     // 0: frozen (no gradient computed, no update)
} train_tensor;

// A model prepared for training a batch of B sequences of T tokens. Every weight is moved into one
// fp32 parameter vector (the model's weight pointers are redirected there, so arwkv_model_save
// writes the trained values); grads has the same layout. All activations live in one arena sized
// once at init.
typedef struct {
    arwkv_model *m;
    int32_t B, T, K;           // K: WKV state checkpoint interval
    float *params, *grads;
    size_t n_params;
    train_tensor *tensors;
    int32_t n_tensors;
    arena mem;                 // params, grads, activations, backward scratch
    size_t bytes_params, bytes_acts, bytes_scratch, bytes_logits;
    // inputs of the last forward
    int32_t *inputs, *targets;
    int32_t n_counted;         // non-ignored targets of the last forward
    float grad_scale;          // of the last forward: dlogits are scaled by grad_scale / n_counted
    int32_t keep_vfirst;       // 1: the student's forward reuses v_first of the previous forward (a finite-
                               // difference check of the detached gradient needs v_first held constant)
    // saved activations, (B*T, ...) rows unless noted
    float **x;                 // 2L+1 residual streams: layer l's input x[2l], after the block x[2l+1]
    float **rstd1, **rstd2, **xn, **f, **ffg, **ffu, **ffh;   // per layer
    float **q, **k, **v, **att, **ao;                        // teacher, per layer; att (B, Hq, T, T)
    float **xmix, **r, **k0, **kf, **v0, **vf, **wmid, **wz, **wd, **vmid, **vz, **amid, **a, **gmid,
          **g, **kk, **alpha, **beta, **ckpt, **ow, **gnm, **gnr, **og, **ob;   // student, per layer
    float *vfirst, *rstdf, *xnf, *logits, *losses, *zero_shift, *state;
    // backward scratch
    float *dx, *dxn, *d[24], *dmid, *dmid2, *dh, *dgate, *dup, *dlogit_x, *attn_scratch;
} train_model;

// Prepares m (which must stay alive, and must not be used by anyone else during training) for
// batches of B x T. Copies every weight to fp32 in the parameter vector.
int train_model_init(train_model *tm, arwkv_model *m, int32_t B, int32_t T);
void train_model_free(train_model *tm);
// Prints the memory table (parameters, gradients, activations, scratch) to fp.
void train_model_print_sizes(const train_model *tm, FILE *fp);
// Marks tensors trainable by fnmatch patterns over HF names: when n_only > 0 only tensors matching
// one of only[] train; then tensors matching any of freeze[] are frozen. Returns the trainable count.
int64_t train_model_set_trainable(train_model *tm, const char *const *only, int n_only,
                                  const char *const *freeze, int n_freeze);

// inputs, targets: (B, T) token ids; a target < 0 is ignored. Returns the mean cross-entropy over
// counted targets in *loss (0 when none). grad_scale multiplies the gradients the next
// train_backward produces (1 / accumulation steps, say).
int train_forward(train_model *tm, const int32_t *inputs, const int32_t *targets, float grad_scale, float *loss);
// Accumulates (+=) d(grad_scale * loss)/d(params) into tm->grads (trainable tensors only).
int train_backward(train_model *tm);
// The forward of train_forward up to the logits, (B*T, V) in tm->logits, without a loss. A caller
// with its own loss overwrites tm->logits with d loss / d logits (scaled as it wants the gradients)
// and then calls train_backward.
int train_forward_logits(train_model *tm, const int32_t *inputs);
// Stage-1 alignment (student only): layer l's time-mix block alone (model.md §2 steps 2-16, token
// shift from zeros at each sequence start) on the given normed input xn (B*T, D) -> y (B*T, D).
// v_first comes from the last call for layer 0 (detached), so layer 0 runs first.
int train_time_mix_forward(train_model *tm, int32_t l, const float *xn, float *y);
// Backward of the last train_time_mix_forward of layer l given dy (B*T, D, not aliasing tm's
// scratch): accumulates the time-mix parameter gradients (trainable tensors only).
int train_time_mix_backward(train_model *tm, int32_t l, const float *dy);
void train_zero_grads(train_model *tm);

// ---- AdamW (optim.c) ------------------------------------------------------------------------
typedef struct {
    float lr, beta1, beta2, eps, weight_decay, clip;
    float *m, *v;             // moments, n_params each
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
