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
} sbuf;

int sbuf_append(sbuf *s, const char *data, size_t n);
int sbuf_puts(sbuf *s, const char *str);
int sbuf_printf(sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// hands over the string (an empty one when nothing was appended) and resets s
char *sbuf_take(sbuf *s);
void sbuf_free(sbuf *s);

char *text_dup(const char *s);                  // strdup that sets the error on failure
char *text_dupn(const char *s, size_t n);

// Decodes the code point at s[*i] (advancing *i); a malformed byte decodes as itself.
uint32_t utf8_next(const char *s, size_t len, size_t *i);
// Python str.isspace() for one code point (also what `\s` matches in Python's re)
int py_isspace(uint32_t cp);
// len(str) in Python: code points, not bytes
size_t py_len(const char *s, size_t n);
// str.strip() / str.rstrip(): the kept span [*b, *e) of s[0..n)
void py_strip_span(const char *s, size_t n, size_t *b, size_t *e);
size_t py_rstrip_len(const char *s, size_t n);
char *py_strip(const char *s);                  // malloc'd
// str.replace(old, new) over all non-overlapping occurrences, left to right; malloc'd
char *py_replace(const char *s, const char *old, const char *rep);
// str.capitalize(): first code point title-cased, the rest lower-cased (simple case mappings)
char *py_capitalize(const char *s);
// str.lower() with simple case mappings
char *py_lower(const char *s);

#endif
