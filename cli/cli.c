#include <errno.h>
#include <stdlib.h>

#include "cli.h"
#include "tokenizer/tokenizer.h"

// -t/--threads N is taken by every command; a command's own -t (e.g. distill's --teacher) keeps -t
static int64_t g_threads;
static const cli_opt k_threads_opt = {"threads", 't', OPT_INT, &g_threads,
                                      "CPU threads, 1 to 1024 (default ARWKV_THREADS, OMP_NUM_THREADS or all CPUs)"};

static const cli_opt *find_short(const cli_opt *opts, int n, char c) {
    for (int j = 0; j < n; j++)
        if (opts[j].short_name == c) return &opts[j];
    return NULL;
}

static void print_opt(FILE *f, const cli_opt *o, int with_short) {
    char sc = with_short ? o->short_name : 0, name[64];
    snprintf(name, sizeof name, "%s%c%s--%s", sc ? "-" : "", sc ? sc : ' ', sc ? ", " : "  ", o->name);
    fprintf(f, "  %-22s %s\n", sc ? name : name + 2, o->help);
}

static void print_usage(FILE *f, const char *cmd, const char *usage, const cli_opt *opts, int n) {
    fprintf(f, "usage: arwkv %s %s\n", cmd, usage);
    for (int i = 0; i < n; i++) print_opt(f, &opts[i], 1);
    print_opt(f, &k_threads_opt, !find_short(opts, n, k_threads_opt.short_name));
}

static int parse_value(const char *cmd, const cli_opt *o, const char *v) {
    char *end;
    errno = 0;
    switch (o->type) {
    case OPT_STR: *(const char **)o->dst = v; return 0;
    case OPT_INT: {
        long long x = strtoll(v, &end, 10);
        if (errno || *end || end == v) break;
        *(int64_t *)o->dst = x;
        return 0;
    }
    case OPT_FLOAT: {
        double x = strtod(v, &end);
        if (errno || *end || end == v || x != x) break;
        *(double *)o->dst = x;
        return 0;
    }
    case OPT_LIST: {
        cli_list *l = o->dst;
        l->items = realloc(l->items, (size_t)(l->n + 1) * sizeof(char *));
        l->items[l->n++] = v;
        return 0;
    }
    default: return 0;
    }
    fprintf(stderr, "arwkv %s: --%s expects %s, got '%s'\n", cmd, o->name, o->type == OPT_INT ? "an integer" : "a number", v);
    return -1;
}

int cli_parse(int argc, char **argv, const cli_opt *opts, int n, const char *usage) {
    const char *cmd = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_usage(stdout, cmd, usage, opts, n);
            exit(0);
        }
        const cli_opt *o = NULL;
        const char *inline_val = NULL;
        if (a[0] == '-' && a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            for (int j = 0; j < n; j++)
                if (strlen(opts[j].name) == len && !strncmp(opts[j].name, a + 2, len)) o = &opts[j];
            if (!o && len == strlen(k_threads_opt.name) && !strncmp(k_threads_opt.name, a + 2, len)) o = &k_threads_opt;
            if (eq) inline_val = eq + 1;
        } else if (a[0] == '-' && a[1] && !a[2]) {
            o = find_short(opts, n, a[1]);
            if (!o && a[1] == k_threads_opt.short_name) o = &k_threads_opt;
        }
        if (!o) {
            fprintf(stderr, "arwkv %s: unknown option '%s'\n", cmd, a);
            print_usage(stderr, cmd, usage, opts, n);
            return -1;
        }
        if (o->type == OPT_FLAG) {
            *(int *)o->dst = 1;
            continue;
        }
        const char *v = inline_val;
        if (!v) {
            if (i + 1 >= argc) {
                fprintf(stderr, "arwkv %s: option '%s' needs a value\n", cmd, a);
                return -1;
            }
            v = argv[++i];
        }
        if (parse_value(cmd, o, v)) return -1;
        if (o == &k_threads_opt && (g_threads < 1 || g_threads > 1024)) {
            fprintf(stderr, "arwkv %s: --threads expects 1 to 1024, got '%s'\n", cmd, v);
            return -1;
        }
    }
    if (g_threads && arwkv_set_threads((int32_t)g_threads)) {
        fprintf(stderr, "arwkv %s: %s\n", cmd, arwkv_last_error());
        return -1;
    }
    return 0;
}

int cli_require(const char *cmd, const char *flag, const void *value_set) {
    if (value_set) return 0;
    fprintf(stderr, "arwkv %s: %s is required (see 'arwkv %s --help')\n", cmd, flag, cmd);
    return -1;
}

int cli_fail(void) {
    fprintf(stderr, "arwkv: %s\n", arwkv_last_error());
    return 1;
}

int cli_read_ids(const char *path, int32_t **ids, size_t *n) {
    size_t len;
    char *text;
    if (!strcmp(path, "-")) {
        text = file_read_all("/dev/stdin", &len);
    } else {
        text = file_read_all(path, &len);
    }
    if (!text) return -1;
    size_t cap = 1024, k = 0;
    int32_t *out = malloc(cap * sizeof *out);
    char *p = text;
    for (;;) {
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX || (*end && *end != ' ' && *end != '\n' && *end != '\t' && *end != '\r')) {
            arwkv_set_error("%s: byte %zu: expected a non-negative token id", path, (size_t)(p - text));
            free(out);
            free(text);
            return -1;
        }
        if (k == cap) out = realloc(out, (cap *= 2) * sizeof *out);
        out[k++] = (int32_t)v;
        p = end;
    }
    free(text);
    *ids = out;
    *n = k;
    return 0;
}

int cli_tokenize_file(const char *model_dir, const char *path, int32_t **ids, size_t *n) {
    tokenizer *t;
    if (tokenizer_load(&t, model_dir)) return -1;
    size_t len;
    char *text = file_read_all(path, &len);
    int rc = text ? tokenizer_encode(t, text, len, ids, n, 1) : -1;
    if (rc && text) arwkv_wrap_error("%s", path);
    free(text);
    tokenizer_free(t);
    return rc;
}

int cli_load_model(const char *dir, const char *dtype, const char *device, arwkv_model **m) {
    arwkv_load_opts o = {.weight_dtype = -1, .all_f32 = 0, .act_dtype = ARWKV_F32, .device = device};
    if (dtype) {
        arwkv_dtype dt;
        if (arwkv_dtype_parse(dtype, &dt) || dt > ARWKV_BF16)
            return arwkv_set_error("--dtype must be f32, f16 or bf16, got '%s'", dtype);
        o.weight_dtype = dt;
        o.act_dtype = dt;
    }
    return arwkv_model_load(m, dir, &o);
}
