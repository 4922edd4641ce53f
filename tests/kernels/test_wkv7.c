// WKV-7 scan: forward and backward against naive double-precision references written here,
// central finite differences, sequence splitting, checkpoints, gradient accumulation, and the
// batched functions against per-sequence calls.
#include "kernels/kernels.h"
#include "cpu_level.h"
#include "test_util.h"

#include <math.h>
#include <stdlib.h>

enum { NIN = 6 };   // per-token inputs: r, wd, k, v, alpha, beta
static const char *in_names[NIN] = { "r", "wd", "k", "v", "alpha", "beta" };

// One problem in both precisions: the doubles are exact copies of the floats.
typedef struct {
    int T, H, N;
    float *in[NIN], *s0;   // in[i]: (T, H, N); s0: (H, N, N)
    double *din[NIN], *ds0;
} problem;

static size_t tok_size(const problem *p) { return (size_t)p->T * p->H * p->N; }
static size_t st_size(const problem *p) { return (size_t)p->H * p->N * p->N; }

static double *to_double(const float *x, size_t n) {
    double *d = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

// realistic values: wd in (0.545, 1) as the model's decay, kk unit-norm per head, a in (0, 1),
// alpha = -kk, beta = kk * a
static void problem_init(problem *p, int T, int H, int N, unsigned long long seed) {
    p->T = T, p->H = H, p->N = N;
    size_t n = tok_size(p);
    for (int i = 0; i < NIN; i++) p->in[i] = malloc(n * sizeof(float));
    p->s0 = malloc(st_size(p) * sizeof(float));
    float *a = malloc(n * sizeof(float));
    fill_uniform(p->in[0], n, 1.0f, &seed);
    fill_uniform(p->in[1], n, 4.0f, &seed);
    fill_uniform(p->in[2], n, 1.0f, &seed);
    fill_uniform(p->in[3], n, 1.0f, &seed);
    fill_uniform(p->in[4], n, 1.0f, &seed);
    fill_uniform(a, n, 0.5f, &seed);
    fill_uniform(p->s0, st_size(p), 0.5f, &seed);
    for (size_t i = 0; i < n; i++)
        p->in[1][i] = expf(-expf(-0.5f) / (1.0f + expf(-p->in[1][i])));
    for (size_t th = 0; th < n; th += N) {   // in[4] holds the raw kk of each head until here
        float *al = p->in[4] + th;
        double nrm = 0;
        for (int j = 0; j < N; j++) nrm += (double)al[j] * al[j];
        for (int j = 0; j < N; j++) {
            float kk = (float)(al[j] / sqrt(nrm));
            al[j] = -kk;
            p->in[5][th + j] = kk * (a[th + j] + 0.5f);
        }
    }
    free(a);
    for (int i = 0; i < NIN; i++) p->din[i] = to_double(p->in[i], n);
    p->ds0 = to_double(p->s0, st_size(p));
}

static void problem_free(problem *p) {
    for (int i = 0; i < NIN; i++) free(p->in[i]), free(p->din[i]);
    free(p->s0), free(p->ds0);
}

// N <= 64 in these references (fixed scratch)
// states: (T + 1, H, N, N), states[t] = S before token t, states[T] = final; out: (T, H, N)
static void ref_forward(const problem *p, double *out, double *states) {
    const int T = p->T, H = p->H, N = p->N;
    const size_t NN = (size_t)N * N, HN = (size_t)H * N;
    double *const *x = p->din;
    memcpy(states, p->ds0, H * NN * sizeof(double));
    double sa[64];
    for (int t = 0; t < T; t++)
        for (int h = 0; h < H; h++) {
            const double *S0 = states + ((size_t)t * H + h) * NN;
            double *S = states + ((size_t)(t + 1) * H + h) * NN;
            size_t o = t * HN + h * N;
            for (int i = 0; i < N; i++) {
                sa[i] = 0;
                for (int j = 0; j < N; j++) sa[i] += S0[i * N + j] * x[4][o + j];
            }
            for (int i = 0; i < N; i++)
                for (int j = 0; j < N; j++)
                    S[i * N + j] = S0[i * N + j] * x[1][o + j] + sa[i] * x[5][o + j] + x[3][o + i] * x[2][o + j];
            for (int i = 0; i < N; i++) {
                out[o + i] = 0;
                for (int j = 0; j < N; j++) out[o + i] += S[i * N + j] * x[0][o + j];
            }
        }
}

// the docs/model.md §2 recurrence in double over stored states; grads[i] (T, H, N) overwritten,
// dS (H, N, N): dL/dS_T on entry, dL/dS_0 on exit
static void ref_backward(const problem *p, double *grads[NIN], double *dS, const double *dout,
                         const double *states) {
    const int T = p->T, H = p->H, N = p->N;
    const size_t NN = (size_t)N * N, HN = (size_t)H * N;
    double *const *x = p->din;
    double sa[64], dsa[64];
    for (int i = 0; i < NIN; i++) memset(grads[i], 0, tok_size(p) * sizeof(double));
    for (int t = T - 1; t >= 0; t--)
        for (int h = 0; h < H; h++) {
            const double *S0 = states + ((size_t)t * H + h) * NN, *S1 = S0 + H * NN;
            double *G = dS + h * NN;
            size_t o = t * HN + h * N;
            const double *dy = dout + o;
            for (int i = 0; i < N; i++) {
                sa[i] = 0;
                for (int j = 0; j < N; j++) sa[i] += S0[i * N + j] * x[4][o + j];
            }
            for (int i = 0; i < N; i++)
                for (int j = 0; j < N; j++) G[i * N + j] += dy[i] * x[0][o + j];
            for (int j = 0; j < N; j++)
                for (int i = 0; i < N; i++) {
                    grads[0][o + j] += S1[i * N + j] * dy[i];
                    grads[1][o + j] += G[i * N + j] * S0[i * N + j];
                    grads[2][o + j] += G[i * N + j] * x[3][o + i];
                    grads[3][o + i] += G[i * N + j] * x[2][o + j];
                    grads[5][o + j] += G[i * N + j] * sa[i];
                }
            for (int i = 0; i < N; i++) {
                dsa[i] = 0;
                for (int j = 0; j < N; j++) dsa[i] += G[i * N + j] * x[5][o + j];
            }
            for (int j = 0; j < N; j++)
                for (int i = 0; i < N; i++) grads[4][o + j] += S0[i * N + j] * dsa[i];
            for (int i = 0; i < N; i++)
                for (int j = 0; j < N; j++) G[i * N + j] = G[i * N + j] * x[1][o + j] + dsa[i] * x[4][o + j];
        }
}

static double ref_loss(const problem *p, const double *wo, const double *wS, double *out, double *states) {
    ref_forward(p, out, states);
    double L = 0;
    const double *fin = states + (size_t)p->T * st_size(p);
    for (size_t i = 0; i < tok_size(p); i++) L += out[i] * wo[i];
    for (size_t i = 0; i < st_size(p); i++) L += fin[i] * wS[i];
    return L;
}

// ---- forward --------------------------------------------------------------------------------

static void test_forward(void) {
    // N 7 and 20 leave partial row blocks and partial vectors (scalar tails)
    const int Ts[] = { 1, 5, 37 }, Hs[] = { 1, 3 }, Ns[] = { 4, 7, 8, 20, 64 };
    double worst = 0;
    int cases = 0;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 5; c++) {
                int T = Ts[a], H = Hs[b], N = Ns[c];
                const int Ks[] = { 1, 4, 16, T + 3 };
                problem p;
                problem_init(&p, T, H, N, 1000 + a * 100 + b * 10 + c);
                size_t n = tok_size(&p), ns = st_size(&p);
                double *dout = malloc(n * sizeof(double)), *states = malloc((T + 1) * ns * sizeof(double));
                ref_forward(&p, dout, states);
                float *out = malloc(n * sizeof(float)), *S = malloc(ns * sizeof(float));
                float *ck = malloc((size_t)T * ns * sizeof(float));
                float *rout = malloc(n * sizeof(float)), *rS = malloc(ns * sizeof(float));
                for (size_t i = 0; i < n; i++) rout[i] = (float)dout[i];
                for (size_t i = 0; i < ns; i++) rS[i] = (float)states[(size_t)T * ns + i];
                for (int q = 0; q < 4; q++) {
                    int K = Ks[q], nck = (T + K - 1) / K;
                    memcpy(S, p.s0, ns * sizeof(float));
                    wkv7_forward(out, S, ck, K, p.in[0], p.in[1], p.in[2], p.in[3], p.in[4], p.in[5], T, H, N);
                    double eo = rel_err(out, rout, n), es = rel_err(S, rS, ns), ec = 0;
                    for (int m = 0; m < nck; m++) {
                        for (size_t i = 0; i < ns; i++) rS[i] = (float)states[(size_t)m * K * ns + i];
                        double e = rel_err(ck + m * ns, rS, ns);
                        if (!(e <= ec)) ec = e;
                    }
                    for (size_t i = 0; i < ns; i++) rS[i] = (float)states[(size_t)T * ns + i];
                    CHECK(eo <= 1e-5 && es <= 1e-5, "T %d H %d N %d K %d: out %.2e state %.2e", T, H, N, K, eo, es);
                    CHECK(ec <= 1e-5, "T %d H %d N %d K %d: checkpoints %.2e", T, H, N, K, ec);
                    cases++;
                    if (!(eo <= worst)) worst = eo;
                    if (!(es <= worst)) worst = es;
                    if (!(ec <= worst)) worst = ec;
                }
                free(dout), free(states), free(out), free(S), free(ck), free(rout), free(rS);
                problem_free(&p);
            }
    printf("forward vs double reference (%d cases, out/state/checkpoints): max rel err %.2e\n", cases, worst);
}

// running T tokens at once must equal T1 then T - T1 tokens, and T single-token steps, exactly
static void test_split(void) {
    const int T = 37, H = 3, N = 64, T1 = 13;
    problem p;
    problem_init(&p, T, H, N, 77);
    size_t n = tok_size(&p), ns = st_size(&p), HN = (size_t)H * N;
    float *o1 = malloc(n * sizeof(float)), *o2 = malloc(n * sizeof(float)), *o3 = malloc(n * sizeof(float));
    float *s1 = malloc(ns * sizeof(float)), *s2 = malloc(ns * sizeof(float)), *s3 = malloc(ns * sizeof(float));
    float *const *x = p.in;
    memcpy(s1, p.s0, ns * sizeof(float));
    memcpy(s2, p.s0, ns * sizeof(float));
    memcpy(s3, p.s0, ns * sizeof(float));
    wkv7_forward(o1, s1, NULL, 0, x[0], x[1], x[2], x[3], x[4], x[5], T, H, N);
    wkv7_forward(o2, s2, NULL, 0, x[0], x[1], x[2], x[3], x[4], x[5], T1, H, N);
    size_t o = T1 * HN;
    wkv7_forward(o2 + o, s2, NULL, 0, x[0] + o, x[1] + o, x[2] + o, x[3] + o, x[4] + o, x[5] + o, T - T1, H, N);
    for (int t = 0; t < T; t++) {
        o = t * HN;
        wkv7_forward(o3 + o, s3, NULL, 0, x[0] + o, x[1] + o, x[2] + o, x[3] + o, x[4] + o, x[5] + o, 1, H, N);
    }
    double e1 = rel_err(o2, o1, n) + rel_err(s2, s1, ns), e2 = rel_err(o3, o1, n) + rel_err(s3, s1, ns);
    CHECK(e1 == 0, "split at %d: rel err %.2e", T1, e1);
    CHECK(e2 == 0, "one token at a time: rel err %.2e", e2);
    printf("split %d+%d and %d single steps vs one call: rel err %.1e, %.1e\n", T1, T - T1, T, e1, e2);
    free(o1), free(o2), free(o3), free(s1), free(s2), free(s3);
    problem_free(&p);
}

// ---- backward -------------------------------------------------------------------------------

typedef struct {
    float *g[NIN], *dS;
} kgrads;

// runs the kernel forward (for its checkpoints) then backward; grads are accumulated into kg
static void kernel_grads(const problem *p, int K, kgrads *kg, const float *dout, int with_dstate) {
    size_t n = tok_size(p), ns = st_size(p);
    float *out = malloc(n * sizeof(float)), *S = malloc(ns * sizeof(float));
    float *ck = malloc((size_t)(p->T + K - 1) / K * ns * sizeof(float));
    float *const *x = p->in;
    float *scratch = malloc(wkv7_scratch_floats(K, 1, p->H, p->N) * sizeof(float));
    memcpy(S, p->s0, ns * sizeof(float));
    wkv7_forward(out, S, ck, K, x[0], x[1], x[2], x[3], x[4], x[5], p->T, p->H, p->N);
    wkv7_backward_batch(kg->g[0], kg->g[1], kg->g[2], kg->g[3], kg->g[4], kg->g[5], with_dstate ? kg->dS : NULL,
                        scratch, dout, ck, K, x[0], x[1], x[2], x[3], x[4], x[5], 1, p->T, p->H, p->N);
    free(out), free(S), free(ck), free(scratch);
}

static void kgrads_alloc(kgrads *kg, const problem *p) {
    for (int i = 0; i < NIN; i++) kg->g[i] = calloc(tok_size(p), sizeof(float));
    kg->dS = calloc(st_size(p), sizeof(float));
}

static void kgrads_free(kgrads *kg) {
    for (int i = 0; i < NIN; i++) free(kg->g[i]);
    free(kg->dS);
}

static double rel_err_fd(const float *a, const double *b, size_t n) {
    float *bf = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) bf[i] = (float)b[i];
    double e = rel_err(a, bf, n);
    free(bf);
    return e;
}

// central differences of the double reference loss for every input, against both the double
// analytic backward (checks the reference) and the kernel (checks the kernel)
static void test_backward_fd(void) {
    const int T = 7, H = 2, N = 4, K = 3;
    problem p;
    problem_init(&p, T, H, N, 4242);
    size_t n = tok_size(&p), ns = st_size(&p);
    unsigned long long seed = 99;
    float *wo = malloc(n * sizeof(float)), *wS = malloc(ns * sizeof(float));
    fill_uniform(wo, n, 1.0f, &seed);
    fill_uniform(wS, ns, 1.0f, &seed);
    double *dwo = to_double(wo, n), *dwS = to_double(wS, ns);
    double *out = malloc(n * sizeof(double)), *states = malloc((T + 1) * ns * sizeof(double));
    double *rg[NIN], *rdS = malloc(ns * sizeof(double)), *fd = malloc((n > ns ? n : ns) * sizeof(double));
    for (int i = 0; i < NIN; i++) rg[i] = malloc(n * sizeof(double));
    ref_forward(&p, out, states);
    memcpy(rdS, dwS, ns * sizeof(double));
    ref_backward(&p, rg, rdS, dwo, states);
    kgrads kg;
    kgrads_alloc(&kg, &p);
    memcpy(kg.dS, wS, ns * sizeof(float));
    kernel_grads(&p, K, &kg, wo, 1);

    const double eps = 1e-5;
    for (int a = 0; a <= NIN; a++) {
        double *x = a < NIN ? p.din[a] : p.ds0;
        size_t m = a < NIN ? n : ns;
        for (size_t i = 0; i < m; i++) {
            double x0 = x[i];
            x[i] = x0 + eps;
            double lp = ref_loss(&p, dwo, dwS, out, states);
            x[i] = x0 - eps;
            double lm = ref_loss(&p, dwo, dwS, out, states);
            x[i] = x0;
            fd[i] = (lp - lm) / (2 * eps);
        }
        const char *name = a < NIN ? in_names[a] : "state";
        double er = rel_err_d(a < NIN ? rg[a] : rdS, fd, m);
        double ek = rel_err_fd(a < NIN ? kg.g[a] : kg.dS, fd, m);
        CHECK(er <= 1e-8, "d%s: double reference vs finite differences %.2e", name, er);
        CHECK(ek <= 2e-6, "d%s: kernel vs finite differences %.2e", name, ek);
        printf("d%-6s vs finite differences (N 4, T 7, H 2, K 3): reference %.1e, kernel %.1e\n", name, er, ek);
    }
    kgrads_free(&kg);
    for (int i = 0; i < NIN; i++) free(rg[i]);
    free(wo), free(wS), free(dwo), free(dwS), free(out), free(states), free(rdS), free(fd);
    problem_free(&p);
}

// against the double analytic backward, for several chunk lengths, with and without dstate;
// then accumulation: a second call adds the same gradients again
static void test_backward_ref(int T, int H, int N) {
    const int Ks[] = { 1, 5, 16, T, T + 24 };
    problem p;
    problem_init(&p, T, H, N, 5150 + N);
    size_t n = tok_size(&p), ns = st_size(&p);
    unsigned long long seed = 7;
    float *wo = malloc(n * sizeof(float)), *wS = malloc(ns * sizeof(float));
    fill_uniform(wo, n, 1.0f, &seed);
    fill_uniform(wS, ns, 1.0f, &seed);
    double *dwo = to_double(wo, n);
    double *out = malloc(n * sizeof(double)), *states = malloc((T + 1) * ns * sizeof(double));
    double *rg[NIN], *rdS = to_double(wS, ns), *rg0[NIN], *rdS0 = calloc(ns, sizeof(double));
    for (int i = 0; i < NIN; i++) rg[i] = malloc(n * sizeof(double)), rg0[i] = malloc(n * sizeof(double));
    ref_forward(&p, out, states);
    ref_backward(&p, rg, rdS, dwo, states);
    ref_backward(&p, rg0, rdS0, dwo, states);   // zero dL/dS_T: what dstate == NULL means
    double worst = 0;
    for (int q = 0; q < 5; q++)
        for (int with = 1; with >= 0; with--) {
            kgrads kg;
            kgrads_alloc(&kg, &p);
            memcpy(kg.dS, wS, ns * sizeof(float));
            kernel_grads(&p, Ks[q], &kg, wo, with);
            for (int a = 0; a <= NIN; a++) {
                if (a == NIN && !with) continue;
                double e = a < NIN ? rel_err_fd(kg.g[a], with ? rg[a] : rg0[a], n) : rel_err_fd(kg.dS, rdS, ns);
                CHECK(e <= 1e-5, "N %d K %d dstate %s: d%s rel err %.2e", N, Ks[q], with ? "given" : "NULL",
                      a < NIN ? in_names[a] : "state", e);
                if (!(e <= worst)) worst = e;
            }
            kgrads_free(&kg);
        }
    printf("backward vs double analytic (N %d, T %d, H %d, K 1/5/16/%d/%d, dstate given/NULL): max rel err %.2e\n",
           N, T, H, T, T + 24, worst);

    // accumulation: start from random gradients g0, call twice -> g0 + 2 g
    kgrads once, twice;
    kgrads_alloc(&once, &p);
    kgrads_alloc(&twice, &p);
    for (int a = 0; a < NIN; a++) fill_uniform(twice.g[a], n, 1.0f, &seed);
    float *g0[NIN];
    for (int a = 0; a < NIN; a++) {
        g0[a] = malloc(n * sizeof(float));
        memcpy(g0[a], twice.g[a], n * sizeof(float));
    }
    memcpy(once.dS, wS, ns * sizeof(float));
    kernel_grads(&p, 16, &once, wo, 1);
    for (int c = 0; c < 2; c++) {
        memcpy(twice.dS, wS, ns * sizeof(float));
        kernel_grads(&p, 16, &twice, wo, 1);
    }
    double eacc = 0;
    float *expect = malloc(n * sizeof(float));
    for (int a = 0; a < NIN; a++) {
        for (size_t i = 0; i < n; i++) expect[i] = g0[a][i] + 2 * once.g[a][i];
        double e = rel_err(twice.g[a], expect, n);
        if (!(e <= eacc)) eacc = e;
        free(g0[a]);
    }
    double es = rel_err(twice.dS, once.dS, ns);
    CHECK(eacc <= 1e-6, "two backward calls: accumulated gradients rel err %.2e", eacc);
    CHECK(es == 0, "two backward calls: dstate (overwritten, not accumulated) rel err %.2e", es);
    printf("two backward calls == g0 + 2 g: rel err %.1e (dstate %.1e)\n", eacc, es);
    free(expect);
    kgrads_free(&once), kgrads_free(&twice);
    for (int i = 0; i < NIN; i++) free(rg[i]), free(rg0[i]);
    free(wo), free(wS), free(dwo), free(out), free(states), free(rdS), free(rdS0);
    problem_free(&p);
}

// ---- batch ----------------------------------------------------------------------------------

static int same(const float *a, const float *b, size_t n) { return !memcmp(a, b, n * sizeof(float)); }

// B sequences in one batched call against one single-sequence call each: bit-identical outputs,
// states, checkpoints and gradients (with dstate given and NULL); the backward stays inside the
// scratch that wkv7_scratch_floats asks for
static void test_batch(int B, int T, int H, int N, int K) {
    problem p;   // B*T tokens: the inputs (B, T, H, N) of B sequences
    problem_init(&p, B * T, H, N, 900 + B * 10 + N);
    const size_t HN = (size_t)H * N, NN = (size_t)N * N, n = tok_size(&p), ns = (size_t)B * H * NN;
    const int nck = (T + K - 1) / K;
    const size_t nc = (size_t)nck * H * NN;   // checkpoints of one sequence
    unsigned long long seed = 31;
    float *s0 = malloc(ns * sizeof(float)), *dout = malloc(n * sizeof(float)), *dS = malloc(ns * sizeof(float));
    fill_uniform(s0, ns, 0.5f, &seed);
    fill_uniform(dout, n, 1.0f, &seed);
    fill_uniform(dS, ns, 1.0f, &seed);
    float *out[2], *st[2], *ck[2], *g[2][NIN], *dst[2];
    for (int w = 0; w < 2; w++) {
        out[w] = malloc(n * sizeof(float)), st[w] = malloc(ns * sizeof(float)), ck[w] = malloc(B * nc * sizeof(float));
        dst[w] = malloc(ns * sizeof(float));
        memcpy(st[w], s0, ns * sizeof(float));
        for (int a = 0; a < NIN; a++) g[w][a] = malloc(n * sizeof(float));
    }
    float *const *x = p.in;
    wkv7_forward_batch(out[0], st[0], ck[0], K, x[0], x[1], x[2], x[3], x[4], x[5], B, T, H, N);
    for (int b = 0; b < B; b++) {
        size_t o = (size_t)b * T * HN;
        wkv7_forward(out[1] + o, st[1] + b * H * NN, ck[1] + b * nc, K, x[0] + o, x[1] + o, x[2] + o, x[3] + o,
                     x[4] + o, x[5] + o, T, H, N);
    }
    CHECK(same(out[0], out[1], n) && same(st[0], st[1], ns) && same(ck[0], ck[1], B * nc),
          "B %d T %d H %d N %d K %d: batched forward differs from per-sequence calls", B, T, H, N, K);

    size_t nscr = wkv7_scratch_floats(K, B, H, N);
    float *scratch = malloc((nscr + 64) * sizeof(float));
    for (int i = 0; i < 64; i++) scratch[nscr + i] = -1234.5f;
    for (int with = 1; with >= 0; with--) {
        for (int w = 0; w < 2; w++) {
            unsigned long long gs = 5;   // both start from the same nonzero gradients
            for (int a = 0; a < NIN; a++) fill_uniform(g[w][a], n, 1.0f, &gs);
            memcpy(dst[w], dS, ns * sizeof(float));
        }
        wkv7_backward_batch(g[0][0], g[0][1], g[0][2], g[0][3], g[0][4], g[0][5], with ? dst[0] : NULL, scratch,
                            dout, ck[0], K, x[0], x[1], x[2], x[3], x[4], x[5], B, T, H, N);
        for (int b = 0; b < B; b++) {
            size_t o = (size_t)b * T * HN;
            wkv7_backward(g[1][0] + o, g[1][1] + o, g[1][2] + o, g[1][3] + o, g[1][4] + o, g[1][5] + o,
                          with ? dst[1] + b * H * NN : NULL, dout + o, ck[1] + b * nc, K, x[0] + o, x[1] + o,
                          x[2] + o, x[3] + o, x[4] + o, x[5] + o, T, H, N);
        }
        int ok = same(dst[0], dst[1], ns);
        for (int a = 0; a < NIN; a++) ok &= same(g[0][a], g[1][a], n);
        CHECK(ok, "B %d T %d H %d N %d K %d dstate %s: batched backward differs from per-sequence calls", B, T, H,
              N, K, with ? "given" : "NULL");
    }
    int intact = 1;
    for (int i = 0; i < 64; i++) intact &= scratch[nscr + i] == -1234.5f;
    CHECK(intact, "B %d T %d H %d N %d K %d: backward wrote past its %zu-float scratch", B, T, H, N, K, nscr);
    printf("batch B %d T %d H %d N %d K %d: bit-identical to per-sequence calls, scratch %zu floats\n", B, T, H, N,
           K, nscr);
    for (int w = 0; w < 2; w++) {
        free(out[w]), free(st[w]), free(ck[w]), free(dst[w]);
        for (int a = 0; a < NIN; a++) free(g[w][a]);
    }
    free(s0), free(dout), free(dS), free(scratch);
    problem_free(&p);
}

int main(void) {
    if (cpu_level_skip()) return 77;
    test_forward();
    test_split();
    test_backward_fd();
    test_backward_ref(40, 2, 64);
    test_backward_ref(9, 3, 20);
    test_backward_ref(9, 1, 7);
    test_batch(3, 37, 2, 64, 16);
    test_batch(2, 9, 3, 20, 4);
    test_batch(4, 5, 1, 7, 16);   // K > T: one chunk shorter than K
    return test_summary();
}
