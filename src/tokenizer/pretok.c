// Pre-tokenization: added-token search, the Split regex steps and ByteLevel's prefix space.
// Each step hands its pieces straight to the next one, so no piece list is ever built.
#include <stdlib.h>

#include "tokenizer/tok_internal.h"

size_t tok_match_find(const tokenizer *t, const tok_match_set *set, const uint8_t *s, size_t n,
                      size_t from, int32_t *which) {
    if (set->n == 0) return n;
    for (size_t i = from; i < n; i++) {
        uint8_t c = s[i];
        for (uint32_t k = set->bucket[c]; k < set->bucket[c + 1]; k++) {
            const tok_added *a = &t->added[set->order[k]];
            if (a->match_len <= n - i && !memcmp(s + i, a->match, a->match_len)) {
                *which = set->order[k];
                return i;
            }
        }
    }
    return n;
}

// ---- the Qwen2 / Llama-3 split pattern on ASCII, by hand ---------------------------------------
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//   \s*[\r\n]+|\s+(?!\S)|\s+                        (D = 1 for Qwen2, 3 for Llama-3)
// Every character starts a match of one of the alternatives, so the match is always at pos.
// The regex engine is most of the encoding time; this gives its exact result whenever the
// characters the match depends on are ASCII, and returns 0 (ask the engine) otherwise.
enum { C_L = 1, C_N = 2, C_S = 4, C_NL = 8, C_HI = 16 };   // C_HI: non-ASCII, class unknown

static uint8_t g_class[256];
static pthread_once_t g_class_once = PTHREAD_ONCE_INIT;

static void class_init(void) {
    for (int c = 0; c < 256; c++) {
        uint8_t k = 0;
        if (c >= 0x80) k = C_HI;
        else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) k = C_L;
        else if (c >= '0' && c <= '9') k = C_N;
        else if (c == '\n' || c == '\r') k = C_S | C_NL;
        else if (c == ' ' || c == '\t' || c == '\v' || c == '\f') k = C_S;
        g_class[c] = k;
    }
}

static int fast_match(const uint8_t *p, size_t n, size_t i, int max_digits, size_t *end) {
    const uint8_t *cl = g_class;
    uint8_t c = cl[p[i]];
    if (c & C_HI) return 0;
    // 's 't 're 've 'm 'll 'd, any case; a non-ASCII second character (U+017F folds to 's')
    // reaches the letter branch below, which hands it to the engine
    if (p[i] == '\'' && i + 1 < n) {
        uint8_t d = p[i + 1] | 0x20, e = i + 2 < n ? p[i + 2] | 0x20 : 0;
        if (d == 's' || d == 't' || d == 'm' || d == 'd') {
            *end = i + 2;
            return 1;
        }
        if ((d == 'r' && e == 'e') || (d == 'v' && e == 'e') || (d == 'l' && e == 'l')) {
            *end = i + 3;
            return 1;
        }
    }
    size_t j = i;   // [^\r\n\p{L}\p{N}]?\p{L}+
    if (!(c & (C_L | C_N | C_NL)) && i + 1 < n) {
        uint8_t d = cl[p[i + 1]];
        if (d & C_HI) return 0;
        if (d & C_L) j = i + 1;
    }
    if (cl[p[j]] & C_L) {
        size_t k = j + 1;
        while (k < n && (cl[p[k]] & C_L)) k++;
        if (k < n && (cl[p[k]] & C_HI)) return 0;
        *end = k;
        return 1;
    }
    if (c & C_N) {   // \p{N}{1,D}
        size_t k = i + 1;
        while (k < n && k - i < (size_t)max_digits && (cl[p[k]] & C_N)) k++;
        if (k < n && k - i < (size_t)max_digits && (cl[p[k]] & C_HI)) return 0;
        *end = k;
        return 1;
    }
    j = i;   // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    if (p[i] == ' ' && i + 1 < n) {
        uint8_t d = cl[p[i + 1]];
        if (d & C_HI) return 0;
        if (d == 0) j = i + 1;
    }
    if (cl[p[j]] == 0) {
        size_t k = j + 1;
        while (k < n && cl[p[k]] == 0) k++;
        if (k < n && (cl[p[k]] & C_HI)) return 0;
        while (k < n && (cl[p[k]] & C_NL)) k++;
        *end = k;
        return 1;
    }
    // white space: through its last newline; else all but the last character before a
    // non-space; else all of it
    size_t k = i, nl = SIZE_MAX;
    while (k < n && (cl[p[k]] & C_S)) {
        if (cl[p[k]] & C_NL) nl = k;
        k++;
    }
    if (k < n && (cl[p[k]] & C_HI)) return 0;
    *end = nl != SIZE_MAX ? nl + 1 : (k == n || k - i == 1) ? k : k - 1;
    return 1;
}

// Matches and the gaps between them are pieces ("Isolated"); "Removed" drops the matches.
// An empty match only splits; the search then resumes one character later.
int tok_split(const tokenizer *t, tok_work *w, const tok_step *st, int behavior, const uint8_t *p,
              size_t n, tok_piece_fn fn, void *ctx) {
    size_t pos = 0, last = 0;
    if (st->fast) pthread_once(&g_class_once, class_init);
    while (pos < n) {
        size_t ms = pos, me;
        if (!st->fast || !fast_match(p, n, pos, st->fast, &me)) {
            int rc = st->jit ? pcre2_jit_match(st->re, p, n, pos, 0, w->md, w->mctx)
                             : pcre2_match(st->re, p, n, pos, PCRE2_NO_UTF_CHECK, w->md, w->mctx);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(rc, msg, sizeof msg);
                return arwkv_set_error("%s: pre-tokenizer regex failed: %s", t->name, (char *)msg);
            }
            const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->md);
            ms = ov[0];   // copied: the steps below reuse the match data
            me = ov[1];
        }
        if (ms > last && fn(ctx, last, ms)) return -1;
        if (me > ms && behavior == SPLIT_ISOLATED && fn(ctx, ms, me)) return -1;
        last = me;
        if (me > ms) pos = me;
        else {
            pos = me + 1;
            while (pos < n && (p[pos] & 0xC0) == 0x80) pos++;
        }
    }
    return last < n ? fn(ctx, last, n) : 0;
}

typedef struct {
    const tokenizer *t;
    tok_work *w;
    int step, virt;
    const uint8_t *p;
    uint32_t base;
    tok_out *out;
} piece_ctx;

// hands p[a..b) to the next step; offsets stay relative to the text before the prefix space
static int next_step(void *ctx, size_t a, size_t b) {
    piece_ctx *c = ctx;
    int sub_virt = c->virt && a == 0;
    uint32_t sub_base = a == 0 ? c->base : c->base + (uint32_t)a - (uint32_t)c->virt;
    return tok_pretok_run(c->t, c->w, c->step + 1, c->p + a, b - a, sub_base, sub_virt, c->out);
}

int tok_pretok_run(const tokenizer *t, tok_work *w, int step, const uint8_t *p, size_t n,
                   uint32_t base, int virt, tok_out *out) {
    if (n == 0) return 0;
    if (step == t->n_steps) return tok_bpe_piece(t, w, p, n, base, virt, out);
    const tok_step *st = &t->steps[step];
    piece_ctx c = { t, w, step, virt, p, base, out };
    if (st->kind == STEP_SPLIT) return tok_split(t, w, st, st->behavior, p, n, next_step, &c);
    if (st->add_prefix_space && p[0] != ' ') {
        if (n + 1 > w->prefix_cap[step]) {
            size_t cap = (n + 1) * 2;
            uint8_t *nb = realloc(w->prefix[step], cap);
            if (!nb) return arwkv_set_error("tokenizer: out of memory");
            w->prefix[step] = nb;
            w->prefix_cap[step] = cap;
        }
        w->prefix[step][0] = ' ';
        memcpy(w->prefix[step] + 1, p, n);
        p = w->prefix[step];
        n++;
        c.p = p;
        c.virt = virt = 1;
    }
    if (!st->re) return tok_pretok_run(t, w, step + 1, p, n, base, virt, out);
    return tok_split(t, w, st, SPLIT_ISOLATED, p, n, next_step, &c);
}
