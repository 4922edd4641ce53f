// Decoding ids to bytes, whole or streamed, and the small lookups of tokenizer.h.
#include <stdlib.h>

#include "tokenizer/tok_internal.h"

int32_t tokenizer_vocab_size(const tokenizer *t) { return t->n_ids; }

const tokenizer_special_ids *tokenizer_special(const tokenizer *t) { return &t->special; }

bool tokenizer_is_special(const tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_ids && t->is_special[id];
}

const char *tokenizer_token_bytes(const tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_ids || t->byte_len[id] == UINT32_MAX) return NULL;
    if (len) *len = t->byte_len[id];
    return t->bytes + t->byte_off[id];
}

int32_t tokenizer_token_id(const tokenizer *t, const char *text, size_t len) {
    for (int32_t i = 0; i < t->n_added; i++)
        if (t->added[i].len == len && !memcmp(t->added[i].content, text, len)) return t->added[i].id;
    uint8_t small[256];
    uint8_t *m = 2 * len <= sizeof small ? small : malloc(2 * len);
    if (!m) return -1;
    size_t n = tok_bytes_to_bytelevel((const uint8_t *)text, len, m);
    int32_t id = tok_strmap_get(&t->vocab, t->keys, t->key_off, t->key_len, (char *)m, n);
    if (m != small) free(m);
    return id;
}

static int check_id(int32_t id, size_t pos) {
    if (id < 0) return arwkv_set_error("token id %d at position %zu is negative", id, pos);
    return 0;
}

// Bytes of id for decoding: nothing for ids without a token (as Hugging Face's decode skips
// them: a model's embedding table is often larger than its vocabulary) or skipped specials.
static size_t id_len(const tokenizer *t, int32_t id, int skip_special) {
    if (id >= t->n_ids || t->byte_len[id] == UINT32_MAX || (skip_special && t->is_special[id])) return 0;
    return t->byte_len[id];
}

int tokenizer_decode_ex(const tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                        char **bytes, size_t *len) {
    *bytes = NULL;
    *len = 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (check_id(ids[i], i)) return -1;
        total += id_len(t, ids[i], skip_special);
    }
    char *out = malloc(total + 1);
    if (!out) return arwkv_set_error("tokenizer: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t m = id_len(t, ids[i], skip_special);
        if (m) memcpy(out + k, t->bytes + t->byte_off[ids[i]], m);
        k += m;
    }
    out[k] = 0;
    *bytes = out;
    *len = k;
    return 0;
}

int tokenizer_decode(const tokenizer *t, const int32_t *ids, size_t n, char **bytes, size_t *len) {
    return tokenizer_decode_ex(t, ids, n, 0, bytes, len);
}

// ---- streaming ------------------------------------------------------------------------------------
struct arwkv_token_stream {
    const tokenizer *t;
    int skip_special;
    size_t pos;                // ids pushed so far, for messages
    uint8_t *buf;              // the last output
    size_t cap;
    uint8_t pend[4];
    int n_pend;
};

int tokenizer_stream_init(tokenizer_stream **out, const tokenizer *t, int skip_special) {
    tokenizer_stream *s = calloc(1, sizeof *s);
    if (!s) return arwkv_set_error("tokenizer: out of memory");
    s->t = t;
    s->skip_special = skip_special;
    *out = s;
    return 0;
}

void tokenizer_stream_free(tokenizer_stream *s) {
    if (!s) return;
    free(s->buf);
    free(s);
}

// Length of the valid start of a UTF-8 sequence at the end of b[0..n) that still needs more
// bytes (0 when the tail is complete or can never become valid).
static int incomplete_tail(const uint8_t *b, size_t n) {
    for (int k = 1; k <= 3 && (size_t)k <= n; k++) {
        uint8_t c = b[n - (size_t)k];
        if ((c & 0xC0) == 0x80) continue;
        int need = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (need <= k) return 0;
        if (k >= 2) {
            uint8_t d = b[n - (size_t)k + 1], lo = 0x80, hi = 0xBF;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
            if (d < lo || d > hi) return 0;
        }
        return k;
    }
    return 0;
}

int tokenizer_stream_push(tokenizer_stream *s, int32_t id, const char **text, size_t *len) {
    *text = "";
    *len = 0;
    if (check_id(id, s->pos)) return -1;
    s->pos++;
    size_t n = id_len(s->t, id, s->skip_special);
    const char *b = n ? s->t->bytes + s->t->byte_off[id] : "";
    size_t need = (size_t)s->n_pend + n + 1;
    if (need > s->cap) {
        size_t cap = need * 2 > 256 ? need * 2 : 256;
        uint8_t *nb = realloc(s->buf, cap);
        if (!nb) return arwkv_set_error("tokenizer: out of memory");
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf, s->pend, (size_t)s->n_pend);
    memcpy(s->buf + s->n_pend, b, n);
    size_t total = (size_t)s->n_pend + n;
    int hold = incomplete_tail(s->buf, total);
    s->n_pend = hold;
    memcpy(s->pend, s->buf + total - (size_t)hold, (size_t)hold);
    s->buf[total - (size_t)hold] = 0;
    *text = (const char *)s->buf;
    *len = total - (size_t)hold;
    return 0;
}

int tokenizer_stream_flush(tokenizer_stream *s, const char **text, size_t *len) {
    if (s->cap < 5) {
        uint8_t *nb = realloc(s->buf, 256);
        if (!nb) return arwkv_set_error("tokenizer: out of memory");
        s->buf = nb;
        s->cap = 256;
    }
    memcpy(s->buf, s->pend, (size_t)s->n_pend);
    s->buf[s->n_pend] = 0;
    *text = (const char *)s->buf;
    *len = (size_t)s->n_pend;
    s->n_pend = 0;
    return 0;
}
