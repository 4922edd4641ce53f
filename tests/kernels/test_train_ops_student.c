// RWKV-7 time-mix training kernels: forward against double mirrors, backward against central
// finite differences of the mirrors, accumulation into pre-filled gradients, and two chains of
// ops (decay branch; k / iclr / alpha / beta) that share inputs.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/train_ops.h"
#include "cpu_level.h"
#include "test_util.h"
#include "train_ops_fd.h"

#define GRAD_TOL 1e-4
#define FWD_TOL 1e-5

static unsigned long long g_seed = 777;

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

// prefilled gradient buffer and its copy
typedef struct { float *g, *g0; } grad_buf;

static grad_buf grad_new(size_t n) {
    grad_buf b = { fd_rand(n, 1.0f, &g_seed), NULL };
    b.g0 = fd_copy(b.g, n);
    return b;
}

static void grad_free(grad_buf *b) {
    free(b->g);
    free(b->g0);
}

// ---- token shift ----------------------------------------------------------------------------
typedef struct { double *xn, *shift, *mix; const float *W; int M, B, T, D; } ts_ctx;

static void ts_mirror(const ts_ctx *c, double *out) {
    for (int m = 0; m < c->M; m++)
        for (int b = 0; b < c->B; b++)
            for (int t = 0; t < c->T; t++)
                for (int d = 0; d < c->D; d++) {
                    double x = c->xn[((size_t)b * c->T + t) * c->D + d];
                    double xp = t ? c->xn[((size_t)b * c->T + t - 1) * c->D + d] : c->shift[(size_t)b * c->D + d];
                    out[(((size_t)m * c->B + b) * c->T + t) * c->D + d] = x + (xp - x) * c->mix[(size_t)m * c->D + d];
                }
}

static double ts_loss(void *p) {
    ts_ctx *c = p;
    size_t n = (size_t)c->M * c->B * c->T * c->D;
    double *out = malloc(n * sizeof *out);
    ts_mirror(c, out);
    double L = fd_dot(c->W, out, n);
    free(out);
    return L;
}

static void test_token_shift(int M, int B, int T, int D) {
    printf("token_shift M=%d B=%d T=%d D=%d\n", M, B, T, D);
    size_t nx = (size_t)B * T * D, no = nx * M;
    float *xn = fd_rand(nx, 1.0f, &g_seed), *sh = fd_rand((size_t)B * D, 1.0f, &g_seed);
    float *mix = fd_rand((size_t)M * D, 1.0f, &g_seed), *W = fd_rand(no, 1.0f, &g_seed), *out = fd_alloc(no);
    token_shift_forward(out, xn, sh, mix, M, B, T, D);
    ts_ctx c = { fd_dup(xn, nx), fd_dup(sh, (size_t)B * D), fd_dup(mix, (size_t)M * D), W, M, B, T, D };
    double *ref = malloc(no * sizeof *ref);
    ts_mirror(&c, ref);
    fd_check_fwd("token_shift out", out, ref, no, FWD_TOL);
    grad_buf dx = grad_new(nx), ds = grad_new((size_t)B * D), dm = grad_new((size_t)M * D);
    token_shift_backward(dx.g, ds.g, dm.g, W, xn, sh, mix, M, B, T, D);
    fd_check("token_shift dxn (+=)", dx.g, dx.g0, c.xn, nx, ts_loss, &c, GRAD_TOL);
    fd_check("token_shift dshift (+=)", ds.g, ds.g0, c.shift, (size_t)B * D, ts_loss, &c, GRAD_TOL);
    fd_check("token_shift dmix (+=)", dm.g, dm.g0, c.mix, (size_t)M * D, ts_loss, &c, GRAD_TOL);
    free(c.xn); free(c.shift); free(c.mix); free(ref); free(xn); free(sh); free(mix); free(W); free(out);
    grad_free(&dx); grad_free(&ds); grad_free(&dm);
}

// ---- x @ P ----------------------------------------------------------------------------------
typedef struct { double *x, *P; const float *W; int T, C, R; } xp_ctx;

static void xp_mirror(const double *x, const double *P, double *out, int T, int C, int R) {
    for (int t = 0; t < T; t++)
        for (int r = 0; r < R; r++) {
            double s = 0;
            for (int i = 0; i < C; i++) s += x[(size_t)t * C + i] * P[(size_t)i * R + r];
            out[(size_t)t * R + r] = s;
        }
}

static double xp_loss(void *p) {
    xp_ctx *c = p;
    double *out = malloc((size_t)c->T * c->R * sizeof *out);
    xp_mirror(c->x, c->P, out, c->T, c->C, c->R);
    double L = fd_dot(c->W, out, (size_t)c->T * c->R);
    free(out);
    return L;
}

static void test_xp(int T, int C, int R) {
    printf("xp T=%d C=%d R=%d\n", T, C, R);
    size_t nx = (size_t)T * C, nP = (size_t)C * R, no = (size_t)T * R;
    float *x = fd_rand(nx, 1.0f, &g_seed), *P = fd_rand(nP, 1.0f, &g_seed), *W = fd_rand(no, 1.0f, &g_seed);
    float *out = fd_alloc(no);
    xp_forward(out, x, P, T, C, R);
    xp_ctx c = { fd_dup(x, nx), fd_dup(P, nP), W, T, C, R };
    double *ref = malloc(no * sizeof *ref);
    xp_mirror(c.x, c.P, ref, T, C, R);
    fd_check_fwd("xp out", out, ref, no, FWD_TOL);
    grad_buf dx = grad_new(nx), dP = grad_new(nP);
    xp_backward(dx.g, dP.g, W, x, P, T, C, R);
    fd_check("xp dinp (+=)", dx.g, dx.g0, c.x, nx, xp_loss, &c, GRAD_TOL);
    fd_check("xp dP (+=)", dP.g, dP.g0, c.P, nP, xp_loss, &c, GRAD_TOL);
    free(c.x); free(c.P); free(ref); free(x); free(P); free(W); free(out);
    grad_free(&dx); grad_free(&dP);
}

// ---- elementwise ops with an optional per-column parameter ------------------------------------
// One context serves tanh, sigmoid, decay, value mix, k_iclr, wkv_ab, gate: `op` picks the mirror.
enum { OP_TANH, OP_SIGMOID, OP_DECAY, OP_VMIX, OP_KICLR, OP_AB, OP_GATE };
typedef struct { int op; double *a, *b, *c, *p; const float *W, *W2; int T, D; } ew_ctx;

// out2 is the second output (beta of wkv_ab) or unused
static void ew_mirror(const ew_ctx *c, double *out, double *out2) {
    for (int t = 0; t < c->T; t++)
        for (int d = 0; d < c->D; d++) {
            size_t i = (size_t)t * c->D + d;
            switch (c->op) {
            case OP_TANH: out[i] = tanh(c->a[i]); break;
            case OP_SIGMOID: out[i] = sigm(c->a[i] + c->p[d]); break;
            case OP_DECAY: out[i] = exp(-exp(-0.5) * sigm(c->p[d] + c->a[i])); break;
            case OP_VMIX: out[i] = c->a[i] + (c->b[i] - c->a[i]) * sigm(c->p[d] + c->c[i]); break;
            case OP_KICLR: out[i] = c->a[i] * (1 + (c->b[i] - 1) * c->p[d]); break;
            case OP_AB: out[i] = -c->a[i]; out2[i] = c->a[i] * c->b[i]; break;
            case OP_GATE: out[i] = c->a[i] * c->b[i]; break;
            }
        }
}

static double ew_loss(void *p) {
    ew_ctx *c = p;
    size_t n = (size_t)c->T * c->D;
    double *o = malloc(n * sizeof *o), *o2 = malloc(n * sizeof *o2);
    ew_mirror(c, o, o2);
    double L = fd_dot(c->W, o, n) + (c->op == OP_AB ? fd_dot(c->W2, o2, n) : 0);
    free(o); free(o2);
    return L;
}

static void test_elementwise(int op, const char *name, int T, int D) {
    printf("%s T=%d D=%d\n", name, T, D);
    size_t n = (size_t)T * D;
    float *a = fd_rand(n, 2.0f, &g_seed), *b = fd_rand(n, 2.0f, &g_seed), *cc = fd_rand(n, 2.0f, &g_seed);
    float *p = fd_rand(D, 2.0f, &g_seed), *W = fd_rand(n, 1.0f, &g_seed), *W2 = fd_rand(n, 1.0f, &g_seed);
    if (op == OP_AB || op == OP_KICLR)
        for (size_t i = 0; i < n; i++) b[i] = 0.5f + 0.5f * b[i] / 2.0f;   // an iclr in (0, 1)
    float *out = fd_alloc(n), *out2 = fd_alloc(n);
    ew_ctx c = { op, fd_dup(a, n), fd_dup(b, n), fd_dup(cc, n), fd_dup(p, D), W, W2, T, D };
    grad_buf ga = grad_new(n), gb = grad_new(n), gc = grad_new(n), gp = grad_new(D);
    char label[64];
    switch (op) {
    case OP_TANH:
        tanh_forward(out, a, n);
        tanh_backward(ga.g, W, out, n);
        break;
    case OP_SIGMOID:
        sigmoid_forward(out, a, p, T, D);
        sigmoid_backward(ga.g, gp.g, W, out, T, D);
        break;
    case OP_DECAY:
        decay_forward(out, a, p, T, D);
        decay_backward(ga.g, gp.g, W, a, p, T, D);
        break;
    case OP_VMIX:
        value_mix_forward(out, a, b, cc, p, T, D);
        value_mix_backward(ga.g, gc.g, gp.g, W, a, b, cc, p, T, D);
        break;
    case OP_KICLR:
        k_iclr_forward(out, a, b, p, T, D);
        k_iclr_backward(ga.g, gb.g, gp.g, W, a, b, p, T, D);
        break;
    case OP_AB:
        wkv_ab_forward(out, out2, a, b, n);
        wkv_ab_backward(ga.g, gb.g, W, W2, a, b, n);
        break;
    case OP_GATE:
        gate_mul_forward(out, a, b, n);
        gate_mul_backward(ga.g, gb.g, W, a, b, n);
        break;
    }
    double *ref = malloc(n * sizeof *ref), *ref2 = malloc(n * sizeof *ref2);
    ew_mirror(&c, ref, ref2);
    snprintf(label, sizeof label, "%s out", name);
    fd_check_fwd(label, out, ref, n, FWD_TOL);
    if (op == OP_AB) fd_check_fwd("wkv_ab beta", out2, ref2, n, FWD_TOL);
    snprintf(label, sizeof label, "%s d(input 1) (+=)", name);
    fd_check(label, ga.g, ga.g0, c.a, n, ew_loss, &c, GRAD_TOL);
    if (op == OP_KICLR || op == OP_AB || op == OP_GATE) {
        snprintf(label, sizeof label, "%s d(input 2) (+=)", name);
        fd_check(label, gb.g, gb.g0, c.b, n, ew_loss, &c, GRAD_TOL);
    }
    if (op == OP_VMIX) {
        fd_check("value_mix dz (+=)", gc.g, gc.g0, c.c, n, ew_loss, &c, GRAD_TOL);
        // v_first is detached: the op has no gradient for it, and v gets only the (1 - s) part
    }
    if (op == OP_SIGMOID || op == OP_DECAY || op == OP_VMIX || op == OP_KICLR) {
        snprintf(label, sizeof label, "%s d(param) (+=)", name);
        fd_check(label, gp.g, gp.g0, c.p, D, ew_loss, &c, GRAD_TOL);
    }
    if (op == OP_SIGMOID) {   // no bias: plain sigmoid
        sigmoid_forward(out, a, NULL, T, D);
        for (size_t i = 0; i < n; i++) ref[i] = sigm(a[i]);
        fd_check_fwd("sigmoid out (no bias)", out, ref, n, FWD_TOL);
    }
    free(c.a); free(c.b); free(c.c); free(c.p); free(a); free(b); free(cc); free(p); free(W); free(W2);
    free(out); free(out2); free(ref); free(ref2);
    grad_free(&ga); grad_free(&gb); grad_free(&gc); grad_free(&gp);
}

// ---- per-head ops: kk normalisation, bonus, group norm ----------------------------------------
enum { OP_KK, OP_BONUS, OP_GN };
typedef struct { int op; double *x, *y, *z, *ph, *ph2; const float *W; int T, H, N; double eps; } hd_ctx;

static void hd_mirror(const hd_ctx *c, double *out) {
    int N = c->N;
    for (int t = 0; t < c->T; t++)
        for (int h = 0; h < c->H; h++) {
            size_t o = ((size_t)t * c->H + h) * N;
            const double *x = c->x + o, *p = c->ph + (size_t)h * N;
            double s = 0, mu = 0, var = 0;
            switch (c->op) {
            case OP_KK:
                for (int n = 0; n < N; n++) s += x[n] * p[n] * x[n] * p[n];
                s = fmax(sqrt(s), 1e-12);
                for (int n = 0; n < N; n++) out[o + n] = x[n] * p[n] / s;
                break;
            case OP_BONUS:   // x = r, y = k, z = v, p = r_k; the WKV output part is zero here
                for (int n = 0; n < N; n++) s += x[n] * c->y[o + n] * p[n];
                for (int n = 0; n < N; n++) out[o + n] = s * c->z[o + n];
                break;
            case OP_GN:      // p = weight, ph2 = bias
                for (int n = 0; n < N; n++) mu += x[n] / N;
                for (int n = 0; n < N; n++) var += (x[n] - mu) * (x[n] - mu) / N;
                for (int n = 0; n < N; n++)
                    out[o + n] = (x[n] - mu) / sqrt(var + c->eps) * p[n] + c->ph2[(size_t)h * N + n];
                break;
            }
        }
}

static double hd_loss(void *p) {
    hd_ctx *c = p;
    size_t n = (size_t)c->T * c->H * c->N;
    double *o = malloc(n * sizeof *o);
    hd_mirror(c, o);
    double L = fd_dot(c->W, o, n);
    free(o);
    return L;
}

static void test_per_head(int op, const char *name, int T, int H, int N) {
    printf("%s T=%d H=%d N=%d\n", name, T, H, N);
    size_t n = (size_t)T * H * N, D = (size_t)H * N;
    float *x = fd_rand(n, 2.0f, &g_seed), *y = fd_rand(n, 1.0f, &g_seed), *z = fd_rand(n, 1.0f, &g_seed);
    float *ph = fd_rand(D, 1.5f, &g_seed), *ph2 = fd_rand(D, 1.0f, &g_seed), *W = fd_rand(n, 1.0f, &g_seed);
    float *out = fd_alloc(n), *mean = fd_alloc((size_t)T * H), *rstd = fd_alloc((size_t)T * H);
    hd_ctx c = { op, fd_dup(x, n), fd_dup(y, n), fd_dup(z, n), fd_dup(ph, D), fd_dup(ph2, D), W, T, H, N, 64e-5 };
    grad_buf gx = grad_new(n), gy = grad_new(n), gz = grad_new(n), gp = grad_new(D), gp2 = grad_new(D);
    char label[64];
    switch (op) {
    case OP_KK:
        kk_norm_forward(out, x, ph, T, H, N);
        kk_norm_backward(gx.g, gp.g, W, x, ph, T, H, N);
        break;
    case OP_BONUS:
        bonus_forward(out, x, y, z, ph, T, H, N);   // out starts at zero
        bonus_backward(gx.g, gy.g, gz.g, gp.g, W, x, y, z, ph, T, H, N);
        break;
    case OP_GN:
        group_norm_forward(out, mean, rstd, x, ph, ph2, 64e-5f, T, H, N);
        group_norm_backward(gx.g, gp.g, gp2.g, W, x, ph, mean, rstd, T, H, N);
        break;
    }
    double *ref = malloc(n * sizeof *ref);
    hd_mirror(&c, ref);
    snprintf(label, sizeof label, "%s out", name);
    fd_check_fwd(label, out, ref, n, FWD_TOL);
    snprintf(label, sizeof label, "%s d(input) (+=)", name);
    fd_check(label, gx.g, gx.g0, c.x, n, hd_loss, &c, GRAD_TOL);
    if (op == OP_BONUS) {
        fd_check("bonus dk (+=)", gy.g, gy.g0, c.y, n, hd_loss, &c, GRAD_TOL);
        fd_check("bonus dv (+=)", gz.g, gz.g0, c.z, n, hd_loss, &c, GRAD_TOL);
    }
    snprintf(label, sizeof label, "%s d(head param) (+=)", name);
    fd_check(label, gp.g, gp.g0, c.ph, D, hd_loss, &c, GRAD_TOL);
    if (op == OP_GN) fd_check("group_norm dbias (+=)", gp2.g, gp2.g0, c.ph2, D, hd_loss, &c, GRAD_TOL);
    if (op == OP_BONUS) {   // the bonus adds to what o already holds
        float *o2 = fd_copy(y, n);
        bonus_forward(o2, x, y, z, ph, T, H, N);
        for (size_t i = 0; i < n; i++) ref[i] += y[i];
        fd_check_fwd("bonus adds in place", o2, ref, n, FWD_TOL);
        free(o2);
    }
    free(c.x); free(c.y); free(c.z); free(c.ph); free(c.ph2); free(x); free(y); free(z); free(ph); free(ph2);
    free(W); free(out); free(mean); free(rstd); free(ref);
    grad_free(&gx); grad_free(&gy); grad_free(&gz); grad_free(&gp); grad_free(&gp2);
}

// a zero key head hits the 1e-12 clamp: output zeros, gradient finite
static void test_kk_zero_head(void) {
    printf("kk_norm zero head\n");
    float k[16] = { 0 }, kk_[16], kk[16], dk[16] = { 0 }, dkk[16];
    for (int i = 0; i < 16; i++) {
        k[i] = i < 8 ? 0.0f : (float)i;
        kk_[i] = 0.9f;
        dkk[i] = 1e-13f * (float)(i % 3);
    }
    kk_norm_forward(kk, k, kk_, 1, 2, 8);
    kk_norm_backward(dk, NULL, dkk, k, kk_, 1, 2, 8);
    int ok = 1;
    for (int i = 0; i < 8; i++) ok &= kk[i] == 0.0f && isfinite(dk[i]);
    CHECK(ok, "zero head: kk not zero or gradient not finite");
    // below the clamp the map is u / 1e-12: dk = dkk * k_k / 1e-12
    CHECK(fabsf(dk[1] - 0.9f * 0.1f) < 1e-6f, "clamped gradient %g, expected 0.09", dk[1]);
}

// ---- chain 1: decay branch wd = decay(tanh(xw @ w1) @ w2, w0) --------------------------------
typedef struct { double *xw, *w1, *w2, *w0; const float *W; int T, D, R; } dec_ctx;

static double dec_loss(void *p) {
    dec_ctx *c = p;
    int T = c->T, D = c->D, R = c->R;
    double *h = malloc((size_t)T * R * sizeof *h), *z = malloc((size_t)T * D * sizeof *z), L = 0;
    xp_mirror(c->xw, c->w1, h, T, D, R);
    for (size_t i = 0; i < (size_t)T * R; i++) h[i] = tanh(h[i]);
    xp_mirror(h, c->w2, z, T, R, D);
    for (int t = 0; t < T; t++)
        for (int d = 0; d < D; d++)
            L += c->W[(size_t)t * D + d] * exp(-exp(-0.5) * sigm(c->w0[d] + z[(size_t)t * D + d]));
    free(h); free(z);
    return L;
}

static void test_decay_chain(void) {
    enum { T = 4, D = 16, R = 6 };
    printf("chain: decay branch T=%d D=%d R=%d\n", T, D, R);
    float *xw = fd_rand(T * D, 1.0f, &g_seed), *w1 = fd_rand(D * R, 0.7f, &g_seed);
    float *w2 = fd_rand(R * D, 0.7f, &g_seed), *w0 = fd_rand(D, 2.0f, &g_seed), *W = fd_rand(T * D, 1.0f, &g_seed);
    float h[T * R], z[T * D], wd[T * D], dh[T * R] = { 0 }, dz[T * D] = { 0 };
    xp_forward(h, xw, w1, T, D, R);
    tanh_forward(h, h, T * R);
    xp_forward(z, h, w2, T, R, D);
    decay_forward(wd, z, w0, T, D);
    grad_buf gx = grad_new(T * D), g1 = grad_new(D * R), g2 = grad_new(R * D), g0 = grad_new(D);
    decay_backward(dz, g0.g, W, z, w0, T, D);
    xp_backward(dh, g2.g, dz, h, w2, T, R, D);
    float dpre[T * R] = { 0 };
    tanh_backward(dpre, dh, h, T * R);
    xp_backward(gx.g, g1.g, dpre, xw, w1, T, D, R);
    dec_ctx c = { fd_dup(xw, T * D), fd_dup(w1, D * R), fd_dup(w2, R * D), fd_dup(w0, D), W, T, D, R };
    fd_check("decay chain dxw", gx.g, gx.g0, c.xw, T * D, dec_loss, &c, GRAD_TOL);
    fd_check("decay chain dw1", g1.g, g1.g0, c.w1, D * R, dec_loss, &c, GRAD_TOL);
    fd_check("decay chain dw2", g2.g, g2.g0, c.w2, R * D, dec_loss, &c, GRAD_TOL);
    fd_check("decay chain dw0", g0.g, g0.g0, c.w0, D, dec_loss, &c, GRAD_TOL);
    free(c.xw); free(c.w1); free(c.w2); free(c.w0); free(xw); free(w1); free(w2); free(w0); free(W);
    grad_free(&gx); grad_free(&g1); grad_free(&g2); grad_free(&g0);
}

// ---- chain 2: a = sigmoid(a0 + (xa @ a1) @ a2); kk = norm(k * k_k); k2 = k_iclr(k, a);
// alpha, beta from kk and a. k and a each feed two ops, so their gradients must add up.
typedef struct { double *k, *xa, *a1, *a2, *a0, *k_k, *k_a; const float *Wk, *Wal, *Wbe; int T, H, N, R; } kc_ctx;

static double kc_loss(void *p) {
    kc_ctx *c = p;
    int T = c->T, D = c->H * c->N, R = c->R, N = c->N;
    double *h = malloc((size_t)T * R * sizeof *h), *a = malloc((size_t)T * D * sizeof *a), L = 0;
    xp_mirror(c->xa, c->a1, h, T, D, R);
    xp_mirror(h, c->a2, a, T, R, D);
    for (int t = 0; t < T; t++)
        for (int d = 0; d < D; d++) a[(size_t)t * D + d] = sigm(c->a0[d] + a[(size_t)t * D + d]);
    for (int t = 0; t < T; t++)
        for (int hh = 0; hh < c->H; hh++) {
            size_t o = (size_t)t * D + (size_t)hh * N;
            double s = 0;
            for (int n = 0; n < N; n++) s += pow(c->k[o + n] * c->k_k[hh * N + n], 2);
            s = sqrt(s);
            for (int n = 0; n < N; n++) {
                double kk = c->k[o + n] * c->k_k[hh * N + n] / s, av = a[o + n];
                double k2 = c->k[o + n] * (1 + (av - 1) * c->k_a[hh * N + n]);
                L += c->Wk[o + n] * k2 - c->Wal[o + n] * kk + c->Wbe[o + n] * kk * av;
            }
        }
    free(h); free(a);
    return L;
}

static void test_k_chain(void) {
    enum { T = 3, H = 2, N = 8, D = H * N, R = 5 };
    printf("chain: iclr, kk, k update, alpha/beta T=%d H=%d N=%d R=%d\n", T, H, N, R);
    float *k = fd_rand(T * D, 1.0f, &g_seed), *xa = fd_rand(T * D, 1.0f, &g_seed);
    float *a1 = fd_rand(D * R, 0.8f, &g_seed), *a2 = fd_rand(R * D, 0.8f, &g_seed), *a0 = fd_rand(D, 1.0f, &g_seed);
    float *k_k = fd_rand(D, 1.0f, &g_seed), *k_a = fd_rand(D, 1.0f, &g_seed);
    float *Wk = fd_rand(T * D, 1.0f, &g_seed), *Wal = fd_rand(T * D, 1.0f, &g_seed), *Wbe = fd_rand(T * D, 1.0f, &g_seed);
    float h[T * R], a[T * D], kk[T * D], k2[T * D], al[T * D], be[T * D];
    xp_forward(h, xa, a1, T, D, R);
    xp_forward(a, h, a2, T, R, D);
    sigmoid_forward(a, a, a0, T, D);
    kk_norm_forward(kk, k, k_k, T, H, N);
    k_iclr_forward(k2, k, a, k_a, T, D);
    wkv_ab_forward(al, be, kk, a, T * D);
    grad_buf gk = grad_new(T * D), gxa = grad_new(T * D), g1 = grad_new(D * R), g2 = grad_new(R * D);
    grad_buf g0 = grad_new(D), gkk = grad_new(D), gka = grad_new(D);
    float dkk[T * D] = { 0 }, da[T * D] = { 0 }, dpre[T * D] = { 0 }, dh[T * R] = { 0 };
    wkv_ab_backward(dkk, da, Wal, Wbe, kk, a, T * D);
    k_iclr_backward(gk.g, da, gka.g, Wk, k, a, k_a, T, D);
    kk_norm_backward(gk.g, gkk.g, dkk, k, k_k, T, H, N);
    sigmoid_backward(dpre, g0.g, da, a, T, D);
    xp_backward(dh, g2.g, dpre, h, a2, T, R, D);
    xp_backward(gxa.g, g1.g, dh, xa, a1, T, D, R);
    kc_ctx c = { fd_dup(k, T * D), fd_dup(xa, T * D), fd_dup(a1, D * R), fd_dup(a2, R * D), fd_dup(a0, D),
                 fd_dup(k_k, D), fd_dup(k_a, D), Wk, Wal, Wbe, T, H, N, R };
    fd_check("k chain dk (two paths)", gk.g, gk.g0, c.k, T * D, kc_loss, &c, GRAD_TOL);
    fd_check("k chain dxa", gxa.g, gxa.g0, c.xa, T * D, kc_loss, &c, GRAD_TOL);
    fd_check("k chain da1", g1.g, g1.g0, c.a1, D * R, kc_loss, &c, GRAD_TOL);
    fd_check("k chain da2", g2.g, g2.g0, c.a2, R * D, kc_loss, &c, GRAD_TOL);
    fd_check("k chain da0", g0.g, g0.g0, c.a0, D, kc_loss, &c, GRAD_TOL);
    fd_check("k chain dk_k", gkk.g, gkk.g0, c.k_k, D, kc_loss, &c, GRAD_TOL);
    fd_check("k chain dk_a", gka.g, gka.g0, c.k_a, D, kc_loss, &c, GRAD_TOL);
    free(c.k); free(c.xa); free(c.a1); free(c.a2); free(c.a0); free(c.k_k); free(c.k_a);
    free(k); free(xa); free(a1); free(a2); free(a0); free(k_k); free(k_a); free(Wk); free(Wal); free(Wbe);
    grad_free(&gk); grad_free(&gxa); grad_free(&g1); grad_free(&g2); grad_free(&g0); grad_free(&gkk); grad_free(&gka);
}

int main(void) {
    if (cpu_level_skip()) return 77;
    test_token_shift(6, 2, 5, 72);
    test_token_shift(5, 2, 40, 128);   // above the threading threshold
    test_xp(5, 12, 7);
    test_xp(64, 72, 16);
    test_elementwise(OP_TANH, "tanh", 3, 20);
    test_elementwise(OP_SIGMOID, "sigmoid+bias", 3, 75);
    test_elementwise(OP_DECAY, "decay", 3, 75);
    test_elementwise(OP_DECAY, "decay", 64, 576);
    test_elementwise(OP_VMIX, "value_mix", 3, 75);
    test_elementwise(OP_VMIX, "value_mix", 64, 576);
    test_elementwise(OP_KICLR, "k_iclr", 3, 75);
    test_elementwise(OP_KICLR, "k_iclr", 64, 576);
    test_elementwise(OP_AB, "wkv_ab", 3, 20);
    test_elementwise(OP_GATE, "gate_mul", 3, 20);
    test_per_head(OP_KK, "kk_norm", 3, 3, 8);
    test_per_head(OP_KK, "kk_norm", 64, 9, 64);
    test_per_head(OP_BONUS, "bonus", 3, 3, 8);
    test_per_head(OP_BONUS, "bonus", 64, 9, 64);
    test_per_head(OP_GN, "group_norm", 3, 3, 8);
    test_per_head(OP_GN, "group_norm", 64, 9, 64);
    test_kk_zero_head();
    test_decay_chain();
    test_k_chain();
    return test_summary();
}
