// RWKV-7 WKV scan: forward (with optional state checkpoints) and backward (chunked recomputation).
// Each head's N x N state stays in L1 for the whole sequence, so heads are the unit of threading
// and tokens are walked in order inside one thread. The innermost loops run over the key channel
// j (contiguous within a state row) with 8-wide AVX2 / 16-wide AVX-512 FMA and a scalar tail.
#include "kernels/kernels.h"

#include <stdlib.h>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

// ---- a minimal vector layer: one code path, three widths ------------------------------------
#if defined(__AVX512F__)
#define VW 16
typedef __m512 vf;
static inline vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void vf_store(float *p, vf x) { _mm512_storeu_ps(p, x); }
static inline vf vf_set1(float x) { return _mm512_set1_ps(x); }
static inline vf vf_zero(void) { return _mm512_setzero_ps(); }
static inline vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }   // a*b + c
static inline float vf_sum(vf x) { return _mm512_reduce_add_ps(x); }
#elif defined(__AVX2__) && defined(__FMA__)
#define VW 8
typedef __m256 vf;
static inline vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void vf_store(float *p, vf x) { _mm256_storeu_ps(p, x); }
static inline vf vf_set1(float x) { return _mm256_set1_ps(x); }
static inline vf vf_zero(void) { return _mm256_setzero_ps(); }
static inline vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline float vf_sum(vf x) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#else
#define VW 1
typedef float vf;
static inline vf vf_load(const float *p) { return *p; }
static inline void vf_store(float *p, vf x) { *p = x; }
static inline vf vf_set1(float x) { return x; }
static inline vf vf_zero(void) { return 0.0f; }
static inline vf vf_add(vf a, vf b) { return a + b; }
static inline vf vf_mul(vf a, vf b) { return a * b; }
static inline vf vf_fma(vf a, vf b, vf c) { return a * b + c; }
static inline float vf_sum(vf x) { return x; }
#endif

// Rows are handled in blocks of RB: independent reduction chains hide FMA latency and the
// per-token vectors are loaded once per block instead of once per row.
#define RB 4

// One token on one head: dst = src diag(wd) + (src alpha) beta^T + v k^T, with the rows of
// [i0, i0 + nr) only (nr <= RB). o (if not NULL) receives dst r. src may equal dst.
static inline void step_rows(float *dst, const float *src, float *o, const float *r,
                             const float *wd, const float *k, const float *v,
                             const float *alpha, const float *beta, int i0, int nr, int N) {
    const int nv = N / VW * VW;
    float sa[RB], ot[RB];
    vf acc[RB];
    for (int b = 0; b < nr; b++) acc[b] = vf_zero();
    for (int j = 0; j < nv; j += VW) {
        vf al = vf_load(alpha + j);
        for (int b = 0; b < nr; b++) acc[b] = vf_fma(vf_load(src + (size_t)(i0 + b) * N + j), al, acc[b]);
    }
    for (int b = 0; b < nr; b++) {
        const float *s = src + (size_t)(i0 + b) * N;
        float t = vf_sum(acc[b]);
        for (int j = nv; j < N; j++) t += s[j] * alpha[j];
        sa[b] = t;
        acc[b] = vf_zero();
    }
    for (int j = 0; j < nv; j += VW) {
        vf w = vf_load(wd + j), be = vf_load(beta + j), kj = vf_load(k + j), rj = vf_load(r + j);
        for (int b = 0; b < nr; b++) {
            size_t off = (size_t)(i0 + b) * N + j;
            vf x = vf_mul(vf_load(src + off), w);
            x = vf_fma(vf_set1(sa[b]), be, x);
            x = vf_fma(vf_set1(v[i0 + b]), kj, x);
            vf_store(dst + off, x);
            acc[b] = vf_fma(x, rj, acc[b]);
        }
    }
    for (int b = 0; b < nr; b++) {
        const float *s = src + (size_t)(i0 + b) * N;
        float *d = dst + (size_t)(i0 + b) * N;
        float t = vf_sum(acc[b]);
        for (int j = nv; j < N; j++) {
            float x = s[j] * wd[j] + sa[b] * beta[j] + v[i0 + b] * k[j];
            d[j] = x;
            t += x * r[j];
        }
        ot[b] = t;
    }
    if (o)
        for (int b = 0; b < nr; b++) o[i0 + b] = ot[b];
}

static void step_head(float *dst, const float *src, float *o, const float *r, const float *wd,
                      const float *k, const float *v, const float *alpha, const float *beta, int N) {
    int i = 0;
    for (; i + RB <= N; i += RB) step_rows(dst, src, o, r, wd, k, v, alpha, beta, i, RB, N);
    if (i < N) step_rows(dst, src, o, r, wd, k, v, alpha, beta, i, N - i, N);
}

void wkv7_forward(float *out, float *state, float *ckpt, int K, const float *r, const float *wd,
                  const float *k, const float *v, const float *alpha, const float *beta,
                  int T, int H, int N) {
    const size_t HN = (size_t)H * N, NN = (size_t)N * N;
    // below ~one head-token of work per thread the fork costs more than it saves
#pragma omp parallel for schedule(static) if ((size_t)T * H * NN >= 8192)
    for (int h = 0; h < H; h++) {
        float *S = state + h * NN;
        for (int t = 0; t < T; t++) {
            if (ckpt && t % K == 0) memcpy(ckpt + ((size_t)(t / K) * H + h) * NN, S, NN * sizeof(float));
            size_t o = t * HN + (size_t)h * N;
            step_head(S, S, out + o, r + o, wd + o, k + o, v + o, alpha + o, beta + o, N);
        }
    }
}

// ---- backward -------------------------------------------------------------------------------
// Per token t (G = dL/dS_t on entry, rows of S = S_{t-1}), in two passes over the state:
//  rows:    G += dy r^T ; dsa = G beta ; dv += G k ; sa = S alpha
//  columns: dwd += colsum(G o S) ; dk += G^T v ; dbeta += G^T sa ; dalpha += S^T dsa ;
//           dr += wd o (S^T dy) + beta (sa.dy) + k (v.dy)   (= S_t^T dy without storing S_t)
//           G = G diag(wd) + dsa alpha^T
// The column pass walks a strip of VW columns down all rows so its five sums stay in registers.

typedef struct {
    float *dr, *dwd, *dk, *dv, *dalpha, *dbeta;
} wkv7_grads;

static void back_rows(float *G, float *sa, float *dsa, float *dv, const float *S, const float *dy,
                      const float *r, const float *k, const float *alpha, const float *beta, int N) {
    const int nv = N / VW * VW;
    for (int i = 0; i < N; i++) {
        float *g = G + (size_t)i * N;
        const float *s = S + (size_t)i * N;
        vf dyi = vf_set1(dy[i]), a_sa = vf_zero(), a_dsa = vf_zero(), a_dv = vf_zero();
        for (int j = 0; j < nv; j += VW) {
            vf x = vf_fma(dyi, vf_load(r + j), vf_load(g + j));
            vf_store(g + j, x);
            a_dsa = vf_fma(x, vf_load(beta + j), a_dsa);
            a_dv = vf_fma(x, vf_load(k + j), a_dv);
            a_sa = vf_fma(vf_load(s + j), vf_load(alpha + j), a_sa);
        }
        float t_sa = vf_sum(a_sa), t_dsa = vf_sum(a_dsa), t_dv = vf_sum(a_dv);
        for (int j = nv; j < N; j++) {
            float x = g[j] + dy[i] * r[j];
            g[j] = x;
            t_dsa += x * beta[j];
            t_dv += x * k[j];
            t_sa += s[j] * alpha[j];
        }
        sa[i] = t_sa;
        dsa[i] = t_dsa;
        dv[i] += t_dv;
    }
}

static void back_cols(float *G, wkv7_grads g, const float *S, const float *sa, const float *dsa,
                      const float *dy, const float *wd, const float *k, const float *v,
                      const float *alpha, const float *beta, int N) {
    const int nv = N / VW * VW;
    float sady = 0, vdy = 0;
    for (int i = 0; i < N; i++) {
        sady += sa[i] * dy[i];
        vdy += v[i] * dy[i];
    }
    for (int j = 0; j < nv; j += VW) {
        vf w = vf_load(wd + j), al = vf_load(alpha + j);
        vf a_wd = vf_zero(), a_k = vf_zero(), a_be = vf_zero(), a_sdy = vf_zero(), a_al = vf_zero();
        for (int i = 0; i < N; i++) {
            size_t off = (size_t)i * N + j;
            vf x = vf_load(G + off), s = vf_load(S + off), ds = vf_set1(dsa[i]);
            a_wd = vf_fma(x, s, a_wd);
            a_k = vf_fma(x, vf_set1(v[i]), a_k);
            a_be = vf_fma(x, vf_set1(sa[i]), a_be);
            a_sdy = vf_fma(s, vf_set1(dy[i]), a_sdy);
            a_al = vf_fma(s, ds, a_al);
            vf_store(G + off, vf_fma(ds, al, vf_mul(x, w)));
        }
        vf dr = vf_fma(w, a_sdy, vf_fma(vf_load(beta + j), vf_set1(sady), vf_mul(vf_load(k + j), vf_set1(vdy))));
        vf_store(g.dr + j, vf_add(vf_load(g.dr + j), dr));
        vf_store(g.dwd + j, vf_add(vf_load(g.dwd + j), a_wd));
        vf_store(g.dk + j, vf_add(vf_load(g.dk + j), a_k));
        vf_store(g.dbeta + j, vf_add(vf_load(g.dbeta + j), a_be));
        vf_store(g.dalpha + j, vf_add(vf_load(g.dalpha + j), a_al));
    }
    for (int j = nv; j < N; j++) {
        float a_wd = 0, a_k = 0, a_be = 0, a_sdy = 0, a_al = 0;
        for (int i = 0; i < N; i++) {
            size_t off = (size_t)i * N + j;
            float x = G[off], s = S[off];
            a_wd += x * s;
            a_k += x * v[i];
            a_be += x * sa[i];
            a_sdy += s * dy[i];
            a_al += s * dsa[i];
            G[off] = x * wd[j] + dsa[i] * alpha[j];
        }
        g.dr[j] += wd[j] * a_sdy + beta[j] * sady + k[j] * vdy;
        g.dwd[j] += a_wd;
        g.dk[j] += a_k;
        g.dbeta[j] += a_be;
        g.dalpha[j] += a_al;
    }
}

void wkv7_backward(float *dr, float *dwd, float *dk, float *dv, float *dalpha, float *dbeta,
                   float *dstate, const float *dout, const float *ckpt, int K, const float *r,
                   const float *wd, const float *k, const float *v, const float *alpha,
                   const float *beta, int T, int H, int N) {
    const size_t HN = (size_t)H * N, NN = (size_t)N * N;
    const int nchunks = (T + K - 1) / K;
    const int Kc = K < T ? K : T;   // no chunk holds more than T tokens
#pragma omp parallel
    {
        // per thread, once per call: the states before each token of a chunk, G, and row scratch
        float *ws = malloc(((size_t)Kc + 1) * NN * sizeof(float) + 2 * (size_t)N * sizeof(float));
        if (!ws) {
            fprintf(stderr, "arwkv: wkv7_backward: out of memory for %d x %d x %d workspace\n", Kc, N, N);
            abort();
        }
        float *G = ws + (size_t)Kc * NN, *sa = G + NN, *dsa = sa + N;
#pragma omp for schedule(static)
        for (int h = 0; h < H; h++) {
            if (dstate) memcpy(G, dstate + h * NN, NN * sizeof(float));
            else memset(G, 0, NN * sizeof(float));
            for (int c = nchunks - 1; c >= 0; c--) {
                const int t0 = c * K, len = T - t0 < K ? T - t0 : K;
                memcpy(ws, ckpt + ((size_t)c * H + h) * NN, NN * sizeof(float));
                for (int m = 1; m < len; m++) {
                    size_t o = (size_t)(t0 + m - 1) * HN + (size_t)h * N;
                    step_head(ws + m * NN, ws + (m - 1) * NN, NULL, r + o, wd + o, k + o, v + o,
                              alpha + o, beta + o, N);
                }
                for (int m = len - 1; m >= 0; m--) {
                    size_t o = (size_t)(t0 + m) * HN + (size_t)h * N;
                    const float *S = ws + m * NN;
                    wkv7_grads gr = { dr + o, dwd + o, dk + o, dv + o, dalpha + o, dbeta + o };
                    back_rows(G, sa, dsa, dv + o, S, dout + o, r + o, k + o, alpha + o, beta + o, N);
                    back_cols(G, gr, S, sa, dsa, dout + o, wd + o, k + o, v + o, alpha + o, beta + o, N);
                }
            }
            if (dstate) memcpy(dstate + h * NN, G, NN * sizeof(float));
        }
        free(ws);
    }
}
