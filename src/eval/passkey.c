// Passkey retrieval prompts (Landmark Attention and llama.cpp layouts) and their scoring.
#include <stdlib.h>

#include "eval/eval.h"
#include "eval/eval_text.h"

static const char k_task[] = "There is an important info hidden inside a lot of irrelevant text. Find it and "
                             "memorize them. I will quiz you about the important information there.";
static const char k_filler[] = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";

// the first n characters of F, F, F, ... joined with " " (all ASCII, so characters are bytes)
static int append_filler(eval_buf *s, size_t n) {
    size_t flen = sizeof k_filler - 1;
    while (n > 0) {
        size_t k = n < flen ? n : flen;
        if (eval_buf_append(s, k_filler, k)) return -1;
        n -= k;
        if (n > 0) {
            if (eval_buf_append(s, " ", 1)) return -1;
            n--;
        }
    }
    return 0;
}

int eval_passkey_landmark(pyrandom *rng, size_t n_garbage, eval_passkey *out) {
    memset(out, 0, sizeof *out);
    if (n_garbage >= UINT32_MAX) return arwkv_set_error("passkey: filler budget %zu is too large", n_garbage);
    size_t p = (size_t)pyrandom_randint(rng, 0, (int64_t)n_garbage);
    int32_t key = (int32_t)pyrandom_randint(rng, 1, 50000);
    eval_buf s = {0};
    int rc = eval_buf_puts(&s, k_task) || eval_buf_puts(&s, "\n") || append_filler(&s, p) ||
             eval_buf_printf(&s, "\nThe pass key is %d. Remember it. %d is the pass key.\n", key, key) ||
             append_filler(&s, n_garbage - p) || eval_buf_puts(&s, "\nWhat is the pass key? The pass key is");
    if (rc) return eval_buf_free(&s), -1;
    out->prompt = eval_buf_take(&s);
    out->key = key;
    out->prefix_chars = p;
    return out->prompt ? 0 : -1;
}

int eval_passkey_llamacpp(pyrandom *rng, int32_t n_junk, eval_passkey *out) {
    memset(out, 0, sizeof *out);
    if (n_junk < 1) return arwkv_set_error("passkey: n_junk %d must be >= 1", n_junk);
    int32_t pos = (int32_t)pyrandom_randint(rng, 0, n_junk - 1);
    int32_t key = (int32_t)pyrandom_randint(rng, 1, 50000);
    eval_buf s = {0};
    int rc = eval_buf_puts(&s, k_task);
    for (int32_t i = 0; i < n_junk && !rc; i++) {
        if (i == pos) rc = eval_buf_printf(&s, " The pass key is %d. Remember it. %d is the pass key.", key, key);
        rc = rc || eval_buf_puts(&s, " ") || eval_buf_puts(&s, k_filler);
    }
    if (rc || eval_buf_puts(&s, " What is the pass key? The pass key is")) return eval_buf_free(&s), -1;
    out->prompt = eval_buf_take(&s);
    out->key = key;
    out->prefix_chars = (size_t)pos;
    return out->prompt ? 0 : -1;
}

void eval_passkey_free(eval_passkey *p) {
    free(p->prompt);
    memset(p, 0, sizeof *p);
}

int eval_passkey_score(const char *output, int32_t key) {
    const char *p = output;
    while (*p && !(*p >= '0' && *p <= '9')) p++;
    if (!*p) return 0;
    // compare digit by digit: a run too long for any integer type simply fails
    char want[16];
    int n = snprintf(want, sizeof want, "%d", key);
    while (*p == '0' && p[1] >= '0' && p[1] <= '9') p++;   // int("007") == 7
    for (int i = 0; i < n; i++)
        if (p[i] != want[i]) return 0;
    return !(p[n] >= '0' && p[n] <= '9');
}
