// arwkv bench: decode and prefill throughput of a Qwen2.5-0.5B-shaped teacher and its student,
// against bounds measured in the same run (read bandwidth for decode, GFLOP/s for prefill).
#include <omp.h>

#include "cli.h"

static int ensure_model(const char *dir, arwkv_arch arch, arwkv_dtype dt) {
    char *cfg = path_join(dir, "config.json");
    int have = file_exists(cfg);
    free(cfg);
    if (have) return 0;
    arwkv_config c;
    arwkv_config_defaults(&c, arch);
    c.n_embd = 896, c.n_layer = 24, c.n_ff = 4864, c.n_vocab = 151936;
    if (arch == ARWKV_ARCH_QWEN2) c.n_head = 14, c.n_kv_head = 2, c.head_dim = 64, c.tie_embeddings = 1;
    else c.n_head = c.n_kv_head = 14;
    fprintf(stderr, "bench: writing a random %s model to %s (once)\n", arch == ARWKV_ARCH_QWEN2 ? "qwen2" : "arwkv", dir);
    arwkv_model *m;
    if (arwkv_model_make_random(&m, &c, 1)) return -1;
    int rc = arwkv_model_save(m, dir, dt);
    arwkv_model_free(m);
    return rc;
}

static int bench_one(const char *dir, double bw, int n_decode, int n_prefill) {
    arwkv_model *m;
    if (arwkv_model_load(&m, dir, NULL)) return -1;
    const arwkv_config *c = arwkv_model_config(m);
    double bytes, macs;
    arwkv_model_cost(m, &bytes, &macs);
    arwkv_state *s;
    int32_t *ids = malloc((size_t)(n_prefill + n_decode) * sizeof(int32_t));
    float *logits = malloc((size_t)c->n_vocab * sizeof(float));
    for (int i = 0; i < n_prefill + n_decode; i++) ids[i] = (int32_t)((i * 7919) % c->n_vocab);
    int rc = arwkv_state_init(&s, m, n_prefill + n_decode + 1);
    // prefill: n_prefill tokens from an empty state (best of 2)
    double best_pf = 1e30;
    for (int rep = 0; rep < 2 && rc == 0; rep++) {
        arwkv_state_reset(s);
        double t0 = time_now();
        rc = arwkv_forward(m, s, ids, n_prefill, logits, 0);
        double dt = time_now() - t0;
        if (dt < best_pf) best_pf = dt;
    }
    // decode: one token at a time after the prefill
    double t0 = time_now();
    for (int i = 0; i < n_decode && rc == 0; i++) rc = arwkv_forward(m, s, ids + n_prefill + i, 1, logits, 0);
    double dec = time_now() - t0;
    if (rc == 0) {
        const char *name = c->arch == ARWKV_ARCH_QWEN2 ? "teacher qwen2" : "student arwkv";
        double dec_tps = n_decode / dec, bound = bw / bytes, pf_tps = n_prefill / best_pf;
        // prefill needs only the last token's logits: count the matrix products of every layer plus one lm_head row
        double lm = (double)c->n_vocab * c->n_embd, pf_flops = 2.0 * ((macs - lm) * n_prefill + lm);
        printf("%-14s decode  %7.2f tok/s  bound %6.2f tok/s (%.0f MB/token)  ratio %5.1f%%\n", name, dec_tps, bound,
               bytes / 1e6, 100.0 * dec_tps / bound);
        printf("%-14s prefill %7.1f tok/s  (%d tokens, %.1f GFLOP/s in the matrix products)\n", name, pf_tps, n_prefill,
               pf_flops / best_pf / 1e9);
        char st[32];
        fmt_bytes(st, sizeof st, (double)arwkv_state_bytes(s));
        printf("%-14s state after %d tokens: %s\n", name, arwkv_state_pos(s), st);
    }
    arwkv_state_free(s);
    free(ids);
    free(logits);
    arwkv_model_free(m);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    const char *model = NULL, *arch = "both", *dir = NULL;
    int64_t n_decode = 32, n_prefill = 512;
    cli_opt opts[] = {
        {"model", 'm', OPT_STR, &model, "benchmark this model directory instead of the built-in shapes"},
        {"arch", 0, OPT_STR, &arch, "qwen2, arwkv or both (default) for the built-in Qwen2.5-0.5B shapes"},
        {"cache-dir", 0, OPT_STR, &dir, "where the random bf16 models are kept (default /tmp/arwkv-bench)"},
        {"decode", 0, OPT_INT, &n_decode, "tokens to decode (default 32)"},
        {"prefill", 0, OPT_INT, &n_prefill, "prompt length for prefill (default 512)"},
    };
    if (cli_parse(argc, argv, opts, sizeof opts / sizeof opts[0], "[-m DIR] [options]")) return 2;
    if (n_decode < 1 || n_prefill < 1) {
        fprintf(stderr, "arwkv bench: --decode and --prefill must be positive\n");
        return 2;
    }
    if (strcmp(arch, "both") && strcmp(arch, "qwen2") && strcmp(arch, "arwkv")) {
        fprintf(stderr, "arwkv bench: --arch must be qwen2, arwkv or both\n");
        return 2;
    }
    double bw = arwkv_read_bandwidth((size_t)1 << 30);
    printf("read bandwidth: %.1f GB/s (%d threads)\n", bw / 1e9, omp_get_max_threads());
    if (model) return bench_one(model, bw, (int)n_decode, (int)n_prefill) ? cli_fail() : 0;
    if (!dir) dir = "/tmp/arwkv-bench";
    static const struct { const char *name; arwkv_arch arch; } kinds[] = {
        {"qwen2", ARWKV_ARCH_QWEN2}, {"arwkv", ARWKV_ARCH_RWKV_HYBRID}};
    for (int i = 0; i < 2; i++) {
        if (strcmp(arch, "both") && strcmp(arch, kinds[i].name)) continue;
        char *sub = path_join(dir, kinds[i].name);
        int rc = ensure_model(sub, kinds[i].arch, ARWKV_BF16) || bench_one(sub, bw, (int)n_decode, (int)n_prefill);
        free(sub);
        if (rc) return cli_fail();
    }
    return 0;
}
