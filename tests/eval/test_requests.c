// Request building: the harness's _encode_pair rules with two fake tokenizers whose outputs are
// known by hand, left truncation, and perplexity windows against lm_eval v0.4.7
// get_rolling_token_windows + make_disjoint_window (run in Python, numbers below).
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "test_util.h"

// ---- fake tokenizers ---------------------------------------------------------------------------

static int enc_bytes(void *ctx, const char *text, size_t len, int32_t **ids, size_t *n) {
    *ids = malloc((len ? len : 1) * sizeof **ids);
    for (size_t i = 0; i < len; i++) (*ids)[i] = (unsigned char)text[i];
    *n = len;
    return 0;
}

// GPT-2-like pieces: one optional leading whitespace char glued to a run of non-whitespace, or a
// run of whitespace (kept whole at the end of the text, else all but its last char).
static char g_vocab[256][32];
static int g_nvocab;

static int32_t piece_id(const char *p, size_t n) {
    for (int i = 0; i < g_nvocab; i++)
        if (strlen(g_vocab[i]) == n && !memcmp(g_vocab[i], p, n)) return 1000 + i;
    memcpy(g_vocab[g_nvocab], p, n);
    g_vocab[g_nvocab][n] = 0;
    return 1000 + g_nvocab++;
}

static int is_ws(char c) { return c == ' ' || c == '\n' || c == '\t'; }

static int enc_words(void *ctx, const char *s, size_t len, int32_t **ids, size_t *n) {
    *ids = malloc((len ? len : 1) * sizeof **ids);
    *n = 0;
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        if (is_ws(s[i])) {
            while (j < len && is_ws(s[j])) j++;
            if (j < len && j - i > 1) {
                j--;                                   // all but the last whitespace char
            } else if (j < len) {
                while (j < len && !is_ws(s[j])) j++;   // " word"
            }
        } else {
            while (j < len && !is_ws(s[j])) j++;
        }
        (*ids)[(*n)++] = piece_id(s + i, j - i);
        i = j;
    }
    return 0;
}

static void decode_words(const int32_t *ids, size_t n, char *out) {
    out[0] = 0;
    for (size_t i = 0; i < n; i++) strcat(out, ids[i] == 7 ? "<prefix>" : g_vocab[ids[i] - 1000]);
}

// ---- tests -------------------------------------------------------------------------------------

static void pair_words(const char *ctx, const char *cont, const char *want_ctx, const char *want_cont) {
    eval_backend b = {.encode = enc_words, .prefix_token = 7, .max_length = 2048};
    eval_ll_pair p;
    char got_ctx[512], got_cont[512];
    int rc = eval_encode_pair(&b, ctx, cont, &p);
    CHECK(rc == 0, "encode pair: %s", arwkv_last_error());
    if (rc) return;
    decode_words(p.toks, p.nctx, got_ctx);
    decode_words(p.toks + p.nctx, p.ncont, got_cont);
    CHECK(!strcmp(got_ctx, want_ctx) && !strcmp(got_cont, want_cont),
          "(%s | %s): ctx [%s] cont [%s], want [%s] [%s]", ctx, cont, got_ctx, got_cont, want_ctx, want_cont);
    eval_ll_pair_free(&p);
}

static void test_encode_pair(void) {
    pair_words("Answer:", " A", "Answer:", " A");
    // the trailing space moves: tok("Answer: ") would be ["Answer:", " "] and leave no continuation
    pair_words("Answer: ", "A", "Answer:", " A");
    pair_words("Question: 2+2\nAnswer:", " 4", "Question: 2+2\nAnswer:", " 4");
    pair_words("x\n\n", "y", "x", "\n\ny");
    pair_words("", " nospace", "<prefix>", " nospace");

    // continuation tokens are whole[len(tok(ctx)):], even when a piece spans the boundary
    eval_backend b = {.encode = enc_words, .prefix_token = 7, .max_length = 2048};
    eval_ll_pair p;
    eval_ll_request r;
    CHECK(eval_encode_pair(&b, "abc", "def", &p) == 0 && p.nctx == 1 && p.ncont == 0, "merged piece");
    CHECK(eval_ll_request_view(&p, 2048, &r) == -1 && strstr(arwkv_last_error(), "continuation encodes to no tokens"),
          "empty continuation is refused: %s", arwkv_last_error());
    eval_ll_pair_free(&p);
    CHECK(eval_encode_pair(&b, "   ", "x", &p) == 0 && p.nctx == 0, "whitespace-only context");
    CHECK(eval_ll_request_view(&p, 2048, &r) == -1 && strstr(arwkv_last_error(), "context encodes to no tokens"),
          "empty context tokens are refused");
    eval_ll_pair_free(&p);

    // Python's rstrip also takes Unicode whitespace (U+3000 here) but not U+200B
    b.encode = enc_bytes;
    CHECK(eval_encode_pair(&b, "a\xe3\x80\x80", "b", &p) == 0 && p.nctx == 1 && p.ncont == 4 && p.toks[1] == 0xe3,
          "U+3000 moves to the continuation");
    eval_ll_pair_free(&p);
    CHECK(eval_encode_pair(&b, "a\xe2\x80\x8b", "b", &p) == 0 && p.nctx == 4 && p.ncont == 1, "U+200B stays");
    eval_ll_pair_free(&p);
}

static void test_truncation(void) {
    eval_backend b = {.encode = enc_bytes, .prefix_token = 7};
    eval_ll_pair p;
    eval_ll_request r;
    CHECK(eval_encode_pair(&b, "abcdefghij", "XYZ", &p) == 0 && p.nctx == 10 && p.ncont == 3, "bytes pair");
    CHECK(eval_ll_request_view(&p, 100, &r) == 0 && r.nctx == 10 && r.ctx[0] == 'a' && r.ncont == 3 && r.cont[0] == 'X',
          "no truncation");
    // the last max_length + 1 tokens survive: 9 of 13
    CHECK(eval_ll_request_view(&p, 8, &r) == 0 && r.nctx == 6 && r.ctx[0] == 'e' && r.ctx[5] == 'j' && r.ncont == 3,
          "left truncation keeps ctx 'efghij', got nctx %zu", r.nctx);
    CHECK(eval_ll_request_view(&p, 3, &r) == 0 && r.nctx == 1 && r.ctx[0] == 'j', "one context token left");
    CHECK(eval_ll_request_view(&p, 2, &r) == -1 && strstr(arwkv_last_error(), "exceeds max_length 2"), "cont too long");
    eval_ll_pair_free(&p);
}

static void test_windows(void) {
    // rows: ntok, L, then per window (use_prefix, ctx_start, nctx, cont_start, ncont); -1 ends
    static const int cases[][2 + 5 * 9 + 1] = {
        {1, 4, 1, 0, 0, 0, 1, -1},
        {4, 4, 1, 0, 0, 0, 4, -1},
        {5, 4, 1, 0, 0, 0, 4, 0, 0, 4, 4, 1, -1},
        {10, 4, 1, 0, 0, 0, 4, 0, 3, 1, 4, 4, 0, 5, 3, 8, 2, -1},
        {12, 4, 1, 0, 0, 0, 4, 0, 3, 1, 4, 4, 0, 7, 1, 8, 4, -1},
        {9, 1, 1, 0, 0, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1, 2, 1, 0, 2, 1, 3, 1, 0, 3, 1, 4, 1, 0, 4, 1, 5, 1,
         0, 5, 1, 6, 1, 0, 6, 1, 7, 1, 0, 7, 1, 8, 1, -1},
        {7, 3, 1, 0, 0, 0, 3, 0, 2, 1, 3, 3, 0, 3, 3, 6, 1, -1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int *k = cases[c];
        eval_window *w = NULL;
        size_t n = 0, want = 0;
        while (k[2 + 5 * want] >= 0) want++;
        CHECK(eval_rolling_windows((size_t)k[0], k[1], &w, &n) == 0 && n == want, "ntok %d L %d: %zu windows, want %zu",
              k[0], k[1], n, want);
        for (size_t i = 0; i < n && i < want; i++) {
            const int *e = k + 2 + 5 * i;
            int ok = w[i].use_prefix == e[0] && (e[0] || (w[i].ctx_start == (size_t)e[1] && w[i].nctx == (size_t)e[2])) &&
                     w[i].cont_start == (size_t)e[3] && w[i].ncont == (size_t)e[4];
            CHECK(ok, "ntok %d L %d window %zu: got (%d,%zu,%zu,%zu,%zu)", k[0], k[1], i, w[i].use_prefix,
                  w[i].ctx_start, w[i].nctx, w[i].cont_start, w[i].ncont);
        }
        free(w);
    }
    eval_window *w = NULL;
    size_t n = 7;
    CHECK(eval_rolling_windows(0, 4, &w, &n) == 0 && n == 0 && !w, "empty document");
}

int main(void) {
    test_encode_pair();
    test_truncation();
    test_windows();
    return test_summary();
}
