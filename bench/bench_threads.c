// Threading mechanisms under decode-like load: tokens/s of a sequence of small loops per token,
// for OpenMP (as built, with a passive wait policy, with a short spin count) and the core pool,
// at 1 and N threads, on the machine as it is and with one busy-looping process per core.
//
// One token mimics the teacher's decode: per layer 7 GEMV row loops over bf16 weights (--mb MiB
// per token in all, split evenly), a 14-head loop of small dot products, and 4 elementwise
// passes too small to share; 24 layers make 288 loops, 192 of them parallel.
//
// usage: bench_threads [--mb 32] [--seconds 3] [--threads 2] [--reps 3] [--only quiet|contended] [MECH...]
// Each measurement runs in a fresh process of this program, as OpenMP reads its environment
// when it is loaded.
#define _GNU_SOURCE
#include <math.h>
#include <omp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "core/pool.h"

enum { LAYERS = 24, MATS = 7, C = 896, HEADS = 14, HEAD_WORK = 16384, SMALL = 4 };

typedef struct {
    const char *name;
    const char *env;   // NAME=VALUE put in the measuring process's environment, or NULL
    int pool_spin_us;  // < 0: the loops use OpenMP
} mechanism;

static const mechanism k_mechs[] = {
    {"omp", NULL, -1},
    {"omp-passive", "OMP_WAIT_POLICY=passive", -1},
    {"omp-spin10k", "GOMP_SPINCOUNT=10000", -1},
    {"omp-setenv", NULL, -1},   // setenv("OMP_WAIT_POLICY", "passive") in main, before any OpenMP call
    {"pool", NULL, 50},
    {"pool-spin0", NULL, 0},
    {"pool-spin500", NULL, 500},
};
enum { N_MECHS = sizeof k_mechs / sizeof k_mechs[0] };

// ---- the workload ------------------------------------------------------------------------------

typedef struct {
    const uint16_t *w;   // (rows, C) bf16
    const float *x;      // (C)
    float *out;          // (rows)
} gemv_job;

// out[r] = w[r, :] . x for rows [r0, r1)
static void gemv_rows(void *ctx, int64_t r0, int64_t r1, int ith) {
    const gemv_job *j = ctx;
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *row = j->w + r * C;
        float s = 0.0f;
        #pragma omp simd reduction(+ : s)
        for (int c = 0; c < C; c++) s += bf16_to_f32(row[c]) * j->x[c];
        j->out[r] = s;
    }
}

typedef struct {
    const float *cache;   // (HEADS, HEAD_WORK)
    float *out;           // (HEADS)
} heads_job;

static void heads_range(void *ctx, int64_t h0, int64_t h1, int ith) {
    const heads_job *j = ctx;
    for (int64_t h = h0; h < h1; h++) {
        const float *c = j->cache + h * HEAD_WORK;
        float s = 0.0f;
        for (int i = 0; i < HEAD_WORK; i++) s += c[i] * c[(i * 7) & (HEAD_WORK - 1)];
        j->out[h] = s;
    }
}

static void small_pass(float *x, int n) {
    float ss = 0.0f;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    float r = 1.0f / sqrtf(ss / n + 1e-6f);
    for (int i = 0; i < n; i++) x[i] = x[i] * r * 0.999f + 1e-3f;
}

// the loops as the current kernels write them: a team per loop, chunks handed out dynamically
static void gemv_omp(gemv_job *j, int64_t rows) {
    #pragma omp parallel
    {
        int nc = omp_get_num_threads() * 4;
        #pragma omp for schedule(dynamic, 1)
        for (int c = 0; c < nc; c++) gemv_rows(j, rows * c / nc, rows * (c + 1) / nc, 0);
    }
}

static void heads_omp(heads_job *j) {
    #pragma omp parallel for schedule(dynamic, 1)
    for (int h = 0; h < HEADS; h++) heads_range(j, h, h + 1, 0);
}

typedef struct {
    uint16_t *w;
    int64_t rows;   // per matrix
    float *x, *y, *cache, *hout;
} workload;

static int workload_init(workload *wl, double mb) {
    wl->rows = (int64_t)(mb * 1048576.0 / 2 / C / (LAYERS * MATS));
    if (wl->rows < 1) wl->rows = 1;
    size_t n = (size_t)LAYERS * MATS * wl->rows * C;
    wl->w = malloc(n * sizeof *wl->w);
    wl->x = malloc(C * sizeof(float));
    wl->y = malloc((size_t)(wl->rows > C ? wl->rows : C) * sizeof(float));
    wl->cache = malloc((size_t)HEADS * HEAD_WORK * sizeof(float));
    wl->hout = malloc(HEADS * sizeof(float));
    if (!wl->w || !wl->x || !wl->y || !wl->cache || !wl->hout) return -1;
    for (size_t i = 0; i < n; i++) wl->w[i] = f32_to_bf16((float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f);
    for (int i = 0; i < C; i++) wl->x[i] = 0.01f * (float)(i % 17);
    for (size_t i = 0; i < (size_t)HEADS * HEAD_WORK; i++) wl->cache[i] = 1e-3f * (float)(i % 31);
    return 0;
}

static void token(workload *wl, int use_pool) {
    size_t mat = (size_t)wl->rows * C;
    for (int l = 0; l < LAYERS; l++) {
        for (int m = 0; m < MATS; m++) {
            gemv_job j = {wl->w + ((size_t)l * MATS + m) * mat, wl->x, wl->y};
            if (use_pool) pool_for(wl->rows, 16, gemv_rows, &j);
            else gemv_omp(&j, wl->rows);
            if (m == 2) {
                heads_job h = {wl->cache, wl->hout};
                if (use_pool) pool_for(HEADS, 1, heads_range, &h);
                else heads_omp(&h);
            }
        }
        for (int s = 0; s < SMALL; s++) small_pass(wl->x, C);
    }
}

// tokens/s over at least `seconds`, after two warm-up tokens
static double measure(const mechanism *mech, int threads, double mb, double seconds) {
    workload wl;
    if (workload_init(&wl, mb)) return -1.0;
    int use_pool = mech->pool_spin_us >= 0;
    if (use_pool) pool_set_spin_us(mech->pool_spin_us);
    pool_set_threads(threads);   // also OpenMP's count
    for (int i = 0; i < 2; i++) token(&wl, use_pool);
    int n = 0;
    double t0 = time_now(), dt;
    do {
        token(&wl, use_pool);
        n++;
    } while ((dt = time_now() - t0) < seconds);
    return n / dt;
}

// ---- the driver --------------------------------------------------------------------------------

static double loadavg1(void) {
    double l = -1.0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f && fscanf(f, "%lf", &l) != 1) l = -1.0;
    if (f) fclose(f);
    return l;
}

static int n_cpus(void) {
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
}

// one busy-looping child per CPU, killed with this process if it dies first
static int spinners_start(pid_t *pids, int n) {
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            for (volatile unsigned long k = 0;; k++) {}
        }
        if (pids[i] < 0) return i;
    }
    return n;
}

static void spinners_stop(pid_t *pids, int n) {
    for (int i = 0; i < n; i++) kill(pids[i], SIGKILL);
    for (int i = 0; i < n; i++) waitpid(pids[i], NULL, 0);
}

// runs one measurement in a fresh process of this program, with the mechanism's environment
static double run_cell(const mechanism *m, int threads, double mb, double seconds) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s /proc/%d/exe --run %s --threads %d --mb %g --seconds %g", m->env ? m->env : "",
             (int)getpid(), m->name, threads, mb, seconds);
    FILE *p = popen(cmd, "r");
    double r = -1.0;
    if (!p) return r;
    if (fscanf(p, "%lf", &r) != 1) r = -1.0;
    pclose(p);
    return r;
}

static const mechanism *find_mech(const char *name) {
    for (int i = 0; i < N_MECHS; i++)
        if (!strcmp(k_mechs[i].name, name)) return &k_mechs[i];
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// every (mechanism, threads) cell `reps` times, round-robin so that a burst of outside load
// spreads over all cells; prints median, min and max tokens/s and the mean 1-minute load average
static void run_pass(const char *label, const mechanism **mechs, int n_mechs, int threads, double mb,
                     double seconds, int reps) {
    enum { MAX_CELLS = 2 * N_MECHS, MAX_REPS = 32 };
    double r[MAX_CELLS][MAX_REPS], load[MAX_CELLS] = {0};
    int counts[2] = {1, threads}, n_counts = threads > 1 ? 2 : 1;
    for (int k = 0; k < reps; k++)
        for (int i = 0; i < n_mechs; i++)
            for (int t = 0; t < n_counts; t++) {
                int cell = i * 2 + t;
                load[cell] += loadavg1() / reps;
                r[cell][k] = run_cell(mechs[i], counts[t], mb, seconds);
            }
    for (int i = 0; i < n_mechs; i++)
        for (int t = 0; t < n_counts; t++) {
            int cell = i * 2 + t;
            qsort(r[cell], (size_t)reps, sizeof(double), cmp_double);
            printf("%-10s %-13s %7d %9.2f %9.2f %9.2f %6.2f\n", label, mechs[i]->name, counts[t], r[cell][reps / 2],
                   r[cell][0], r[cell][reps - 1], load[cell]);
        }
    fflush(stdout);
}

int main(int argc, char **argv) {
    double mb = 32, seconds = 3;
    int threads = 2, reps = 3, do_quiet = 1, do_contended = 1;
    const char *run = NULL;
    const mechanism *chosen[N_MECHS];
    int n_chosen = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mb") && i + 1 < argc) mb = atof(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--run") && i + 1 < argc) run = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            i++;
            do_quiet = !strcmp(argv[i], "quiet");
            do_contended = !strcmp(argv[i], "contended");
        } else if (find_mech(argv[i]) && n_chosen < N_MECHS) chosen[n_chosen++] = find_mech(argv[i]);
        else {
            fprintf(stderr, "bench_threads: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (mb <= 0 || seconds <= 0 || threads < 1 || threads > POOL_MAX_THREADS || reps < 1 || reps > 32) {
        fprintf(stderr, "bench_threads: --mb and --seconds must be positive, --threads 1 to %d, --reps 1 to 32\n",
                POOL_MAX_THREADS);
        return 2;
    }
    if (run) {
        const mechanism *m = find_mech(run);
        if (!m) return 2;
        if (!strcmp(m->name, "omp-setenv")) setenv("OMP_WAIT_POLICY", "passive", 1);
        printf("%.3f\n", measure(m, threads, mb, seconds));
        return 0;
    }
    if (!n_chosen)
        for (int i = 0; i < N_MECHS; i++) chosen[n_chosen++] = &k_mechs[i];
    int ncpu = n_cpus();
    printf("%.0f MiB of bf16 weights and %d loops per token; contended = %d busy processes; %d runs per cell\n", mb,
           LAYERS * (MATS + 1 + SMALL), ncpu, reps);
    printf("%-10s %-13s %7s %9s %9s %9s %6s\n", "machine", "mechanism", "threads", "tok/s", "min", "max", "load");
    if (do_quiet) run_pass("quiet", chosen, n_chosen, threads, mb, seconds, reps);
    if (do_contended) {
        pid_t *pids = malloc((size_t)ncpu * sizeof *pids);
        int n = pids ? spinners_start(pids, ncpu) : 0;
        usleep(200000);   // let the scheduler spread the spinners first
        if (n == ncpu) run_pass("contended", chosen, n_chosen, threads, mb, seconds, reps);
        else fprintf(stderr, "bench_threads: could not start %d busy processes\n", ncpu);
        if (pids) spinners_stop(pids, n);
        free(pids);
    }
    return 0;
}
