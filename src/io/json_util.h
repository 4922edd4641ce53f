// Typed field access for JSON configs (config.json, tokenizer_config.json, index files) with
// errors that name the file and the field.
#ifndef ARWKV_JSON_UTIL_H
#define ARWKV_JSON_UTIL_H

#include <jansson.h>

#include "core/core.h"

// Parse a whole file; error "path:line:col: message" on bad JSON. Free with json_decref.
json_t *json_file_read(const char *path);

// The getters read obj[key]. A key that is absent or JSON null is "missing": with required set
// that is an error ("config.json: field 'hidden_size' missing"), otherwise *out is left as the
// caller set it (the default) and 0 is returned. A present value of the wrong type is always an
// error ("config.json: field 'hidden_size' must be an integer, found string").
// file only labels the errors. Return 0 or -1.
int json_get_int(const json_t *obj, const char *file, const char *key, int64_t *out, int required);
int json_get_float(const json_t *obj, const char *file, const char *key, double *out, int required);
int json_get_bool(const json_t *obj, const char *file, const char *key, int *out, int required);
// The string is owned by obj. NULL when missing (an error only when required) or not a string
// (always an error): an optional caller tells the two apart with json_field_present().
const char *json_get_str(const json_t *obj, const char *file, const char *key, int required);
// 1 when obj[key] exists and is not JSON null.
int json_field_present(const json_t *obj, const char *key);

// Calls fn(ctx, obj, line) for every non-blank line of JSON Lines text (data, len bytes), with
// the 1-based line number; obj is released after the call. A line that is not JSON is an error
// "path:line:column: message". Returns -1 at the first failing line or callback.
typedef int (*jsonl_line_fn)(void *ctx, json_t *obj, size_t line);
int jsonl_for_each(const char *path, const char *data, size_t len, jsonl_line_fn fn, void *ctx);

// "integer", "real", "string", ... for error messages.
const char *json_type_label(const json_t *v);

#endif
