// json_util: typed getters, defaults for optional fields, messages that name file and field.
#include <stdlib.h>
#include <unistd.h>

#include "io/json_util.h"
#include "test_util.h"

static int has(const char *s) { return strstr(arwkv_last_error(), s) != NULL; }

typedef struct {
    int n;
    size_t lines[8];
    int64_t sum;
} jl_ctx;

static int jl_count(void *ctx, json_t *obj, size_t line) {
    jl_ctx *c = ctx;
    int64_t v = 0;
    if (json_get_int(obj, "x.jsonl", "v", &v, 1)) return -1;
    c->lines[c->n++] = line;
    c->sum += v;
    return 0;
}

// JSON Lines: blank lines skipped, 1-based line numbers, a missing last newline, parse errors and
// callback errors stop the walk
static void test_jsonl(void) {
    const char *ok = "{\"v\": 1}\n\n  \t\r\n{\"v\": 20}\r\n{\"v\": 300}";
    jl_ctx c = {0};
    CHECK(jsonl_for_each("x.jsonl", ok, strlen(ok), jl_count, &c) == 0, "%s", arwkv_last_error());
    CHECK(c.n == 3 && c.lines[0] == 1 && c.lines[1] == 4 && c.lines[2] == 5 && c.sum == 321,
          "n %d lines %zu %zu %zu sum %lld", c.n, c.lines[0], c.lines[1], c.lines[2], (long long)c.sum);
    const char *bad = "{\"v\": 1}\n{\"v\": 2\n{\"v\": 3}\n";
    jl_ctx d = {0};
    CHECK(jsonl_for_each("x.jsonl", bad, strlen(bad), jl_count, &d) != 0 && d.n == 1);
    CHECK(strncmp(arwkv_last_error(), "x.jsonl:2:", 10) == 0, "error: %s", arwkv_last_error());
    const char *wrong = "{\"v\": \"s\"}\n";
    jl_ctx e = {0};
    CHECK(jsonl_for_each("x.jsonl", wrong, strlen(wrong), jl_count, &e) != 0);
    CHECK(strstr(arwkv_last_error(), "'v' must be an integer") != NULL, "error: %s", arwkv_last_error());
}

int main(void) {
    test_jsonl();
    json_error_t e;
    json_t *o = json_loads("{\"hidden_size\": 896, \"whole\": 4864.0, \"frac\": 1.5, \"eps\": 1e-6,"
                           " \"tie\": true, \"name\": \"qwen2\", \"sw\": null, \"s\": \"x\"}", 0, &e);
    CHECK(o != NULL, "%s", e.text);

    int64_t i = -7;
    CHECK(json_get_int(o, "config.json", "hidden_size", &i, 1) == 0 && i == 896, "i=%lld", (long long)i);
    CHECK(json_get_int(o, "config.json", "whole", &i, 1) == 0 && i == 4864, "i=%lld", (long long)i);
    CHECK(json_get_int(o, "config.json", "frac", &i, 1) == -1 && has("config.json: field 'frac' must be an integer"),
          "%s", arwkv_last_error());
    CHECK(json_get_int(o, "config.json", "s", &i, 0) == -1 && has("field 's' must be an integer, found string"),
          "%s", arwkv_last_error());
    i = 42;
    CHECK(json_get_int(o, "config.json", "absent", &i, 0) == 0 && i == 42, "default kept");
    CHECK(json_get_int(o, "config.json", "sw", &i, 0) == 0 && i == 42, "null is missing");
    CHECK(json_get_int(o, "config.json", "num_hidden_layers", &i, 1) == -1 &&
          has("config.json: field 'num_hidden_layers' missing"), "%s", arwkv_last_error());

    double d = 0;
    CHECK(json_get_float(o, "config.json", "eps", &d, 1) == 0 && d == 1e-6, "d=%g", d);
    CHECK(json_get_float(o, "config.json", "hidden_size", &d, 1) == 0 && d == 896.0, "int as float");
    CHECK(json_get_float(o, "config.json", "tie", &d, 1) == -1 && has("must be a number, found boolean"),
          "%s", arwkv_last_error());

    int b = 0;
    CHECK(json_get_bool(o, "config.json", "tie", &b, 1) == 0 && b == 1, "b=%d", b);
    CHECK(json_get_bool(o, "config.json", "eps", &b, 1) == -1 && has("'eps' must be true or false, found real"),
          "%s", arwkv_last_error());

    const char *s = json_get_str(o, "config.json", "name", 1);
    CHECK(s && !strcmp(s, "qwen2"), "s=%s", s ? s : "(null)");
    CHECK(json_get_str(o, "config.json", "gone", 0) == NULL, "optional missing");
    CHECK(json_get_str(o, "config.json", "gone", 1) == NULL && has("field 'gone' missing"), "%s", arwkv_last_error());
    CHECK(json_get_str(o, "config.json", "tie", 0) == NULL && has("'tie' must be a string"), "%s", arwkv_last_error());
    CHECK(json_field_present(o, "name") && !json_field_present(o, "sw") && !json_field_present(o, "gone"), "present");
    json_decref(o);

    char dir[] = "/tmp/arwkv_json_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char *p = path_join(dir, "config.json");
    FILE *f = fopen(p, "w");
    fputs("{\n  \"a\": 1,\n  \"b\": }\n", f);
    fclose(f);
    CHECK(json_file_read(p) == NULL && has("config.json:3:") && has(dir), "%s", arwkv_last_error());
    unlink(p);
    CHECK(json_file_read(p) == NULL && has("config.json"), "%s", arwkv_last_error());
    free(p);
    rmdir(dir);
    return test_summary();
}
