// Internal model representation shared by the teacher (Qwen2) and the student (RWKV hybrid).
#ifndef ARWKV_MODEL_H
#define ARWKV_MODEL_H

#include <omp.h>

#include "core/core.h"
#include "io/safetensors.h"
#include "kernels/kernels.h"

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
    model_weights w;
    st_set st;            // mapping the matrices point into
    arwkv_dtype act_dtype;   // rounding of matrix-product inputs (ARWKV_F32: none)
    arena small;          // fp32 copies of vectors / LoRA factors (and of matrices on dtype change)
    char *dir;
};

// Per-sequence memory: KV cache or RNN state, plus activations for one chunk of tokens.
struct arwkv_state {
    const arwkv_model *m;
    int32_t pos, max_ctx, chunk;
    float *kcache, *vcache;   // teacher: (L, Hkv, max_ctx, hd) each
    float *shift, *wkv;       // student: (L, D) and (L, H, N, N)
    arena mem, acts;
    // activations, (chunk, ...) each
    float *x, *xn, *q, *k, *v, *o, *ff_gate, *ff_up, *scratch;
    float *xr, *xw, *xk, *xv, *xa, *xg, *wd, *aa, *gg, *kk, *alpha, *beta, *vfirst, *lora, *gn;
    // optional capture of each layer's normed input and attention-block output: (L, cap_len, D)
    float *cap_h, *cap_y;
    int32_t cap_len, cap_pos0;
};

// config.json <-> arwkv_config
int config_load(arwkv_config *cfg, const char *dir);
int config_save(const arwkv_config *cfg, const char *dir);
void config_default_student(arwkv_config *cfg);   // fixed LoRA ranks and head size

// forward passes over one chunk (T <= s->chunk) of tokens appended to the state
int qwen2_forward_chunk(const arwkv_model *m, arwkv_state *s, const int32_t *ids, int T, float *logits, int all_logits);
int rwkv_hybrid_forward_chunk(const arwkv_model *m, arwkv_state *s, const int32_t *ids, int T, float *logits, int all_logits);

// out (T, OC) = inp (T, C) @ w^T + bias, rounding inp first when the model runs in f16/bf16 activations
void model_matmul(const arwkv_model *m, float *out, float *inp, const weight *w, const float *bias, int T, int C, int OC);

// shared tail of both model types: x += MLP(x); logits from x
void model_mlp_forward(const arwkv_model *m, arwkv_state *s, const layer_weights *L, int T);
void model_logits_forward(const arwkv_model *m, arwkv_state *s, float *logits, int T, int all);
void model_capture_rows(arwkv_state *s, int layer, const float *h, const float *y, int T);

// in-memory models (init.c): all tensors owned fp32, contiguous in visit order
int model_create(arwkv_model **out, const arwkv_config *cfg);
void model_init_time_mix(const arwkv_config *c, layer_weights *L, int layer, rng *r);
int model_student_config(arwkv_config *student, const arwkv_config *teacher, int gate);


#endif
