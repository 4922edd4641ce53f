// String helpers shared inside src/eval: a growable buffer and the few Python str methods
// (strip, isspace, capitalize, replace, len) whose exact behaviour the harness depends on.
#ifndef ARWKV_EVAL_TEXT_H
#define ARWKV_EVAL_TEXT_H

#include <stddef.h>
#include <stdint.h>

// Growable NUL-terminated byte string. Zero-initialise, append, take p (malloc'd) or free it.
typedef struct {
    char *p;
    size_t len, cap;
} eval_buf;

int eval_buf_append(eval_buf *s, const char *data, size_t n);
int eval_buf_puts(eval_buf *s, const char *str);
int eval_buf_printf(eval_buf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// hands over the string (an empty one when nothing was appended) and resets s
char *eval_buf_take(eval_buf *s);
void eval_buf_free(eval_buf *s);

char *eval_strdup(const char *s);   // strdup that sets the error on failure
char *eval_strndup(const char *s, size_t n);

// Decodes the code point at s[*i] (advancing *i); a malformed byte decodes as itself.
uint32_t eval_utf8_next(const char *s, size_t len, size_t *i);
// Python str.isspace() for one code point (also what `\s` matches in Python's re)
int eval_py_isspace(uint32_t cp);
// len(str) in Python: code points, not bytes
size_t eval_py_len(const char *s, size_t n);
// str.strip() / str.rstrip(): the kept span [*b, *e) of s[0..n)
void eval_py_strip_span(const char *s, size_t n, size_t *b, size_t *e);
size_t eval_py_rstrip_len(const char *s, size_t n);
char *eval_py_strip(const char *s);   // malloc'd
// str.replace(old, new) over all non-overlapping occurrences, left to right; malloc'd
char *eval_py_replace(const char *s, const char *old, const char *rep);
// str.capitalize(): first code point title-cased, the rest lower-cased (simple case mappings)
char *eval_py_capitalize(const char *s);
// str.lower() with simple case mappings
char *eval_py_lower(const char *s);

#endif
