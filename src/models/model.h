// Internal model representation shared by the teacher (Qwen2) and the student (RWKV hybrid).
#ifndef ARWKV_MODEL_H
#define ARWKV_MODEL_H

#include "backend/backend.h"
#include "core/core.h"
#include "io/safetensors.h"

// A weight: data in dtype dt. Large matrices keep the file dtype (pointing into the mapping);
// vectors and LoRA factors are converted to fp32 copies at load time.
typedef struct {
    void *data;
    arwkv_dtype dt;
} weight;

typedef struct {
    weight ln1, ln2;                               // input_layernorm, post_attention_layernorm (D)
    weight wq, wk, wv, wo;                         // teacher q/k/v/o_proj; student receptance/key/value/output
    weight bq, bk, bv;                             // teacher q/k/v bias
    weight x_r, x_w, x_k, x_v, x_a, x_g;           // student token-shift mixes (D)
    weight w0, w1, w2, a0, a1, a2, v0, v1, v2, g1, g2;
    weight k_k, k_a, r_k, ln_x_w, ln_x_b;
    weight gate, up, down;                         // SwiGLU MLP
} layer_weights;

typedef struct {
    weight embed, norm, lm_head;                   // lm_head aliases embed when tied
    layer_weights *layers;
} model_weights;

// How a tensor is held after loading.
typedef enum { TENSOR_MATRIX, TENSOR_SMALL } tensor_kind;

// Called once per tensor of a model in a fixed order (the order they are saved in).
typedef int (*tensor_visit_fn)(void *ctx, const char *name, int32_t ndim, const int64_t *shape,
                               tensor_kind kind, weight *w);
int model_visit_tensors(const arwkv_config *cfg, model_weights *W, tensor_visit_fn fn, void *ctx);

struct arwkv_model {
    arwkv_config cfg;
    model_weights w;      // buffers of the backend: host pointers on the CPU, device copies on a GPU
    const backend *be;
    st_set st;            // mapping the CPU's matrices point into
    arwkv_dtype act_dtype;   // rounding of matrix-product inputs (ARWKV_F32: none)
    arena small;          // fp32 copies of vectors / LoRA factors (and of matrices on dtype change)
    void *dev;            // the backend's copy of every weight (NULL on the CPU)
    char *dir;
};

// Activations of one pass over B sequences of T tokens, per layer. Training keeps every layer's
// (the backward reads them); inference points all layers at one set (nothing is kept), so the
// same block functions serve both. Rows are (B*T, ...) unless noted; all backend buffers.
typedef struct {
    float **x;                 // 2L+1 residual streams: layer l's input x[2l], after the block x[2l+1]
    float **rstd1, **rstd2, **xn, **f, **ffg, **ffu, **ffh;   // NULL rstd: not saved (inference)
    float **q, **k, **v, **att, **ao;                        // teacher; att (B, Hq, T, T), training only
    float **xmix, **r, **k0, **kf, **v0, **vf, **wmid, **wz, **wd, **vmid, **vz, **amid, **a, **gmid,
          **g, **kk, **alpha, **beta, **ckpt, **ow, **gnm, **gnr, **og, **ob;   // student
    float *vfirst, *rstdf, *xnf, *tmp, *zero_shift, *state;   // state (B, H, N, N): training's scan
    int32_t *ids;              // (B*T) token ids
    int32_t keep_vfirst;       // 1: layer 0 leaves v_first as the previous pass set it (a finite-difference
                               // check of the detached gradient needs it held constant)
    float **table;             // storage of the per-layer pointer arrays
} model_acts;

// Laying out buffers in one allocation: measure with base NULL, then place with the real base.
typedef struct {
    char *base;
    size_t used;
} model_layout;
// n floats at the next arena-aligned offset (NULL while measuring)
static inline float *model_layout_take(model_layout *ly, size_t n) {
    size_t at = ly->used;
    ly->used += arena_align(n * sizeof(float));
    return ly->base ? (float *)(ly->base + at) : NULL;
}

// Sets a's pointers into base (a backend buffer) for B x T rows; per_layer 0 shares one set among
// layers (inference). Returns the bytes needed; base NULL only measures. K: the scan's checkpoint
// interval (training).
size_t model_acts_layout(model_acts *a, const arwkv_config *c, int B, int T, int K, int per_layer, char *base);
int model_acts_init(model_acts *a, const arwkv_config *c);   // the pointer arrays
void model_acts_free(model_acts *a);

// Per-sequence memory: KV cache or RNN state, plus activations for one chunk of tokens.
struct arwkv_state {
    const arwkv_model *m;
    int32_t pos, max_ctx, chunk;
    float *kcache, *vcache;   // teacher: (L, Hkv, max_ctx, hd) each
    float *shift, *wkv;       // student: (L, D) and (L, H, N, N)
    void *mem, *act_mem;      // backend allocations of the cache/state and of the activations
    size_t mem_bytes;
    model_acts a;
    float *scratch;           // attention scores
    float *logits;            // (LOGIT_ROWS, V) when the backend's memory is not the host's
    // optional capture of each layer's normed input and attention-block output: (L, cap_len, D)
    float *cap_h, *cap_y;
    int32_t cap_len, cap_pos0;
};

// config.json <-> arwkv_config
int config_load(arwkv_config *cfg, const char *dir);
int config_save(const arwkv_config *cfg, const char *dir);
void config_default_student(arwkv_config *cfg);   // fixed LoRA ranks and head size

// One model pass over B sequences of T tokens (docs/model.md §1, §2): the shared embedding, block loop,
// MLP and final norm + lm_head. pos0, kc/vc: the teacher's cache (NULL in training, which runs
// full-sequence attention from position 0); shift/state: the student's carried token shift (B, D)
// and WKV state (B, H, N, N) (NULL in training: zeros, with checkpoints saved for the backward).
// logits (rows, V) when not NULL: all B*T rows, or only the last when !all_logits.
// Tokens between the WKV state checkpoints training keeps for the scan's backward
enum { MODEL_WKV_K = 16 };

typedef struct {
    int32_t B, T, pos0;
    float *kc, *vc;            // (L, Hkv, max_ctx, hd)
    int32_t max_ctx;
    float *shift, *wkv;        // (L, D), (L, H, N, N) of one sequence (B == 1)
    float *scratch;
    float *cap_h, *cap_y;      // capture (l, cap_len, D) when not NULL
    int32_t cap_pos0, cap_len;
    int32_t K;                 // training scan checkpoint interval
} model_pass;
void model_forward(const arwkv_model *m, model_acts *a, const model_pass *p, float *logits, int all_logits);
// arwkv_forward with every row's logits (T, V) into a buffer of the model's backend
int model_forward_all(const arwkv_model *m, arwkv_state *s, const int32_t *ids, int32_t T, float *logits);
// the attention / time-mix block of layer l on a->xn[l] -> out (B*T, D)
void qwen2_block_forward(const arwkv_model *m, model_acts *a, const model_pass *p, int l, float *out);
void rwkv_block_forward(const arwkv_model *m, model_acts *a, const model_pass *p, int l, float *out);

// out (T, OC) = inp (T, C) @ w^T + bias, rounding inp first when the model runs in f16/bf16 activations
void model_matmul(const arwkv_model *m, float *out, float *inp, const weight *w, const float *bias, int T, int C, int OC);

// Moves every weight of a loaded model to a device ("cpu": nothing to do); the host copies stay.
int model_set_device(arwkv_model *m, const char *device);

// in-memory models (init.c): all tensors owned fp32, contiguous in visit order
int model_create(arwkv_model **out, const arwkv_config *cfg);
void model_init_time_mix(const arwkv_config *c, layer_weights *L, int layer, rng *r);
int model_student_config(arwkv_config *student, const arwkv_config *teacher, int gate);


#endif
