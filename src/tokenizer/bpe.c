// BPE inside one pre-tokenized piece: start from one symbol per byte and repeatedly merge the
// adjacent pair with the lowest merge rank, leftmost first on ties. A min-heap over
// (rank, position) with stale entries skipped on pop makes this O(n log n). Results for short
// pieces are kept in a per-work cache keyed by the piece's bytes.
#include <stdlib.h>

#include "tokenizer/tok_internal.h"

#define CACHE_SLOTS (1u << 15)
#define CACHE_BYTES (4u << 20)
#define CACHE_MAX_PIECE 255

static inline const struct tok_merge *merge_find(const tokenizer *t, int32_t a, int32_t b) {
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    uint32_t h = (uint32_t)tok_hash(&key, 8) & t->merge_mask;
    for (;;) {
        const struct tok_merge *m = &t->merges[h];
        if (m->key == key) return m;
        if (m->key == UINT64_MAX) return NULL;
        h = (h + 1) & t->merge_mask;
    }
}

static void heap_push(uint64_t *h, size_t *n, uint64_t v) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= v) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0], v = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1] < h[c]) c++;
        if (v <= h[c]) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
    return top;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *np = realloc(*p, c * elem);
    if (!np) return arwkv_set_error("tokenizer: out of memory");
    *p = np;
    *cap = c;
    return 0;
}

static int emit(tok_out *out, int32_t id, uint32_t base, int virt, uint32_t i, uint32_t j) {
    uint32_t s = i >= (uint32_t)virt ? base + i - (uint32_t)virt : base;
    uint32_t e = j >= (uint32_t)virt ? base + j - (uint32_t)virt : base;
    return tok_out_push(out, id, s, e);
}

// ---- cache ------------------------------------------------------------------------------------
static struct tok_cache_slot *cache_find(tok_work *w, const uint8_t *p, size_t n, uint64_t h) {
    if (!w->cache) return NULL;
    for (uint32_t i = (uint32_t)h & w->cache_mask;; i = (i + 1) & w->cache_mask) {
        struct tok_cache_slot *s = &w->cache[i];
        if (!s->hash) return s;
        if (s->hash == h && s->key_len == n && !memcmp(w->cache_data + s->off, p, n)) return s;
    }
}

// Entry: key bytes (padded to 4), ids, then (start, length) within the piece per token.
static void cache_put(tok_work *w, const uint8_t *p, size_t n, uint64_t h) {
    size_t n_tok = 0;
    for (int32_t i = 0; i >= 0; i = w->syms[i].next) n_tok++;
    size_t need = align_up(n, 4) + n_tok * 6;
    if (!w->cache) {
        w->cache = calloc(CACHE_SLOTS, sizeof *w->cache);
        w->cache_data = malloc(CACHE_BYTES);
        if (!w->cache || !w->cache_data) {   // the cache is optional: run without it
            free(w->cache);
            free(w->cache_data);
            w->cache = NULL;
            w->cache_data = NULL;
            return;
        }
        w->cache_mask = CACHE_SLOTS - 1;
    }
    if (w->cache_used + need > CACHE_BYTES || (w->cache_count + 1) * 4 > CACHE_SLOTS * 3) {
        memset(w->cache, 0, CACHE_SLOTS * sizeof *w->cache);   // full: start over
        w->cache_used = 0;
        w->cache_count = 0;
    }
    struct tok_cache_slot *s = cache_find(w, p, n, h);
    uint8_t *d = w->cache_data + w->cache_used;
    memcpy(d, p, n);
    uint8_t *ids = d + align_up(n, 4), *pos = ids + 4 * n_tok;
    size_t k = 0;
    for (int32_t i = 0; i >= 0; i = w->syms[i].next, k++) {
        memcpy(ids + 4 * k, &w->syms[i].id, 4);
        pos[2 * k] = (uint8_t)w->syms[i].start;
        pos[2 * k + 1] = (uint8_t)w->syms[i].len;
    }
    *s = (struct tok_cache_slot){ h, (uint32_t)w->cache_used, (uint16_t)n, (uint16_t)n_tok };
    w->cache_used += align_up(need, 4);
    w->cache_count++;
}

// ---- BPE --------------------------------------------------------------------------------------
// Leaves the result in w->syms as a list from index 0; returns the number of input symbols
// (0: nothing to emit) or -1.
static int32_t bpe_run(const tokenizer *t, tok_work *w, const uint8_t *p, size_t n) {
    if (grow((void **)&w->syms, &w->syms_cap, n, sizeof *w->syms) ||
        grow((void **)&w->heap, &w->heap_cap, 2 * n + 2, sizeof *w->heap))
        return -1;
    struct tok_sym *sy = w->syms;
    int32_t ns = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_id[p[i]];
        if (id < 0) {
            // a byte without a vocab entry becomes unk (fused with a previous unk when asked)
            // or is dropped, as in Hugging Face
            if (t->unk_id < 0) continue;
            if (t->fuse_unk && ns > 0 && sy[ns - 1].id == t->unk_id &&
                sy[ns - 1].start + sy[ns - 1].len == i) {
                sy[ns - 1].len++;
                continue;
            }
            id = t->unk_id;
        }
        sy[ns] = (struct tok_sym){ id, ns - 1, ns + 1, (uint32_t)i, 1 };
        ns++;
    }
    if (ns == 0) return 0;
    sy[0].prev = -1;
    sy[ns - 1].next = -1;
    size_t nh = 0;
    for (int32_t i = 0; i + 1 < ns; i++) {
        const struct tok_merge *m = merge_find(t, sy[i].id, sy[i + 1].id);
        if (m) heap_push(w->heap, &nh, (uint64_t)m->rank << 32 | (uint32_t)i);
    }
    while (nh) {
        uint64_t top = heap_pop(w->heap, &nh);
        int32_t i = (int32_t)(uint32_t)top;
        uint32_t rank = (uint32_t)(top >> 32);
        struct tok_sym *a = &sy[i];
        if (a->len == 0 || a->next < 0) continue;
        struct tok_sym *b = &sy[a->next];
        const struct tok_merge *m = merge_find(t, a->id, b->id);
        if (!m || m->rank != rank) continue;   // stale: a neighbour changed since the push
        a->id = m->id;
        a->len += b->len;
        b->len = 0;
        a->next = b->next;
        if (a->next >= 0) sy[a->next].prev = i;
        if (a->prev >= 0) {
            const struct tok_merge *l = merge_find(t, sy[a->prev].id, a->id);
            if (l) heap_push(w->heap, &nh, (uint64_t)l->rank << 32 | (uint32_t)a->prev);
        }
        if (a->next >= 0) {
            const struct tok_merge *r = merge_find(t, a->id, sy[a->next].id);
            if (r) heap_push(w->heap, &nh, (uint64_t)r->rank << 32 | (uint32_t)i);
        }
    }
    return ns;
}

static int emit_syms(tok_work *w, uint32_t base, int virt, tok_out *out) {
    for (int32_t i = 0; i >= 0; i = w->syms[i].next)
        if (emit(out, w->syms[i].id, base, virt, w->syms[i].start, w->syms[i].start + w->syms[i].len))
            return -1;
    return 0;
}

int tok_bpe_piece(const tokenizer *t, tok_work *w, const uint8_t *p, size_t n, uint32_t base,
                  int virt, tok_out *out) {
    if (n == 1 && t->byte_id[p[0]] >= 0) return emit(out, t->byte_id[p[0]], base, virt, 0, 1);
    if (t->ignore_merges) {   // a piece that is itself a vocab entry is one token
        if (grow((void **)&w->mapped, &w->mapped_cap, 2 * n, 1)) return -1;
        size_t m = tok_bytes_to_bytelevel(p, n, w->mapped);
        int32_t id = tok_strmap_get(&t->vocab, t->keys, t->key_off, t->key_len, (char *)w->mapped, m);
        if (id >= 0) return emit(out, id, base, virt, 0, (uint32_t)n);
    }
    if (n > CACHE_MAX_PIECE) {
        int32_t ns = bpe_run(t, w, p, n);
        return ns < 0 ? -1 : ns ? emit_syms(w, base, virt, out) : 0;
    }
    uint64_t h = tok_hash(p, n) | 1;   // 0 marks an empty slot
    struct tok_cache_slot *s = cache_find(w, p, n, h);
    if (s && s->hash) {
        const uint8_t *ids = w->cache_data + s->off + align_up(n, 4), *pos = ids + 4 * s->n_tok;
        for (uint32_t i = 0; i < s->n_tok; i++) {
            int32_t id;
            memcpy(&id, ids + 4 * i, 4);
            if (emit(out, id, base, virt, pos[2 * i], (uint32_t)pos[2 * i] + pos[2 * i + 1])) return -1;
        }
        return 0;
    }
    int32_t ns = bpe_run(t, w, p, n);
    if (ns <= 0) return ns;
    cache_put(w, p, n, h);
    return emit_syms(w, base, virt, out);
}
