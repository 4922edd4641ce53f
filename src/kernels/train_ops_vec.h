// Vector helpers shared by the training kernels (internal).
// Plain C float reductions are serial chains (fp addition may not be reordered), so the sums
// here use `omp simd reduction`, which allows the compiler to keep several partial sums.
// Softmax-style rows spend their time in exp: vec_exp uses an AVX2 polynomial where available.
#ifndef ARWKV_TRAIN_OPS_VEC_H
#define ARWKV_TRAIN_OPS_VEC_H

#include <math.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

static inline float vec_dot(const float *a, const float *b, int n) {
    float s = 0.0f;
    #pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

// a NaN in x is skipped here, but still reaches the caller's sum of exp(x - max)
static inline float vec_max(const float *x, int n) {
    float m = -INFINITY;
    int i = 0;
#if defined(__AVX2__) && defined(__FMA__)
    if (n >= 8) {
        __m256 vm = _mm256_loadu_ps(x);
        for (i = 8; i + 8 <= n; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
        float lanes[8];
        _mm256_storeu_ps(lanes, vm);
        for (int j = 0; j < 8; j++) m = lanes[j] > m ? lanes[j] : m;
    }
#endif
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

static inline float vec_sum(const float *x, int n) {
    float s = 0.0f;
    #pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++) s += x[i];
    return s;
}

// out[j] = a . b_j for j < m, with b_j = b + j * stride: up to 8 dot products that share a,
// summed across lanes together at the end (one horizontal reduction for all 8 instead of 8)
static inline void vec_dot_many(float *out, const float *a, const float *b, size_t stride, int m, int n) {
#if defined(__AVX2__) && defined(__FMA__)
    if (m == 8 && n % 8 == 0) {
        __m256 acc[8];
        for (int j = 0; j < 8; j++) acc[j] = _mm256_setzero_ps();
        for (int i = 0; i < n; i += 8) {
            __m256 va = _mm256_loadu_ps(a + i);
            for (int j = 0; j < 8; j++) acc[j] = _mm256_fmadd_ps(va, _mm256_loadu_ps(b + j * stride + i), acc[j]);
        }
        __m256 t0 = _mm256_hadd_ps(acc[0], acc[1]), t1 = _mm256_hadd_ps(acc[2], acc[3]);
        __m256 t2 = _mm256_hadd_ps(acc[4], acc[5]), t3 = _mm256_hadd_ps(acc[6], acc[7]);
        t0 = _mm256_hadd_ps(t0, t1);
        t2 = _mm256_hadd_ps(t2, t3);
        _mm256_storeu_ps(out, _mm256_add_ps(_mm256_permute2f128_ps(t0, t2, 0x20),
                                            _mm256_permute2f128_ps(t0, t2, 0x31)));
        return;
    }
#endif
    for (int j = 0; j < m; j++) out[j] = vec_dot(a, b + j * stride, n);
}

#if defined(__AVX2__) && defined(__FMA__)
// exp(x) = 2^k exp(r), k = round(x / ln 2), |r| <= ln2 / 2, exp(r) by a degree-6 polynomial
// (Taylor coefficients refined for fp32; max error about 2 ulp). Inputs are clamped to the
// finite range with x as the second operand so that a NaN passes through.
static inline __m256 vec_exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_set1_ps(88.3762626647949f), x);
    x = _mm256_max_ps(_mm256_set1_ps(-87.3365478515625f), x);
    __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}
#endif

// out[i] = exp(a * x[i] + b) (out may alias x)
static inline void vec_exp(float *out, const float *x, float a, float b, int n) {
    int i = 0;
#if defined(__AVX2__) && defined(__FMA__)
    __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, vec_exp8(_mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), vb)));
#endif
    for (; i < n; i++) out[i] = expf(a * x[i] + b);
}

// out[i] = 1 / (1 + exp(-x[i])) (out may alias x)
static inline void vec_sigmoid(float *out, const float *x, int n) {
    vec_exp(out, x, -1.0f, 0.0f, n);
    for (int i = 0; i < n; i++) out[i] = 1.0f / (1.0f + out[i]);
}

// sum_i exp(a * x[i] + b), through a small stack buffer
#define VEC_CHUNK 256
static inline float vec_sum_exp(const float *x, float a, float b, int n) {
    float buf[VEC_CHUNK], s = 0.0f;
    for (int i = 0; i < n; i += VEC_CHUNK) {
        int m = n - i < VEC_CHUNK ? n - i : VEC_CHUNK;
        vec_exp(buf, x + i, a, b, m);
        s += vec_sum(buf, m);
    }
    return s;
}

#endif
