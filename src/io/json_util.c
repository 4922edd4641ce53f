#include <math.h>

#include "io/json_util.h"

json_t *json_file_read(const char *path) {
    json_error_t e;
    json_t *root = json_load_file(path, 0, &e);
    if (!root) {
        if (e.line > 0) arwkv_set_error("%s:%d:%d: %s", path, e.line, e.column, e.text);
        else arwkv_set_error("%s: %s", path, e.text);
    }
    return root;
}

const char *json_type_label(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "real";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

int json_field_present(const json_t *obj, const char *key) {
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return v && !json_is_null(v);
}

// The value at key, or NULL when missing; *rc is -1 (error set) when missing and required.
static const json_t *field(const json_t *obj, const char *file, const char *key, int required, int *rc) {
    *rc = 0;
    if (!json_field_present(obj, key)) {
        if (required) *rc = arwkv_set_error("%s: field '%s' missing", file, key);
        return NULL;
    }
    return json_object_get(obj, key);
}

static int wrong_type(const char *file, const char *key, const char *want, const json_t *v) {
    return arwkv_set_error("%s: field '%s' must be %s, found %s", file, key, want, json_type_label(v));
}

int json_get_int(const json_t *obj, const char *file, const char *key, int64_t *out, int required) {
    int rc;
    const json_t *v = field(obj, file, key, required, &rc);
    if (!v) return rc;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    // some exporters write whole numbers as 4864.0; accept those, nothing fractional
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == floor(d) && fabs(d) <= 9007199254740992.0) {
            *out = (int64_t)d;
            return 0;
        }
        return arwkv_set_error("%s: field '%s' must be an integer, found %g", file, key, d);
    }
    return wrong_type(file, key, "an integer", v);
}

int json_get_float(const json_t *obj, const char *file, const char *key, double *out, int required) {
    int rc;
    const json_t *v = field(obj, file, key, required, &rc);
    if (!v) return rc;
    if (!json_is_number(v)) return wrong_type(file, key, "a number", v);
    *out = json_number_value(v);
    return 0;
}

int json_get_bool(const json_t *obj, const char *file, const char *key, int *out, int required) {
    int rc;
    const json_t *v = field(obj, file, key, required, &rc);
    if (!v) return rc;
    if (!json_is_boolean(v)) return wrong_type(file, key, "true or false", v);
    *out = json_is_true(v);
    return 0;
}

const char *json_get_str(const json_t *obj, const char *file, const char *key, int required) {
    int rc;
    const json_t *v = field(obj, file, key, required, &rc);
    if (!v) return NULL;
    if (!json_is_string(v)) {
        wrong_type(file, key, "a string", v);
        return NULL;
    }
    return json_string_value(v);
}

int jsonl_for_each(const char *path, const char *data, size_t len, jsonl_line_fn fn, void *ctx) {
    size_t lineno = 0;
    for (const char *line = data; line < data + len;) {
        const char *nl = memchr(line, '\n', (size_t)(data + len - line));
        size_t n = nl ? (size_t)(nl - line) : (size_t)(data + len - line);
        lineno++;
        size_t blank = 0;
        while (blank < n && (line[blank] == ' ' || line[blank] == '\t' || line[blank] == '\r')) blank++;
        if (blank < n) {
            json_error_t je;
            json_t *obj = json_loadb(line, n, 0, &je);
            if (!obj) return arwkv_set_error("%s:%zu:%d: %s", path, lineno, je.column, je.text);
            int rc = fn(ctx, obj, lineno);
            json_decref(obj);
            if (rc) return -1;
        }
        line = nl ? nl + 1 : data + len;
    }
    return 0;
}
