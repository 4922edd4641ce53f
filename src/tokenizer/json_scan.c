// A strict single-pass scanner for tokenizer.json. The model's vocab ({string: int}) and merges
// (["a b", ...] or [["a", "b"], ...]) are read straight into flat arrays; every other value is
// located here and parsed by jansson.
#include <jansson.h>
#include <stdlib.h>

#include "tokenizer/tok_internal.h"

typedef struct {
    const char *s;
    size_t n, pos;
    const char *name;
    char *buf;                 // unescaped string
    size_t cap;
} jscan;

static int js_fail(const jscan *j, const char *what) {
    return arwkv_set_error("%s: byte %zu: %s", j->name, j->pos, what);
}

static void js_ws(jscan *j) {
    while (j->pos < j->n) {
        char c = j->s[j->pos];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t') break;
        j->pos++;
    }
}

static int js_expect(jscan *j, char c) {
    js_ws(j);
    if (j->pos >= j->n || j->s[j->pos] != c) {
        char msg[32];
        snprintf(msg, sizeof msg, "expected '%c'", c);
        return js_fail(j, msg);
    }
    j->pos++;
    return 0;
}

static int js_peek(jscan *j) {
    js_ws(j);
    return j->pos < j->n ? (unsigned char)j->s[j->pos] : -1;
}

static int hex4(const char *p, uint32_t *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        uint32_t d;
        if (c >= '0' && c <= '9') d = (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') d = (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') d = (uint32_t)(c - 'A' + 10);
        else return -1;
        *v = *v * 16 + d;
    }
    return 0;
}

// Reads a string; *out points into the document when it has no escapes, else into j->buf.
static int js_string(jscan *j, const char **out, size_t *len) {
    js_ws(j);
    if (j->pos >= j->n || j->s[j->pos] != '"') return js_fail(j, "expected a string");
    size_t start = ++j->pos, i = start;
    while (i < j->n) {
        unsigned char c = (unsigned char)j->s[i];
        if (c == '"' || c == '\\' || c < 0x20) break;
        i++;
    }
    if (i < j->n && j->s[i] == '"') {
        *out = j->s + start;
        *len = i - start;
        j->pos = i + 1;
        return 0;
    }
    size_t k = 0;
    for (i = start;; ) {
        if (k + 8 > j->cap) {
            size_t cap = j->cap ? j->cap * 2 : 256;
            char *nb = realloc(j->buf, cap);
            if (!nb) return arwkv_set_error("%s: out of memory", j->name);
            j->buf = nb;
            j->cap = cap;
        }
        if (i >= j->n) {
            j->pos = i;
            return js_fail(j, "unterminated string");
        }
        unsigned char c = (unsigned char)j->s[i];
        if (c == '"') break;
        if (c < 0x20) {
            j->pos = i;
            return js_fail(j, "control character in string");
        }
        if (c != '\\') {
            j->buf[k++] = (char)c;
            i++;
            continue;
        }
        if (i + 1 >= j->n) {
            j->pos = i;
            return js_fail(j, "unterminated string");
        }
        char e = j->s[i + 1];
        i += 2;
        switch (e) {
        case '"': j->buf[k++] = '"'; break;
        case '\\': j->buf[k++] = '\\'; break;
        case '/': j->buf[k++] = '/'; break;
        case 'b': j->buf[k++] = '\b'; break;
        case 'f': j->buf[k++] = '\f'; break;
        case 'n': j->buf[k++] = '\n'; break;
        case 'r': j->buf[k++] = '\r'; break;
        case 't': j->buf[k++] = '\t'; break;
        case 'u': {
            uint32_t u, lo;
            if (i + 4 > j->n || hex4(j->s + i, &u)) {
                j->pos = i;
                return js_fail(j, "bad \\u escape");
            }
            i += 4;
            if (u >= 0xDC00 && u <= 0xDFFF) {
                j->pos = i;
                return js_fail(j, "lone low surrogate in \\u escape");
            }
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (i + 6 > j->n || j->s[i] != '\\' || j->s[i + 1] != 'u' ||
                    hex4(j->s + i + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                    j->pos = i;
                    return js_fail(j, "lone high surrogate in \\u escape");
                }
                i += 6;
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
            }
            k += (size_t)tok_utf8_encode((int32_t)u, (uint8_t *)j->buf + k);
            break;
        }
        default:
            j->pos = i - 1;
            return js_fail(j, "bad escape");
        }
    }
    *out = j->buf;
    *len = k;
    j->pos = i + 1;
    return 0;
}

// Skips one value, checking only what is needed to find its end (jansson checks the rest).
static int js_skip(jscan *j, int depth) {
    if (depth > 256) return js_fail(j, "nesting too deep");
    int c = js_peek(j);
    if (c == '"') {
        const char *s;
        size_t n;
        return js_string(j, &s, &n);
    }
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        j->pos++;
        if (js_peek(j) == close) {
            j->pos++;
            return 0;
        }
        for (;;) {
            if (c == '{') {
                const char *s;
                size_t n;
                if (js_string(j, &s, &n) || js_expect(j, ':')) return -1;
            }
            if (js_skip(j, depth + 1)) return -1;
            int d = js_peek(j);
            j->pos++;
            if (d == close) return 0;
            if (d != ',') {
                j->pos--;
                return js_fail(j, c == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
            }
        }
    }
    size_t start = j->pos;
    while (j->pos < j->n) {
        char d = j->s[j->pos];
        if (d == ',' || d == '}' || d == ']' || d == ' ' || d == '\n' || d == '\r' || d == '\t') break;
        j->pos++;
    }
    if (j->pos == start) return js_fail(j, "expected a value");
    return 0;
}

// Parses the value at the cursor with jansson.
static int js_capture(jscan *j, json_t **out) {
    js_ws(j);
    size_t start = j->pos;
    if (js_skip(j, 0)) return -1;
    json_error_t err;
    *out = json_loadb(j->s + start, j->pos - start, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!*out) {
        j->pos = start + (size_t)(err.position > 0 ? err.position : 0);
        return js_fail(j, err.text);
    }
    return 0;
}

static int blob_add(jscan *j, tok_raw *raw, const char *s, size_t n, uint32_t *off) {
    if (raw->blob_len + n + 1 > raw->blob_cap) {
        size_t cap = raw->blob_cap ? raw->blob_cap : 1 << 20;
        while (raw->blob_len + n + 1 > cap) cap *= 2;
        char *nb = realloc(raw->blob, cap);
        if (!nb) return arwkv_set_error("%s: out of memory", j->name);
        raw->blob = nb;
        raw->blob_cap = cap;
    }
    if (raw->blob_len + n > UINT32_MAX) return js_fail(j, "vocabulary too large");
    *off = (uint32_t)raw->blob_len;
    memcpy(raw->blob + raw->blob_len, s, n);
    raw->blob_len += n;
    return 0;
}

static int js_vocab(jscan *j, tok_raw *raw) {
    if (js_expect(j, '{')) return -1;
    raw->have_vocab = true;
    if (js_peek(j) == '}') {
        j->pos++;
        return 0;
    }
    for (;;) {
        const char *s;
        size_t n;
        uint32_t off;
        if (js_string(j, &s, &n) || blob_add(j, raw, s, n, &off) || js_expect(j, ':')) return -1;
        js_ws(j);
        int64_t v = 0;
        size_t start = j->pos;
        while (j->pos < j->n && j->s[j->pos] >= '0' && j->s[j->pos] <= '9' && v < TOK_MAX_ID)
            v = v * 10 + (j->s[j->pos++] - '0');
        if (j->pos == start) return js_fail(j, "model.vocab: expected a non-negative integer id");
        if (v >= TOK_MAX_ID) return js_fail(j, "model.vocab: id too large");
        if (raw->n_vocab == raw->vocab_cap) {
            size_t cap = raw->vocab_cap ? raw->vocab_cap * 2 : 1 << 14;
            void *nv = realloc(raw->vocab, cap * sizeof *raw->vocab);
            if (!nv) return arwkv_set_error("%s: out of memory", j->name);
            raw->vocab = nv;
            raw->vocab_cap = cap;
        }
        raw->vocab[raw->n_vocab++] = (struct tok_raw_entry){ off, (uint32_t)n, (int32_t)v };
        int d = js_peek(j);
        j->pos++;
        if (d == '}') return 0;
        if (d != ',') {
            j->pos--;
            return js_fail(j, "model.vocab: expected ',' or '}'");
        }
    }
}

static int js_merges(jscan *j, tok_raw *raw) {
    if (js_expect(j, '[')) return -1;
    raw->have_merges = true;
    if (js_peek(j) == ']') {
        j->pos++;
        return 0;
    }
    for (;;) {
        struct tok_raw_merge m;
        const char *s;
        size_t n;
        if (js_peek(j) == '[') {   // ["a", "b"]
            j->pos++;
            if (js_string(j, &s, &n) || blob_add(j, raw, s, n, &m.a_off)) return -1;
            m.a_len = (uint32_t)n;
            if (js_expect(j, ',') || js_string(j, &s, &n) || blob_add(j, raw, s, n, &m.b_off)) return -1;
            m.b_len = (uint32_t)n;
            if (js_peek(j) != ']') return js_fail(j, "model.merges: a pair must have exactly 2 strings");
            j->pos++;
        } else {                   // "a b"
            size_t at = j->pos;
            if (js_string(j, &s, &n)) return -1;
            const char *sp = memchr(s, ' ', n);
            if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - s))) {
                j->pos = at;
                return js_fail(j, "model.merges: expected \"a b\" with exactly one space");
            }
            uint32_t off;
            if (blob_add(j, raw, s, n, &off)) return -1;
            m.a_off = off;
            m.a_len = (uint32_t)(sp - s);
            m.b_off = off + m.a_len + 1;
            m.b_len = (uint32_t)n - m.a_len - 1;
        }
        if (raw->n_merges == raw->merges_cap) {
            size_t cap = raw->merges_cap ? raw->merges_cap * 2 : 1 << 14;
            void *nm = realloc(raw->merges, cap * sizeof *raw->merges);
            if (!nm) return arwkv_set_error("%s: out of memory", j->name);
            raw->merges = nm;
            raw->merges_cap = cap;
        }
        raw->merges[raw->n_merges++] = m;
        int d = js_peek(j);
        j->pos++;
        if (d == ']') return 0;
        if (d != ',') {
            j->pos--;
            return js_fail(j, "model.merges: expected ',' or ']'");
        }
    }
}

// Reads the members of an object, handing "vocab"/"merges" (when in_model) or "model" to the
// scanners above and everything else to jansson.
static int js_object(jscan *j, tok_raw *raw, json_t *rest, bool in_model) {
    if (js_expect(j, '{')) return -1;
    if (js_peek(j) == '}') {
        j->pos++;
        return 0;
    }
    for (;;) {
        const char *s;
        size_t n;
        if (js_string(j, &s, &n)) return -1;
        // keys longer than any the loader reads (or holding NUL) are skipped unparsed
        char key[64];
        bool known = n < sizeof key && !memchr(s, 0, n);
        if (known) {
            memcpy(key, s, n);
            key[n] = 0;
        }
        if (js_expect(j, ':')) return -1;
        if (known && json_object_get(rest, key)) return js_fail(j, "duplicate key");
        int rc;
        if (!known) {
            rc = js_skip(j, 0);
        } else if (in_model && !strcmp(key, "vocab") && js_peek(j) == '{') {
            if (raw->have_vocab) return js_fail(j, "duplicate key");
            rc = js_vocab(j, raw);
        } else if (in_model && !strcmp(key, "merges") && js_peek(j) == '[') {
            if (raw->have_merges) return js_fail(j, "duplicate key");
            rc = js_merges(j, raw);
        } else if (!in_model && !strcmp(key, "model") && js_peek(j) == '{') {
            json_t *model = json_object();
            rc = model ? js_object(j, raw, model, true) : arwkv_set_error("out of memory");
            if (!rc) json_object_set_new(rest, "model", model);
            else json_decref(model);
        } else {
            json_t *v;
            rc = js_capture(j, &v);
            if (!rc) json_object_set_new(rest, key, v);
        }
        if (rc) return -1;
        int d = js_peek(j);
        j->pos++;
        if (d == '}') return 0;
        if (d != ',') {
            j->pos--;
            return js_fail(j, "expected ',' or '}'");
        }
    }
}

int tok_json_read(const char *json, size_t len, const char *name, tok_raw *raw, json_t **rest) {
    memset(raw, 0, sizeof *raw);
    *rest = NULL;
    jscan j = { .s = json, .n = len, .name = name };
    size_t bad = tok_utf8_check((const uint8_t *)json, len);
    if (bad < len) return arwkv_set_error("%s: invalid UTF-8 at byte %zu", name, bad);
    json_t *root = json_object();
    if (!root) return arwkv_set_error("out of memory");
    int rc = js_object(&j, raw, root, false);
    if (!rc && js_peek(&j) != -1) rc = js_fail(&j, "trailing data after the JSON document");
    free(j.buf);
    if (rc) {
        json_decref(root);
        tok_raw_free(raw);
        return -1;
    }
    *rest = root;
    return 0;
}

void tok_raw_free(tok_raw *raw) {
    free(raw->blob);
    free(raw->vocab);
    free(raw->merges);
    memset(raw, 0, sizeof *raw);
}
