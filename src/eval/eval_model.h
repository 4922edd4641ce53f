// Evaluation over real models: the eval_backend of an arwkv model plus its tokenizer, the chat
// form of the benchmark prompts, and the synthetic retrieval probes (key-value recall, passkey).
//
//     eval_backend b;
//     eval_model_backend_init(&b, model, tok, NULL);
//     eval_run(&b, task, docs, n, pool, npool, &opts, res);       // eval.h
//     eval_model_backend_free(&b);
//
// All functions return 0 / -1 with arwkv_last_error() set, unless noted.
#ifndef ARWKV_EVAL_MODEL_H
#define ARWKV_EVAL_MODEL_H

#include "arwkv.h"
#include "eval/eval.h"

// ---- the model backend -----------------------------------------------------------------------

typedef struct {
    int32_t max_length;     // <= 0: max_position_embeddings of the model, else 2048
    int32_t no_reuse;       // 1: every request runs from an empty state (for checks and timing)
} eval_model_opts;

typedef struct {
    int64_t requests;          // log-likelihood requests scored
    int64_t tokens_fed;        // tokens run through the model for them
    int64_t tokens_reused;     // context tokens skipped by restarting from a saved state
    int64_t generated;         // tokens produced by generate
} eval_model_stats;

// Log-likelihood requests are run in canonical pieces: context tokens in blocks aligned to
// absolute multiples of EVAL_MODEL_BLOCK, the context's last partial block, then the continuation
// from the end of the context. The state after a block (or after a whole context) is kept when
// the next request, in the backend's order (contexts sorted), starts with the same tokens, and
// restored instead of recomputed: the choices of a question share their whole context, few-shot
// prompts their shots. Because the pieces never depend on the batch, scores are bit-identical
// whatever the batching, the order and the reuse. The student's state is copied (a few MiB);
// the teacher's KV cache is rewound, as later tokens only write past the restored position.
#define EVAL_MODEL_BLOCK 128

// tok may be NULL (encode and generate then fail; prefix token from config.json). m and tok must
// outlive the backend. Fills b, whose ctx it owns.
int eval_model_backend_init(eval_backend *b, const arwkv_model *m, const arwkv_tokenizer *tok,
                            const eval_model_opts *o);
void eval_model_backend_free(eval_backend *b);
const eval_model_stats *eval_model_backend_stats(const eval_backend *b);

// ---- chat prompts ------------------------------------------------------------------------------

// eval_run with each prompt put through tok's chat template as lm-evaluation-harness's
// --apply_chat_template does (without --fewshot_as_multiturn): the task description becomes the
// system message, the plain-text shots and the question one user message, rendered with the
// generation prompt; multiple-choice continuations lose their " " delimiter. Multiple-input tasks
// (WinoGrande) append each rendered partial context as its own user turn, as the harness does.
// Rolling (perplexity) tasks have no prompt and run as eval_run does.
int eval_run_chat(const eval_backend *b, const arwkv_tokenizer *tok, const eval_task *t, const eval_doc *docs,
                  size_t ndocs, const eval_doc *pool, size_t npool, const eval_opts *o, eval_doc_result *out);
// Renders one user message (after an optional system message) with the generation prompt.
int eval_chat_prompt(const arwkv_tokenizer *tok, const char *system, const char *user, char **out);

// ---- synthetic retrieval -----------------------------------------------------------------------

// Key-value recall prompt of n_pairs pairs, byte-exact:
//   "Remember: " + ", ".join(f"{key}={value}") + ". Question: {key_q}? Answer:"
// and *answer = value_q, the expected continuation being f" {value_q}". Keys are distinct random
// 4-letter lowercase strings, values random integers 0..999, key_q one of the keys. Draws follow
// Python exactly: r = random.Random(seed); per pair, a key of four r.choice(ascii_lowercase)
// (redrawn whole while it repeats an earlier key) then r.randint(0, 999); finally
// q = r.randrange(n_pairs). seed < 2^32; 1 <= n_pairs <= 10000. *prompt is malloc'd.
int kv_recall_make(uint64_t seed, int n_pairs, char **prompt, int *answer);

typedef struct {
    uint32_t seed;
    int32_t trials;           // per length
    const arwkv_tokenizer *chat;   // not NULL: each prompt becomes a chat user message
    int32_t show_progress;
} eval_retrieval_opts;

// For each pair count: `trials` prompts (trial i seeded from seed, n_pairs and i, always >= 2^31 so
// that training data made with seeds below 2^31 never repeats one), up to 8 greedy tokens, a pass
// when the first digit run equals the value. Adds rows task "kv_recall_<n>" with metrics "acc"
// and "prompt_tokens" (mean prompt length in tokens).
int eval_kv_recall_run(const eval_backend *b, const int32_t *n_pairs, size_t n, const eval_retrieval_opts *o,
                       eval_results *rs);
// Landmark-format passkey prompts of each filler budget in characters (eval_passkey_landmark, one
// random.Random(seed) stream per budget), 10 greedy tokens, scored by eval_passkey_score. Rows
// "passkey_<chars>" with "acc" and "prompt_tokens".
int eval_passkey_run(const eval_backend *b, const int64_t *chars, size_t n, const eval_retrieval_opts *o,
                     eval_results *rs);

#endif
