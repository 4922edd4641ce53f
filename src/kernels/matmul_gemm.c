// Blocked, register-tiled fp32 GEMM (BLIS-style loop nest): B is packed into KC x NR strips
// (converted to fp32 once per block, so bf16/f16 conversion is amortised over all rows of A),
// A into MR x KC panels, and an MR x NR micro-kernel of FMAs runs over the packed data.
// Threads take rectangles of C (a grid chosen to minimise compute imbalance plus packing volume).
#include <omp.h>
#include <stdlib.h>

#include "kernels/matmul_internal.h"
#include "kernels/parallel.h"

#if defined(__AVX512F__)
#define MR 12
#define NR 32
#elif defined(__AVX2__) && defined(__FMA__)
#define MR 6
#define NR 16
#else
#define MR 4
#define NR 8
#endif
#define KC 256           // depth of one block: a B strip (KC x NR) stays in L1
#define MC (MR * 24)     // rows of A per block: the packed A block (MC x KC) stays in L2
#define NC 1024          // columns per block: the packed B block (KC x NC) stays in L2/L3
#define TASKS 2          // rectangles of C per thread along each split dimension
#define PACK_SLACK 16    // floats after a packed buffer that overlapping 8-wide stores may touch

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int ceil_div(int a, int b) { return (a + b - 1) / b; }

// ---- micro-kernel: c (MR x NR, row stride ldc) = or += a-panel x b-strip -------------------

#if defined(MM_VW)
// acc rows are MR x (NR / MM_VW = 2) vectors; the fully unrolled loops keep them in registers
static void gemm_kernel(int kc, const float *restrict a, const float *restrict b, float *restrict c,
                        int64_t ldc, const float *bias, bool accumulate) {
    mm_vf acc[MR][2];
    #pragma GCC unroll 16
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = mm_zero();
    // the C tile is read (accumulate) or written after the k loop: start fetching it now
    for (int i = 0; i < MR; i++) {
        for (int j = 0; j < NR; j += 16) _mm_prefetch((const char *)(c + i * ldc + j), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + NR - 1), _MM_HINT_T0);
    }
    #pragma GCC unroll 2
    for (int k = 0; k < kc; k++) {
        mm_vf b0 = mm_load(b), b1 = mm_load(b + MM_VW);
        #pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            mm_vf ai = mm_bcast(a + i);
            acc[i][0] = mm_fma(ai, b0, acc[i][0]);
            acc[i][1] = mm_fma(ai, b1, acc[i][1]);
        }
        a += MR;
        b += NR;
    }
    #pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
        float *ci = c + i * ldc;
        if (accumulate) {
            acc[i][0] = mm_add(acc[i][0], mm_load(ci));
            acc[i][1] = mm_add(acc[i][1], mm_load(ci + MM_VW));
        } else if (bias) {
            acc[i][0] = mm_add(acc[i][0], mm_load(bias));
            acc[i][1] = mm_add(acc[i][1], mm_load(bias + MM_VW));
        }
        mm_store(ci, acc[i][0]);
        mm_store(ci + MM_VW, acc[i][1]);
    }
}
#else
static void gemm_kernel(int kc, const float *restrict a, const float *restrict b, float *restrict c,
                        int64_t ldc, const float *bias, bool accumulate) {
    float acc[MR][NR] = {{0}};
    for (int k = 0; k < kc; k++, a += MR, b += NR)
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++) acc[i][j] += a[i] * b[j];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) {
            float base = accumulate ? c[i * ldc + j] : bias ? bias[j] : 0.0f;
            c[i * ldc + j] = base + acc[i][j];
        }
}
#endif

// a partial tile (mr < MR or nr < NR): compute the full tile into a buffer, write the valid part
static void gemm_edge(int kc, const float *a, const float *b, float *c, int64_t ldc, const float *bias,
                      bool accumulate, int mr, int nr) {
    float tmp[MR * NR];
    gemm_kernel(kc, a, b, tmp, NR, NULL, false);
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) {
            float base = accumulate ? c[i * ldc + j] : bias ? bias[j] : 0.0f;
            c[i * ldc + j] = base + tmp[i * NR + j];
        }
}

// ---- packing ---------------------------------------------------------------------------------

#if defined(__AVX2__)
// in place 8x8 transpose: r[i][j] -> r[j][i]
static inline void transpose8(__m256 r[8]) {
    __m256 t[8], s[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int h = 0; h < 8; h += 4) {
        s[h + 0] = _mm256_shuffle_ps(t[h + 0], t[h + 2], _MM_SHUFFLE(1, 0, 1, 0));
        s[h + 1] = _mm256_shuffle_ps(t[h + 0], t[h + 2], _MM_SHUFFLE(3, 2, 3, 2));
        s[h + 2] = _mm256_shuffle_ps(t[h + 1], t[h + 3], _MM_SHUFFLE(1, 0, 1, 0));
        s[h + 3] = _mm256_shuffle_ps(t[h + 1], t[h + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x31);
    }
}

// 8 consecutive elements of a matrix in dtype dt starting at element i, as fp32
static inline __attribute__((always_inline)) __m256 load8(const void *p, arwkv_dtype dt, size_t i) {
    if (dt == ARWKV_BF16) {
        __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
    }
#if defined(__F16C__)
    if (dt == ARWKV_F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
#else
    if (dt == ARWKV_F16) {
        float t[8];
        for (int q = 0; q < 8; q++) t[q] = f16_to_f32(((const uint16_t *)p)[i + q]);
        return _mm256_loadu_ps(t);
    }
#endif
    return _mm256_loadu_ps((const float *)p + i);
}
#endif

// Ap panel by panel: ap[ir*kc + k*MR + ii] = A(i0 + ir + ii, p0 + k), zero past row mc
static void pack_a(float *ap, const mm_gemm *g, int i0, int mc, int p0, int kc) {
    if (g->a_rs == 1) {
        // columns of A are contiguous (A = dout^T): walk each source row once, k outermost
        for (int k = 0; k < kc; k++) {
            const float *src = g->a + (int64_t)(p0 + k) * g->a_cs + i0;
            for (int ir = 0; ir < mc; ir += MR) {
                float *dst = ap + (size_t)ir * kc + (size_t)k * MR;
                int mr = imin(MR, mc - ir);
                memcpy(dst, src + ir, mr * sizeof(float));
                for (int ii = mr; ii < MR; ii++) dst[ii] = 0.0f;
            }
        }
        return;
    }
    for (int ir = 0; ir < mc; ir += MR) {
        int mr = imin(MR, mc - ir);
        float *dst = ap + (size_t)ir * kc;
        int k = 0;
        const float *src = g->a + (int64_t)(i0 + ir) * g->a_rs + (int64_t)p0 * g->a_cs;
#if defined(__AVX2__)
        if (g->a_cs == 1) {
            // 8 k at a time through a transpose; chunks of 8 rows are stored 8 wide, highest chunk
            // first, so a short chunk's spill into the next k's slots is overwritten afterwards.
            // The next panel's rows are prefetched: short strided rows defeat the hardware prefetcher.
            int ahead = imin(MR, g->M - (i0 + ir + MR));
            for (; k + 8 <= kc; k += 8) {
                if (!(k & 15))
                    for (int q = 0; q < ahead; q++) _mm_prefetch((const char *)(src + (MR + q) * g->a_rs + k), _MM_HINT_T0);
                for (int r0 = (MR - 1) / 8 * 8; r0 >= 0; r0 -= 8) {
                    __m256 r[8];
                    for (int q = 0; q < 8; q++)
                        r[q] = r0 + q < mr ? _mm256_loadu_ps(src + (r0 + q) * g->a_rs + k) : _mm256_setzero_ps();
                    transpose8(r);
                    for (int q = 0; q < 8; q++) _mm256_storeu_ps(dst + (size_t)(k + q) * MR + r0, r[q]);
                }
            }
        }
#endif
        for (; k < kc; k++)
            for (int ii = 0; ii < MR; ii++) dst[(size_t)k * MR + ii] = ii < mr ? src[ii * g->a_rs + k * g->a_cs] : 0.0f;
    }
}

// Bp strip by strip: bp[jr*kc + k*NR + jj] = B(p0 + k, j0 + jr + jj) as fp32, zero past column nc
static inline __attribute__((always_inline)) void pack_b_dt(float *bp, const mm_gemm *g, arwkv_dtype dt,
                                                           int j0, int nc, int p0, int kc) {
    if (g->b_cs == 1 && dt == ARWKV_F32) {
        // rows of B are contiguous (backward: w or inp): walk each source row once, k outermost
        for (int k = 0; k < kc; k++) {
            const float *src = (const float *)g->b + (int64_t)(p0 + k) * g->b_rs + j0;
            for (int jr = 0; jr < nc; jr += NR) {
                float *dst = bp + (size_t)jr * kc + (size_t)k * NR;
                int nr = imin(NR, nc - jr);
                memcpy(dst, src + jr, nr * sizeof(float));
                for (int jj = nr; jj < NR; jj++) dst[jj] = 0.0f;
            }
        }
        return;
    }
    for (int jr = 0; jr < nc; jr += NR) {
        int nr = imin(NR, nc - jr);
        float *dst = bp + (size_t)jr * kc;
        int64_t base = (int64_t)p0 * g->b_rs + (int64_t)(j0 + jr) * g->b_cs;
        int k = 0;
#if defined(__AVX2__)
        if (g->b_rs == 1) {
            // columns of B are contiguous (B = W^T): 8 columns x 8 k per transpose, next strip prefetched
            int ahead = imin(NR, g->N - (j0 + jr + NR));
            size_t es = arwkv_dtype_size(dt);
            for (; k + 8 <= kc; k += 8) {
                if (!((k * es) & 63))
                    for (int q = 0; q < ahead; q++)
                        _mm_prefetch((const char *)g->b + es * (size_t)(base + (NR + q) * g->b_cs + k), _MM_HINT_T0);
                for (int c0 = 0; c0 < NR; c0 += 8) {
                    __m256 r[8];
                    for (int q = 0; q < 8; q++)
                        r[q] = c0 + q < nr ? load8(g->b, dt, (size_t)(base + (c0 + q) * g->b_cs + k))
                                           : _mm256_setzero_ps();
                    transpose8(r);
                    for (int q = 0; q < 8; q++) _mm256_storeu_ps(dst + (size_t)(k + q) * NR + c0, r[q]);
                }
            }
        }
#endif
        for (; k < kc; k++)
            for (int jj = 0; jj < NR; jj++)
                dst[(size_t)k * NR + jj] =
                    jj < nr ? mm_weight(g->b, dt, (size_t)(base + k * g->b_rs + jj * g->b_cs)) : 0.0f;
    }
}

static void pack_b(float *bp, const mm_gemm *g, int j0, int nc, int p0, int kc) {
    switch (g->bt) {
    case ARWKV_BF16: pack_b_dt(bp, g, ARWKV_BF16, j0, nc, p0, kc); break;
    case ARWKV_F16: pack_b_dt(bp, g, ARWKV_F16, j0, nc, p0, kc); break;
    default: pack_b_dt(bp, g, ARWKV_F32, j0, nc, p0, kc); break;
    }
}

// ---- one thread's rectangle of C -------------------------------------------------------------

// depth of the K blocks: at most KC, equal-sized, a multiple of 8 for the packers' fast path
static int gemm_kc(int K) {
    int nb = ceil_div(K, KC);
    int kc = (ceil_div(K, nb) + 7) / 8 * 8;
    return imin(kc, K);
}

static void gemm_rect(const mm_gemm *g, int m0, int m1, int n0, int n1, float *ap, float *bp) {
    int kcb = gemm_kc(g->K);
    for (int jc = n0; jc < n1; jc += NC) {
        int nc = imin(NC, n1 - jc);
        for (int pc = 0; pc < g->K; pc += kcb) {
            int kc = imin(kcb, g->K - pc);
            bool acc = g->accumulate || pc > 0;
            const float *bias = !acc && g->bias ? g->bias + jc : NULL;
            pack_b(bp, g, jc, nc, pc, kc);
            for (int ic = m0; ic < m1; ic += MC) {
                int mc = imin(MC, m1 - ic);
                pack_a(ap, g, ic, mc, pc, kc);
                for (int jr = 0; jr < nc; jr += NR) {
                    int nr = imin(NR, nc - jr);
                    const float *b = bp + (size_t)jr * kc, *bj = bias ? bias + jr : NULL;
                    for (int ir = 0; ir < mc; ir += MR) {
                        int mr = imin(MR, mc - ir);
                        float *c = g->c + (int64_t)(ic + ir) * g->ldc + jc + jr;
                        const float *a = ap + (size_t)ir * kc;
                        if (mr == MR && nr == NR) gemm_kernel(kc, a, b, c, g->ldc, bj, acc);
                        else gemm_edge(kc, a, b, c, g->ldc, bj, acc, mr, nr);
                    }
                }
            }
        }
    }
}

// unblocked reference order, used only when scratch memory cannot be had
static void gemm_rect_plain(const mm_gemm *g, int m0, int m1, int n0, int n1) {
    for (int i = m0; i < m1; i++)
        for (int j = n0; j < n1; j++) {
            float s = 0.0f;
            for (int k = 0; k < g->K; k++)
                s += g->a[i * g->a_rs + k * g->a_cs] * mm_weight(g->b, g->bt, (size_t)(k * g->b_rs + j * g->b_cs));
            float *c = g->c + (int64_t)i * g->ldc + j;
            *c = (g->accumulate ? *c : g->bias ? g->bias[j] : 0.0f) + s;
        }
}

// This thread's packing buffer of at least `floats` floats, 64-byte aligned, or NULL. Grow-only
// and kept for the thread's lifetime (OpenMP reuses its threads), so that products after the
// first of each size allocate nothing.
static _Thread_local float *pack_mem;
static _Thread_local size_t pack_cap;

static float *pack_buffer(size_t floats) {
    if (floats > pack_cap) {
        free(pack_mem);
        pack_cap = align_up(floats * sizeof(float), 4096) / sizeof(float);   // round up: fewer regrowths
        pack_mem = aligned_alloc(64, pack_cap * sizeof(float));
        if (!pack_mem) pack_cap = 0;
    }
    return pack_mem;
}

// This thread's packing buffers for the rectangles of a pm x pn grid over C: returns the A panels
// and sets *bp to the B strips, or returns NULL
static float *gemm_buffers(const mm_gemm *g, int pm, int pn, float **bp) {
    int mu = ceil_div(g->M, MR), nu = ceil_div(g->N, NR), kc = gemm_kc(g->K);
    size_t na = align_up((size_t)imin(MC, ceil_div(mu, pm) * MR) * kc + PACK_SLACK, 16);
    size_t nb = (size_t)imin(NC, ceil_div(nu, pn) * NR) * kc + PACK_SLACK;
    float *ap = pack_buffer(na + nb);
    *bp = ap ? ap + na : NULL;
    return ap;
}

// pm x pn grid of threads: minimise per-thread micro-kernel work plus packing volume (per k)
static void gemm_split(int nth, int M, int N, int *pm, int *pn) {
    int mu = ceil_div(M, MR), nu = ceil_div(N, NR);
    double best = 1e300;
    *pm = nth, *pn = 1;
    for (int q = 1; q <= nth; q++) {
        if (nth % q) continue;
        int p = nth / q;   // q threads across N, p across M
        int tm = ceil_div(mu, p), tn = ceil_div(nu, q);
        double cost = (double)tm * tn * MR * NR / 16.0 + tm * MR + tn * NR;
        if (cost <= best) best = cost, *pm = p, *pn = q;
    }
}

int mm_gemm_run(const mm_gemm *g) {
    int M = g->M, N = g->N, K = g->K;
    if (M <= 0 || N <= 0) return 0;
    if (K <= 0) {
        if (!g->accumulate)
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) g->c[(int64_t)i * g->ldc + j] = g->bias ? g->bias[j] : 0.0f;
        return 0;
    }
    if (!kernels_fork((double)M * N * K >= 65536.0)) {
        float *bp, *ap = gemm_buffers(g, 1, 1, &bp);
        if (ap) gemm_rect(g, 0, M, 0, N, ap, bp);
        else gemm_rect_plain(g, 0, M, 0, N);
        return ap ? 0 : -1;
    }
    int failed = 0;
    #pragma omp parallel reduction(| : failed)
    {
        // TASKS rectangles per thread, taken dynamically, so that a thread the OS delays does not
        // hold back the whole product on a shared machine
        int nt = omp_get_num_threads(), pm, pn;
        gemm_split(nt, M, N, &pm, &pn);
        if (pm > 1) pm *= TASKS;
        if (pn > 1) pn *= TASKS;
        int mu = ceil_div(M, MR), nu = ceil_div(N, NR);
        float *bp, *ap = gemm_buffers(g, pm, pn, &bp);
        #pragma omp for schedule(dynamic, 1)
        for (int task = 0; task < pm * pn; task++) {
            int tm = task / pn, tn = task % pn;
            int m0 = imin(M, mu * tm / pm * MR), m1 = imin(M, mu * (tm + 1) / pm * MR);
            int n0 = imin(N, nu * tn / pn * NR), n1 = imin(N, nu * (tn + 1) / pn * NR);
            if (m0 >= m1 || n0 >= n1) continue;
            if (ap) gemm_rect(g, m0, m1, n0, n1, ap, bp);
            else gemm_rect_plain(g, m0, m1, n0, n1), failed = 1;
        }
    }
    return failed ? -1 : 0;
}
