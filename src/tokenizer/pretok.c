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

static int piece(const tokenizer *t, tok_work *w, int step, const uint8_t *p, size_t a, size_t b,
                 uint32_t base, int virt, tok_out *out) {
    if (a == b) return 0;
    int sub_virt = virt && a == 0;
    uint32_t sub_base = a == 0 ? base : base + (uint32_t)a - (uint32_t)virt;
    return tok_pretok_run(t, w, step + 1, p + a, b - a, sub_base, sub_virt, out);
}

// Matches and the gaps between them are pieces ("Isolated"); "Removed" drops the matches.
// An empty match only splits; the search then resumes one character later.
static int split_regex(const tokenizer *t, tok_work *w, int step, const tok_step *st,
                       int behavior, const uint8_t *p, size_t n, uint32_t base, int virt,
                       tok_out *out) {
    size_t pos = 0, last = 0;
    while (pos < n) {
        int rc = st->jit ? pcre2_jit_match(st->re, p, n, pos, 0, w->md, w->mctx)
                         : pcre2_match(st->re, p, n, pos, PCRE2_NO_UTF_CHECK, w->md, w->mctx);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return arwkv_set_error("%s: pre-tokenizer regex failed: %s", t->name, (char *)msg);
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->md);
        size_t ms = ov[0], me = ov[1];   // copied: the steps below reuse the match data
        if (piece(t, w, step, p, last, ms, base, virt, out)) return -1;
        if (me > ms && behavior == SPLIT_ISOLATED && piece(t, w, step, p, ms, me, base, virt, out))
            return -1;
        last = me;
        if (me > ms) pos = me;
        else {
            pos = me + 1;
            while (pos < n && (p[pos] & 0xC0) == 0x80) pos++;
        }
    }
    return piece(t, w, step, p, last, n, base, virt, out);
}

int tok_pretok_run(const tokenizer *t, tok_work *w, int step, const uint8_t *p, size_t n,
                   uint32_t base, int virt, tok_out *out) {
    if (n == 0) return 0;
    if (step == t->n_steps) return tok_bpe_piece(t, w, p, n, base, virt, out);
    const tok_step *st = &t->steps[step];
    if (st->kind == STEP_SPLIT)
        return split_regex(t, w, step, st, st->behavior, p, n, base, virt, out);
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
        virt = 1;
    }
    if (!st->re) return tok_pretok_run(t, w, step + 1, p, n, base, virt, out);
    return split_regex(t, w, step, st, SPLIT_ISOLATED, p, n, base, virt, out);
}
