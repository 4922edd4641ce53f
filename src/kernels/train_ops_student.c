// Forward and backward of the RWKV-7 time-mix pieces around the WKV scan (docs/model.md §2).
#include "kernels/matmul_internal.h"
#include "kernels/parallel.h"
#include "kernels/train_ops.h"
#include "kernels/train_ops_vec.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

// Weight gradients are sums over rows: columns are split in blocks of CB (or one head each) so
// that each thread owns its outputs, and the sums do not depend on the thread count.
#define CB 64
// An elementwise pass over a batch of activations (1M floats at most) takes well under a
// millisecond on one core; on 2 shared cores a parallel region for it costs more than it saves
// (a delayed worker holds the whole region back), so only vocabulary-sized rows go parallel.
#define PAR_MIN (1 << 20)

static inline int min_int(int a, int b) { return a < b ? a : b; }

// ---- token shift ----------------------------------------------------------------------------
// token rows [lo, hi) of the B*T of token_shift_forward
static void shift_rows(float *out, const float *xn, const float *shift, const float *mix, int M, int B, int T,
                       int D, int64_t lo, int64_t hi) {
    size_t plane = (size_t)B * T * D;
    for (int64_t bt = lo; bt < hi; bt++) {
        int b = (int)(bt / T), t = (int)(bt % T);
        size_t row = (size_t)bt * D;
        const float *x = xn + row, *xp = t ? xn + row - D : shift + (size_t)b * D;
        for (int m = 0; m < M; m++) {
            float *o = out + m * plane + row;
            const float *mm = mix + (size_t)m * D;
            for (int d = 0; d < D; d++) o[d] = x[d] + (xp[d] - x[d]) * mm[d];
        }
    }
}

void token_shift_forward(float *out, const float *xn, const float *shift, const float *mix,
                         int M, int B, int T, int D) {
    KERNELS_ROWS((size_t)B * T * D * M > PAR_MIN, (int64_t)B * T, shift_rows, out, xn, shift, mix, M, B, T, D);
}

// out = xn (1 - mix) + xprev mix: row t's xprev is row t-1, so dxn[t] also collects the mix part
// of row t+1's gradient, and row 0's goes to dshift.
// token rows [lo, hi) of the B*T: dxn and dshift of token_shift_backward
static void shift_back_rows(float *dxn, float *dshift, const float *dout, const float *mix, int M, int B, int T,
                            int D, int64_t lo, int64_t hi) {
    size_t plane = (size_t)B * T * D;
    for (int64_t bt = lo; bt < hi; bt++) {
        int b = (int)(bt / T), t = (int)(bt % T);
        size_t row = (size_t)bt * D;
        for (int m = 0; m < M; m++) {
            const float *dy = dout + m * plane + row, *mm = mix + (size_t)m * D;
            if (dxn) {
                float *dx = dxn + row;
                for (int d = 0; d < D; d++) dx[d] += dy[d] * (1.0f - mm[d]);
                if (t + 1 < T)
                    for (int d = 0; d < D; d++) dx[d] += dy[D + d] * mm[d];
            }
            if (dshift && t == 0) {
                float *ds = dshift + (size_t)b * D;
                for (int d = 0; d < D; d++) ds[d] += dy[d] * mm[d];
            }
        }
    }
}

// (m, column block) items [lo, hi) of the M * ceil(D / CB): dmix of token_shift_backward
static void shift_back_mix(float *dmix, const float *dout, const float *xn, const float *shift, int B, int T,
                           int D, int64_t lo, int64_t hi) {
    size_t plane = (size_t)B * T * D;
    int nblk = (D + CB - 1) / CB;
    for (int64_t it = lo; it < hi; it++) {
        int m = (int)(it / nblk), d0 = (int)(it % nblk) * CB, n = min_int(CB, D - d0);
        float acc[CB] = {0};
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                size_t row = ((size_t)b * T + t) * D + d0;
                const float *x = xn + row, *xp = t ? xn + row - D : shift + (size_t)b * D + d0;
                const float *dy = dout + m * plane + row;
                for (int j = 0; j < n; j++) acc[j] += dy[j] * (xp[j] - x[j]);
            }
        for (int j = 0; j < n; j++) dmix[(size_t)m * D + d0 + j] += acc[j];
    }
}

void token_shift_backward(float *dxn, float *dshift, float *dmix, const float *dout,
                          const float *xn, const float *shift, const float *mix,
                          int M, int B, int T, int D) {
    bool big = (size_t)B * T * D * M > PAR_MIN;
    if (dxn || dshift) KERNELS_ROWS(big, (int64_t)B * T, shift_back_rows, dxn, dshift, dout, mix, M, B, T, D);
    if (dmix) KERNELS_ROWS(big, (int64_t)M * ((D + CB - 1) / CB), shift_back_mix, dmix, dout, xn, shift, B, T, D);
}

// ---- LoRA products x @ P --------------------------------------------------------------------
// A few rows (decode, short prefill) go through a GEMV that reads P (C, R) in place; more rows
// through the blocked GEMM, which reads P with strides, so no transposed copy is needed, and the
// dinp/dP products accumulate directly.
#define XP_GEMV_MAX_T 8
#define XP_COLS 256   // output columns per work item of the GEMV: its sums stay in L1

// (row, column block) items [lo, hi) of the T * ceil(R / XP_COLS) of out (T, R) = inp (T, C) @ P (C, R):
// row c of P scaled by inp[t][c] into the sums
static void xp_gemv_items(float *out, const float *inp, const float *P, int C, int R, int64_t lo, int64_t hi) {
    int nb = (R + XP_COLS - 1) / XP_COLS;
    for (int64_t it = lo; it < hi; it++) {
        int t = (int)(it / nb), j0 = (int)(it % nb) * XP_COLS, n = min_int(XP_COLS, R - j0);
        const float *x = inp + (size_t)t * C;
        float acc[XP_COLS] = {0};
        for (int c = 0; c < C; c++) {
            const float *p = P + (size_t)c * R + j0;
            float xc = x[c];
            for (int j = 0; j < n; j++) acc[j] += xc * p[j];
        }
        memcpy(out + (size_t)t * R + j0, acc, n * sizeof(float));
    }
}

void xp_forward(float *out, const float *inp, const float *P, int T, int C, int R) {
    if (T <= XP_GEMV_MAX_T) {
        KERNELS_ROWS((size_t)T * C * R > PAR_MIN / 4, (int64_t)T * ((R + XP_COLS - 1) / XP_COLS), xp_gemv_items,
                     out, inp, P, C, R);
        return;
    }
    mm_gemm g = {
        .M = T, .N = R, .K = C, .a = inp, .a_rs = C, .a_cs = 1, .b = P, .bt = ARWKV_F32, .b_rs = R, .b_cs = 1,
        .c = out, .ldc = R, .accumulate = false,
    };
    mm_gemm_run(&g);
}

void xp_backward(float *dinp, float *dP, const float *dout, const float *inp, const float *P,
                 int T, int C, int R) {
    if (dinp) {   // dinp (T, C) += dout (T, R) @ P^T
        mm_gemm g = {
            .M = T, .N = C, .K = R, .a = dout, .a_rs = R, .a_cs = 1, .b = P, .bt = ARWKV_F32, .b_rs = 1,
            .b_cs = R, .c = dinp, .ldc = C, .accumulate = true,
        };
        mm_gemm_run(&g);
    }
    if (dP) {     // dP (C, R) += inp^T @ dout
        mm_gemm g = {
            .M = C, .N = R, .K = T, .a = inp, .a_rs = 1, .a_cs = C, .b = dout, .bt = ARWKV_F32, .b_rs = R,
            .b_cs = 1, .c = dP, .ldc = R, .accumulate = true,
        };
        mm_gemm_run(&g);
    }
}

// ---- activations ----------------------------------------------------------------------------
// Each kernel below is a range function (elements, rows, column blocks or heads [lo, hi)) run
// through KERNELS_ROWS, which forks only for vocabulary-sized work.

static void tanh_range(float *out, const float *inp, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) out[i] = tanhf(inp[i]);
}

void tanh_forward(float *out, const float *inp, size_t n) {
    KERNELS_ROWS(n > PAR_MIN, n, tanh_range, out, inp);
}

static void tanh_back_range(float *dinp, const float *dout, const float *out, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
}

void tanh_backward(float *dinp, const float *dout, const float *out, size_t n) {
    KERNELS_ROWS(n > PAR_MIN, n, tanh_back_range, dinp, dout, out);
}

static void sigmoid_rows(float *out, const float *inp, const float *bias, int C, int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; t++) {
        const float *x = inp + (size_t)t * C;
        float *o = out + (size_t)t * C;
        for (int c = 0; c < C; c++) o[c] = x[c] + (bias ? bias[c] : 0.0f);
        vec_sigmoid(o, o, C);
    }
}

void sigmoid_forward(float *out, const float *inp, const float *bias, int T, int C) {
    KERNELS_ROWS((size_t)T * C > PAR_MIN, T, sigmoid_rows, out, inp, bias, C);
}

static void sigmoid_back_blocks(float *dinp, float *dbias, const float *dout, const float *out, int T, int C,
                                int64_t lo, int64_t hi) {
    for (int64_t blk = lo; blk < hi; blk++) {
        int c0 = (int)blk * CB, n = min_int(CB, C - c0);
        float acc[CB] = {0};
        for (int t = 0; t < T; t++) {
            size_t o = (size_t)t * C + c0;
            for (int j = 0; j < n; j++) {
                float y = out[o + j], g = dout[o + j] * y * (1.0f - y);
                if (dinp) dinp[o + j] += g;
                acc[j] += g;
            }
        }
        if (dbias)
            for (int j = 0; j < n; j++) dbias[c0 + j] += acc[j];
    }
}

void sigmoid_backward(float *dinp, float *dbias, const float *dout, const float *out, int T, int C) {
    KERNELS_ROWS((size_t)T * C > PAR_MIN, (C + CB - 1) / CB, sigmoid_back_blocks, dinp, dbias, dout, out, T, C);
}

// ---- decay and value residual ---------------------------------------------------------------
#define DECAY_C 0.60653065971263342f   // exp(-0.5)

static void decay_rows(float *wd, const float *z, const float *w0, int D, int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; t++) {
        float *o = wd + (size_t)t * D;
        const float *zt = z + (size_t)t * D;
        for (int d = 0; d < D; d++) o[d] = w0[d] + zt[d];
        vec_sigmoid(o, o, D);
        vec_exp(o, o, -DECAY_C, 0.0f, D);
    }
}

void decay_forward(float *wd, const float *z, const float *w0, int T, int D) {
    KERNELS_ROWS((size_t)T * D > PAR_MIN, T, decay_rows, wd, z, w0, D);
}

static void decay_back_blocks(float *dz, float *dw0, const float *dwd, const float *z, const float *w0, int T, int D,
                              int64_t lo, int64_t hi) {
    for (int64_t blk = lo; blk < hi; blk++) {
        int d0 = (int)blk * CB, n = min_int(CB, D - d0);
        float acc[CB] = {0}, sg[CB], e[CB];
        for (int t = 0; t < T; t++) {
            size_t o = (size_t)t * D + d0;
            for (int j = 0; j < n; j++) sg[j] = w0[d0 + j] + z[o + j];
            vec_sigmoid(sg, sg, n);
            vec_exp(e, sg, -DECAY_C, 0.0f, n);
            for (int j = 0; j < n; j++) {
                float s = sg[j], g = dwd[o + j] * e[j] * -DECAY_C * s * (1.0f - s);
                if (dz) dz[o + j] += g;
                acc[j] += g;
            }
        }
        if (dw0)
            for (int j = 0; j < n; j++) dw0[d0 + j] += acc[j];
    }
}

// d wd / d x = wd * (-DECAY_C) * s (1 - s), x = w0 + z, s = sigmoid(x)
void decay_backward(float *dz, float *dw0, const float *dwd, const float *z, const float *w0,
                    int T, int D) {
    KERNELS_ROWS((size_t)T * D > PAR_MIN, (D + CB - 1) / CB, decay_back_blocks, dz, dw0, dwd, z, w0, T, D);
}

static void value_mix_rows(float *out, const float *v, const float *v_first, const float *z, const float *v0, int D,
                           int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; t++) {
        size_t o = (size_t)t * D;
        for (int d0 = 0; d0 < D; d0 += CB) {
            int n = min_int(CB, D - d0);
            float sg[CB];
            for (int j = 0; j < n; j++) sg[j] = v0[d0 + j] + z[o + d0 + j];
            vec_sigmoid(sg, sg, n);
            for (int j = 0; j < n; j++) {
                float x = v[o + d0 + j];
                out[o + d0 + j] = x + (v_first[o + d0 + j] - x) * sg[j];
            }
        }
    }
}

void value_mix_forward(float *out, const float *v, const float *v_first, const float *z,
                       const float *v0, int T, int D) {
    KERNELS_ROWS((size_t)T * D > PAR_MIN, T, value_mix_rows, out, v, v_first, z, v0, D);
}

static void value_mix_back_blocks(float *dv, float *dz, float *dv0, const float *dout, const float *v,
                                  const float *v_first, const float *z, const float *v0, int T, int D, int64_t lo,
                                  int64_t hi) {
    for (int64_t blk = lo; blk < hi; blk++) {
        int d0 = (int)blk * CB, n = min_int(CB, D - d0);
        float acc[CB] = {0}, sg[CB];
        for (int t = 0; t < T; t++) {
            size_t o = (size_t)t * D + d0;
            for (int j = 0; j < n; j++) sg[j] = v0[d0 + j] + z[o + j];
            vec_sigmoid(sg, sg, n);
            for (int j = 0; j < n; j++) {
                float s = sg[j], dy = dout[o + j];
                if (dv) dv[o + j] += dy * (1.0f - s);
                float g = dy * (v_first[o + j] - v[o + j]) * s * (1.0f - s);
                if (dz) dz[o + j] += g;
                acc[j] += g;
            }
        }
        if (dv0)
            for (int j = 0; j < n; j++) dv0[d0 + j] += acc[j];
    }
}

void value_mix_backward(float *dv, float *dz, float *dv0, const float *dout, const float *v,
                        const float *v_first, const float *z, const float *v0, int T, int D) {
    KERNELS_ROWS((size_t)T * D > PAR_MIN, (D + CB - 1) / CB, value_mix_back_blocks, dv, dz, dv0, dout, v, v_first, z,
                 v0, T, D);
}

// ---- kk normalisation, k update, WKV alpha/beta ---------------------------------------------
#define KK_EPS 1e-12f

// (token, head) rows [lo, hi) of the T*H
static void kk_norm_rows(float *kk, const float *k, const float *k_k, int H, int N, int64_t lo, int64_t hi) {
    for (int64_t th = lo; th < hi; th++) {
        size_t o = (size_t)th * N;
        const float *kh = k + o, *kkh = k_k + (size_t)(th % H) * N;
        float ss = 0.0f;
        #pragma omp simd reduction(+ : ss)
        for (int n = 0; n < N; n++) ss += kh[n] * kkh[n] * kh[n] * kkh[n];
        float norm = sqrtf(ss), inv = 1.0f / (norm > KK_EPS ? norm : KK_EPS);
        for (int n = 0; n < N; n++) kk[o + n] = kh[n] * kkh[n] * inv;
    }
}

void kk_norm_forward(float *kk, const float *k, const float *k_k, int T, int H, int N) {
    KERNELS_ROWS((size_t)T * H * N > PAR_MIN, (int64_t)T * H, kk_norm_rows, kk, k, k_k, H, N);
}

// heads [lo, hi)
static void kk_norm_back_heads(float *dk, float *dk_k, const float *dkk, const float *k, const float *k_k, int T,
                               int H, int N, int64_t lo, int64_t hi) {
    for (int64_t h = lo; h < hi; h++) {
        const float *kkh = k_k + (size_t)h * N;
        float *dkkh = dk_k ? dk_k + (size_t)h * N : NULL;
        for (int t = 0; t < T; t++) {
            size_t o = ((size_t)t * H + h) * N;
            const float *kh = k + o, *dy = dkk + o;
            float ss = 0.0f, ud = 0.0f;
            #pragma omp simd reduction(+ : ss, ud)
            for (int n = 0; n < N; n++) {
                float u = kh[n] * kkh[n];
                ss += u * u;
                ud += u * dy[n];
            }
            float norm = sqrtf(ss), inv = 1.0f / (norm > KK_EPS ? norm : KK_EPS);
            float c = norm > KK_EPS ? ud * inv * inv : 0.0f;   // (y . dy) / ||u|| with y = u / ||u||
            for (int n = 0; n < N; n++) {
                float du = (dy[n] - kh[n] * kkh[n] * c) * inv;
                if (dk) dk[o + n] += du * kkh[n];
                if (dkkh) dkkh[n] += du * kh[n];
            }
        }
    }
}

// with y = u / ||u||: du = (dy - y (y . dy)) / ||u||; below the clamp y = u / eps is linear.
// One head per work item: the head's slice of dk_k is then owned by one thread.
void kk_norm_backward(float *dk, float *dk_k, const float *dkk, const float *k, const float *k_k,
                      int T, int H, int N) {
    KERNELS_ROWS((size_t)T * H * N > PAR_MIN, H, kk_norm_back_heads, dk, dk_k, dkk, k, k_k, T, H, N);
}

static void k_iclr_rows(float *out, const float *k, const float *a, const float *k_a, int D, int64_t lo,
                        int64_t hi) {
    for (int64_t t = lo; t < hi; t++)
        for (int d = 0; d < D; d++) {
            size_t i = (size_t)t * D + d;
            out[i] = k[i] * (1.0f + (a[i] - 1.0f) * k_a[d]);
        }
}

void k_iclr_forward(float *out, const float *k, const float *a, const float *k_a, int T, int D) {
    KERNELS_ROWS((size_t)T * D > PAR_MIN, T, k_iclr_rows, out, k, a, k_a, D);
}

static void k_iclr_back_blocks(float *dk, float *da, float *dk_a, const float *dout, const float *k, const float *a,
                               const float *k_a, int T, int D, int64_t lo, int64_t hi) {
    for (int64_t blk = lo; blk < hi; blk++) {
        int d0 = (int)blk * CB, n = min_int(CB, D - d0);
        float acc[CB] = {0};
        for (int t = 0; t < T; t++) {
            size_t o = (size_t)t * D + d0;
            for (int j = 0; j < n; j++) {
                float dy = dout[o + j], ka = k_a[d0 + j];
                if (dk) dk[o + j] += dy * (1.0f + (a[o + j] - 1.0f) * ka);
                if (da) da[o + j] += dy * k[o + j] * ka;
                acc[j] += dy * k[o + j] * (a[o + j] - 1.0f);
            }
        }
        if (dk_a)
            for (int j = 0; j < n; j++) dk_a[d0 + j] += acc[j];
    }
}

void k_iclr_backward(float *dk, float *da, float *dk_a, const float *dout, const float *k,
                     const float *a, const float *k_a, int T, int D) {
    KERNELS_ROWS((size_t)T * D > PAR_MIN, (D + CB - 1) / CB, k_iclr_back_blocks, dk, da, dk_a, dout, k, a, k_a, T, D);
}

static void wkv_ab_range(float *alpha, float *beta, const float *kk, const float *a, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) {
        alpha[i] = -kk[i];
        beta[i] = kk[i] * a[i];
    }
}

void wkv_ab_forward(float *alpha, float *beta, const float *kk, const float *a, size_t n) {
    KERNELS_ROWS(n > PAR_MIN, n, wkv_ab_range, alpha, beta, kk, a);
}

static void wkv_ab_back_range(float *dkk, float *da, const float *dalpha, const float *dbeta, const float *kk,
                              const float *a, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) {
        if (dkk) dkk[i] += dbeta[i] * a[i] - dalpha[i];
        if (da) da[i] += dbeta[i] * kk[i];
    }
}

void wkv_ab_backward(float *dkk, float *da, const float *dalpha, const float *dbeta,
                     const float *kk, const float *a, size_t n) {
    KERNELS_ROWS(n > PAR_MIN, n, wkv_ab_back_range, dkk, da, dalpha, dbeta, kk, a);
}

// ---- bonus, group norm, gate ----------------------------------------------------------------
// (token, head) rows [lo, hi) of the T*H
static void bonus_rows(float *o, const float *r, const float *k, const float *v, const float *r_k, int H, int N,
                       int64_t lo, int64_t hi) {
    for (int64_t th = lo; th < hi; th++) {
        size_t off = (size_t)th * N;
        const float *rk = r_k + (size_t)(th % H) * N;
        float s = 0.0f;
        #pragma omp simd reduction(+ : s)
        for (int n = 0; n < N; n++) s += r[off + n] * k[off + n] * rk[n];
        for (int n = 0; n < N; n++) o[off + n] += s * v[off + n];
    }
}

void bonus_forward(float *o, const float *r, const float *k, const float *v, const float *r_k,
                   int T, int H, int N) {
    KERNELS_ROWS((size_t)T * H * N > PAR_MIN, (int64_t)T * H, bonus_rows, o, r, k, v, r_k, H, N);
}

// heads [lo, hi)
static void bonus_back_heads(float *dr, float *dk, float *dv, float *dr_k, const float *dout, const float *r,
                             const float *k, const float *v, const float *r_k, int T, int H, int N, int64_t lo,
                             int64_t hi) {
    for (int64_t h = lo; h < hi; h++) {
        const float *rk = r_k + (size_t)h * N;
        float *drk = dr_k ? dr_k + (size_t)h * N : NULL;
        for (int t = 0; t < T; t++) {
            size_t off = ((size_t)t * H + h) * N;
            float s = 0.0f, ds = 0.0f;
            #pragma omp simd reduction(+ : s, ds)
            for (int n = 0; n < N; n++) {
                s += r[off + n] * k[off + n] * rk[n];
                ds += dout[off + n] * v[off + n];
            }
            for (int n = 0; n < N; n++) {
                if (dv) dv[off + n] += s * dout[off + n];
                if (dr) dr[off + n] += ds * k[off + n] * rk[n];
                if (dk) dk[off + n] += ds * r[off + n] * rk[n];
                if (drk) drk[n] += ds * r[off + n] * k[off + n];
            }
        }
    }
}

// s = sum_n r k r_k, ds = sum_n dout v: dv += s dout ; dr += ds k r_k ; dk += ds r r_k ;
// dr_k += ds r k. One head per work item so that dr_k[h] has one owner.
void bonus_backward(float *dr, float *dk, float *dv, float *dr_k, const float *dout,
                    const float *r, const float *k, const float *v, const float *r_k,
                    int T, int H, int N) {
    KERNELS_ROWS((size_t)T * H * N > PAR_MIN, H, bonus_back_heads, dr, dk, dv, dr_k, dout, r, k, v, r_k, T, H, N);
}

// (token, head) rows [lo, hi) of the T*H
static void group_norm_rows(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                            const float *bias, float eps, int H, int N, int64_t lo, int64_t hi) {
    for (int64_t th = lo; th < hi; th++) {
        size_t off = (size_t)th * N, h = (size_t)(th % H);
        const float *x = inp + off, *w = weight + h * N, *bb = bias + h * N;
        float mu = vec_sum(x, N) / (float)N, var = 0.0f;
        #pragma omp simd reduction(+ : var)
        for (int n = 0; n < N; n++) var += (x[n] - mu) * (x[n] - mu);
        float rs = 1.0f / sqrtf(var / (float)N + eps);
        for (int n = 0; n < N; n++) out[off + n] = (x[n] - mu) * rs * w[n] + bb[n];
        mean[th] = mu;
        rstd[th] = rs;
    }
}

void group_norm_forward(float *out, float *mean, float *rstd, const float *inp,
                        const float *weight, const float *bias, float eps, int T, int H, int N) {
    KERNELS_ROWS((size_t)T * H * N > PAR_MIN, (int64_t)T * H, group_norm_rows, out, mean, rstd, inp, weight, bias,
                 eps, H, N);
}

// heads [lo, hi)
static void group_norm_back_heads(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                                  const float *weight, const float *mean, const float *rstd, int T, int H, int N,
                                  int64_t lo, int64_t hi) {
    for (int64_t h = lo; h < hi; h++) {
        const float *w = weight + (size_t)h * N;
        float *dw = dweight ? dweight + (size_t)h * N : NULL, *db = dbias ? dbias + (size_t)h * N : NULL;
        for (int t = 0; t < T; t++) {
            size_t off = ((size_t)t * H + h) * N;
            const float *x = inp + off, *dy = dout + off;
            float mu = mean[(size_t)t * H + h], rs = rstd[(size_t)t * H + h];
            float gm = 0.0f, gx = 0.0f;
            #pragma omp simd reduction(+ : gm, gx)
            for (int n = 0; n < N; n++) {
                float g = dy[n] * w[n];
                gm += g;
                gx += g * (x[n] - mu) * rs;
            }
            gm /= (float)N;
            gx /= (float)N;
            for (int n = 0; n < N; n++) {
                float xhat = (x[n] - mu) * rs;
                if (dinp) dinp[off + n] += rs * (dy[n] * w[n] - gm - xhat * gx);
                if (dw) dw[n] += dy[n] * xhat;
                if (db) db[n] += dy[n];
            }
        }
    }
}

// dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dout * weight, xhat = (x - mean) rstd
void group_norm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                         const float *inp, const float *weight, const float *mean,
                         const float *rstd, int T, int H, int N) {
    KERNELS_ROWS((size_t)T * H * N > PAR_MIN, H, group_norm_back_heads, dinp, dweight, dbias, dout, inp, weight, mean,
                 rstd, T, H, N);
}

static void gate_mul_range(float *out, const float *o, const float *g, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) out[i] = o[i] * g[i];
}

void gate_mul_forward(float *out, const float *o, const float *g, size_t n) {
    KERNELS_ROWS(n > PAR_MIN, n, gate_mul_range, out, o, g);
}

static void gate_mul_back_range(float *d_o, float *dg, const float *dout, const float *o, const float *g, int64_t lo,
                                int64_t hi) {
    for (int64_t i = lo; i < hi; i++) {
        if (d_o) d_o[i] += dout[i] * g[i];
        if (dg) dg[i] += dout[i] * o[i];
    }
}

void gate_mul_backward(float *d_o, float *dg, const float *dout, const float *o, const float *g,
                       size_t n) {
    KERNELS_ROWS(n > PAR_MIN, n, gate_mul_back_range, d_o, dg, dout, o, g);
}
