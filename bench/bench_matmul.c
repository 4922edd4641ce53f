// Matrix-product throughput: read bandwidth, decode GEMV (GB/s and ratio to the read-bandwidth
// bound) on Qwen2.5-0.5B-shaped weights, prefill/training GEMM (GFLOP/s and fraction of the
// measured FMA peak), forward and backward.
// usage: bench_matmul [--quick]   (--quick skips the 1 GB full-decode emulation)
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

// FMA throughput of one thread at the kernels' vector width: 12 independent in-register chains,
// no memory traffic. Compiled for each level's instruction set, since the bench itself is not.
typedef float vec4 __attribute__((vector_size(16)));
typedef float vec8 __attribute__((vector_size(32)));
typedef float vec16 __attribute__((vector_size(64)));
#define PEAK_BODY(VT)                                                                                \
    VT a[12], b, c;                                                                                  \
    for (int i = 0; i < 12; i++)                                                                     \
        for (size_t l = 0; l < sizeof(VT) / 4; l++) a[i][l] = 1e-3f * (i + seed);                    \
    for (size_t l = 0; l < sizeof(VT) / 4; l++) b[l] = 0.9999f, c[l] = 1e-4f;                        \
    for (long it = 0; it < iters; it++)                                                              \
        _Pragma("GCC unroll 12") for (int i = 0; i < 12; i++) a[i] = a[i] * b + c;                   \
    float s = 0;                                                                                     \
    for (int i = 0; i < 12; i++)                                                                     \
        for (size_t l = 0; l < sizeof(VT) / 4; l++) s += a[i][l];                                    \
    return s;

static float peak_chains_generic(long iters, int seed) { PEAK_BODY(vec4) }
#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static float peak_chains_avx2(long iters, int seed) { PEAK_BODY(vec8) }
__attribute__((target("avx512f"))) static float peak_chains_avx512(long iters, int seed) { PEAK_BODY(vec16) }
#endif

// fp32 peak of all threads in flop/s at the level the kernels use (generic: SSE mul + add)
static double fma_peak(void) {
    const char *level = kernels_cpu_level();
    float (*chains)(long, int) = peak_chains_generic;
    int width = 4;
#if defined(__x86_64__)
    if (!strcmp(level, "avx2")) chains = peak_chains_avx2, width = 8;
    if (!strcmp(level, "avx512")) chains = peak_chains_avx512, width = 16;
#endif
    double best = 0;
    for (int rep = 0; rep < 40; rep++) {   // short runs, best of many: the machine may be shared
        const long iters = 1000000;
        double t0 = time_now();
        float sink = 0;
        #pragma omp parallel reduction(+ : sink)
        sink += chains(iters, omp_get_thread_num());
        double dt = time_now() - t0;
        double fl = 2.0 * iters * 12 * width * omp_get_max_threads();
        if (sink != 12345.0f && fl / dt > best) best = fl / dt;
    }
    return best;
}

static void fill_weights(void *w, arwkv_dtype dt, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = (float)((int)(i * 2654435761u >> 20) % 2001 - 1000) * 1e-4f;
        if (dt == ARWKV_F32) ((float *)w)[i] = v;
        else if (dt == ARWKV_BF16) ((uint16_t *)w)[i] = f32_to_bf16(v);
        else ((uint16_t *)w)[i] = f32_to_f16(v);
    }
}

static float *new_acts(size_t n) {
    float *x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = (float)((i * 7) % 13) * 0.01f - 0.06f;
    return x;
}

// GEMV over enough copies of one matrix that the set is far larger than the caches
static void bench_gemv(int OC, int C, arwkv_dtype dt, int T, double bw) {
    size_t es = arwkv_dtype_size(dt), mbytes = (size_t)OC * C * es;
    int copies = (int)(((size_t)384 << 20) / mbytes) + 1;
    uint8_t *w = malloc(mbytes * copies);
    fill_weights(w, dt, (size_t)OC * C * copies);
    float *x = new_acts((size_t)T * C), *out = malloc((size_t)T * OC * sizeof(float));
    double best = 1e30;
    for (int rep = 0; rep < 4; rep++) {
        double t0 = time_now();
        for (int c = 0; c < copies; c++) matmul_forward(out, x, w + mbytes * c, dt, NULL, T, C, OC);
        double dt_s = (time_now() - t0) / copies;
        if (dt_s < best) best = dt_s;
    }
    double gbs = mbytes / best;
    printf("gemv  %-5s T=%d %6d x %-5d  %8.1f us  %6.1f GB/s  %5.1f%% of read bandwidth\n", arwkv_dtype_name(dt),
           T, OC, C, best * 1e6, gbs / 1e9, 100.0 * gbs / bw);
    free(w), free(x), free(out);
}

// one decode step's matrix products of Qwen2.5-0.5B (24 layers + tied lm_head), bf16 weights
static void bench_decode(double bw) {
    enum { L = 24, D = 896, F = 4864, KV = 128, V = 151936 };
    static const int shp[7][2] = {{D, D}, {KV, D}, {KV, D}, {D, D}, {F, D}, {F, D}, {D, F}};
    size_t per_layer = 0;
    for (int i = 0; i < 7; i++) per_layer += (size_t)shp[i][0] * shp[i][1];
    size_t total = per_layer * L + (size_t)V * D;
    uint16_t *w = malloc(total * 2);
    if (!w) return;
    fill_weights(w, ARWKV_BF16, total);
    float *x = new_acts(F), *out = malloc((size_t)V * sizeof(float));
    double best = 1e30;
    for (int rep = 0; rep < 4; rep++) {
        double t0 = time_now();
        const uint16_t *p = w;
        for (int l = 0; l < L; l++)
            for (int i = 0; i < 7; i++) {
                matmul_forward(out, x, p, ARWKV_BF16, NULL, 1, shp[i][1], shp[i][0]);
                p += (size_t)shp[i][0] * shp[i][1];
            }
        matmul_forward(out, x, p, ARWKV_BF16, NULL, 1, D, V);
        double dt = time_now() - t0;
        if (dt < best) best = dt;
    }
    double gbs = total * 2 / best;
    printf("decode step, 0.5B-shaped (%.0f MB bf16): %.1f ms  %.1f GB/s  %.1f%% of read bandwidth\n",
           total * 2 / 1e6, best * 1e3, gbs / 1e9, 100.0 * gbs / bw);
    free(w), free(x), free(out);
}

// best-of time of a forward or backward at one shape; prints GFLOP/s and fraction of peak
static void bench_gemm(const char *what, int T, int C, int OC, arwkv_dtype dt, int backward, double peak) {
    size_t es = arwkv_dtype_size(dt);
    void *w = malloc((size_t)OC * C * es);
    fill_weights(w, dt, (size_t)OC * C);
    float *inp = new_acts((size_t)T * C), *out = new_acts((size_t)T * OC);
    float *dinp = calloc((size_t)T * C, 4), *dw = calloc((size_t)OC * C, 4), *db = calloc(OC, 4);
    double flops = 2.0 * T * C * OC * (backward ? 2 : 1), best = 1e30, spent = 0;
    for (int rep = 0; rep < 50 && (rep < 3 || spent < 1.0); rep++) {
        double t0 = time_now();
        if (backward) matmul_backward(dinp, dw, db, out, inp, w, T, C, OC);
        else matmul_forward(out, inp, w, dt, NULL, T, C, OC);
        double dt_s = time_now() - t0;
        spent += dt_s;
        if (dt_s < best) best = dt_s;
    }
    printf("%-8s %-4s T=%-4d %5d -> %-5d  %8.2f ms  %6.1f GFLOP/s  %5.1f%% of peak\n", what,
           arwkv_dtype_name(dt), T, C, OC, best * 1e3, flops / best / 1e9, 100.0 * flops / best / peak);
    free(w), free(inp), free(out), free(dinp), free(dw), free(db);
}

int main(int argc, char **argv) {
    int quick = argc > 1 && !strcmp(argv[1], "--quick");
    printf("threads: %d, kernel level: %s\n", omp_get_max_threads(), kernels_cpu_level());
    size_t nbuf = ((size_t)1 << 30) / sizeof(float);
    float *buf = aligned_alloc(64, nbuf * sizeof(float));   // 64-byte vectors must not straddle lines
    double bw = buf ? memory_read_bandwidth(buf, nbuf) : 0.0;
    free(buf);
    double peak = fma_peak();
    printf("read bandwidth: %.1f GB/s   fp32 FMA peak: %.1f GFLOP/s\n\n", bw / 1e9, peak / 1e9);

    static const int gemv_shapes[][2] = {{896, 896}, {128, 896}, {4864, 896}, {896, 4864}, {151936, 896}};
    for (size_t i = 0; i < sizeof gemv_shapes / sizeof gemv_shapes[0]; i++)
        bench_gemv(gemv_shapes[i][0], gemv_shapes[i][1], ARWKV_BF16, 1, bw);
    bench_gemv(4864, 896, ARWKV_F16, 1, bw);
    bench_gemv(4864, 896, ARWKV_F32, 1, bw);
    for (int T = 2; T <= 8; T *= 2) bench_gemv(4864, 896, ARWKV_BF16, T, bw);
    if (!quick) bench_decode(bw);
    printf("\n");

    static const int prefill[][2] = {{896, 896}, {896, 128}, {896, 4864}, {4864, 896}};
    for (size_t i = 0; i < 4; i++) bench_gemm("prefill", 512, prefill[i][0], prefill[i][1], ARWKV_BF16, 0, peak);
    for (size_t i = 0; i < 4; i++) bench_gemm("prefill", 512, prefill[i][0], prefill[i][1], ARWKV_F32, 0, peak);
    static const int train[][2] = {{256, 256}, {256, 1024}, {1024, 256}, {256, 8192}};
    for (size_t i = 0; i < 4; i++) bench_gemm("train", 1024, train[i][0], train[i][1], ARWKV_F32, 0, peak);
    for (size_t i = 0; i < 4; i++) bench_gemm("backward", 1024, train[i][0], train[i][1], ARWKV_F32, 1, peak);
    for (size_t i = 0; i < 4; i++) bench_gemm("backward", 512, prefill[i][0], prefill[i][1], ARWKV_F32, 1, peak);
    return 0;
}
