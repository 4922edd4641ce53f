// Helpers shared by the tokenizer tests (header-only: each test file is its own executable).
#ifndef ARWKV_TOK_TEST_H
#define ARWKV_TOK_TEST_H

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/core.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

#define TOK_DATA "tests/data/tokenizer"

static inline json_t *tt_load_json(const char *path) {
    json_error_t err;
    json_t *j = json_load_file(path, JSON_ALLOW_NUL, &err);
    if (!j) fprintf(stderr, "%s:%d: %s\n", path, err.line, err.text);
    return j;
}

// ids from a JSON array; *n gets the length
static inline int32_t *tt_json_ids(json_t *arr, size_t *n) {
    *n = json_array_size(arr);
    int32_t *ids = malloc((*n + 1) * sizeof *ids);
    for (size_t i = 0; i < *n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(arr, i));
    return ids;
}

// true when equal; otherwise prints where the sequences part
static inline bool tt_ids_equal(const char *what, const int32_t *got, size_t ng, const int32_t *want,
                                size_t nw) {
    size_t i = 0;
    while (i < ng && i < nw && got[i] == want[i]) i++;
    if (i == ng && i == nw) return true;
    fprintf(stderr, "%s: ids differ at %zu (got %zu ids, want %zu):", what, i, ng, nw);
    for (size_t k = i > 3 ? i - 3 : 0; k < i + 4 && k < ng; k++) fprintf(stderr, " %d", got[k]);
    fprintf(stderr, " | want:");
    for (size_t k = i > 3 ? i - 3 : 0; k < i + 4 && k < nw; k++) fprintf(stderr, " %d", want[k]);
    fputc('\n', stderr);
    return false;
}

// NFC of s by utf8proc's whole-string API (the library normalizes in pieces; this is the
// reference); malloc'd
static inline char *tt_nfc(const char *s, size_t n, size_t *out_len) {
    utf8proc_uint8_t *r = NULL;
    utf8proc_ssize_t k = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &r,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (k < 0) return NULL;
    *out_len = (size_t)k;
    return (char *)r;
}

// Directory of the real Qwen tokenizer: $ARWKV_QWEN_TOKENIZER, else the cache that
// scripts/fetch_tokenizer.sh fills. NULL (with a message) when it is not there.
static inline const char *tt_qwen_dir(void) {
    static char buf[4096];
    const char *env = getenv("ARWKV_QWEN_TOKENIZER");
    if (env && *env) snprintf(buf, sizeof buf, "%s", env);
    else if (getenv("ARWKV_CACHE") && *getenv("ARWKV_CACHE"))
        snprintf(buf, sizeof buf, "%s/qwen-tokenizer", getenv("ARWKV_CACHE"));
    else snprintf(buf, sizeof buf, "%s/.cache/arwkv/qwen-tokenizer", getenv("HOME") ? getenv("HOME") : ".");
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/tokenizer.json", buf);
    if (file_exists(probe) || (file_exists(buf) && strstr(buf, ".json"))) return buf;
    fprintf(stderr, "FAIL: the Qwen tokenizer fixture is missing (looked in %s); run "
                    "scripts/fetch_tokenizer.sh first\n", buf);
    return NULL;
}

#endif
