// Shared by matmul.c (GEMV, backward, bandwidth) and matmul_gemm.c (blocked GEMM).
// One vector abstraction over AVX-512 / AVX2 so that the same kernel source serves both widths.
#ifndef ARWKV_MATMUL_INTERNAL_H
#define ARWKV_MATMUL_INTERNAL_H

#include "core/core.h"

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

#if defined(__AVX512F__)
#define MM_VW 16
typedef __m512 mm_vf;
static inline mm_vf mm_zero(void) { return _mm512_setzero_ps(); }
static inline mm_vf mm_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void mm_store(float *p, mm_vf v) { _mm512_storeu_ps(p, v); }
static inline mm_vf mm_bcast(const float *p) { return _mm512_set1_ps(*p); }
static inline mm_vf mm_fma(mm_vf a, mm_vf b, mm_vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline mm_vf mm_add(mm_vf a, mm_vf b) { return _mm512_add_ps(a, b); }
static inline float mm_hsum(mm_vf v) { return _mm512_reduce_add_ps(v); }
static inline mm_vf mm_load_bf16(const uint16_t *p) {
    __m512i u = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(u, 16));
}
static inline mm_vf mm_load_f16(const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}
#elif defined(__AVX2__) && defined(__FMA__)
#define MM_VW 8
typedef __m256 mm_vf;
static inline mm_vf mm_zero(void) { return _mm256_setzero_ps(); }
static inline mm_vf mm_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void mm_store(float *p, mm_vf v) { _mm256_storeu_ps(p, v); }
static inline mm_vf mm_bcast(const float *p) { return _mm256_broadcast_ss(p); }
static inline mm_vf mm_fma(mm_vf a, mm_vf b, mm_vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline mm_vf mm_add(mm_vf a, mm_vf b) { return _mm256_add_ps(a, b); }
static inline float mm_hsum(mm_vf v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline mm_vf mm_load_bf16(const uint16_t *p) {
    __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
}
#if defined(__F16C__)
static inline mm_vf mm_load_f16(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
#else
static inline mm_vf mm_load_f16(const uint16_t *p) {
    float t[8];
    for (int i = 0; i < 8; i++) t[i] = f16_to_f32(p[i]);
    return _mm256_loadu_ps(t);
}
#endif
#endif

// weight element i of a matrix in dtype dt, as fp32 (tails and scalar fallbacks)
static inline float mm_weight(const void *w, arwkv_dtype dt, size_t i) {
    if (dt == ARWKV_BF16) return bf16_to_f32(((const uint16_t *)w)[i]);
    if (dt == ARWKV_F16) return f16_to_f32(((const uint16_t *)w)[i]);
    return ((const float *)w)[i];
}

// C (M, N) = A (M, K) B (K, N) [+ bias (N)], or C += A B when accumulate.
// A(i, k) = a[i*a_rs + k*a_cs], B(k, j) = b[k*b_rs + j*b_cs] in dtype bt; C(i, j) = c[i*ldc + j].
// The packers have fast paths for a_cs == 1 or a_rs == 1 and for b_cs == 1 or b_rs == 1.
typedef struct {
    int M, N, K;
    const float *a;
    int64_t a_rs, a_cs;
    const void *b;
    arwkv_dtype bt;
    int64_t b_rs, b_cs;
    float *c;
    int64_t ldc;
    const float *bias;
    bool accumulate;
} mm_gemm;

// Runs on all OpenMP threads (or one, for small problems). Packing buffers are per thread and
// grow-only; if one cannot be had the product runs unblocked and -1 is returned.
int mm_gemm_run(const mm_gemm *g);

#endif
