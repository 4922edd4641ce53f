// arwkv bench: decode and prefill throughput of a Qwen2.5-0.5B-shaped teacher and its student,
// against bounds measured in the same run (read bandwidth for decode, GFLOP/s for prefill).
// --contended measures decode at N threads and at 1 thread while one busy process runs per CPU.
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "core/pool.h"

static const struct {
    const char *name;
    arwkv_arch arch;
} k_kinds[] = {{"qwen2", ARWKV_ARCH_QWEN2}, {"arwkv", ARWKV_ARCH_RWKV_HYBRID}};

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

static const char *model_name(const arwkv_config *c) {
    return c->arch == ARWKV_ARCH_QWEN2 ? "teacher qwen2" : "student arwkv";
}

// adds to *secs the time of n one-token forward passes after what s holds
static int decode_time(const arwkv_model *m, arwkv_state *s, const int32_t *ids, int n, float *logits, double *secs) {
    double t0 = time_now();
    for (int i = 0; i < n; i++)
        if (arwkv_forward(m, s, ids + i, 1, logits, 0)) return -1;
    *secs += time_now() - t0;
    return 0;
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
    double dec = 0;
    if (rc == 0) rc = decode_time(m, s, ids + n_prefill, n_decode, logits, &dec);
    if (rc == 0) {
        const char *name = model_name(c);
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

// ---- --contended: decode while every CPU also runs a busy loop ------------------------------------

// one busy-looping child per CPU; each dies with this process even if it is killed first
static int spinners_start(pid_t *pids, int n) {
    pid_t parent = getpid();
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(0);
            for (volatile unsigned long k = 0;; k++) {}
        }
        if (pids[i] < 0) return i;
    }
    return n;
}

static void spinners_stop(const pid_t *pids, int n) {
    for (int i = 0; i < n; i++) kill(pids[i], SIGKILL);
    for (int i = 0; i < n; i++) waitpid(pids[i], NULL, 0);
}

// decode at nth threads and at 1 thread, each on its own state, in alternating rounds so that
// both see the same positions and the same drift of the machine's load
static int bench_contended_one(const char *dir, int nth, int n_decode) {
    enum { ROUNDS = 4 };
    arwkv_model *m;
    if (arwkv_model_load(&m, dir, NULL)) return -1;
    const arwkv_config *c = arwkv_model_config(m);
    arwkv_state *s[2] = {NULL, NULL};
    int32_t *ids = malloc((size_t)n_decode * sizeof(int32_t));
    float *logits = malloc((size_t)c->n_vocab * sizeof(float));
    for (int i = 0; i < n_decode; i++) ids[i] = (int32_t)((i * 7919) % c->n_vocab);
    double secs[2] = {0, 0};
    int counts[2] = {nth, 1};
    int rc = arwkv_state_init(&s[0], m, n_decode + 1) || arwkv_state_init(&s[1], m, n_decode + 1);
    for (int r = 0; r < ROUNDS && rc == 0; r++) {
        int lo = n_decode * r / ROUNDS, hi = n_decode * (r + 1) / ROUNDS;
        for (int k = 0; k < 2 && rc == 0; k++)
            rc = pool_set_threads(counts[k]) || decode_time(m, s[k], ids + lo, hi - lo, logits, &secs[k]);
    }
    if (pool_set_threads(nth)) rc = -1;
    if (rc == 0)
        printf("%-14s decode  %2d threads %7.2f tok/s   1 thread %7.2f tok/s\n", model_name(c), nth,
               n_decode / secs[0], n_decode / secs[1]);
    arwkv_state_free(s[0]);
    arwkv_state_free(s[1]);
    free(ids);
    free(logits);
    arwkv_model_free(m);
    return rc;
}

static int bench_contended(const char **dirs, int n_dirs, int n_decode) {
    cpu_set_t set;
    int ncpu = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1, nth = pool_threads();
    pid_t *pids = malloc((size_t)ncpu * sizeof *pids);
    if (!pids) return arwkv_set_error("bench: out of memory");
    int started = spinners_start(pids, ncpu), rc = 0;
    if (started < ncpu) rc = arwkv_set_error("bench: could not start %d busy processes (fork: %s)", ncpu, strerror(errno));
    else printf("contended: %d busy processes, one per CPU; %s kernels\n", ncpu, arwkv_cpu_kernels());
    fflush(stdout);
    for (int i = 0; i < n_dirs && rc == 0; i++) rc = bench_contended_one(dirs[i], nth, n_decode);
    spinners_stop(pids, started);
    free(pids);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    const char *model = NULL, *arch = "both", *dir = NULL, *device = NULL;
    int64_t n_decode = 32, n_prefill = 512, batch = 4, ctx = 512, steps = 5;
    int contended = 0;
    cli_opt opts[] = {
        {"model", 'm', OPT_STR, &model, "benchmark this model directory instead of the built-in shapes"},
        {"arch", 0, OPT_STR, &arch, "qwen2, arwkv or both (default) for the built-in Qwen2.5-0.5B shapes"},
        {"cache-dir", 0, OPT_STR, &dir, "where the random bf16 models are kept (default /tmp/arwkv-bench)"},
        {"decode", 0, OPT_INT, &n_decode, "tokens to decode (default 32)"},
        {"prefill", 0, OPT_INT, &n_prefill, "prompt length for prefill (default 512)"},
        {"contended", 0, OPT_FLAG, &contended, "decode at N threads and at 1 thread with one busy process per CPU"},
        {"device", 0, OPT_STR, &device, "cuda or cuda:N: decode, prefill, training and distillation on that GPU"},
        {"batch", 0, OPT_INT, &batch, "with --device: sequences per training step (default 4)"},
        {"ctx", 0, OPT_INT, &ctx, "with --device: tokens per training sequence (default 512)"},
        {"steps", 0, OPT_INT, &steps, "with --device: timed training steps after one warm-up (default 5)"},
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
    if (device && strcmp(device, "cpu")) {
        if (model || contended || batch < 1 || ctx < 1 || steps < 1) {
            fprintf(stderr, "arwkv bench: --device takes the built-in shapes, positive --batch, --ctx and --steps, "
                            "and no -m or --contended\n");
            return 2;
        }
        if (bench_device_check(device)) return cli_fail();
        char *sub[2];
        int rc = 0;
        for (int i = 0; i < 2; i++) {
            sub[i] = path_join(dir ? dir : "/tmp/arwkv-bench", k_kinds[i].name);
            rc = rc || ensure_model(sub[i], k_kinds[i].arch, ARWKV_BF16);
        }
        if (rc == 0)
            rc = bench_device(device, sub[0], sub[1], (int)n_prefill, (int)n_decode, (int)batch, (int)ctx, (int)steps);
        free(sub[0]);
        free(sub[1]);
        return rc ? cli_fail() : 0;
    }
    if (contended) {
        // the models are written before the busy processes start
        char *subs[2] = {NULL, NULL};
        const char *dirs[2] = {model, NULL};
        int n_dirs = model ? 1 : 0, rc = 0;
        for (int i = 0; i < 2 && !model && rc == 0; i++) {
            if (strcmp(arch, "both") && strcmp(arch, k_kinds[i].name)) continue;
            subs[i] = path_join(dir ? dir : "/tmp/arwkv-bench", k_kinds[i].name);
            dirs[n_dirs++] = subs[i];
            rc = ensure_model(subs[i], k_kinds[i].arch, ARWKV_BF16);
        }
        if (rc == 0) rc = bench_contended(dirs, n_dirs, (int)n_decode);
        free(subs[0]);
        free(subs[1]);
        return rc ? cli_fail() : 0;
    }
    double bw = arwkv_read_bandwidth((size_t)1 << 30);
    printf("read bandwidth: %.1f GB/s (%d threads), %s kernels\n", bw / 1e9, pool_threads(), arwkv_cpu_kernels());
    if (model) return bench_one(model, bw, (int)n_decode, (int)n_prefill) ? cli_fail() : 0;
    if (!dir) dir = "/tmp/arwkv-bench";
    for (int i = 0; i < 2; i++) {
        if (strcmp(arch, "both") && strcmp(arch, k_kinds[i].name)) continue;
        char *sub = path_join(dir, k_kinds[i].name);
        int rc = ensure_model(sub, k_kinds[i].arch, ARWKV_BF16) || bench_one(sub, bw, (int)n_decode, (int)n_prefill);
        free(sub);
        if (rc) return cli_fail();
    }
    return 0;
}
