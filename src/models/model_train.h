// A model prepared for training: its parameters as one fp32 vector with gradients of the same
// layout, every layer's activations kept for the backward, and the backward passes of both
// architectures (which live next to their forwards in qwen2.c and rwkv_hybrid.c).
#ifndef ARWKV_MODEL_TRAIN_H
#define ARWKV_MODEL_TRAIN_H

#include "core/profile.h"
#include "models/model.h"

// One entry per tensor of the model, in visit order: where it lives in the flat parameter vector.
typedef struct {
    char name[160];
    size_t off, n;     // offset and count in floats
    int decay;         // >= 2 dims after squeezing size-1 dims: weight-decayed
    int trainable;     // 0: frozen (no gradient computed, no update)
} train_tensor;

// A batch of B sequences of T tokens. m is the trained model: a model of its own whose weights
// live in params (the model it was made from is only read), so arwkv_model_save(tm->m) writes the
// trained values. Every buffer is one allocation of the model's backend, sized once at init.
typedef struct {
    arwkv_model *m;
    int32_t B, T, K;           // K: WKV state checkpoint interval
    float *params, *grads;
    size_t n_params;
    train_tensor *tensors;
    int32_t n_tensors;
    void *mem;
    size_t bytes_params, bytes_acts, bytes_scratch, bytes_logits;
    model_acts a;              // a.ids: inputs of the last forward
    int32_t *targets;          // (B*T) of the last train_forward, backend buffer
    int32_t n_counted;         // non-ignored targets of the last forward
    float grad_scale;          // of the last forward: dlogits are scaled by grad_scale / n_counted
    float *logits, *losses;    // (B*T, V) and (B*T)
    int32_t *host_targets;     // host staging of the targets and the per-row losses (B*T each)
    float *host_losses;
    // backward scratch
    float *dx, *dxn, *d[24], *dmid, *dmid2, *dh, *dgate, *dup, *dlogit_x, *attn_scratch, *wkv_scratch;
} train_model;

// Prepares a trainable copy of src (a model loaded on the CPU) for batches of B x T, with fp32
// parameters on the CPU (train_model_init) or on the backend be.
int train_model_init(train_model *tm, const arwkv_model *src, int32_t B, int32_t T);
int train_model_init_on(train_model *tm, const arwkv_model *src, const backend *be, int32_t B, int32_t T);
void train_model_free(train_model *tm);
// Prints the memory table (parameters, gradients, activations, scratch) to fp.
void train_model_print_sizes(const train_model *tm, FILE *fp);
// Marks tensors trainable by fnmatch patterns over HF names: when n_only > 0 only tensors matching
// one of only[] train; then tensors matching any of freeze[] are frozen. Returns the trainable count.
int64_t train_model_set_trainable(train_model *tm, const char *const *only, int n_only,
                                  const char *const *freeze, int n_freeze);
void train_zero_grads(train_model *tm);

// inputs, targets: (B, T) host token ids; a target < 0 is ignored. Returns the mean cross-entropy
// over counted targets in *loss (0 when none). grad_scale multiplies the gradients the next
// train_backward produces (1 / accumulation steps, say).
int train_forward(train_model *tm, const int32_t *inputs, const int32_t *targets, float grad_scale, float *loss);
// Accumulates (+=) d(grad_scale * loss)/d(params) into tm->grads (trainable tensors only).
int train_backward(train_model *tm);
// The forward of train_forward up to the logits, (B*T, V) in tm->logits, without a loss. A caller
// with its own loss overwrites tm->logits with d loss / d logits (scaled as it wants the gradients)
// and then calls train_backward.
int train_forward_logits(train_model *tm, const int32_t *inputs);
// Stage-1 alignment (student only): layer l's time-mix block alone (docs/model.md §2 steps 2-16, token
// shift from zeros at each sequence start) on the given normed input xn (B*T, D) -> y (B*T, D),
// both backend buffers. v_first comes from the last call for layer 0 (detached), so layer 0 runs first.
int train_time_mix_forward(train_model *tm, int32_t l, const float *xn, float *y);
// Backward of the last train_time_mix_forward of layer l given dy (B*T, D, not aliasing tm's
// scratch): accumulates the time-mix parameter gradients (trainable tensors only).
int train_time_mix_backward(train_model *tm, int32_t l, const float *dy);

// ---- timing: a GPU runs ops asynchronously, so profiled spans wait for it at both ends ------------
static inline prof_mark model_prof_begin(const backend *be) {
    if (prof_enabled()) be->sync();
    return prof_begin();
}
static inline void model_prof_end(const backend *be, prof_op op, prof_mark m, double flops) {
    if (prof_enabled()) be->sync();
    prof_end(op, m, flops);
}

// ---- for the block backward passes --------------------------------------------------------------
// the gradient of a weight, or NULL when its tensor is frozen
float *train_grad_of(train_model *tm, const weight *w);
float *train_zeroed(train_model *tm, float *p, size_t n);
// dinp += dout @ w, dw += dout^T @ inp (when w trains), dbias likewise
void train_mm_backward(train_model *tm, float *dinp, const weight *w, const weight *bias, const float *dout,
                       const float *inp, int T, int C, int OC);
void qwen2_block_backward(train_model *tm, int l, const float *dy);
void rwkv_block_backward(train_model *tm, int l, const float *dy);

#endif
