// Matrix products: the decode GEMV (T <= GEMV_MAX_T: weights streamed once, unpacked, at the
// memory-bandwidth bound), the prefill/training GEMM (matmul_gemm.c), the backward pass and the
// read-bandwidth probe.
#include <omp.h>

#include "kernels/kernels.h"
#include "kernels/matmul_internal.h"
#include "core/pool.h"
#include "kernels/parallel.h"

#define GEMV_TILE_T 4   // inputs per register tile of the GEMV
#define GEMV_MAX_T 8    // above this many inputs packing W for the GEMM pays off (measured crossover ~12)
#define GEMV_CHUNKS 4   // row ranges per thread
#define GEMV_PF_BYTES 2048   // software prefetch distance along each weight stream

// ---- GEMV: out (T, OC) = x (T, C) @ w^T + bias for T <= GEMV_MAX_T ---------------------------

#if defined(MM_VW)
static inline __attribute__((always_inline)) mm_vf load_w(const void *w, arwkv_dtype dt, size_t i) {
    if (dt == ARWKV_BF16) return mm_load_bf16((const uint16_t *)w + i);
    if (dt == ARWKV_F16) return mm_load_f16((const uint16_t *)w + i);
    return mm_load((const float *)w + i);
}
#endif

// rows o0, o0+rs, .. o0+(R-1)*rs for all T inputs; R, T and dt are constants after inlining, so the
// R*T accumulators (>= 8 independent FMA chains) live in registers
static inline __attribute__((always_inline)) void gemv_tile(float *out, const float *x, const void *w,
                                                            arwkv_dtype dt, const float *bias, int C, int OC,
                                                            int o0, int rs, int R, int T) {
    float s[8][GEMV_TILE_T];
    int k = 0;
#if defined(MM_VW)
    mm_vf acc[8][GEMV_TILE_T];
    #pragma GCC unroll 8
    for (int r = 0; r < R; r++)
        #pragma GCC unroll 4
        for (int t = 0; t < T; t++) acc[r][t] = mm_zero();
    // with few streams (R <= 4) the hardware prefetchers alone leave memory latency exposed
    size_t es = dt == ARWKV_F32 ? 4 : 2;
    for (; k + MM_VW <= C; k += MM_VW) {
        if (R <= 4 && R > 1 && !((k * es) & 63))
            #pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                _mm_prefetch((const char *)w + ((size_t)(o0 + r * rs) * C + k) * es + GEMV_PF_BYTES, _MM_HINT_T0);
        mm_vf xv[GEMV_TILE_T];
        #pragma GCC unroll 4
        for (int t = 0; t < T; t++) xv[t] = mm_load(x + (size_t)t * C + k);
        #pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            mm_vf wv = load_w(w, dt, (size_t)(o0 + r * rs) * C + k);
            #pragma GCC unroll 4
            for (int t = 0; t < T; t++) acc[r][t] = mm_fma(wv, xv[t], acc[r][t]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) s[r][t] = mm_hsum(acc[r][t]);
#else
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) s[r][t] = 0.0f;
#endif
    for (int r = 0; r < R; r++) {
        int o = o0 + r * rs;
        for (int kk = k; kk < C; kk++) {
            float wv = mm_weight(w, dt, (size_t)o * C + kk);
            for (int t = 0; t < T; t++) s[r][t] += wv * x[(size_t)t * C + kk];
        }
        float b = bias ? bias[o] : 0.0f;
        for (int t = 0; t < T; t++) out[(size_t)t * OC + o] = s[r][t] + b;
    }
}

// rows per tile: enough independent accumulators to cover FMA latency, few enough for registers
static inline __attribute__((always_inline)) int gemv_rows(int T) { return T == 1 ? 8 : T == 2 ? 4 : T == 3 ? 3 : 2; }

// one tile for inputs t0 .. t0+tc-1 (tc <= GEMV_TILE_T), tc made a constant
static inline __attribute__((always_inline)) void gemv_chunk(float *out, const float *x, const void *w,
                                                             arwkv_dtype dt, const float *bias, int C, int OC,
                                                             int o0, int rs, int R, int t0, int tc) {
    float *o = out + (size_t)t0 * OC;
    const float *xt = x + (size_t)t0 * C;
    switch (tc) {
    case 1: gemv_tile(o, xt, w, dt, bias, C, OC, o0, rs, R, 1); break;
    case 2: gemv_tile(o, xt, w, dt, bias, C, OC, o0, rs, R, 2); break;
    case 3: gemv_tile(o, xt, w, dt, bias, C, OC, o0, rs, R, 3); break;
    default: gemv_tile(o, xt, w, dt, bias, C, OC, o0, rs, R, 4); break;
    }
}

// Rows lo .. hi-1. The range is cut into R equal runs and tile g takes row g of every run: each
// run is then one long sequential stream (rows are contiguous in memory), which the hardware
// prefetchers follow far better than R short rows side by side. T > GEMV_TILE_T runs in chunks
// of inputs over the same rows, still in L1 for every chunk after the first.
static inline __attribute__((always_inline)) void gemv_rows_range(float *out, const float *x, const void *w,
                                                                  arwkv_dtype dt, const float *bias, int T,
                                                                  int C, int OC, int lo, int hi) {
    int R = gemv_rows(T < GEMV_TILE_T ? T : GEMV_TILE_T), run = (hi - lo) / R;
    for (int g = 0; g < run; g++)
        for (int t0 = 0; t0 < T; t0 += GEMV_TILE_T) gemv_chunk(out, x, w, dt, bias, C, OC, lo + g, run, R, t0, T - t0);
    for (int o = lo + R * run; o < hi; o++)
        for (int t0 = 0; t0 < T; t0 += GEMV_TILE_T) gemv_chunk(out, x, w, dt, bias, C, OC, o, 0, 1, t0, T - t0);
}

#define GEMV_CASE(DT, TT) \
    case TT: gemv_rows_range(out, x, w, DT, bias, TT, C, OC, lo, hi); break;
#define GEMV_DT(DT)                                                                                    \
    switch (T) { GEMV_CASE(DT, 1) GEMV_CASE(DT, 2) GEMV_CASE(DT, 3) GEMV_CASE(DT, 4)                  \
                 default: gemv_rows_range(out, x, w, DT, bias, T, C, OC, lo, hi); }                  \
    break;

static void gemv_range(float *out, const float *x, const void *w, arwkv_dtype dt, const float *bias, int T,
                       int C, int OC, int lo, int hi) {
    switch (dt) {
    case ARWKV_BF16: GEMV_DT(ARWKV_BF16)
    case ARWKV_F16: GEMV_DT(ARWKV_F16)
    default: GEMV_DT(ARWKV_F32)
    }
}

typedef struct {
    float *out;
    const float *x;
    const void *w;
    arwkv_dtype dt;
    const float *bias;
    int T, C, OC;
} gemv_args;

static void gemv_task(void *p, int64_t lo, int64_t hi, int ith) {
    const gemv_args *a = p;
    gemv_range(a->out, a->x, a->w, a->dt, a->bias, a->T, a->C, a->OC, (int)lo, (int)hi);
}

static void gemv(float *out, const float *x, const void *w, arwkv_dtype dt, const float *bias, int T, int C,
                 int OC) {
    int64_t grain = (size_t)OC * C > 65536 ? 16 : OC;
    pool_for(OC, grain, gemv_task, &(gemv_args){out, x, w, dt, bias, T, C, OC});
}

// ---- public API ------------------------------------------------------------------------------

// out (T, OC) = inp (T, C) @ w^T (OC, C) [+ bias (OC)]
void matmul_forward(float *out, const float *inp, const void *w, arwkv_dtype wt, const float *bias,
                    int T, int C, int OC) {
    if (T <= 0 || OC <= 0) return;
    if (T <= GEMV_MAX_T && C > 0) {
        gemv(out, inp, w, wt, bias, T, C, OC);
        return;
    }
    mm_gemm g = {
        .M = T, .N = OC, .K = C, .a = inp, .a_rs = C, .a_cs = 1, .b = w, .bt = wt, .b_rs = 1, .b_cs = C,
        .c = out, .ldc = OC, .bias = bias, .accumulate = false,
    };
    mm_gemm_run(&g);
}

#define BIAS_BLK 256   // columns per block of the bias gradient

// column blocks [lo, hi) of bias_backward
static void bias_blocks(float *dbias, const float *dout, int T, int OC, int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; b++) {
        int o0 = (int)b * BIAS_BLK, n = OC - o0 < BIAS_BLK ? OC - o0 : BIAS_BLK;
        float s[BIAS_BLK] = {0};
        for (int t = 0; t < T; t++) {
            const float *d = dout + (size_t)t * OC + o0;
            for (int j = 0; j < n; j++) s[j] += d[j];
        }
        for (int j = 0; j < n; j++) dbias[o0 + j] += s[j];
    }
}

// dbias (OC) += column sums of dout (T, OC)
static void bias_backward(float *dbias, const float *dout, int T, int OC) {
    KERNELS_ROWS((size_t)T * OC > 65536, (OC + BIAS_BLK - 1) / BIAS_BLK, bias_blocks, dbias, dout, T, OC);
}

// dinp (T, C) += dout (T, OC) @ w (OC, C) ; dw (OC, C) += dout^T @ inp ; dbias (OC) += sum_t dout
void matmul_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                     const float *w, int T, int C, int OC) {
    if (T <= 0 || C < 0 || OC <= 0) return;
    if (dbias) bias_backward(dbias, dout, T, OC);
    if (dinp) {
        mm_gemm g = {
            .M = T, .N = C, .K = OC, .a = dout, .a_rs = OC, .a_cs = 1, .b = w, .bt = ARWKV_F32, .b_rs = C,
            .b_cs = 1, .c = dinp, .ldc = C, .accumulate = true,
        };
        mm_gemm_run(&g);
    }
    if (dw) {
        mm_gemm g = {
            .M = OC, .N = C, .K = T, .a = dout, .a_rs = 1, .a_cs = OC, .b = inp, .bt = ARWKV_F32, .b_rs = C,
            .b_cs = 1, .c = dw, .ldc = C, .accumulate = true,
        };
        mm_gemm_run(&g);
    }
}

// Fills buf (n floats) and sums it on all threads with vector loads; best of a few passes.
double memory_read_bandwidth(float *buf, size_t n) {
    n = n / 1024 * 1024;   // whole 8-stream blocks of 1024 floats per thread
    if (!n) return 0.0;
    // first touch with the same static split as the reads, so each thread's pages are local to it
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) buf[i] = (float)(i & 7);
    double best = 0.0;
    volatile float sink = 0.0f;
    for (int pass = 0; pass < 5; pass++) {
        double t0 = time_now();
        float total = 0.0f;
        #pragma omp parallel reduction(+ : total)
        {
            // 8 sequential streams per thread, as the GEMV reads weights: one stream alone leaves
            // memory parallelism unused and understates the bandwidth a kernel can reach
            int nt = omp_get_num_threads(), id = omp_get_thread_num();
            size_t lo = n / 1024 * id / nt * 1024, hi = n / 1024 * (id + 1) / nt * 1024, len = (hi - lo) / 8;
#if defined(MM_VW)
            mm_vf s[8];
            for (int q = 0; q < 8; q++) s[q] = mm_zero();
            for (size_t i = 0; i < len; i += MM_VW)
                #pragma GCC unroll 8
                for (int q = 0; q < 8; q++) s[q] = mm_add(s[q], mm_load(buf + lo + q * len + i));
            for (int q = 1; q < 8; q++) s[0] = mm_add(s[0], s[q]);
            total += mm_hsum(s[0]);
#else
            float s[8] = {0};   // one sum per stream: independent chains
            for (size_t i = 0; i < len; i++)
                for (int q = 0; q < 8; q++) s[q] += buf[lo + q * len + i];
            for (int q = 0; q < 8; q++) total += s[q];
#endif
        }
        double dt = time_now() - t0;
        sink += total;
        if (dt > 0 && n * sizeof(float) / dt > best) best = n * sizeof(float) / dt;
    }
    (void)sink;
    return best;
}
