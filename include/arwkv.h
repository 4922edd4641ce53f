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
    ARWKV_F64,
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
    int32_t weight_dtype;    // -1: keep each matrix in its file dtype; else convert to this arwkv_dtype
    int32_t all_f32;         // 1: every tensor as one contiguous fp32 buffer (training)
    int32_t act_dtype;       // ARWKV_F32 (0, default): fp32 activations; ARWKV_F16/BF16: the inputs of
                             // every matrix product are rounded to that type (fp16/bf16 inference)
    const char *device;      // NULL or "cpu": the CPU; "cuda" / "cuda:N": weights and states on that GPU
} arwkv_load_opts;

int  arwkv_model_load(arwkv_model **out, const char *dir, const arwkv_load_opts *opts);
void arwkv_model_free(arwkv_model *m);
const arwkv_config *arwkv_model_config(const arwkv_model *m);

// Fills the defaults of a model type (eps 1e-6, rope_theta 1e6, fixed student head size and LoRA
// ranks, ...); the caller then sets the sizes.
void arwkv_config_defaults(arwkv_config *cfg, arwkv_arch arch);
int64_t arwkv_config_param_count(const arwkv_config *cfg);
// A model with random weights (N(0, 0.02) matrices; a student gets the paper's time-mix init).
int  arwkv_model_make_random(arwkv_model **out, const arwkv_config *cfg, uint64_t seed);
// A student built from a Qwen2 teacher: embeddings, norms, MLPs and lm_head (untied) copied; each
// time-mix block initialised as the paper did, or with r/k/v/o from the teacher's q/k/v/o.
int  arwkv_student_init(arwkv_model **out, const arwkv_model *teacher, int32_t gate, int32_t from_attention,
                        uint64_t seed);
// Writes config.json + model.safetensors under dir (created if needed), each file atomically.
// dtype: ARWKV_F32/F16/BF16 for the matrices, or -1 to keep each tensor's dtype.
int  arwkv_model_save(const arwkv_model *m, const char *dir, int32_t dtype);

// Weight bytes one decoded token reads (every matrix once; of the embedding only the lm_head use)
// and the multiply-adds of the matrix products per token, for benchmarks' bounds.
void arwkv_model_cost(const arwkv_model *m, double *bytes_per_token, double *macs_per_token);

// The CPU kernel level in use: "avx512", "avx2" or "generic" (chosen once from cpuid; the
// environment variable ARWKV_CPU forces a lower one).
const char *arwkv_cpu_kernels(void);

// Sustained read bandwidth of this machine with all threads, bytes/s (the decode bound's baseline).
double arwkv_read_bandwidth(size_t buffer_bytes);

// Copies the tokenizer files of a model directory (tokenizer.json, tokenizer_config.json,
// generation_config.json, ... those present) into another, each atomically.
int  arwkv_model_copy_tokenizer(const char *from_dir, const char *to_dir);

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

// Sum of -log p(ids[i] | ids[<i]) for i in [1, n) over a fresh state (reset here); per-token values
// into nll (n - 1 floats) when not NULL. Memory stays bounded for any n (logits in chunks).
int arwkv_sequence_nll(const arwkv_model *m, arwkv_state *s, const int32_t *ids, int32_t n, double *sum, float *nll);

// Perplexity as `arwkv perplexity` defines it: consecutive windows of ctx tokens, each scored from
// its second token; a last window of one token is dropped. Returns exp(mean nll) in *ppl.
int arwkv_perplexity(const arwkv_model *m, const int32_t *ids, int64_t n, int32_t ctx, double *ppl,
                     int64_t *n_scored, int progress);

// Saves the state (RNN state or KV cache up to the current position) and, when not NULL, the
// logits of the last token (V floats) so that a later process can sample without re-feeding it.
// The file has a header (magic, version, a hash of the model's shape) and is written atomically.
int arwkv_state_save(const arwkv_state *s, const char *path, const float *last_logits);
// Loads a state saved for a model of the same shape (else a clear error); last_logits (V floats)
// is filled when the file has them and it is not NULL; *has_logits tells whether it did.
int arwkv_state_load(arwkv_state *s, const char *path, float *last_logits, int *has_logits);

// In-memory state operations, for reusing a shared prompt prefix (evaluation, a server). States
// and snapshots work across models of the same shape; another shape is a clear error.
//
// dst, with its own buffers, takes src's position and contents (the teacher's cache rows below it);
// a teacher's dst must have room for src's position.
int arwkv_state_copy(arwkv_state *dst, const arwkv_state *src);
// A compact host copy of a state: the student's whole RNN state, the teacher's KV cache only up to
// the current position. *out is new; free it with arwkv_snapshot_free.
typedef struct arwkv_snapshot arwkv_snapshot;
int arwkv_state_snapshot(const arwkv_state *s, arwkv_snapshot **out);
// s continues from where the snapshot was taken; a teacher's cache must have room for its position.
int arwkv_state_restore(arwkv_state *s, const arwkv_snapshot *snap);
void arwkv_snapshot_free(arwkv_snapshot *snap);
size_t arwkv_snapshot_bytes(const arwkv_snapshot *snap);   // the floats it holds, in bytes
int32_t arwkv_snapshot_pos(const arwkv_snapshot *snap);
// Moves the position back to pos without copying: a teacher's cache below pos still holds that
// prefix. A student's RNN state cannot go back, so it accepts only its own position or 0 (a reset).
int arwkv_state_rewind(arwkv_state *s, int32_t pos);

// Token sampling: temperature 0 is greedy (first maximum); else top-k, then top-p, then a draw.
typedef struct arwkv_sampler arwkv_sampler;
int  arwkv_sampler_init(arwkv_sampler **out, int32_t n_vocab, float temp, int32_t top_k, float top_p, uint64_t seed);
int32_t arwkv_sampler_sample(arwkv_sampler *sp, const float *logits);
void arwkv_sampler_free(arwkv_sampler *sp);

// ---- tokenizer --------------------------------------------------------------------------------
// The byte-level BPE tokenizer of a model directory (tokenizer.json, tokenizer_config.json) and its
// ChatML chat template. Ids equal Hugging Face's encode(text, add_special_tokens=False). A loaded
// tokenizer is read-only: tokenize and detokenize may run on many threads at once.
typedef struct arwkv_tokenizer arwkv_tokenizer;

// Ids of the tokens prompting and generation need; -1 when the tokenizer has none.
typedef struct {
    int32_t bos, eos, pad, unk;           // from tokenizer_config.json
    int32_t endoftext, im_start, im_end;  // <|endoftext|> <|im_start|> <|im_end|>
} arwkv_special_tokens;

// path: a model directory, or a tokenizer.json file (tokenizer_config.json is looked for beside it)
int  arwkv_tokenizer_load(arwkv_tokenizer **out, const char *path);
void arwkv_tokenizer_free(arwkv_tokenizer *t);
int32_t arwkv_tokenizer_vocab_size(const arwkv_tokenizer *t);   // max id + 1, added tokens included
arwkv_special_tokens arwkv_tokenizer_special(const arwkv_tokenizer *t);
// len bytes of UTF-8 -> *ids (malloc'd). allow_special: special-token text such as "<|im_end|>"
// becomes its id, else it is plain text. Invalid UTF-8 fails naming the byte offset.
int  arwkv_tokenize(const arwkv_tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n,
                    int allow_special);
// The tokens' bytes concatenated (exact, possibly not valid UTF-8); *text is malloc'd and
// NUL-terminated (the NUL not counted in *len). skip_special leaves special tokens out. Ids without
// a token add nothing, as in Hugging Face; negative ids fail.
int  arwkv_detokenize(const arwkv_tokenizer *t, const int32_t *ids, size_t n, int skip_special, char **text,
                      size_t *len);
// Raw bytes of one token (not NUL-terminated); NULL when id has no token.
const char *arwkv_token_piece(const arwkv_tokenizer *t, int32_t id, size_t *len);

// Streaming detokenization for generation: one id in, only whole UTF-8 characters out (an
// unfinished one waits for the next token); the concatenated output equals arwkv_detokenize's.
typedef struct arwkv_token_stream arwkv_token_stream;
int  arwkv_token_stream_init(arwkv_token_stream **out, const arwkv_tokenizer *t, int skip_special);
// *text points into the stream, valid until the next call; *len may be 0.
int  arwkv_token_stream_push(arwkv_token_stream *s, int32_t id, const char **text, size_t *len);
int  arwkv_token_stream_flush(arwkv_token_stream *s, const char **text, size_t *len);   // what is left
void arwkv_token_stream_free(arwkv_token_stream *s);

typedef struct {
    const char *role;      // "system", "user", "assistant", ...
    const char *content;   // UTF-8, NUL-terminated
} arwkv_chat_msg;

// Overrides the template tokenizer_config.json selects: "chatml", "none" (contents concatenated)
// or "auto" (the file's). Setup, not for concurrent use.
int arwkv_chat_set_template(arwkv_tokenizer *t, const char *name);
// Renders n messages, then "<|im_start|>assistant\n" when add_generation_prompt; *out is malloc'd and
// NUL-terminated. Tokenize it with allow_special to get the ids the model was trained on.
int arwkv_chat_render(const arwkv_tokenizer *t, const arwkv_chat_msg *msgs, int32_t n, int add_generation_prompt,
                      char **out);

// While set, forward passes store, for every layer l and token at position p (pos0 <= p < pos0+len),
// the attention/time-mix block's normed input at h[(l*len + p-pos0)*D] and its output (before the
// residual add) at y[...] likewise; stage-1 alignment trains on these. NULL h and y stop capturing.
// h and y are buffers of the model's device (host memory on the CPU).
void arwkv_state_capture(arwkv_state *s, float *h, float *y, int32_t pos0, int32_t len);

// Threads of the CPU kernels, 1 to 1024 (the calling thread counts as one); 0 restores the default:
// ARWKV_THREADS, else OMP_NUM_THREADS, else the CPUs this process may run on. Not from inside a
// forward pass. -1 with the error set on a bad count.
int arwkv_set_threads(int32_t n);

#ifdef __cplusplus
}
#endif
#endif
