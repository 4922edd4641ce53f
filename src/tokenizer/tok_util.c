// Hashing, UTF-8 helpers, the byte-level map and the string -> id table.
#include <stdlib.h>
#include <utf8proc.h>

#include "tokenizer/tok_internal.h"

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    return x;
}

// Eight bytes per step: the hash runs on every piece of every encode call.
uint64_t tok_hash(const void *data, size_t n) {
    const uint8_t *p = data;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = mix64(h ^ v) + 0x632be59bd9b4e019ull;
        p += 8;
        n -= 8;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return mix64(h ^ v ^ 0xff51afd7ed558ccdull);
}

// ---- UTF-8 -------------------------------------------------------------------------------------
size_t tok_utf8_check(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t v;
            memcpy(&v, s + i, 8);
            if (!(v & 0x8080808080808080ull)) {
                i += 8;
                continue;
            }
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;   // allowed range of the second byte
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;        // overlong
            if (c == 0xED) hi = 0x9F;        // surrogates
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;        // overlong
            if (c == 0xF4) hi = 0x8F;        // > U+10FFFF
        } else return i;
        if (i + need >= n) return i;   // truncated at the end
        if (s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xC0) != 0x80) return i;
        i += need + 1;
    }
    return n;
}

int tok_utf8_decode(const uint8_t *s, size_t n, int32_t *cp) {
    uint8_t c = s[0];
    if (c < 0x80 || n < 2) {
        *cp = c;
        return 1;
    }
    if (c < 0xE0) {
        *cp = ((c & 0x1F) << 6) | (s[1] & 0x3F);
        return 2;
    }
    if (c < 0xF0 || n < 4) {
        *cp = ((c & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        return 3;
    }
    *cp = ((c & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    return 4;
}

int tok_utf8_encode(int32_t cp, uint8_t *out) {
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

int tok_utf8_len_prev(const uint8_t *s, size_t pos) {
    int k = 1;
    while (k < 4 && (size_t)k < pos && (s[pos - k] & 0xC0) == 0x80) k++;
    return k;
}

bool tok_is_white_space(int32_t cp) {
    if (cp < 0x80) return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20;
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool tok_is_word_char(int32_t cp) {
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
               cp == '_';
    if (cp == 0x200C || cp == 0x200D) return true;   // joiners count as word characters
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
        return true;
    default:
        return false;
    }
}

size_t tok_bytes_to_bytelevel(const uint8_t *in, size_t n, uint8_t *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += (size_t)tok_utf8_encode(tok_byte_to_cp(in[i]), out + k);
    return k;
}

// ---- string -> id table ---------------------------------------------------------------------------
// The slots keep part of each key's hash, so a probe touches the key bytes only on a likely hit.
static int strmap_alloc(tok_strmap *m, size_t n) {
    size_t cap = 1024;
    while (cap < 2 * n) cap *= 2;
    uint64_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return arwkv_set_error("tokenizer: out of memory");
    uint64_t *old = m->slots;
    uint32_t old_mask = m->mask;
    m->slots = slots;
    m->mask = (uint32_t)cap - 1;
    if (old) {
        for (uint32_t i = 0; i <= old_mask; i++) {
            uint64_t v = old[i];
            if (!v) continue;
            uint32_t h = (uint32_t)(v >> 32) & m->mask;
            while (slots[h]) h = (h + 1) & m->mask;
            slots[h] = v;
        }
        free(old);
    }
    return 0;
}

int tok_strmap_init(tok_strmap *m, size_t n) { return strmap_alloc(m, n); }

int32_t tok_strmap_add(tok_strmap *m, const char *keys, const uint32_t *off, const uint32_t *len,
                       int32_t id, uint64_t hash) {
    if (!m->slots || (m->count + 1) * 2 > m->mask + 1)
        if (strmap_alloc(m, (size_t)m->count + 1)) return -2;
    uint64_t hv = hash >> 32;
    const char *s = keys + off[id];
    uint32_t h = (uint32_t)hv & m->mask;
    for (uint64_t v; (v = m->slots[h]); h = (h + 1) & m->mask) {
        uint32_t other = (uint32_t)v - 1;
        if (v >> 32 == hv && len[other] == len[id] && !memcmp(keys + off[other], s, len[id]))
            return (int32_t)other;
    }
    m->slots[h] = hv << 32 | ((uint32_t)id + 1);
    m->count++;
    return -1;
}

int32_t tok_strmap_get(const tok_strmap *m, const char *keys, const uint32_t *off,
                       const uint32_t *len, const char *s, size_t n) {
    return tok_strmap_get_hashed(m, keys, off, len, s, n, tok_hash(s, n));
}

void tok_strmap_prefetch(const tok_strmap *m, uint64_t hash) {
    if (m->slots) __builtin_prefetch(&m->slots[(uint32_t)(hash >> 32) & m->mask]);
}

int32_t tok_strmap_get_hashed(const tok_strmap *m, const char *keys, const uint32_t *off,
                              const uint32_t *len, const char *s, size_t n, uint64_t hash) {
    if (!m->slots) return -1;
    uint64_t hv = hash >> 32;
    for (uint32_t h = (uint32_t)hv & m->mask;; h = (h + 1) & m->mask) {
        uint64_t v = m->slots[h];
        if (!v) return -1;
        if (v >> 32 != hv) continue;
        uint32_t id = (uint32_t)v - 1;
        if (len[id] == n && !memcmp(keys + off[id], s, n)) return (int32_t)id;
    }
}
