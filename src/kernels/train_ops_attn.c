// Full-sequence causal GQA attention for training, with the probabilities kept for the backward.
#include "kernels/parallel.h"
#include "kernels/train_ops.h"
#include "kernels/train_ops_vec.h"

#include <math.h>
#include <stddef.h>

// Blocking for cache reuse: a tile of KEY_TILE keys (or values) stays in L1 while a block of
// QUERY_BLOCK query rows uses it; the dk/dv pass keeps a tile's gradient rows in L1 while t runs.
#define KEY_TILE 16
#define QUERY_BLOCK 16

static inline int min_int(int a, int b) { return a < b ? a : b; }

// d[j] = a . x_{s0+j} for s0 <= s0+j < s1, x_s = x0 + s * stride (s1 - s0 <= KEY_TILE)
static void dots_range(float *d, const float *a, const float *x0, size_t stride, int s0, int s1, int n) {
    for (int s = s0; s < s1; s += 8)
        vec_dot_many(d + (s - s0), a, x0 + (size_t)s * stride, stride, min_int(8, s1 - s), n);
}

// Work items: (sequence, head, block of query rows) for the forward and the first backward pass,
// (sequence, kv head, tile of keys) for the second; causal blocks differ in length, so they are
// taken dynamically when the kernel forks.

// forward of item i = (b, h, qb)
static void forward_block(float *out, float *att, const float *q, const float *k, const float *v, int T, int Hq,
                          int Hkv, int hd, int64_t i) {
    int group = Hq / Hkv, nqb = (T + QUERY_BLOCK - 1) / QUERY_BLOCK;
    int b = (int)(i / ((int64_t)Hq * nqb)), h = (int)(i / nqb % Hq), qb = (int)(i % nqb);
    size_t kst = (size_t)Hkv * hd;   // from one position to the next in k and v
    float scale = 1.0f / sqrtf((float)hd);
    int t0 = qb * QUERY_BLOCK, t1 = min_int(t0 + QUERY_BLOCK, T);
    size_t kv0 = ((size_t)b * T * Hkv + h / group) * hd;   // position 0 of this kv head
    const float *q0 = q + (((size_t)b * T) * Hq + h) * hd;
    float *att0 = att + ((size_t)b * Hq + h) * T * T;
    float *out0 = out + (((size_t)b * T) * Hq + h) * hd;
    size_t qst = (size_t)Hq * hd;
    // scores: each tile of keys is read from memory once for the whole block of queries
    for (int s0 = 0; s0 < t1; s0 += KEY_TILE)
        for (int t = s0 > t0 ? s0 : t0; t < t1; t++)
            dots_range(att0 + (size_t)t * T + s0, q0 + t * qst, k + kv0, kst, s0, min_int(s0 + KEY_TILE, t + 1), hd);
    for (int t = t0; t < t1; t++) {
        float *row = att0 + (size_t)t * T;
        for (int s = 0; s <= t; s++) row[s] *= scale;
        vec_exp(row, row, 1.0f, -vec_max(row, t + 1), t + 1);
        float inv = 1.0f / vec_sum(row, t + 1);
        for (int s = 0; s <= t; s++) row[s] *= inv;
        for (int s = t + 1; s < T; s++) row[s] = 0.0f;
        for (int i = 0; i < hd; i++) out0[t * qst + i] = 0.0f;
    }
    for (int s = 0; s < t1; s++) {
        const float *vs = v + kv0 + s * kst;
        for (int t = s > t0 ? s : t0; t < t1; t++) {
            float p = att0[(size_t)t * T + s], *ot = out0 + t * qst;
            for (int i = 0; i < hd; i++) ot[i] += p * vs[i];
        }
    }
}

void attention_train_forward(float *out, float *att, const float *q, const float *k, const float *v,
                             int B, int T, int Hq, int Hkv, int hd) {
    int64_t n = (int64_t)B * Hq * ((T + QUERY_BLOCK - 1) / QUERY_BLOCK);
    if (kernels_fork(n > 1)) {
        #pragma omp parallel for schedule(dynamic, 1)
        for (int64_t i = 0; i < n; i++) forward_block(out, att, q, k, v, T, Hq, Hkv, hd, i);
    } else {
        for (int64_t i = 0; i < n; i++) forward_block(out, att, q, k, v, T, Hq, Hkv, hd, i);
    }
}

// With datt[t,s] = dout_t . v_s and rowdot_t = sum_s att[t,s] datt[t,s], the softmax backward
// gives dscore[t,s] = att[t,s] (datt[t,s] - rowdot_t). Pass 1 (blocks of query rows) stores
// rowdot and forms dq; pass 2 (tiles of keys, per kv head) forms dk and dv, so that every output
// row is written by exactly one thread. datt is recomputed instead of stored: it would need
// another (T, T) per head.

// pass 1 for item i = (b, h, qb)
static void backward_queries(float *dq, float *scratch, const float *dout, const float *k, const float *v,
                             const float *att, int T, int Hq, int Hkv, int hd, int64_t i) {
    int group = Hq / Hkv, nqb = (T + QUERY_BLOCK - 1) / QUERY_BLOCK;
    int b = (int)(i / ((int64_t)Hq * nqb)), h = (int)(i / nqb % Hq), qb = (int)(i % nqb);
    size_t kst = (size_t)Hkv * hd, qst = (size_t)Hq * hd;
    float scale = 1.0f / sqrtf((float)hd);
    int t0 = qb * QUERY_BLOCK, t1 = min_int(t0 + QUERY_BLOCK, T);
    size_t kv0 = ((size_t)b * T * Hkv + h / group) * hd;
    const float *dy0 = dout + (((size_t)b * T) * Hq + h) * hd;
    const float *att0 = att + ((size_t)b * Hq + h) * T * T;
    float *rd = scratch + ((size_t)b * Hq + h) * T, d[KEY_TILE];
    for (int t = t0; t < t1; t++) rd[t] = 0.0f;
    for (int s0 = 0; s0 < t1; s0 += KEY_TILE)
        for (int t = s0 > t0 ? s0 : t0; t < t1; t++) {
            int s1 = min_int(s0 + KEY_TILE, t + 1);
            dots_range(d, dy0 + t * qst, v + kv0, kst, s0, s1, hd);
            const float *row = att0 + (size_t)t * T;
            for (int s = s0; s < s1; s++) rd[t] += row[s] * d[s - s0];
        }
    if (!dq) return;
    float *dq0 = dq + (((size_t)b * T) * Hq + h) * hd;
    for (int s0 = 0; s0 < t1; s0 += KEY_TILE)
        for (int t = s0 > t0 ? s0 : t0; t < t1; t++) {
            int s1 = min_int(s0 + KEY_TILE, t + 1);
            dots_range(d, dy0 + t * qst, v + kv0, kst, s0, s1, hd);
            const float *row = att0 + (size_t)t * T;
            float *dqt = dq0 + t * qst;
            for (int s = s0; s < s1; s++) {
                const float *ks = k + kv0 + s * kst;
                float ds = scale * row[s] * (d[s - s0] - rd[t]);
                for (int i = 0; i < hd; i++) dqt[i] += ds * ks[i];
            }
        }
}

// pass 2 for item i = (b, kh, tile)
static void backward_keys(float *dk, float *dv, const float *scratch, const float *dout, const float *q,
                          const float *v, const float *att, int T, int Hq, int Hkv, int hd, int64_t i) {
    int group = Hq / Hkv, ntiles = (T + KEY_TILE - 1) / KEY_TILE;
    int b = (int)(i / ((int64_t)Hkv * ntiles)), kh = (int)(i / ntiles % Hkv), tile = (int)(i % ntiles);
    size_t kst = (size_t)Hkv * hd;
    float scale = 1.0f / sqrtf((float)hd);
    int s0 = tile * KEY_TILE, s1 = min_int(s0 + KEY_TILE, T);
    size_t kv0 = ((size_t)b * T * Hkv + kh) * hd;
    float d[KEY_TILE];
    for (int h = kh * group; h < (kh + 1) * group; h++)
        for (int t = s0; t < T; t++) {
            const float *dy = dout + (((size_t)b * T + t) * Hq + h) * hd;
            const float *qt = q + (((size_t)b * T + t) * Hq + h) * hd;
            const float *row = att + (((size_t)b * Hq + h) * T + t) * T;
            float rd = scratch[((size_t)b * Hq + h) * T + t];
            int send = min_int(t + 1, s1);
            if (dk) dots_range(d, dy, v + kv0, kst, s0, send, hd);
            for (int s = s0; s < send; s++) {
                float p = row[s];
                if (dv) {
                    float *dvs = dv + kv0 + s * kst;
                    for (int i = 0; i < hd; i++) dvs[i] += p * dy[i];
                }
                if (dk) {
                    float *dks = dk + kv0 + s * kst;
                    float ds = scale * p * (d[s - s0] - rd);
                    for (int i = 0; i < hd; i++) dks[i] += ds * qt[i];
                }
            }
        }
}

void attention_train_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout,
                              const float *q, const float *k, const float *v, const float *att,
                              int B, int T, int Hq, int Hkv, int hd) {
    int64_t n = (int64_t)B * Hq * ((T + QUERY_BLOCK - 1) / QUERY_BLOCK);
    if (kernels_fork(n > 1)) {
        #pragma omp parallel for schedule(dynamic, 1)
        for (int64_t i = 0; i < n; i++) backward_queries(dq, scratch, dout, k, v, att, T, Hq, Hkv, hd, i);
    } else {
        for (int64_t i = 0; i < n; i++) backward_queries(dq, scratch, dout, k, v, att, T, Hq, Hkv, hd, i);
    }
    if (!dk && !dv) return;
    n = (int64_t)B * Hkv * ((T + KEY_TILE - 1) / KEY_TILE);
    if (kernels_fork(n > 1)) {
        #pragma omp parallel for schedule(dynamic, 1)
        for (int64_t i = 0; i < n; i++) backward_keys(dk, dv, scratch, dout, q, v, att, T, Hq, Hkv, hd, i);
    } else {
        for (int64_t i = 0; i < n; i++) backward_keys(dk, dv, scratch, dout, q, v, att, T, Hq, Hkv, hd, i);
    }
}
