#include <stdarg.h>
#include <stdlib.h>
#include <utf8proc.h>

#include "core/core.h"
#include "eval/eval_text.h"

static int eval_buf_reserve(eval_buf *s, size_t extra) {
    if (s->len + extra + 1 <= s->cap) return 0;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < s->len + extra + 1) cap *= 2;
    char *p = realloc(s->p, cap);
    if (!p) return arwkv_set_error("out of memory growing a string to %zu bytes", cap);
    s->p = p;
    s->cap = cap;
    return 0;
}

int eval_buf_append(eval_buf *s, const char *data, size_t n) {
    if (eval_buf_reserve(s, n)) return -1;
    if (n) memcpy(s->p + s->len, data, n);
    s->len += n;
    s->p[s->len] = 0;
    return 0;
}

int eval_buf_puts(eval_buf *s, const char *str) { return eval_buf_append(s, str, strlen(str)); }

int eval_buf_printf(eval_buf *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || eval_buf_reserve(s, (size_t)n)) return n < 0 ? arwkv_set_error("bad format '%s'", fmt) : -1;
    va_start(ap, fmt);
    vsnprintf(s->p + s->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->len += (size_t)n;
    return 0;
}

char *eval_buf_take(eval_buf *s) {
    if (!s->p && eval_buf_reserve(s, 0)) return NULL;
    s->p[s->len] = 0;
    char *p = s->p;
    *s = (eval_buf){0};
    return p;
}

void eval_buf_free(eval_buf *s) {
    free(s->p);
    *s = (eval_buf){0};
}

char *eval_strndup(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) {
        arwkv_set_error("out of memory copying a %zu-byte string", n);
        return NULL;
    }
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *eval_strdup(const char *s) { return eval_strndup(s, strlen(s)); }

uint32_t eval_utf8_next(const char *str, size_t len, size_t *i) {
    const unsigned char *s = (const unsigned char *)str;
    unsigned char c = s[*i];
    int n = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : -1;
    if (n <= 0 || *i + (size_t)n >= len) {   // ASCII, a stray byte, or a truncated sequence
        (*i)++;
        return c;
    }
    uint32_t cp = c & (0x3f >> n);
    for (int k = 1; k <= n; k++) {
        if ((s[*i + k] & 0xc0) != 0x80) {
            (*i)++;
            return c;
        }
        cp = (cp << 6) | (s[*i + k] & 0x3f);
    }
    *i += (size_t)n + 1;
    return cp;
}

int eval_py_isspace(uint32_t c) {
    if (c <= 0x20) return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20);
    return c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
           c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

size_t eval_py_len(const char *s, size_t n) {
    size_t count = 0;
    for (size_t i = 0; i < n;) {
        eval_utf8_next(s, n, &i);
        count++;
    }
    return count;
}

// The start of the code point that ends at s[e) (e > 0).
static size_t eval_utf8_prev(const char *s, size_t e) {
    size_t b = e - 1;
    while (b > 0 && e - b < 4 && ((unsigned char)s[b] & 0xc0) == 0x80) b--;
    size_t i = b;
    eval_utf8_next(s, e, &i);
    return i == e ? b : e - 1;   // a malformed tail counts as single bytes
}

size_t eval_py_rstrip_len(const char *s, size_t n) {
    size_t e = n;
    while (e > 0) {
        size_t b = eval_utf8_prev(s, e), i = b;
        if (!eval_py_isspace(eval_utf8_next(s, e, &i))) break;
        e = b;
    }
    return e;
}

void eval_py_strip_span(const char *s, size_t n, size_t *b, size_t *e) {
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        if (!eval_py_isspace(eval_utf8_next(s, n, &j))) break;
        i = j;
    }
    *b = i;
    *e = i + eval_py_rstrip_len(s + i, n - i);
}

char *eval_py_strip(const char *s) {
    size_t b, e;
    eval_py_strip_span(s, strlen(s), &b, &e);
    return eval_strndup(s + b, e - b);
}

char *eval_py_replace(const char *s, const char *old, const char *rep) {
    size_t lo = strlen(old);
    if (lo == 0) return arwkv_set_error("replace: empty pattern"), NULL;
    eval_buf out = {0};
    const char *p = s, *q;
    while ((q = strstr(p, old))) {
        if (eval_buf_append(&out, p, (size_t)(q - p)) || eval_buf_puts(&out, rep)) goto fail;
        p = q + lo;
    }
    if (eval_buf_puts(&out, p)) goto fail;
    return eval_buf_take(&out);
fail:
    eval_buf_free(&out);
    return NULL;
}

// Maps every code point with f (the first one with first when given).
static char *map_case(const char *s, utf8proc_int32_t (*first)(utf8proc_int32_t),
                      utf8proc_int32_t (*rest)(utf8proc_int32_t)) {
    size_t n = strlen(s);
    eval_buf out = {0};
    for (size_t i = 0; i < n;) {
        size_t at = i;
        uint32_t cp = eval_utf8_next(s, n, &i);
        utf8proc_int32_t m = (at == 0 && first) ? first((utf8proc_int32_t)cp) : rest((utf8proc_int32_t)cp);
        utf8proc_uint8_t enc[4];
        utf8proc_ssize_t k = utf8proc_encode_char(m, enc);
        // malformed input bytes pass through unchanged
        int ok = (cp < 0x80 || i - at > 1) ? eval_buf_append(&out, (const char *)enc, (size_t)k)
                                            : eval_buf_append(&out, s + at, 1);
        if (ok) {
            eval_buf_free(&out);
            return NULL;
        }
    }
    return eval_buf_take(&out);
}

char *eval_py_capitalize(const char *s) { return map_case(s, utf8proc_totitle, utf8proc_tolower); }
char *eval_py_lower(const char *s) { return map_case(s, NULL, utf8proc_tolower); }
