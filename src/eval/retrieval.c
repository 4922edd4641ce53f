// Retrieval probes over a backend: key-value recall and passkey, scored by greedy generation.
#include <math.h>
#include <stdlib.h>

#include "eval/eval_model.h"
#include "eval/eval_text.h"

// one trial's prompt and the number its answer must start with
typedef int (*probe_make_fn)(void *ctx, int32_t trial, char **prompt, int32_t *answer);

static int run_probe(const eval_backend *b, const char *task, probe_make_fn make, void *mctx, int32_t max_tokens,
                     const char *const *until, size_t nuntil, const eval_retrieval_opts *o, eval_results *rs) {
    if (!b->generate) return arwkv_set_error("%s: the backend cannot generate", task);
    if (o->trials < 1) return arwkv_set_error("%s: need at least one trial", task);
    int32_t max_ctx = b->max_length - max_tokens;
    if (max_ctx < 1) return arwkv_set_error("%s: max_length %d leaves no room for a prompt", task, b->max_length);
    double *acc = malloc((size_t)o->trials * sizeof *acc), *ntok = malloc((size_t)o->trials * sizeof *ntok);
    if (!acc || !ntok) {
        free(acc);
        free(ntok);
        return arwkv_set_error("%s: out of memory", task);
    }
    progress pg;
    if (o->show_progress) progress_init(&pg, task, "trials", o->trials);
    int rc = 0;
    for (int32_t i = 0; i < o->trials && !rc; i++) {
        char *prompt = NULL, *wrapped = NULL, *text = NULL;
        int32_t answer = 0, *ids = NULL;
        size_t n = 0;
        rc = make(mctx, i, &prompt, &answer);
        if (!rc && o->chat) rc = eval_chat_prompt(o->chat, NULL, prompt, &wrapped);
        const char *p = wrapped ? wrapped : prompt;
        if (!rc) rc = b->encode(b->ctx, p, strlen(p), &ids, &n);
        if (!rc) {   // left truncation, as for generation tasks
            size_t keep = n < (size_t)max_ctx ? n : (size_t)max_ctx;
            rc = b->generate(b->ctx, ids + (n - keep), keep, max_tokens, until, nuntil, &text);
        }
        if (!rc) {
            eval_cut_at_stops(text, until, nuntil);
            acc[i] = eval_passkey_score(text, answer);
            ntok[i] = (double)n;
        } else {
            arwkv_wrap_error("%s trial %d", task, i);
        }
        free(prompt);
        free(wrapped);
        free(text);
        free(ids);
        if (o->show_progress) {
            char extra[48];
            snprintf(extra, sizeof extra, "acc %.3f", rc ? 0.0 : eval_mean(acc, (size_t)i + 1));
            progress_update(&pg, i + 1, extra);
        }
    }
    if (o->show_progress) progress_end(&pg);
    size_t n = (size_t)o->trials;
    if (!rc) rc = eval_results_add(rs, task, "acc", "none", eval_mean(acc, n), eval_mean_stderr(acc, n), (int64_t)n, 0);
    if (!rc) rc = eval_results_add(rs, task, "prompt_tokens", "none", eval_mean(ntok, n), NAN, (int64_t)n, 0);
    free(acc);
    free(ntok);
    return rc;
}

// ---- key-value recall ----------------------------------------------------------------------------

typedef struct {
    uint32_t seed;
    int32_t n_pairs;
} kv_ctx;

// splitmix64 of (seed, pairs, trial) with the top bit set: eval seeds stay >= 2^31
static uint32_t kv_trial_seed(uint32_t seed, int32_t n_pairs, int32_t trial) {
    uint64_t z = ((uint64_t)seed << 32 | (uint32_t)n_pairs) * 0x9e3779b97f4a7c15ull + (uint64_t)trial;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (uint32_t)z | 0x80000000u;
}

static int kv_make(void *ctx, int32_t trial, char **prompt, int32_t *answer) {
    const kv_ctx *k = ctx;
    int a;
    if (kv_recall_make(kv_trial_seed(k->seed, k->n_pairs, trial), k->n_pairs, prompt, &a)) return -1;
    *answer = a;
    return 0;
}

int eval_kv_recall_run(const eval_backend *b, const int32_t *n_pairs, size_t n, const eval_retrieval_opts *o,
                       eval_results *rs) {
    static const char *const until[] = {"\n"};
    for (size_t i = 0; i < n; i++) {
        kv_ctx k = {o->seed, n_pairs[i]};
        char task[48];
        snprintf(task, sizeof task, "kv_recall_%d", n_pairs[i]);
        if (run_probe(b, task, kv_make, &k, 8, until, 1, o, rs)) return -1;
    }
    return 0;
}

// ---- passkey -------------------------------------------------------------------------------------

typedef struct {
    pyrandom rng;
    size_t chars;
} passkey_ctx;

static int passkey_make(void *ctx, int32_t trial, char **prompt, int32_t *answer) {
    passkey_ctx *p = ctx;
    eval_passkey pk;
    if (eval_passkey_landmark(&p->rng, p->chars, &pk)) return -1;
    *prompt = pk.prompt;
    *answer = pk.key;
    return 0;
}

int eval_passkey_run(const eval_backend *b, const int64_t *chars, size_t n, const eval_retrieval_opts *o,
                     eval_results *rs) {
    for (size_t i = 0; i < n; i++) {
        if (chars[i] < 0) return arwkv_set_error("passkey: length %lld must be >= 0", (long long)chars[i]);
        passkey_ctx p = {.chars = (size_t)chars[i]};
        pyrandom_seed(&p.rng, o->seed);
        char task[48];
        snprintf(task, sizeof task, "passkey_%lld", (long long)chars[i]);
        if (run_probe(b, task, passkey_make, &p, 10, NULL, 0, o, rs)) return -1;
    }
    return 0;
}
