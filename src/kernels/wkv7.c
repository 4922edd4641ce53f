// RWKV-7 WKV scan: forward (with optional state checkpoints) and backward (chunked recomputation).
// Each head's N x N state stays in L1 for the whole sequence, so (sequence, head) pairs are the
// unit of threading and tokens are walked in order inside one thread. The innermost loops run
// over the key channel j (contiguous within a state row) with 8-wide AVX2 / 16-wide AVX-512 FMA
// and a scalar tail.
#include "kernels/kernels.h"
#include "core/pool.h"
#include "kernels/parallel.h"

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
static inline void vf_sum4(float *out, vf a, vf b, vf c, vf d) {
    out[0] = vf_sum(a), out[1] = vf_sum(b), out[2] = vf_sum(c), out[3] = vf_sum(d);
}
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
// out[0..3] = sums of a, b, c, d: three horizontal adds serve four rows
static inline void vf_sum4(float *out, vf a, vf b, vf c, vf d) {
    __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1)));
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
static inline void vf_sum4(float *out, vf a, vf b, vf c, vf d) {
    out[0] = a, out[1] = b, out[2] = c, out[3] = d;
}
#endif

#define ALWAYS_INLINE inline __attribute__((always_inline))

// Rows are handled in blocks of RB: independent reduction chains hide FMA latency and the
// per-token vectors are loaded once per block instead of once per row.
#define RB 4

// one token's vectors for one head, each N floats
typedef struct {
    const float *r, *wd, *k, *v, *alpha, *beta;
} wkv7_tok;

static wkv7_tok tok_at(const float *r, const float *wd, const float *k, const float *v,
                       const float *alpha, const float *beta, size_t o) {
    return (wkv7_tok){ r + o, wd + o, k + o, v + o, alpha + o, beta + o };
}

// sum of a[j] b[j]; plain C would be a serial chain, as fp addition may not be reordered
static ALWAYS_INLINE float dot(const float *a, const float *b, int n) {
    const int nv = n / VW * VW;
    vf acc = vf_zero();
    for (int j = 0; j < nv; j += VW) acc = vf_fma(vf_load(a + j), vf_load(b + j), acc);
    float t = vf_sum(acc);
    for (int j = nv; j < n; j++) t += a[j] * b[j];
    return t;
}

// y[b] = sum of acc[b] for b < nr (nr a constant after inlining)
static ALWAYS_INLINE void sums(float *y, const vf *acc, int nr) {
    if (nr == 4) vf_sum4(y, acc[0], acc[1], acc[2], acc[3]);
    else
        for (int b = 0; b < nr; b++) y[b] = vf_sum(acc[b]);
}

// y[b] = M_{i+b} . x and, if z, z[b] = M_{i+b} . u for the rows [i, i + nr) of M (N x N);
// nr <= RB and z == NULL are constants after inlining
static ALWAYS_INLINE void rows_dot(float *y, float *z, const float *M, const float *x, const float *u,
                                   int i, int nr, int N) {
    const int nv = N / VW * VW;
    vf a[RB], c[RB];
    for (int b = 0; b < nr; b++) a[b] = c[b] = vf_zero();
    for (int j = 0; j < nv; j += VW) {
        vf xj = vf_load(x + j), uj = z ? vf_load(u + j) : vf_zero();
        for (int b = 0; b < nr; b++) {
            vf m = vf_load(M + (size_t)(i + b) * N + j);
            a[b] = vf_fma(m, xj, a[b]);
            if (z) c[b] = vf_fma(m, uj, c[b]);
        }
    }
    sums(y, a, nr);
    if (z) sums(z, c, nr);
    for (int b = 0; b < nr; b++) {
        const float *m = M + (size_t)(i + b) * N;
        for (int j = nv; j < N; j++) {
            y[b] += m[j] * x[j];
            if (z) z[b] += m[j] * u[j];
        }
    }
}

// Rows [i, i + nr) of one head for one token (nr <= RB, a constant after inlining):
//   sa = src alpha ; dst = src diag(wd) + sa beta^T + v k^T ; o = dst r   (if want_o)
// sa_out (if not NULL) keeps sa for the backward pass. src may equal dst.
static ALWAYS_INLINE void step_rows(float *dst, const float *src, wkv7_tok x, int want_o, float *o,
                                    float *sa_out, int i, int nr, int N) {
    const int nv = N / VW * VW;
    vf a[RB];
    float sa[RB], so[RB];
    rows_dot(sa, NULL, src, x.alpha, NULL, i, nr, N);
    if (sa_out)
        for (int b = 0; b < nr; b++) sa_out[i + b] = sa[b];
    vf vs[RB], vv[RB];
    for (int b = 0; b < nr; b++) vs[b] = vf_set1(sa[b]), vv[b] = vf_set1(x.v[i + b]), a[b] = vf_zero();
    for (int j = 0; j < nv; j += VW) {
        vf w = vf_load(x.wd + j), be = vf_load(x.beta + j), kj = vf_load(x.k + j);
        vf rj = want_o ? vf_load(x.r + j) : vf_zero();
        for (int b = 0; b < nr; b++) {
            size_t off = (size_t)(i + b) * N + j;
            vf y = vf_fma(vv[b], kj, vf_fma(vs[b], be, vf_mul(vf_load(src + off), w)));
            vf_store(dst + off, y);
            if (want_o) a[b] = vf_fma(y, rj, a[b]);
        }
    }
    if (want_o) sums(so, a, nr);
    for (int b = 0; b < nr; b++) {
        for (int j = nv; j < N; j++) {
            size_t off = (size_t)(i + b) * N + j;
            dst[off] = src[off] * x.wd[j] + sa[b] * x.beta[j] + x.v[i + b] * x.k[j];
            if (want_o) so[b] += dst[off] * x.r[j];
        }
        if (want_o) o[i + b] = so[b];
    }
}

static ALWAYS_INLINE void step_head_n(float *dst, const float *src, wkv7_tok x, int want_o, float *o,
                                      float *sa_out, int N) {
    int i = 0;
    for (; i + RB <= N; i += RB) step_rows(dst, src, x, want_o, o, sa_out, i, RB, N);
    for (; i < N; i++) step_rows(dst, src, x, want_o, o, sa_out, i, 1, N);
}

// N == 64 (every model) gets its own copy with the loop bounds known at compile time
static ALWAYS_INLINE void step_head(float *dst, const float *src, wkv7_tok x, int want_o, float *o,
                                    float *sa_out, int N) {
    if (N == 64) step_head_n(dst, src, x, want_o, o, sa_out, 64);
    else step_head_n(dst, src, x, want_o, o, sa_out, N);
}

// (sequence, head) pairs [lo, hi) of wkv7_forward_batch
static void forward_pairs(float *out, float *state, float *ckpt, int K, const float *r, const float *wd,
                          const float *k, const float *v, const float *alpha, const float *beta, int T, int H,
                          int N, int64_t lo, int64_t hi) {
    const size_t HN = (size_t)H * N, NN = (size_t)N * N;
    const int nck = ckpt ? (T + K - 1) / K : 0;
    for (int64_t bh = lo; bh < hi; bh++) {
        const int64_t b = bh / H, h = bh % H;
        float *S = state + bh * NN;
        const size_t seq = b * T * HN;
        for (int t = 0; t < T; t++) {
            if (ckpt && t % K == 0) memcpy(ckpt + ((b * nck + t / K) * H + h) * NN, S, NN * sizeof(float));
            size_t o = seq + t * HN + h * N;
            step_head(S, S, tok_at(r, wd, k, v, alpha, beta, o), 1, out + o, NULL, N);
        }
    }
}

typedef struct {
    float *out, *state, *ckpt;
    int K;
    const float *r, *wd, *k, *v, *alpha, *beta;
    int T, H, N;
} fwd_args;

static void forward_task(void *p, int64_t lo, int64_t hi, int ith) {
    const fwd_args *a = p;
    forward_pairs(a->out, a->state, a->ckpt, a->K, a->r, a->wd, a->k, a->v, a->alpha, a->beta, a->T, a->H, a->N, lo, hi);
}

void wkv7_forward_batch(float *out, float *state, float *ckpt, int K, const float *r, const float *wd,
                        const float *k, const float *v, const float *alpha, const float *beta,
                        int B, int T, int H, int N) {
    // below ~one head-token of work per thread the fork costs more than it saves
    int64_t n = (int64_t)B * H;
    pool_for(n, (size_t)B * T * H * N * N >= 8192 ? 1 : n, forward_task,
             &(fwd_args){out, state, ckpt, K, r, wd, k, v, alpha, beta, T, H, N});
}

void wkv7_forward(float *out, float *state, float *ckpt, int K, const float *r, const float *wd,
                  const float *k, const float *v, const float *alpha, const float *beta,
                  int T, int H, int N) {
    wkv7_forward_batch(out, state, ckpt, K, r, wd, k, v, alpha, beta, 1, T, H, N);
}

// ---- backward -------------------------------------------------------------------------------
// Per token t, with G = dL/dS_t (already holding dy_t r_t^T) and S = S_{t-1}, sa = S alpha
// (kept from the recomputation), in two passes over the state:
//  rows:    dsa = G beta ; dv += G k
//  columns: dwd += colsum(G o S) ; dk += G^T v ; dbeta += G^T sa ; dalpha += S^T dsa ;
//           dr += wd o (S^T dy) + beta (sa.dy) + k (v.dy)   (= S_t^T dy without storing S_t)
//           G = G diag(wd) + dsa alpha^T + dy_{t-1} r_{t-1}^T
// The column pass walks strips of columns down all rows so that its five sums stay in registers.

typedef struct {
    float *dr, *dwd, *dk, *dv, *dalpha, *dbeta;
} wkv7_grads;

// rows [i, i + nr): dsa = G beta ; dv += G k
static ALWAYS_INLINE void back_rows(float *dsa, float *dv, const float *G, wkv7_tok x, int i, int nr, int N) {
    float dvb[RB];
    rows_dot(dsa + i, dvb, G, x.beta, x.k, i, nr, N);
    for (int b = 0; b < nr; b++) dv[i + b] += dvb[b];
}

// columns [j, j + ns VW) of the column pass (ns <= 2, a constant after inlining); two strips
// per sweep share the row broadcasts
static ALWAYS_INLINE void back_strip(float *G, wkv7_grads g, const float *S, const float *sa,
                                     const float *dsa, const float *dy, wkv7_tok x, const float *dyn,
                                     const float *rn, float sady, float vdy, int j, int ns, int N) {
    vf a_wd[2], a_k[2], a_be[2], a_sdy[2], a_al[2];
    for (int q = 0; q < ns; q++) a_wd[q] = a_k[q] = a_be[q] = a_sdy[q] = a_al[q] = vf_zero();
    for (int i = 0; i < N; i++) {
        vf ds = vf_set1(dsa[i]), vi = vf_set1(x.v[i]), si = vf_set1(sa[i]), dyi = vf_set1(dy[i]);
        vf dni = vf_set1(dyn[i]);
        for (int q = 0; q < ns; q++) {
            size_t off = (size_t)i * N + j + q * VW;
            vf gi = vf_load(G + off), s = vf_load(S + off);
            a_wd[q] = vf_fma(gi, s, a_wd[q]);
            a_k[q] = vf_fma(gi, vi, a_k[q]);
            a_be[q] = vf_fma(gi, si, a_be[q]);
            a_sdy[q] = vf_fma(s, dyi, a_sdy[q]);
            a_al[q] = vf_fma(s, ds, a_al[q]);
            vf upd = vf_fma(ds, vf_load(x.alpha + j + q * VW), vf_mul(gi, vf_load(x.wd + j + q * VW)));
            vf_store(G + off, vf_fma(dni, vf_load(rn + j + q * VW), upd));
        }
    }
    for (int q = 0; q < ns; q++) {
        int c = j + q * VW;
        vf dr = vf_fma(vf_load(x.beta + c), vf_set1(sady), vf_mul(vf_load(x.k + c), vf_set1(vdy)));
        vf_store(g.dr + c, vf_add(vf_load(g.dr + c), vf_fma(vf_load(x.wd + c), a_sdy[q], dr)));
        vf_store(g.dwd + c, vf_add(vf_load(g.dwd + c), a_wd[q]));
        vf_store(g.dk + c, vf_add(vf_load(g.dk + c), a_k[q]));
        vf_store(g.dbeta + c, vf_add(vf_load(g.dbeta + c), a_be[q]));
        vf_store(g.dalpha + c, vf_add(vf_load(g.dalpha + c), a_al[q]));
    }
}

// the column pass for one token; dyn, rn: dout and r of the token before (zeros for t == 0)
static ALWAYS_INLINE void back_cols(float *G, wkv7_grads g, const float *S, const float *sa,
                                    const float *dsa, const float *dy, wkv7_tok x, const float *dyn,
                                    const float *rn, int N) {
    const int nv = N / VW * VW;
    const float sady = dot(sa, dy, N), vdy = dot(x.v, dy, N);
    int j = 0;
    for (; j + 2 * VW <= nv; j += 2 * VW) back_strip(G, g, S, sa, dsa, dy, x, dyn, rn, sady, vdy, j, 2, N);
    if (j < nv) back_strip(G, g, S, sa, dsa, dy, x, dyn, rn, sady, vdy, j, 1, N);
    for (int j = nv; j < N; j++) {
        float a_wd = 0, a_k = 0, a_be = 0, a_sdy = 0, a_al = 0;
        for (int i = 0; i < N; i++) {
            size_t off = (size_t)i * N + j;
            float gi = G[off], s = S[off];
            a_wd += gi * s;
            a_k += gi * x.v[i];
            a_be += gi * sa[i];
            a_sdy += s * dy[i];
            a_al += s * dsa[i];
            G[off] = gi * x.wd[j] + dsa[i] * x.alpha[j] + dyn[i] * rn[j];
        }
        g.dr[j] += x.wd[j] * a_sdy + x.beta[j] * sady + x.k[j] * vdy;
        g.dwd[j] += a_wd;
        g.dk[j] += a_k;
        g.dbeta[j] += a_be;
        g.dalpha[j] += a_al;
    }
}

static ALWAYS_INLINE void back_token_n(float *G, wkv7_grads g, float *dsa, const float *S,
                                       const float *sa, const float *dy, wkv7_tok x, const float *dyn,
                                       const float *rn, int N) {
    int i = 0;
    for (; i + RB <= N; i += RB) back_rows(dsa, g.dv, G, x, i, RB, N);
    for (; i < N; i++) back_rows(dsa, g.dv, G, x, i, 1, N);
    back_cols(G, g, S, sa, dsa, dy, x, dyn, rn, N);
}

static void back_token(float *G, wkv7_grads g, float *dsa, const float *S, const float *sa,
                       const float *dy, wkv7_tok x, const float *dyn, const float *rn, int N) {
    if (N == 64) back_token_n(G, g, dsa, S, sa, dy, x, dyn, rn, 64);
    else back_token_n(G, g, dsa, S, sa, dy, x, dyn, rn, N);
}

// S_{t-1} of every token in the chunk [t0, t0 + len) of head h of the sequence starting at
// offset seq, and sa = S_{t-1} alpha_t
static void recompute_chunk(float *ws, float *sab, const float *S0, const float *r, const float *wd,
                            const float *k, const float *v, const float *alpha, const float *beta,
                            size_t seq, int t0, int len, int h, int H, int N) {
    const size_t HN = (size_t)H * N, NN = (size_t)N * N;
    memcpy(ws, S0, NN * sizeof(float));
    for (int m = 0; m + 1 < len; m++) {
        wkv7_tok x = tok_at(r, wd, k, v, alpha, beta, seq + (size_t)(t0 + m) * HN + (size_t)h * N);
        step_head(ws + (m + 1) * NN, ws + m * NN, x, 0, NULL, sab + (size_t)m * N, N);
    }
    // the last token's sa without updating the state
    const float *S = ws + (len - 1) * NN, *al = alpha + seq + (size_t)(t0 + len - 1) * HN + (size_t)h * N;
    float *sa = sab + (size_t)(len - 1) * N;
    int i = 0;
    for (; i + RB <= N; i += RB) rows_dot(sa + i, NULL, S, al, NULL, i, RB, N);
    for (; i < N; i++) rows_dot(sa + i, NULL, S, al, NULL, i, 1, N);
}

// one thread's workspace: the states before each token of a chunk and their sa, G = dL/dS, and
// rows dsa and zeros
static size_t scratch_per_thread(int K, int N) {
    return ((size_t)K + 1) * N * N + ((size_t)K + 2) * N;
}

// threads of the backward: no more than there are (sequence, head) pairs
static int backward_threads(int B, int H) {
    int nt = omp_get_max_threads();
    return (int64_t)B * H < nt ? B * H : nt;
}

size_t wkv7_scratch_floats(int K, int B, int H, int N) {
    if (K <= 0 || B <= 0 || H <= 0 || N <= 0) return 0;
    return (size_t)backward_threads(B, H) * scratch_per_thread(K, N);
}

// (sequence, head) pairs [lo, hi) of wkv7_backward_batch on one thread, with its workspace ws
static void backward_pairs(float *dr, float *dwd, float *dk, float *dv, float *dalpha, float *dbeta, float *dstate,
                           float *ws, const float *dout, const float *ckpt, int K, const float *r, const float *wd,
                           const float *k, const float *v, const float *alpha, const float *beta, int T, int H,
                           int N, int64_t lo, int64_t hi) {
    const int nchunks = (T + K - 1) / K;
    const int Kc = K < T ? K : T;   // no chunk holds more than T tokens
    const size_t HN = (size_t)H * N, NN = (size_t)N * N;
    float *G = ws + (size_t)Kc * NN, *sab = G + NN, *dsa = sab + (size_t)Kc * N, *zero = dsa + N;
    memset(zero, 0, N * sizeof(float));
    for (int64_t bh = lo; bh < hi; bh++) {
        const int64_t b = bh / H, h = bh % H;
        const size_t seq = b * T * HN;
        // G starts as dL/dS_T + dy_{T-1} r_{T-1}^T; each token adds the next one's term
        const float *dyl = dout + seq + (size_t)(T - 1) * HN + h * N, *rl = r + (dyl - dout);
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) {
                size_t ij = (size_t)i * N + j;
                G[ij] = (dstate ? dstate[bh * NN + ij] : 0.0f) + dyl[i] * rl[j];
            }
        for (int c = nchunks - 1; c >= 0; c--) {
            const int t0 = c * K, len = T - t0 < K ? T - t0 : K;
            recompute_chunk(ws, sab, ckpt + ((b * nchunks + c) * H + h) * NN, r, wd, k, v, alpha, beta, seq, t0,
                            len, h, H, N);
            for (int m = len - 1; m >= 0; m--) {
                size_t o = seq + (size_t)(t0 + m) * HN + h * N;
                wkv7_grads gr = { dr + o, dwd + o, dk + o, dv + o, dalpha + o, dbeta + o };
                int first = t0 + m == 0;
                back_token(G, gr, dsa, ws + m * NN, sab + (size_t)m * N, dout + o,
                           tok_at(r, wd, k, v, alpha, beta, o), first ? zero : dout + o - HN,
                           first ? zero : r + o - HN, N);
            }
        }
        if (dstate) memcpy(dstate + bh * NN, G, NN * sizeof(float));
    }
}

void wkv7_backward_batch(float *dr, float *dwd, float *dk, float *dv, float *dalpha, float *dbeta,
                         float *dstate, float *scratch, const float *dout, const float *ckpt, int K,
                         const float *r, const float *wd, const float *k, const float *v,
                         const float *alpha, const float *beta, int B, int T, int H, int N) {
    if (B <= 0 || T <= 0 || H <= 0) return;
    const int64_t pairs = (int64_t)B * H;
    const size_t per = scratch_per_thread(K < T ? K : T, N);
    if (!kernels_fork(pairs > 1)) {
        backward_pairs(dr, dwd, dk, dv, dalpha, dbeta, dstate, scratch, dout, ckpt, K, r, wd, k, v, alpha, beta, T,
                       H, N, 0, pairs);
        return;
    }
#pragma omp parallel num_threads(backward_threads(B, H))
    {
        // static blocks of pairs, as schedule(static) would give
        const int64_t nt = omp_get_num_threads(), id = omp_get_thread_num();
        backward_pairs(dr, dwd, dk, dv, dalpha, dbeta, dstate, scratch + id * per, dout, ckpt, K, r, wd, k, v, alpha,
                       beta, T, H, N, pairs * id / nt, pairs * (id + 1) / nt);
    }
}

void wkv7_backward(float *dr, float *dwd, float *dk, float *dv, float *dalpha, float *dbeta,
                   float *dstate, const float *dout, const float *ckpt, int K, const float *r,
                   const float *wd, const float *k, const float *v, const float *alpha,
                   const float *beta, int T, int H, int N) {
    if (T <= 0) return;
    const int Kc = K < T ? K : T;   // no chunk holds more than T tokens
    size_t n = wkv7_scratch_floats(Kc, 1, H, N);
    float *scratch = malloc(n * sizeof(float));
    if (!scratch) {
        arwkv_set_error("wkv7_backward: cannot allocate a %zu-float workspace", n);
        return;
    }
    wkv7_backward_batch(dr, dwd, dk, dv, dalpha, dbeta, dstate, scratch, dout, ckpt, K, r, wd, k, v, alpha, beta,
                        1, T, H, N);
    free(scratch);
}
