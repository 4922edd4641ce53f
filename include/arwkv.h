// arwkv: Qwen2 teachers, ARWKV (RWKV-7 time-mix) students, distillation and inference.
// Library functions return 0 on success and -1 on failure; arwkv_last_error() then holds one
// line naming the file/field at fault. Only the command-line program prints and exits.
#ifndef ARWKV_H
#define ARWKV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

const char *arwkv_last_error(void);

typedef enum {
    ARWKV_F32 = 0,
    ARWKV_F16,
    ARWKV_BF16,
    ARWKV_I64,
    ARWKV_I32,
    ARWKV_U8,
    ARWKV_DTYPE_COUNT
} arwkv_dtype;

const char *arwkv_dtype_name(arwkv_dtype dt);   // "F32", "BF16", ... (safetensors spelling)
size_t arwkv_dtype_size(arwkv_dtype dt);

typedef enum { ARWKV_ARCH_QWEN2 = 0, ARWKV_ARCH_RWKV_HYBRID } arwkv_arch;

// Shapes and hyper-parameters of either model type, from config.json.
typedef struct {
    arwkv_arch arch;
    int32_t n_embd;          // D, hidden_size
    int32_t n_layer;         // L
    int32_t n_ff;            // F, intermediate_size
    int32_t n_vocab;         // V
    int32_t n_head;          // Hq (teacher); D / head_size (student)
    int32_t n_kv_head;       // Hkv (teacher); == n_head (student)
    int32_t head_dim;        // D / Hq (teacher); head_size, 64 (student)
    float rms_eps;
    float rope_theta;        // teacher only
    int32_t tie_embeddings;
    int32_t max_pos;         // max_position_embeddings
    int32_t bos_id, eos_id;  // -1 when absent
    arwkv_dtype torch_dtype;
    // student only
    int32_t has_gate, has_group_norm, head_size_divisor;
    int32_t lora_w, lora_a, lora_v, lora_g;   // 64, 64, 32, 128
} arwkv_config;

typedef struct arwkv_model arwkv_model;   // weights + config, read-only once loaded
typedef struct arwkv_state arwkv_state;   // KV cache (teacher) or RNN state (student) of one sequence

typedef struct {
    arwkv_dtype compute;     // ARWKV_F32 unless a faster rounded mode is asked for
} arwkv_load_opts;

int  arwkv_model_load(arwkv_model **out, const char *dir, const arwkv_load_opts *opts);
void arwkv_model_free(arwkv_model *m);
const arwkv_config *arwkv_model_config(const arwkv_model *m);

// max_ctx bounds the teacher's KV cache; the student's state does not depend on it.
int  arwkv_state_init(arwkv_state **out, const arwkv_model *m, int32_t max_ctx);
void arwkv_state_reset(arwkv_state *s);
void arwkv_state_free(arwkv_state *s);
int32_t arwkv_state_pos(const arwkv_state *s);    // tokens consumed so far
size_t arwkv_state_bytes(const arwkv_state *s);    // memory held by the cache/state

// Feed T tokens after what the state has seen. logits: (T, V) when all_logits, else (1, V) for the
// last token; may be NULL.
int arwkv_forward(const arwkv_model *m, arwkv_state *s, const int32_t *ids, int32_t T,
                  float *logits, int all_logits);

#ifdef __cplusplus
}
#endif
#endif
