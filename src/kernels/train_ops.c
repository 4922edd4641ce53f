// Backward passes of the teacher's ops and the training losses (cross-entropy, distillation KL).
#include "kernels/kernels.h"
#include "kernels/parallel.h"
#include "kernels/train_ops.h"
#include "kernels/train_ops_vec.h"

#include <math.h>
#include <stddef.h>

// Column reductions (a weight gradient summed over rows) split the columns into blocks of CB so
// that each thread owns its outputs: no atomics, and the sums do not depend on the thread count.
#define CB 64
// An elementwise pass over a batch of activations (1M floats at most) takes well under a
// millisecond on one core; on 2 shared cores a parallel region for it costs more than it saves
// (a delayed worker holds the whole region back), so only vocabulary-sized rows go parallel.
#define PAR_MIN (1 << 20)

// rows [lo, hi) of the rmsnorm input gradient
static void rmsnorm_dinp_rows(float *dinp, const float *dout, const float *inp, const float *weight,
                              const float *rstd, int C, int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; t++) {
        const float *x = inp + (size_t)t * C, *dy = dout + (size_t)t * C;
        float *dx = dinp + (size_t)t * C;
        float r = rstd[t], dot = 0.0f;
        #pragma omp simd reduction(+ : dot)
        for (int i = 0; i < C; i++) dot += weight[i] * dy[i] * x[i];
        float c = r * r * dot / (float)C;
        for (int i = 0; i < C; i++) dx[i] += r * (weight[i] * dy[i] - x[i] * c);
    }
}

// column blocks [lo, hi) of the rmsnorm weight gradient
static void rmsnorm_dweight_blocks(float *dweight, const float *dout, const float *inp, const float *rstd, int T,
                                   int C, int64_t lo, int64_t hi) {
    for (int64_t blk = lo; blk < hi; blk++) {
        int c0 = (int)blk * CB, n = C - c0 < CB ? C - c0 : CB;
        float acc[CB] = {0};
        for (int t = 0; t < T; t++) {
            const float *x = inp + (size_t)t * C + c0, *dy = dout + (size_t)t * C + c0;
            float r = rstd[t];
            for (int j = 0; j < n; j++) acc[j] += dy[j] * x[j] * r;
        }
        for (int j = 0; j < n; j++) dweight[c0 + j] += acc[j];
    }
}

// dinp_j += r * (w_j dy_j - x_j * r^2 * sum_i(w_i dy_i x_i) / C) ; dweight_j += sum_t dy_j x_j r
void rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                      const float *weight, const float *rstd, int T, int C) {
    bool big = (size_t)T * C > PAR_MIN;
    if (dinp) KERNELS_ROWS(big, T, rmsnorm_dinp_rows, dinp, dout, inp, weight, rstd, C);
    if (dweight) KERNELS_ROWS(big, (C + CB - 1) / CB, rmsnorm_dweight_blocks, dweight, dout, inp, rstd, T, C);
}

// column blocks [lo, hi) of embedding_backward
static void embedding_blocks(float *dtable, const float *dout, const int32_t *ids, int T, int C, int V, int64_t lo,
                             int64_t hi) {
    for (int64_t blk = lo; blk < hi; blk++) {
        int c0 = (int)blk * CB, n = C - c0 < CB ? C - c0 : CB;
        for (int t = 0; t < T; t++) {
            if (ids[t] < 0 || ids[t] >= V) continue;
            float *row = dtable + (size_t)ids[t] * C + c0;
            const float *dy = dout + (size_t)t * C + c0;
            for (int j = 0; j < n; j++) row[j] += dy[j];
        }
    }
}

// split over columns: a token id may repeat, so rows of dtable are not owned by one t
void embedding_backward(float *dtable, const float *dout, const int32_t *ids, int T, int C, int V) {
    KERNELS_ROWS((size_t)T * C > PAR_MIN, (C + CB - 1) / CB, embedding_blocks, dtable, dout, ids, T, C, V);
}

// chunks [lo, hi) of VEC_CHUNK elements of swiglu_backward
static void swiglu_back_chunks(float *dgate, float *dup, const float *dout, const float *gate, const float *up,
                               size_t n, int64_t lo, int64_t hi) {
    for (int64_t ch = lo; ch < hi; ch++) {
        size_t i0 = (size_t)ch * VEC_CHUNK;
        int m = n - i0 < VEC_CHUNK ? (int)(n - i0) : VEC_CHUNK;
        float sg[VEC_CHUNK];
        vec_sigmoid(sg, gate + i0, m);
        for (int j = 0; j < m; j++) {
            size_t i = i0 + j;
            float g = gate[i], s = sg[j], dy = dout[i];
            if (dgate) dgate[i] += dy * up[i] * s * (1.0f + g * (1.0f - s));
            if (dup) dup[i] += dy * g * s;
        }
    }
}

// silu(g) = g s with s = sigmoid(g); silu'(g) = s (1 + g (1 - s))
void swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                     const float *up, int T, int F) {
    size_t n = (size_t)T * F;
    KERNELS_ROWS(n > PAR_MIN, (n + VEC_CHUNK - 1) / VEC_CHUNK, swiglu_back_chunks, dgate, dup, dout, gate, up, n);
}

// The forward rotates (a, b) by +f; the gradient goes back through the transpose, a rotation by -f.
void rope_backward(float *dx, int pos0, float theta, int T, int H, int hd) { rope_rotate(dx, pos0, theta, T, H, hd, -1); }

// log-sum-exp of x[0..n) / tau (tau > 0), max-shifted so that no exp overflows
static float row_lse(const float *x, int n, float inv_tau) {
    float mx = vec_max(x, n) * inv_tau;
    return mx + logf(vec_sum_exp(x, inv_tau, -mx, n));
}

static int target_counts(int32_t target, int V) { return target >= 0 && target < V; }

// rows [lo, hi) of crossentropy_forward
static void crossentropy_rows(float *losses, const float *logits, const int32_t *targets, int V, int64_t lo,
                              int64_t hi) {
    for (int64_t i = lo; i < hi; i++) {
        const float *x = logits + (size_t)i * V;
        losses[i] = target_counts(targets[i], V) ? row_lse(x, V, 1.0f) - x[targets[i]] : 0.0f;
    }
}

static int count_targets(const int32_t *targets, int N, int V) {
    int count = 0;
    for (int i = 0; i < N; i++) count += target_counts(targets[i], V);
    return count;
}

int crossentropy_forward(float *losses, const float *logits, const int32_t *targets, int N, int V) {
    KERNELS_ROWS((size_t)N * V > PAR_MIN, N, crossentropy_rows, losses, logits, targets, V);
    return count_targets(targets, N, V);
}

// rows [lo, hi) of crossentropy_backward
static void crossentropy_back_rows(float *dlogits, const float *logits, const int32_t *targets, float scale, int V,
                                   int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) {
        if (!target_counts(targets[i], V)) continue;
        const float *x = logits + (size_t)i * V;
        float *dx = dlogits + (size_t)i * V;
        float lse = row_lse(x, V, 1.0f), buf[VEC_CHUNK];
        for (int j0 = 0; j0 < V; j0 += VEC_CHUNK) {
            int m = V - j0 < VEC_CHUNK ? V - j0 : VEC_CHUNK;
            vec_exp(buf, x + j0, 1.0f, -lse, m);
            for (int j = 0; j < m; j++) dx[j0 + j] += scale * buf[j];
        }
        dx[targets[i]] -= scale;
    }
}

void crossentropy_backward(float *dlogits, const float *logits, const int32_t *targets,
                           float scale, int N, int V) {
    KERNELS_ROWS((size_t)N * V > PAR_MIN, N, crossentropy_back_rows, dlogits, logits, targets, scale, V);
}

// rows [lo, hi) of crossentropy_fused
static void crossentropy_fused_rows(float *losses, float *logits, const int32_t *targets, float scale, int V,
                                    int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) {
        float *x = logits + (size_t)i * V;
        if (!target_counts(targets[i], V)) {
            losses[i] = 0.0f;
            for (int j = 0; j < V; j++) x[j] = 0.0f;
            continue;
        }
        float lse = row_lse(x, V, 1.0f);
        losses[i] = lse - x[targets[i]];
        vec_exp(x, x, 1.0f, -lse, V);
        for (int j = 0; j < V; j++) x[j] *= scale;
        x[targets[i]] -= scale;
    }
}

int crossentropy_fused(float *losses, float *logits, const int32_t *targets, float scale, int N, int V) {
    KERNELS_ROWS((size_t)N * V > PAR_MIN, N, crossentropy_fused_rows, losses, logits, targets, scale, V);
    return count_targets(targets, N, V);
}

// rows [lo, hi) of kl_div_forward
static void kl_div_rows(float *losses, const float *student, const float *teacher, const uint8_t *mask, float tau,
                        int Vs, int Vt, int64_t lo, int64_t hi) {
    float inv_tau = 1.0f / tau;
    for (int64_t i = lo; i < hi; i++) {
        if (mask && !mask[i]) {
            losses[i] = 0.0f;
            continue;
        }
        const float *s = student + (size_t)i * Vs, *te = teacher + (size_t)i * Vt;
        float lse_s = row_lse(s, Vs, inv_tau), lse_t = row_lse(te, Vs, inv_tau);
        float kl = 0.0f, p[VEC_CHUNK];
        for (int j0 = 0; j0 < Vs; j0 += VEC_CHUNK) {
            int m = Vs - j0 < VEC_CHUNK ? Vs - j0 : VEC_CHUNK;
            const float *tj = te + j0, *sj = s + j0;
            vec_exp(p, tj, inv_tau, -lse_t, m);
            #pragma omp simd reduction(+ : kl)
            for (int j = 0; j < m; j++) kl += p[j] * ((tj[j] - sj[j]) * inv_tau - lse_t + lse_s);
        }
        losses[i] = tau * tau * kl;
    }
}

int kl_div_forward(float *losses, const float *student, const float *teacher, const uint8_t *mask,
                   float tau, int N, int Vs, int Vt) {
    KERNELS_ROWS((size_t)N * Vs > PAR_MIN, N, kl_div_rows, losses, student, teacher, mask, tau, Vs, Vt);
    int count = 0;
    for (int i = 0; i < N; i++) count += !mask || mask[i];
    return count;
}

// rows [lo, hi) of kl_div_backward
static void kl_div_back_rows(float *dstudent, const float *student, const float *teacher, const uint8_t *mask,
                             float tau, float scale, int Vs, int Vt, int64_t lo, int64_t hi) {
    float inv_tau = 1.0f / tau, c = scale * tau;
    for (int64_t i = lo; i < hi; i++) {
        if (mask && !mask[i]) continue;
        const float *s = student + (size_t)i * Vs, *te = teacher + (size_t)i * Vt;
        float *ds = dstudent + (size_t)i * Vs;
        float lse_s = row_lse(s, Vs, inv_tau), lse_t = row_lse(te, Vs, inv_tau);
        float q[VEC_CHUNK], p[VEC_CHUNK];
        for (int j0 = 0; j0 < Vs; j0 += VEC_CHUNK) {
            int m = Vs - j0 < VEC_CHUNK ? Vs - j0 : VEC_CHUNK;
            vec_exp(q, s + j0, inv_tau, -lse_s, m);
            vec_exp(p, te + j0, inv_tau, -lse_t, m);
            for (int j = 0; j < m; j++) ds[j0 + j] += c * (q[j] - p[j]);
        }
    }
}

void kl_div_backward(float *dstudent, const float *student, const float *teacher,
                     const uint8_t *mask, float tau, float scale, int N, int Vs, int Vt) {
    KERNELS_ROWS((size_t)N * Vs > PAR_MIN, N, kl_div_back_rows, dstudent, student, teacher, mask, tau, scale, Vs, Vt);
}
