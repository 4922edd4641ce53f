// Encoding driver: UTF-8 check, added-token split, normalization with an offset map, then
// pre-tokenization and BPE. Scratch state lives in work objects taken from a pool, so
// concurrent encode calls on one tokenizer never share one.
#include <stdlib.h>
#include <utf8proc.h>

#include "tokenizer/tok_internal.h"

// ---- work pool ----------------------------------------------------------------------------------
static tok_work *work_new(void) {
    tok_work *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->md = pcre2_match_data_create(2, NULL);
    w->mctx = pcre2_match_context_create(NULL);
    // long runs of one class (a 1 MB line of spaces) need more than the default 32 KiB
    w->jit = pcre2_jit_stack_create(32 * 1024, 64 * 1024 * 1024, NULL);
    if (!w->md || !w->mctx || !w->jit) {
        tok_work_free(w);
        return NULL;
    }
    pcre2_jit_stack_assign(w->mctx, NULL, w->jit);
    return w;
}

void tok_work_free(tok_work *w) {
    if (!w) return;
    pcre2_match_data_free(w->md);
    pcre2_match_context_free(w->mctx);
    pcre2_jit_stack_free(w->jit);
    free(w->norm);
    free(w->ucs);
    free(w->chunks);
    for (int i = 0; i < TOK_MAX_STEPS; i++) free(w->prefix[i]);
    free(w->mapped);
    free(w->syms);
    free(w->heap);
    free(w->cache);
    free(w->cache_data);
    free(w);
}

tok_work *tok_work_get(const tokenizer *t) {
    pthread_mutex_lock(&t->pool->mu);
    tok_work *w = t->pool->free;
    if (w) t->pool->free = w->next;
    pthread_mutex_unlock(&t->pool->mu);
    if (!w && !(w = work_new())) arwkv_set_error("tokenizer: out of memory");
    return w;
}

void tok_work_put(const tokenizer *t, tok_work *w) {
    pthread_mutex_lock(&t->pool->mu);
    w->next = t->pool->free;
    t->pool->free = w;
    pthread_mutex_unlock(&t->pool->mu);
}

int tok_out_push(tok_out *o, int32_t id, uint32_t start, uint32_t end) {
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        int32_t *ids = realloc(o->ids, cap * sizeof *ids);
        if (!ids) return arwkv_set_error("tokenizer: out of memory");
        o->ids = ids;
        if (o->want_offsets) {
            uint32_t *s = realloc(o->starts, cap * sizeof *s);
            if (s) o->starts = s;
            uint32_t *e = s ? realloc(o->ends, cap * sizeof *e) : NULL;
            if (e) o->ends = e;
            if (!s || !e) return arwkv_set_error("tokenizer: out of memory");
        }
        o->cap = cap;
    }
    o->ids[o->n] = id;
    if (o->want_offsets) {
        o->starts[o->n] = start;
        o->ends[o->n] = end;
    }
    o->n++;
    return 0;
}

// ---- normalization -------------------------------------------------------------------------------
static int grow_bytes(uint8_t **p, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 4096;
    while (c < need) c *= 2;
    uint8_t *np = realloc(*p, c);
    if (!np) return arwkv_set_error("tokenizer: out of memory");
    *p = np;
    *cap = c;
    return 0;
}

static int chunk_add(tok_work *w, uint32_t norm, uint32_t orig, uint8_t same) {
    if (w->n_chunks == w->chunks_cap) {
        size_t cap = w->chunks_cap ? w->chunks_cap * 2 : 64;
        void *nc = realloc(w->chunks, cap * sizeof *w->chunks);
        if (!nc) return arwkv_set_error("tokenizer: out of memory");
        w->chunks = nc;
        w->chunks_cap = cap;
    }
    w->chunks[w->n_chunks++] = (struct tok_chunk){ norm, orig, same };
    return 0;
}

// Normalizes s[a..e) (utf8proc) and appends it at w->norm + *k, with a chunk of the offset map
// when it changed.
static int norm_piece(const tokenizer *t, tok_work *w, const uint8_t *s, size_t a, size_t e,
                      size_t *k, bool *identity) {
    if (a == e) return 0;
    utf8proc_option_t opt = (utf8proc_option_t)t->norm_options;
    utf8proc_ssize_t r;
    for (;;) {
        r = utf8proc_decompose(s + a, (utf8proc_ssize_t)(e - a), w->ucs, (utf8proc_ssize_t)w->ucs_cap, opt);
        if (r < 0) return arwkv_set_error("%s: normalizer: %s", t->name, utf8proc_errmsg(r));
        if ((size_t)r <= w->ucs_cap) break;
        size_t cap = (size_t)r * 2;
        int32_t *nb = realloc(w->ucs, cap * sizeof *nb);
        if (!nb) return arwkv_set_error("tokenizer: out of memory");
        w->ucs = nb;
        w->ucs_cap = cap;
    }
    r = utf8proc_reencode(w->ucs, r, opt);   // composes, then writes UTF-8 over the buffer
    if (r < 0) return arwkv_set_error("%s: normalizer: %s", t->name, utf8proc_errmsg(r));
    const uint8_t *u = (const uint8_t *)w->ucs;
    size_t un = (size_t)r;
    if (grow_bytes(&w->norm, &w->norm_cap, *k + un + 16)) return -1;
    bool same = un == e - a && !memcmp(u, s + a, un);
    if (!same) {
        *identity = false;
        if (chunk_add(w, (uint32_t)*k, (uint32_t)a, 0)) return -1;
    }
    memcpy(w->norm + *k, u, un);
    *k += un;
    if (!same && chunk_add(w, (uint32_t)*k, (uint32_t)e, 1)) return -1;
    return 0;
}

// Normalizes s[0..n) into w->norm. ASCII is never changed by NF(K)C/D and never combines with a
// preceding character, so only runs of non-ASCII characters (with the ASCII character before
// them, which may be a base for a combining mark) go through utf8proc. Each changed run is
// one chunk of the offset map; everything else maps one to one. Marks that Hugging Face's
// tables do not know are starters there: the runs are cut around them and they stay as they are.
static int normalize(const tokenizer *t, tok_work *w, const uint8_t *s, size_t n) {
    w->n_chunks = 0;
    if (grow_bytes(&w->norm, &w->norm_cap, n + 16) || chunk_add(w, 0, 0, 1)) return -1;
    size_t k = 0, i = 0;
    bool identity = true;
    while (i < n) {
        size_t j = i;
        while (j + 8 <= n) {
            uint64_t v;
            memcpy(&v, s + j, 8);
            if (v & 0x8080808080808080ull) break;
            j += 8;
        }
        while (j < n && s[j] < 0x80) j++;
        size_t a = j == n ? n : j > i ? j - 1 : j;   // run start, with its ASCII base
        if (grow_bytes(&w->norm, &w->norm_cap, k + (a - i) + 16)) return -1;
        memcpy(w->norm + k, s + i, a - i);
        k += a - i;
        if (j == n) break;
        size_t e = j;
        while (e < n && s[e] >= 0x80) e++;
        size_t q = a;
        for (size_t p = j; p < e;) {
            uint8_t c = s[p];
            int len = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
            // only these lead bytes can start one of Hugging Face's extra starters
            if (c == 0xDF || c == 0xE0 || c == 0xE1 || c == 0xEA || c == 0xF0) {
                int32_t cp;
                tok_utf8_decode(s + p, e - p, &cp);
                if (tok_hf_nfc_starter(cp)) {
                    if (norm_piece(t, w, s, q, p, &k, &identity)) return -1;
                    if (grow_bytes(&w->norm, &w->norm_cap, k + 16)) return -1;
                    memcpy(w->norm + k, s + p, (size_t)len);
                    k += (size_t)len;
                    q = p + (size_t)len;
                }
            }
            p += (size_t)len;
        }
        if (norm_piece(t, w, s, q, e, &k, &identity)) return -1;
        i = e;
    }
    w->seg_len = (uint32_t)k;
    w->seg_identity = identity;
    return 0;
}

// Normalized offset -> offset in the segment's original text; `end` picks the chunk end for
// positions strictly inside a changed chunk.
static uint32_t map_offset(const tok_work *w, uint32_t q, bool end) {
    size_t lo = 0, hi = w->n_chunks;   // last chunk with norm <= q (norm < q for ends)
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (w->chunks[mid].norm < q || (!end && w->chunks[mid].norm == q)) lo = mid;
        else hi = mid;
    }
    const struct tok_chunk *c = &w->chunks[lo];
    if (c->same || q == c->norm) return c->orig + (q - c->norm);
    return lo + 1 < w->n_chunks ? (end ? w->chunks[lo + 1].orig : c->orig) : c->orig;
}

// ---- added tokens (Hugging Face AddedVocabulary semantics) ---------------------------------------
typedef struct {
    const tokenizer *t;
    tok_work *w;
    tok_out *out;
    int allow_special;
} enc_ctx;

static bool word_before(const uint8_t *s, size_t pos) {
    if (pos == 0) return false;
    int k = tok_utf8_len_prev(s, pos);
    int32_t cp;
    tok_utf8_decode(s + pos - k, (size_t)k, &cp);
    return tok_is_word_char(cp);
}

static bool word_after(const uint8_t *s, size_t n, size_t pos) {
    if (pos >= n) return false;
    int32_t cp;
    tok_utf8_decode(s + pos, n - pos, &cp);
    return tok_is_word_char(cp);
}

typedef int (*text_fn)(enc_ctx *c, const uint8_t *s, size_t a, size_t b);

// Splits s on the tokens of `set`: a match is skipped when it is special and specials are not
// allowed, or single_word and touching a word character; lstrip/rstrip swallow the white space
// beside it. Skipped matches still consume their text, as in Hugging Face.
static int split_added(enc_ctx *c, const tok_match_set *set, const uint8_t *s, size_t n,
                       text_fn on_text) {
    const tokenizer *t = c->t;
    size_t from = 0, done = 0;
    for (;;) {
        int32_t which;
        size_t start = tok_match_find(t, set, s, n, from, &which);
        if (start >= n) break;
        const tok_added *a = &t->added[which];
        size_t stop = start + a->match_len;
        from = stop;
        if (a->special && !c->allow_special) continue;
        if (a->single_word && (word_before(s, start) || word_after(s, n, stop))) continue;
        if (start < done) continue;   // inside the white space an rstrip took
        if (a->lstrip) {
            size_t ns = start;
            while (ns > done) {
                int k = tok_utf8_len_prev(s, ns);
                int32_t cp;
                tok_utf8_decode(s + ns - k, (size_t)k, &cp);
                if (!tok_is_white_space(cp)) break;
                ns -= (size_t)k;
            }
            start = ns;
        }
        if (a->rstrip) {
            while (stop < n) {
                int32_t cp;
                int k = tok_utf8_decode(s + stop, n - stop, &cp);
                if (!tok_is_white_space(cp)) break;
                stop += (size_t)k;
            }
        }
        if (start > done && on_text(c, s, done, start)) return -1;
        if (tok_out_push(c->out, a->id, (uint32_t)start, (uint32_t)stop)) return -1;
        done = stop;
    }
    return done < n ? on_text(c, s, done, n) : 0;
}

static int norm_text(enc_ctx *c, const uint8_t *s, size_t a, size_t b) {
    return tok_pretok_run(c->t, c->w, 0, s + a, b - a, (uint32_t)a, 0, c->out);
}

// One stretch of raw text between added tokens: normalize, split on normalized added tokens,
// pre-tokenize, BPE; then map the new tokens' offsets back to the raw text.
static int raw_text(enc_ctx *c, const uint8_t *s, size_t a, size_t b) {
    const tokenizer *t = c->t;
    tok_work *w = c->w;
    size_t k0 = c->out->n;
    const uint8_t *q = s + a;
    size_t qn = b - a;
    w->seg_identity = true;
    if (t->norm_options) {
        if (normalize(t, w, s + a, b - a)) return -1;
        if (!w->seg_identity) {
            q = w->norm;
            qn = w->seg_len;
        }
    }
    int rc = t->norm_set.n ? split_added(c, &t->norm_set, q, qn, norm_text)
                           : tok_pretok_run(t, w, 0, q, qn, 0, 0, c->out);
    if (rc || !c->out->want_offsets) return rc;
    for (size_t i = k0; i < c->out->n; i++) {
        uint32_t st = c->out->starts[i], en = c->out->ends[i];
        if (!w->seg_identity) {
            st = map_offset(w, st, false);
            en = map_offset(w, en, true);
        }
        c->out->starts[i] = st + (uint32_t)a;
        c->out->ends[i] = en + (uint32_t)a;
    }
    return 0;
}

int tok_encode_impl(const tokenizer *t, const char *text, size_t len, int allow_special,
                    tok_out *out) {
    const uint8_t *s = (const uint8_t *)text;
    size_t bad = tok_utf8_check(s, len);
    if (bad < len) return arwkv_set_error("invalid UTF-8 at byte offset %zu", bad);
    if (len >= UINT32_MAX) return arwkv_set_error("text too long to encode (%zu bytes, 4 GiB max)", len);
    tok_work *w = tok_work_get(t);
    if (!w) return -1;
    enc_ctx c = { t, w, out, allow_special };
    int rc = split_added(&c, &t->raw_set, s, len, raw_text);
    tok_work_put(t, w);
    return rc;
}

static int encode_out(const tokenizer *t, const char *text, size_t len, int allow_special,
                      tok_out *o) {
    // sized for about 4 bytes per token up front: most texts need no regrowth
    size_t cap = len / 4 + 16;
    o->ids = malloc(cap * sizeof *o->ids);
    if (o->want_offsets) {
        o->starts = malloc(cap * sizeof *o->starts);
        o->ends = malloc(cap * sizeof *o->ends);
    }
    if (o->ids && (!o->want_offsets || (o->starts && o->ends))) o->cap = cap;
    else arwkv_set_error("tokenizer: out of memory");
    if (o->cap && tok_encode_impl(t, text, len, allow_special, o) == 0) return 0;
    free(o->ids);
    free(o->starts);
    free(o->ends);
    return -1;
}

int tokenizer_encode(const tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n,
                     int allow_special) {
    tok_out o = { 0 };
    *ids = NULL;
    *n = 0;
    if (encode_out(t, text, len, allow_special, &o)) return -1;
    *ids = o.ids;
    *n = o.n;
    return 0;
}

int tokenizer_encode_offsets(const tokenizer *t, const char *text, size_t len, int32_t **ids,
                             uint32_t **starts, uint32_t **ends, size_t *n, int allow_special) {
    tok_out o = { .want_offsets = true };
    *ids = NULL;
    *starts = *ends = NULL;
    *n = 0;
    if (encode_out(t, text, len, allow_special, &o)) return -1;
    *ids = o.ids;
    *starts = o.starts;
    *ends = o.ends;
    *n = o.n;
    return 0;
}
