// WKV-7 scan throughput: forward over a sequence, one-token decode steps, and the batched
// forward (with checkpoints) and backward of 1 and 4 sequences.
// GFLOP/s counts 3 N^2 multiply-adds (6 N^2 flops) per head per token forward and twice that
// backward, the docs/model.md §2 estimate; the best of several repetitions is reported (shared machine).
#include "kernels/kernels.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    float *r, *wd, *k, *v, *alpha, *beta, *out, *state, *ckpt;
    float *dr, *dwd, *dk, *dv, *dalpha, *dbeta, *dout, *dstate;
} bufs;

static float *rnd(size_t n, float lo, float hi, unsigned long long *seed) {
    float *x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = lo + (hi - lo) * (float)((double)(*seed >> 11) / 9007199254740992.0);
    }
    return x;
}

static void bufs_init(bufs *b, int T, int H, int N, int K) {
    size_t n = (size_t)T * H * N, ns = (size_t)H * N * N;
    unsigned long long seed = 1;
    b->r = rnd(n, -1, 1, &seed), b->k = rnd(n, -1, 1, &seed), b->v = rnd(n, -1, 1, &seed);
    b->wd = rnd(n, 0.55f, 0.999f, &seed);
    b->alpha = rnd(n, -1, 1, &seed), b->beta = malloc(n * sizeof(float));
    for (size_t t = 0; t < n; t += N) {   // alpha = -kk with kk unit norm, beta = kk * a
        float s = 0;
        for (int j = 0; j < N; j++) s += b->alpha[t + j] * b->alpha[t + j];
        for (int j = 0; j < N; j++) {
            b->alpha[t + j] /= sqrtf(s);
            b->beta[t + j] = -b->alpha[t + j] * 0.5f;
        }
    }
    b->out = calloc(n, sizeof(float)), b->state = calloc(ns, sizeof(float));
    b->ckpt = calloc((size_t)(T + K - 1) / K * ns, sizeof(float));
    b->dr = calloc(n, sizeof(float)), b->dwd = calloc(n, sizeof(float)), b->dk = calloc(n, sizeof(float));
    b->dv = calloc(n, sizeof(float)), b->dalpha = calloc(n, sizeof(float)), b->dbeta = calloc(n, sizeof(float));
    b->dout = rnd(n, -1, 1, &seed), b->dstate = calloc(ns, sizeof(float));
}

static void bufs_free(bufs *b) {
    float *all[] = { b->r, b->wd, b->k, b->v, b->alpha, b->beta, b->out, b->state, b->ckpt, b->dr,
                     b->dwd, b->dk, b->dv, b->dalpha, b->dbeta, b->dout, b->dstate };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

static void report(const char *what, double sec, int T, int H, int N, double fma_per_head_token) {
    double tok = T / sec, gflops = 2.0 * fma_per_head_token * N * N * H * T / sec * 1e-9;
    printf("%-34s %9.1f us/call %11.0f tokens/s %7.2f GFLOP/s\n", what, sec * 1e6, tok, gflops);
}

int main(void) {
    const int N = 64, reps = 15;
    printf("wkv7 bench, N %d, %d OpenMP threads, kernel level %s, best of %d\n", N, omp_get_max_threads(),
           kernels_cpu_level(), reps);
    {
        const int T = 512, H = 14, K = 16;
        bufs b;
        bufs_init(&b, T, H, N, K);
        double best = 1e30, best_ck = 1e30;
        for (int i = 0; i < reps; i++) {
            double t0 = time_now();
            wkv7_forward(b.out, b.state, NULL, K, b.r, b.wd, b.k, b.v, b.alpha, b.beta, T, H, N);
            double t1 = time_now();
            wkv7_forward(b.out, b.state, b.ckpt, K, b.r, b.wd, b.k, b.v, b.alpha, b.beta, T, H, N);
            double t2 = time_now();
            if (t1 - t0 < best) best = t1 - t0;
            if (t2 - t1 < best_ck) best_ck = t2 - t1;
        }
        report("forward T 512 H 14", best, T, H, N, 3);
        report("forward T 512 H 14 + ckpt K 16", best_ck, T, H, N, 3);

        // decode: T one-token calls, each a separate kernel call as in generation
        best = 1e30;
        for (int i = 0; i < reps; i++) {
            double t0 = time_now();
            for (int t = 0; t < T; t++) {
                size_t o = (size_t)t * H * N;
                wkv7_forward(b.out + o, b.state, NULL, K, b.r + o, b.wd + o, b.k + o, b.v + o, b.alpha + o,
                             b.beta + o, 1, H, N);
            }
            double dt = (time_now() - t0);
            if (dt < best) best = dt;
        }
        report("forward T 1 H 14 (per step)", best / T, 1, H, N, 3);
        bufs_free(&b);
    }
    for (int B = 1; B <= 4; B *= 4) {   // B sequences of T tokens, as one (B*T)-token buffer
        const int T = 256, H = 4, K = 16;
        bufs b;
        bufs_init(&b, B * T, H, N, K);
        float *state = calloc((size_t)B * H * N * N, sizeof(float));
        float *scratch = malloc(wkv7_scratch_floats(K, B, H, N) * sizeof(float));
        double best_f = 1e30, best_b = 1e30;
        for (int i = 0; i < reps; i++) {
            double t0 = time_now();
            wkv7_forward_batch(b.out, state, b.ckpt, K, b.r, b.wd, b.k, b.v, b.alpha, b.beta, B, T, H, N);
            double t1 = time_now();
            wkv7_backward_batch(b.dr, b.dwd, b.dk, b.dv, b.dalpha, b.dbeta, NULL, scratch, b.dout, b.ckpt, K, b.r,
                                b.wd, b.k, b.v, b.alpha, b.beta, B, T, H, N);
            double t2 = time_now();
            if (t1 - t0 < best_f) best_f = t1 - t0;
            if (t2 - t1 < best_b) best_b = t2 - t1;
        }
        char what[64];
        snprintf(what, sizeof what, "forward + ckpt B %d T 256 H 4 K 16", B);
        report(what, best_f, B * T, H, N, 3);
        snprintf(what, sizeof what, "backward B %d T 256 H 4 K 16", B);
        report(what, best_b, B * T, H, N, 6);
        free(state), free(scratch);
        bufs_free(&b);
    }
    return 0;
}
