// The CUDA RWKV-7 time-mix ops and WKV scan against the CPU kernels on seeded random inputs: one
// line per op with the largest max|gpu - cpu| / max|cpu| over its outputs. Gradients start from
// random values on both sides, so the accumulation (+=) is checked too. Exits 77 (skipped) when
// the machine has no CUDA device.
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "cuda/cuda_ops.h"
#include "cuda/cuda_rwkv.h"
#include "kernels/kernels.h"
#include "kernels/train_ops.h"
#include "test_util.h"

#define TOL_F32 1e-5
#define TOL_SCAN 1e-4   // the scan's state carries rounding over tens to hundreds of tokens
#define MAX_BUFS 256

// the shapes of the time-mix ops: B sequences of T tokens, H heads of N channels
enum { B = 2, T = 37, H = 3, N = 64, D = H * N, ROWS = B * T, M = 6, R = 32 };

static unsigned long long g_seed = 7031;
static void *g_host[MAX_BUFS], *g_dev[MAX_BUFS];
static int g_nhost, g_ndev;
// the op being compared: its worst relative error and the output that has it
static const char *g_op, *g_worst;
static double g_err;

static void *host_buf(size_t bytes) {
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p || g_nhost == MAX_BUFS) {
        fprintf(stderr, "host allocation of %zu bytes failed\n", bytes);
        exit(1);
    }
    return g_host[g_nhost++] = p;
}

static float *rnd(size_t n, float scale) {
    float *x = host_buf(n * sizeof(float));
    fill_uniform(x, n, scale, &g_seed);
    return x;
}

static float *copy_of(const float *x, size_t n) {
    float *y = host_buf(n * sizeof(float));
    memcpy(y, x, n * sizeof(float));
    return y;
}

// a device copy of n host floats (x NULL: uninitialised)
static float *devf(const float *x, size_t n) {
    float *d = cuda_alloc(n * sizeof(float));
    if (!d || g_ndev == MAX_BUFS) {
        fprintf(stderr, "device allocation of %zu floats failed: %s\n", n, arwkv_last_error());
        exit(1);
    }
    if (x) cuda_upload(d, x, n * sizeof(float));
    return g_dev[g_ndev++] = d;
}

static void free_all(void) {
    while (g_ndev) cuda_release(g_dev[--g_ndev]);
    while (g_nhost) free(g_host[--g_nhost]);
}

static void op_begin(const char *name) { g_op = name, g_worst = "-", g_err = 0.0; }

// the device buffer d (n floats) against the reference ref
static void cmp(const char *what, const float *d, const float *ref, size_t n) {
    float *h = host_buf(n * sizeof(float));
    cuda_download(h, d, n * sizeof(float));
    double e = rel_err(h, ref, n);
    if (!(e <= g_err)) g_err = e, g_worst = what;
}

static void op_end(double tol) {
    printf("%-34s rel %.2e (worst: %s, tol %.0e)\n", g_op, g_err, g_worst, tol);
    CHECK(g_err <= tol, "%s: %s: %.3e > %.0e", g_op, g_worst, g_err, tol);
    CHECK(!cuda_has_failed(), "%s: %s", g_op, arwkv_last_error());
}

// ---- elementwise and per-row ops ------------------------------------------------------------
static void test_token_shift(void) {
    const size_t plane = (size_t)ROWS * D, n = M * plane;
    float *xn = rnd(plane, 1.0f), *shift = rnd((size_t)B * D, 1.0f), *mix = rnd((size_t)M * D, 1.0f);
    float *out = host_buf(n * sizeof(float)), *d_out = devf(NULL, n);
    float *d_xn = devf(xn, plane), *d_shift = devf(shift, (size_t)B * D), *d_mix = devf(mix, (size_t)M * D);
    op_begin("token_shift_forward");
    token_shift_forward(out, xn, shift, mix, M, B, T, D);
    cuda_token_shift_forward(d_out, d_xn, d_shift, d_mix, M, B, T, D);
    cmp("out", d_out, out, n);
    op_end(TOL_F32);

    float *dout = rnd(n, 1.0f), *dxn = rnd(plane, 0.1f), *dshift = rnd((size_t)B * D, 0.1f);
    float *dmix = rnd((size_t)M * D, 0.1f);
    float *d_dout = devf(dout, n), *d_dxn = devf(dxn, plane), *d_dshift = devf(dshift, (size_t)B * D);
    float *d_dmix = devf(dmix, (size_t)M * D);
    op_begin("token_shift_backward");
    token_shift_backward(dxn, dshift, dmix, dout, xn, shift, mix, M, B, T, D);
    cuda_token_shift_backward(d_dxn, d_dshift, d_dmix, d_dout, d_xn, d_shift, d_mix, M, B, T, D);
    cmp("dxn", d_dxn, dxn, plane);
    cmp("dshift", d_dshift, dshift, (size_t)B * D);
    cmp("dmix", d_dmix, dmix, (size_t)M * D);
    op_end(TOL_F32);

    // the reference is a plain copy of row T-1 of each sequence
    float *last = host_buf((size_t)B * D * sizeof(float));
    for (int b = 0; b < B; b++) memcpy(last + (size_t)b * D, xn + ((size_t)b * T + T - 1) * D, D * sizeof(float));
    float *d_last = devf(NULL, (size_t)B * D);
    op_begin("shift_store");
    cuda_shift_store(d_last, d_xn, B, T, D);
    cmp("last", d_last, last, (size_t)B * D);
    op_end(0.0);
    free_all();
}

static void test_xp(void) {
    float *inp = rnd((size_t)ROWS * D, 1.0f), *P = rnd((size_t)D * R, 0.2f);
    float *out = host_buf((size_t)ROWS * R * sizeof(float)), *d_out = devf(NULL, (size_t)ROWS * R);
    float *d_inp = devf(inp, (size_t)ROWS * D), *d_P = devf(P, (size_t)D * R);
    op_begin("xp_forward");
    xp_forward(out, inp, P, ROWS, D, R);
    cuda_xp_forward(d_out, d_inp, d_P, ROWS, D, R);
    cmp("out", d_out, out, (size_t)ROWS * R);
    op_end(TOL_F32);

    float *dout = rnd((size_t)ROWS * R, 1.0f), *dinp = rnd((size_t)ROWS * D, 0.1f), *dP = rnd((size_t)D * R, 0.1f);
    float *d_dout = devf(dout, (size_t)ROWS * R), *d_dinp = devf(dinp, (size_t)ROWS * D);
    float *d_dP = devf(dP, (size_t)D * R);
    op_begin("xp_backward");
    xp_backward(dinp, dP, dout, inp, P, ROWS, D, R);
    cuda_xp_backward(d_dinp, d_dP, d_dout, d_inp, d_P, ROWS, D, R);
    cmp("dinp", d_dinp, dinp, (size_t)ROWS * D);
    cmp("dP", d_dP, dP, (size_t)D * R);
    op_end(TOL_F32);
    free_all();
}

static void test_activations(void) {
    const size_t n = (size_t)ROWS * D;
    float *x = rnd(n, 3.0f), *bias = rnd(D, 1.0f), *y = host_buf(n * sizeof(float));
    float *d_x = devf(x, n), *d_y = devf(NULL, n);
    op_begin("tanh_forward");
    tanh_forward(y, x, n);
    cuda_tanh_forward(d_y, d_x, n);
    cmp("out", d_y, y, n);
    op_end(TOL_F32);

    float *dout = rnd(n, 1.0f), *dx = rnd(n, 0.1f), *d_dout = devf(dout, n), *d_dx = devf(dx, n);
    float *d_out = devf(y, n);
    op_begin("tanh_backward");
    tanh_backward(dx, dout, y, n);
    cuda_tanh_backward(d_dx, d_dout, d_out, n);
    cmp("dinp", d_dx, dx, n);
    op_end(TOL_F32);

    d_y = devf(NULL, n);
    float *d_bias = devf(bias, D), *y2 = host_buf(n * sizeof(float)), *d_y2 = devf(NULL, n);
    op_begin("sigmoid_forward");
    sigmoid_forward(y, x, bias, ROWS, D);
    sigmoid_forward(y2, x, NULL, ROWS, D);
    cuda_sigmoid_forward(d_y, d_x, d_bias, ROWS, D);
    cuda_sigmoid_forward(d_y2, d_x, NULL, ROWS, D);
    cmp("out (bias)", d_y, y, n);
    cmp("out (no bias)", d_y2, y2, n);
    op_end(TOL_F32);

    dout = rnd(n, 1.0f), dx = rnd(n, 0.1f);
    float *dbias = rnd(D, 0.1f), *dbias2 = rnd(D, 0.1f);
    d_dout = devf(dout, n), d_dx = devf(dx, n), d_out = devf(y, n);
    float *d_dbias = devf(dbias, D), *d_dbias2 = devf(dbias2, D);
    op_begin("sigmoid_backward");
    sigmoid_backward(dx, dbias, dout, y, ROWS, D);
    sigmoid_backward(NULL, dbias2, dout, y, ROWS, D);   // dinp not wanted
    cuda_sigmoid_backward(d_dx, d_dbias, d_dout, d_out, ROWS, D);
    cuda_sigmoid_backward(NULL, d_dbias2, d_dout, d_out, ROWS, D);
    cmp("dinp", d_dx, dx, n);
    cmp("dbias", d_dbias, dbias, D);
    cmp("dbias (dinp NULL)", d_dbias2, dbias2, D);
    op_end(TOL_F32);
    free_all();
}

static void test_decay_value(void) {
    const size_t n = (size_t)ROWS * D;
    float *z = rnd(n, 2.0f), *w0 = rnd(D, 2.0f), *wd = host_buf(n * sizeof(float));
    float *d_z = devf(z, n), *d_w0 = devf(w0, D), *d_wd = devf(NULL, n);
    op_begin("decay_forward");
    decay_forward(wd, z, w0, ROWS, D);
    cuda_decay_forward(d_wd, d_z, d_w0, ROWS, D);
    cmp("wd", d_wd, wd, n);
    op_end(TOL_F32);

    float *dwd = rnd(n, 1.0f), *dz = rnd(n, 0.1f), *dw0 = rnd(D, 0.1f), *dw0b = rnd(D, 0.1f);
    float *d_dwd = devf(dwd, n), *d_dz = devf(dz, n), *d_dw0 = devf(dw0, D), *d_dw0b = devf(dw0b, D);
    op_begin("decay_backward");
    decay_backward(dz, dw0, dwd, z, w0, ROWS, D);
    decay_backward(NULL, dw0b, dwd, z, w0, ROWS, D);
    cuda_decay_backward(d_dz, d_dw0, d_dwd, d_z, d_w0, ROWS, D);
    cuda_decay_backward(NULL, d_dw0b, d_dwd, d_z, d_w0, ROWS, D);
    cmp("dz", d_dz, dz, n);
    cmp("dw0", d_dw0, dw0, D);
    cmp("dw0 (dz NULL)", d_dw0b, dw0b, D);
    op_end(TOL_F32);

    float *v = rnd(n, 1.0f), *vf = rnd(n, 1.0f), *v0 = rnd(D, 1.0f), *out = host_buf(n * sizeof(float));
    z = rnd(n, 2.0f);
    float *d_v = devf(v, n), *d_vf = devf(vf, n), *d_v0 = devf(v0, D), *d_out = devf(NULL, n);
    d_z = devf(z, n);
    op_begin("value_mix_forward");
    value_mix_forward(out, v, vf, z, v0, ROWS, D);
    cuda_value_mix_forward(d_out, d_v, d_vf, d_z, d_v0, ROWS, D);
    cmp("out", d_out, out, n);
    op_end(TOL_F32);

    float *dout = rnd(n, 1.0f), *dv = rnd(n, 0.1f), *dzz = rnd(n, 0.1f), *dv0 = rnd(D, 0.1f);
    float *d_dout = devf(dout, n), *d_dv = devf(dv, n), *d_dzz = devf(dzz, n), *d_dv0 = devf(dv0, D);
    op_begin("value_mix_backward");
    value_mix_backward(dv, dzz, dv0, dout, v, vf, z, v0, ROWS, D);
    cuda_value_mix_backward(d_dv, d_dzz, d_dv0, d_dout, d_v, d_vf, d_z, d_v0, ROWS, D);
    cmp("dv", d_dv, dv, n);
    cmp("dz", d_dzz, dzz, n);
    cmp("dv0", d_dv0, dv0, D);
    op_end(TOL_F32);
    free_all();
}

static void test_k_ops(void) {
    const size_t n = (size_t)ROWS * D;
    float *k = rnd(n, 1.0f), *k_k = rnd(D, 1.0f), *kk = host_buf(n * sizeof(float));
    memset(k, 0, N * sizeof(float));   // row 0, head 0: a zero norm takes the clamped branch
    float *d_k = devf(k, n), *d_kk = devf(k_k, D), *d_out = devf(NULL, n);
    op_begin("kk_norm_forward");
    kk_norm_forward(kk, k, k_k, ROWS, H, N);
    cuda_kk_norm_forward(d_out, d_k, d_kk, ROWS, H, N);
    cmp("kk", d_out, kk, n);
    op_end(TOL_F32);

    float *dkk = rnd(n, 1.0f), *dk = rnd(n, 0.1f), *dk_k = rnd(D, 0.1f);
    float *d_dkk = devf(dkk, n), *d_dk = devf(dk, n), *d_dk_k = devf(dk_k, D);
    op_begin("kk_norm_backward");
    kk_norm_backward(dk, dk_k, dkk, k, k_k, ROWS, H, N);
    cuda_kk_norm_backward(d_dk, d_dk_k, d_dkk, d_k, d_kk, ROWS, H, N);
    cmp("dk", d_dk, dk, n);
    cmp("dk_k", d_dk_k, dk_k, D);
    op_end(TOL_F32);

    float *a = rnd(n, 1.0f), *k_a = rnd(D, 1.0f), *out = host_buf(n * sizeof(float));
    k = rnd(n, 1.0f);
    d_k = devf(k, n);
    float *d_a = devf(a, n), *d_ka = devf(k_a, D);
    d_out = devf(NULL, n);
    op_begin("k_iclr_forward");
    k_iclr_forward(out, k, a, k_a, ROWS, D);
    cuda_k_iclr_forward(d_out, d_k, d_a, d_ka, ROWS, D);
    cmp("out", d_out, out, n);
    op_end(TOL_F32);

    float *dout = rnd(n, 1.0f), *da = rnd(n, 0.1f), *dk_a = rnd(D, 0.1f);
    dk = rnd(n, 0.1f);
    float *d_dout = devf(dout, n), *d_da = devf(da, n), *d_dk_a = devf(dk_a, D);
    d_dk = devf(dk, n);
    op_begin("k_iclr_backward");
    k_iclr_backward(dk, da, dk_a, dout, k, a, k_a, ROWS, D);
    cuda_k_iclr_backward(d_dk, d_da, d_dk_a, d_dout, d_k, d_a, d_ka, ROWS, D);
    cmp("dk", d_dk, dk, n);
    cmp("da", d_da, da, n);
    cmp("dk_a", d_dk_a, dk_a, D);
    op_end(TOL_F32);

    kk = rnd(n, 1.0f);
    float *al = host_buf(n * sizeof(float)), *be = host_buf(n * sizeof(float));
    float *d_kk2 = devf(kk, n), *d_al = devf(NULL, n), *d_be = devf(NULL, n);
    op_begin("wkv_ab_forward");
    wkv_ab_forward(al, be, kk, a, n);
    cuda_wkv_ab_forward(d_al, d_be, d_kk2, d_a, n);
    cmp("alpha", d_al, al, n);
    cmp("beta", d_be, be, n);
    op_end(TOL_F32);

    float *dal = rnd(n, 1.0f), *dbe = rnd(n, 1.0f);
    dkk = rnd(n, 0.1f), da = rnd(n, 0.1f);
    float *d_dal = devf(dal, n), *d_dbe = devf(dbe, n);
    d_dkk = devf(dkk, n), d_da = devf(da, n);
    op_begin("wkv_ab_backward");
    wkv_ab_backward(dkk, da, dal, dbe, kk, a, n);
    cuda_wkv_ab_backward(d_dkk, d_da, d_dal, d_dbe, d_kk2, d_a, n);
    cmp("dkk", d_dkk, dkk, n);
    cmp("da", d_da, da, n);
    op_end(TOL_F32);
    free_all();
}

static void test_output_ops(void) {
    const size_t n = (size_t)ROWS * D;
    float *r = rnd(n, 1.0f), *k = rnd(n, 1.0f), *v = rnd(n, 1.0f), *r_k = rnd(D, 1.0f), *o = rnd(n, 1.0f);
    float *d_r = devf(r, n), *d_k = devf(k, n), *d_v = devf(v, n), *d_rk = devf(r_k, D), *d_o = devf(o, n);
    op_begin("bonus_forward");
    bonus_forward(o, r, k, v, r_k, ROWS, H, N);
    cuda_bonus_forward(d_o, d_r, d_k, d_v, d_rk, ROWS, H, N);
    cmp("o", d_o, o, n);
    op_end(TOL_F32);

    float *dout = rnd(n, 1.0f), *dr = rnd(n, 0.1f), *dk = rnd(n, 0.1f), *dv = rnd(n, 0.1f), *dr_k = rnd(D, 0.1f);
    float *d_dout = devf(dout, n), *d_dr = devf(dr, n), *d_dk = devf(dk, n), *d_dv = devf(dv, n);
    float *d_drk = devf(dr_k, D);
    op_begin("bonus_backward");
    bonus_backward(dr, dk, dv, dr_k, dout, r, k, v, r_k, ROWS, H, N);
    cuda_bonus_backward(d_dr, d_dk, d_dv, d_drk, d_dout, d_r, d_k, d_v, d_rk, ROWS, H, N);
    cmp("dr", d_dr, dr, n);
    cmp("dk", d_dk, dk, n);
    cmp("dv", d_dv, dv, n);
    cmp("dr_k", d_drk, dr_k, D);
    op_end(TOL_F32);

    const float eps = 64e-5f;
    const size_t TH = (size_t)ROWS * H;
    float *x = rnd(n, 2.0f), *w = rnd(D, 1.0f), *bb = rnd(D, 1.0f), *out = host_buf(n * sizeof(float));
    float *mean = host_buf(TH * sizeof(float)), *rstd = host_buf(TH * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] += (float)(i / N % 5);   // per-head offsets exercise the mean
    float *d_x = devf(x, n), *d_w = devf(w, D), *d_b = devf(bb, D), *d_out = devf(NULL, n);
    float *d_mean = devf(NULL, TH), *d_rstd = devf(NULL, TH);
    op_begin("group_norm_forward");
    group_norm_forward(out, mean, rstd, x, w, bb, eps, ROWS, H, N);
    cuda_group_norm_forward(d_out, d_mean, d_rstd, d_x, d_w, d_b, eps, ROWS, H, N);
    cmp("out", d_out, out, n);
    cmp("mean", d_mean, mean, TH);
    cmp("rstd", d_rstd, rstd, TH);
    op_end(TOL_F32);

    dout = rnd(n, 1.0f), d_dout = devf(dout, n);
    float *dx = rnd(n, 0.1f), *dw = rnd(D, 0.1f), *db = rnd(D, 0.1f);
    d_mean = devf(mean, TH), d_rstd = devf(rstd, TH);
    float *d_dx = devf(dx, n), *d_dw = devf(dw, D), *d_db = devf(db, D);
    op_begin("group_norm_backward");
    group_norm_backward(dx, dw, db, dout, x, w, mean, rstd, ROWS, H, N);
    cuda_group_norm_backward(d_dx, d_dw, d_db, d_dout, d_x, d_w, d_mean, d_rstd, ROWS, H, N);
    cmp("dinp", d_dx, dx, n);
    cmp("dweight", d_dw, dw, D);
    cmp("dbias", d_db, db, D);
    op_end(TOL_F32);

    float *g = rnd(n, 1.0f);
    o = rnd(n, 1.0f);
    d_o = devf(o, n);
    float *d_g = devf(g, n);
    d_out = devf(NULL, n);
    op_begin("gate_mul_forward");
    gate_mul_forward(out, o, g, n);
    cuda_gate_mul_forward(d_out, d_o, d_g, n);
    cmp("out", d_out, out, n);
    op_end(TOL_F32);

    dout = rnd(n, 1.0f), d_dout = devf(dout, n);
    float *d_o_grad = rnd(n, 0.1f), *dg = rnd(n, 0.1f);
    float *d_do = devf(d_o_grad, n), *d_dg = devf(dg, n);
    op_begin("gate_mul_backward");
    gate_mul_backward(d_o_grad, dg, dout, o, g, n);
    cuda_gate_mul_backward(d_do, d_dg, d_dout, d_o, d_g, n);
    cmp("d_o", d_do, d_o_grad, n);
    cmp("dg", d_dg, dg, n);
    op_end(TOL_F32);
    free_all();
}

// ---- WKV scan -------------------------------------------------------------------------------
enum { NIN = 6 };   // r, wd, k, v, alpha, beta

// realistic scan inputs (Bs, Ts, Hs, Ns): wd in (0.545, 1) as the model's decay, kk unit-norm per
// head, alpha = -kk, beta = kk * a with a in (0, 1)
static void wkv_inputs(float **x, int Bs, int Ts, int Hs, int Ns) {
    const size_t n = (size_t)Bs * Ts * Hs * Ns;
    for (int i = 0; i < NIN; i++) x[i] = rnd(n, i == 1 ? 4.0f : 1.0f);
    float *a = rnd(n, 0.5f);
    for (size_t i = 0; i < n; i++) x[1][i] = expf(-expf(-0.5f) / (1.0f + expf(-x[1][i])));
    for (size_t th = 0; th < n; th += Ns) {
        double nrm = 0;
        for (int j = 0; j < Ns; j++) nrm += (double)x[4][th + j] * x[4][th + j];
        for (int j = 0; j < Ns; j++) {
            float kk = (float)(x[4][th + j] / sqrt(nrm));
            x[4][th + j] = -kk;
            x[5][th + j] = kk * (a[th + j] + 0.5f);
        }
    }
}

// forward (out, final state, checkpoints), then backward with and without dstate
static void test_wkv7(int Bs, int Ts, int Hs, int Ns, int K) {
    const size_t n = (size_t)Bs * Ts * Hs * Ns, ns = (size_t)Bs * Hs * Ns * Ns;
    const size_t nc = (size_t)((Ts + K - 1) / K) * ns;
    char name[64];
    float *x[NIN], *dx[NIN];
    wkv_inputs(x, Bs, Ts, Hs, Ns);
    float *s0 = rnd(ns, 0.5f), *state = copy_of(s0, ns), *out = host_buf(n * sizeof(float));
    float *ck = host_buf(nc * sizeof(float));
    for (int i = 0; i < NIN; i++) dx[i] = devf(x[i], n);
    float *d_state = devf(s0, ns), *d_out = devf(NULL, n), *d_ck = devf(NULL, nc);
    snprintf(name, sizeof name, "wkv7_forward B%d T%d H%d N%d K%d", Bs, Ts, Hs, Ns, K);
    op_begin(name);
    wkv7_forward_batch(out, state, ck, K, x[0], x[1], x[2], x[3], x[4], x[5], Bs, Ts, Hs, Ns);
    cuda_wkv7_forward(d_out, d_state, d_ck, K, dx[0], dx[1], dx[2], dx[3], dx[4], dx[5], Bs, Ts, Hs, Ns);
    cmp("out", d_out, out, n);
    cmp("state", d_state, state, ns);
    cmp("ckpt", d_ck, ck, nc);
    op_end(TOL_SCAN);

    // both sides run from the CPU's checkpoints, so only the backward itself is compared
    static const char *gname[NIN] = { "dr", "dwd", "dk", "dv", "dalpha", "dbeta" };
    for (int with_ds = 1; with_ds >= 0; with_ds--) {
        wkv_inputs(x, Bs, Ts, Hs, Ns);   // fresh inputs for each pass
        float *g[NIN], *dg[NIN], *dout = rnd(n, 1.0f), *ds = with_ds ? rnd(ns, 0.5f) : NULL;
        for (int i = 0; i < NIN; i++) dx[i] = devf(x[i], n);
        state = copy_of(s0, ns);
        wkv7_forward_batch(out, state, ck, K, x[0], x[1], x[2], x[3], x[4], x[5], Bs, Ts, Hs, Ns);
        for (int i = 0; i < NIN; i++) g[i] = rnd(n, 0.1f), dg[i] = devf(g[i], n);
        float *d_dout = devf(dout, n), *d_ds = ds ? devf(ds, ns) : NULL;
        d_ck = devf(ck, nc);
        float *scratch = host_buf(wkv7_scratch_floats(K, Bs, Hs, Ns) * sizeof(float));
        float *d_scratch = devf(NULL, cuda_wkv7_scratch_floats(K, Bs, Hs, Ns));
        snprintf(name, sizeof name, "wkv7_backward B%d T%d H%d N%d K%d%s", Bs, Ts, Hs, Ns, K, ds ? "" : " dS=0");
        op_begin(name);
        wkv7_backward_batch(g[0], g[1], g[2], g[3], g[4], g[5], ds, scratch, dout, ck, K, x[0], x[1], x[2], x[3],
                            x[4], x[5], Bs, Ts, Hs, Ns);
        cuda_wkv7_backward(dg[0], dg[1], dg[2], dg[3], dg[4], dg[5], d_ds, d_scratch, d_dout, d_ck, K, dx[0], dx[1],
                           dx[2], dx[3], dx[4], dx[5], Bs, Ts, Hs, Ns);
        for (int i = 0; i < NIN; i++) cmp(gname[i], dg[i], g[i], n);
        if (ds) cmp("dstate", d_ds, ds, ns);
        op_end(TOL_SCAN);
    }
    free_all();
}

int main(void) {
    int ndev = 0;
    cudaError_t e = cudaGetDeviceCount(&ndev);
    if (e != cudaSuccess || ndev == 0) {
        printf("skipped: no CUDA device (%s)\n", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return 77;
    }
    if (cuda_context_init(0)) {
        CHECK(0, "cuda_context_init(0): %s", arwkv_last_error());
        return test_summary();
    }
    test_token_shift();
    test_xp();
    test_activations();
    test_decay_value();
    test_k_ops();
    test_output_ops();
    test_wkv7(B, T, H, 64, 16);
    test_wkv7(B, T, H, 32, 16);
    test_wkv7(1, 200, 2, 64, 16);   // a longer sequence
    test_wkv7(B, 5, H, 64, 16);     // one chunk shorter than K
    test_wkv7(2, 300, 4, 64, 16);   // many chunks, each of two sub-chunks
    test_wkv7(1, 45, 2, 64, 5);     // K not a multiple of the backward's sub-chunk
    test_wkv7(B, T, 2, 24, 8);      // a head size without a fast path
    cuda_sync();
    CHECK(!cuda_has_failed(), "%s", arwkv_last_error());
    return test_summary();
}
