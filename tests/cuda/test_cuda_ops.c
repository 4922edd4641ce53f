// The CUDA backend's ops against the CPU kernels on seeded random inputs: one line per op with
// max|gpu - cpu| / max|cpu|. Exits 77 (skipped) when the machine has no CUDA device.
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "core/core.h"
#include "cuda/cuda_ops.h"
#include "kernels/kernels.h"
#include "kernels/train_ops.h"
#include "test_util.h"

#define TOL_F32 1e-5
#define MAX_BUFS 64

static const backend *g;
static unsigned long long g_seed = 20240611;
// buffers of the current case, freed by case_end()
static void *g_host[MAX_BUFS], *g_dev[MAX_BUFS];
static int g_nhost, g_ndev;

static void *host_buf(size_t bytes) {
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p || g_nhost == MAX_BUFS) abort();
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

// a device copy of host bytes
static void *dev(const void *h, size_t bytes) {
    void *d = g->alloc(bytes);
    if (!d || g_ndev == MAX_BUFS) {
        fprintf(stderr, "device allocation of %zu bytes failed: %s\n", bytes, arwkv_last_error());
        exit(1);
    }
    g->upload(d, h, bytes);
    return g_dev[g_ndev++] = d;
}

static float *devf(const float *h, size_t n) { return dev(h, n * sizeof(float)); }

static void case_end(void) {
    while (g_ndev) g->release(g_dev[--g_ndev]);
    while (g_nhost) free(g_host[--g_nhost]);
}

// the device buffer d (n floats) against the reference ref
static void expect(const char *what, const float *d, const float *ref, size_t n, double tol) {
    float *h = host_buf(n * sizeof(float));
    g->download(h, d, n * sizeof(float));
    double e = rel_err(h, ref, n);
    printf("%-58s rel %.2e (tol %.0e)\n", what, e, tol);
    CHECK(e <= tol, "%s: %.3e > %.0e", what, e, tol);
    CHECK(!cuda_has_failed(), "%s: %s", what, arwkv_last_error());
}

static void test_memory(void) {
    size_t n = 1003;
    float *x = rnd(n, 1.0f), *zero = host_buf(n * sizeof(float));
    float *dx = devf(x, n), *dy = devf(zero, n);
    g->copy(dy, dx, n * sizeof(float));
    expect("upload, copy, download", dy, x, n, 0.0);
    g->zero(dy, n * sizeof(float));
    g->sync();
    expect("zero", dy, zero, n, 0.0);
    case_end();
}

static void test_matmul_forward(int T, int C, int OC, arwkv_dtype wt, int with_bias, int tf32, double tol) {
    float *x = rnd((size_t)T * C, 1.0f), *w = rnd((size_t)OC * C, 0.5f), *bias = rnd(OC, 1.0f);
    float *ref = host_buf((size_t)T * OC * sizeof(float));
    size_t wbytes = (size_t)OC * C * arwkv_dtype_size(wt);
    void *wq = host_buf(wbytes);
    dtype_from_f32(wq, w, wt, (size_t)OC * C);
    matmul_forward(ref, x, wq, wt, with_bias ? bias : NULL, T, C, OC);
    float *dout = devf(ref, (size_t)T * OC);
    g->zero(dout, (size_t)T * OC * sizeof(float));
    cuda_set_tf32(tf32);
    g->matmul_forward(dout, devf(x, (size_t)T * C), dev(wq, wbytes), wt, with_bias ? devf(bias, OC) : NULL, T, C, OC);
    cuda_set_tf32(0);
    char name[96];
    snprintf(name, sizeof name, "matmul_forward T=%d C=%d OC=%d %s%s%s", T, C, OC, arwkv_dtype_name(wt),
             with_bias ? " +bias" : "", tf32 ? " tf32" : "");
    expect(name, dout, ref, (size_t)T * OC, tol);
    case_end();
}

static void test_matmul_backward(int T, int C, int OC, int all) {
    float *x = rnd((size_t)T * C, 1.0f), *w = rnd((size_t)OC * C, 0.5f), *dy = rnd((size_t)T * OC, 1.0f);
    float *dx = rnd((size_t)T * C, 0.1f), *dw = rnd((size_t)OC * C, 0.1f), *db = rnd(OC, 0.1f);
    float *ddx = devf(dx, (size_t)T * C), *ddw = devf(dw, (size_t)OC * C), *ddb = devf(db, OC);
    matmul_backward(all ? dx : NULL, dw, all ? db : NULL, dy, x, w, T, C, OC);
    g->matmul_backward(all ? ddx : NULL, ddw, all ? ddb : NULL, devf(dy, (size_t)T * OC), devf(x, (size_t)T * C),
                       devf(w, (size_t)OC * C), T, C, OC);
    char name[96];
    snprintf(name, sizeof name, "matmul_backward T=%d C=%d OC=%d%s dinp", T, C, OC, all ? "" : " (dw only)");
    expect(name, ddx, dx, (size_t)T * C, TOL_F32);
    snprintf(name, sizeof name, "matmul_backward T=%d C=%d OC=%d%s dw", T, C, OC, all ? "" : " (dw only)");
    expect(name, ddw, dw, (size_t)OC * C, TOL_F32);
    snprintf(name, sizeof name, "matmul_backward T=%d C=%d OC=%d%s dbias", T, C, OC, all ? "" : " (dw only)");
    expect(name, ddb, db, OC, TOL_F32);
    case_end();
}

static void test_elementwise(void) {
    size_t n = 4099;
    float *a = rnd(n, 100.0f), *b = rnd(n, 1.0f), *ref = host_buf(n * sizeof(float));
    for (size_t i = 0; i < n; i++) ref[i] = a[i] + b[i];
    float *da = devf(a, n);
    g->add(da, da, devf(b, n), n);
    expect("add (in place)", da, ref, n, 0.0);
    // ties and subnormals of both formats among the random values
    const float special[] = {1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, 3e-6f, -0.0f, 1.0f + 1.0f / 256,
                             1.0f + 3.0f / 256, 1e-40f, 65504.0f};
    memcpy(a, special, sizeof special);
    for (int k = 0; k < 2; k++) {
        arwkv_dtype dt = k ? ARWKV_BF16 : ARWKV_F16;
        for (size_t i = 0; i < n; i++)
            ref[i] = dt == ARWKV_F16 ? f16_to_f32(f32_to_f16(a[i])) : bf16_to_f32(f32_to_bf16(a[i]));
        float *dx = devf(a, n);
        g->round_to(dx, n, dt);
        expect(dt == ARWKV_F16 ? "round_to F16" : "round_to BF16", dx, ref, n, 0.0);
    }
    int T = 37, F = 300;
    size_t m = (size_t)T * F;
    float *gate = rnd(m, 4.0f), *up = rnd(m, 1.0f), *dy = rnd(m, 1.0f), *out = host_buf(m * sizeof(float));
    float *dg = rnd(m, 0.1f), *du = rnd(m, 0.1f), *dout = devf(out, m), *ddg = devf(dg, m), *ddu = devf(du, m);
    swiglu_forward(out, gate, up, T, F);
    float *dgate = devf(gate, m), *dup = devf(up, m);
    g->swiglu_forward(dout, dgate, dup, T, F);
    expect("swiglu_forward", dout, out, m, TOL_F32);
    swiglu_backward(dg, du, dy, gate, up, T, F);
    g->swiglu_backward(ddg, ddu, devf(dy, m), dgate, dup, T, F);
    expect("swiglu_backward dgate", ddg, dg, m, TOL_F32);
    expect("swiglu_backward dup", ddu, du, m, TOL_F32);
    case_end();
}

static void test_rmsnorm(int T, int C) {
    size_t n = (size_t)T * C;
    float *x = rnd(n, 2.0f), *w = rnd(C, 1.0f), *dy = rnd(n, 1.0f), *out = host_buf(n * sizeof(float));
    float *rstd = host_buf(T * sizeof(float)), *dx = rnd(n, 0.1f), *dw = rnd(C, 0.1f);
    float *dout = devf(out, n), *drstd = devf(rstd, T), *ddx = devf(dx, n), *ddw = devf(dw, C);
    float *dxin = devf(x, n), *dwt = devf(w, C);
    rmsnorm_forward(out, rstd, x, w, 1e-6f, T, C);
    g->rmsnorm_forward(dout, drstd, dxin, dwt, 1e-6f, T, C);
    expect("rmsnorm_forward out", dout, out, n, TOL_F32);
    expect("rmsnorm_forward rstd", drstd, rstd, T, TOL_F32);
    rmsnorm_backward(dx, dw, dy, x, w, rstd, T, C);
    g->rmsnorm_backward(ddx, ddw, devf(dy, n), dxin, dwt, drstd, T, C);
    expect("rmsnorm_backward dinp", ddx, dx, n, TOL_F32);
    expect("rmsnorm_backward dweight", ddw, dw, C, TOL_F32);
    case_end();
}

static void test_embedding(void) {
    int T = 37, C = 96, V = 50;
    int32_t *ids = host_buf(T * sizeof(int32_t));
    for (int t = 0; t < T; t++) ids[t] = (t * 7 + 3) % V;
    ids[3] = -1;   // outside [0, V): row 0 forward, skipped backward
    ids[5] = V;
    ids[9] = ids[10];   // a repeated id accumulates twice
    int32_t *dids = dev(ids, T * sizeof(int32_t));
    float *table = rnd((size_t)V * C, 1.0f), *out = host_buf((size_t)T * C * sizeof(float));
    for (int k = 0; k < 3; k++) {
        arwkv_dtype dt = k == 0 ? ARWKV_F32 : k == 1 ? ARWKV_BF16 : ARWKV_F16;
        size_t bytes = (size_t)V * C * arwkv_dtype_size(dt);
        void *tq = host_buf(bytes);
        dtype_from_f32(tq, table, dt, (size_t)V * C);
        embedding_forward(out, ids, tq, dt, T, C, V);
        float *dout = devf(out, (size_t)T * C);
        g->zero(dout, (size_t)T * C * sizeof(float));
        g->embedding_forward(dout, dids, dev(tq, bytes), dt, T, C, V);
        char name[64];
        snprintf(name, sizeof name, "embedding_forward %s", arwkv_dtype_name(dt));
        expect(name, dout, out, (size_t)T * C, 0.0);
    }
    float *dy = rnd((size_t)T * C, 1.0f), *dtab = rnd((size_t)V * C, 0.1f), *ddtab = devf(dtab, (size_t)V * C);
    embedding_backward(dtab, dy, ids, T, C, V);
    g->embedding_backward(ddtab, devf(dy, (size_t)T * C), dids, T, C, V);
    expect("embedding_backward", ddtab, dtab, (size_t)V * C, TOL_F32);
    case_end();
}

static void test_rope(int pos0, int T, int H, int hd) {
    size_t n = (size_t)T * H * hd;
    float *x = rnd(n, 1.0f), *ref = copy_of(x, n), *dx = devf(x, n);
    rope_forward(ref, pos0, 1e6f, T, H, hd);
    g->rope_forward(dx, pos0, 1e6f, T, H, hd);
    char name[96];
    snprintf(name, sizeof name, "rope_forward pos0=%d T=%d H=%d hd=%d", pos0, T, H, hd);
    expect(name, dx, ref, n, TOL_F32);
    rope_backward(ref, pos0, 1e6f, T, H, hd);
    g->rope_backward(dx, pos0, 1e6f, T, H, hd);
    snprintf(name, sizeof name, "rope_backward pos0=%d T=%d H=%d hd=%d", pos0, T, H, hd);
    expect(name, dx, ref, n, TOL_F32);
    case_end();
}

// keys/values of positions < pos0 stored first, then T new ones at pos0: both paths of kv_store
static void test_attention(int pos0, int T, int Hq, int Hkv, int hd, int max_ctx, double tol) {
    int npos = pos0 + T;
    size_t row = (size_t)Hkv * hd, cache = (size_t)Hkv * max_ctx * hd;
    float *k = rnd((size_t)npos * row, 1.0f), *v = rnd((size_t)npos * row, 1.0f), *q = rnd((size_t)T * Hq * hd, 1.0f);
    float *kc = host_buf(cache * sizeof(float)), *vc = host_buf(cache * sizeof(float));
    for (int t = 0; t < npos; t++)
        for (int h = 0; h < Hkv; h++) {
            memcpy(kc + ((size_t)h * max_ctx + t) * hd, k + (t * row + h * hd), hd * sizeof(float));
            memcpy(vc + ((size_t)h * max_ctx + t) * hd, v + (t * row + h * hd), hd * sizeof(float));
        }
    float *out = host_buf((size_t)T * Hq * hd * sizeof(float));
    float *scratch = host_buf((size_t)omp_get_max_threads() * Hq * npos * sizeof(float));
    attention_forward(out, q, kc, vc, scratch, pos0, T, Hq, Hkv, hd, max_ctx);

    float *dkc = devf(kc, cache), *dvc = devf(vc, cache), *dk = devf(k, (size_t)npos * row);
    float *dv = devf(v, (size_t)npos * row), *dout = devf(out, (size_t)T * Hq * hd);
    g->zero(dkc, cache * sizeof(float));
    g->zero(dvc, cache * sizeof(float));
    g->zero(dout, (size_t)T * Hq * hd * sizeof(float));
    if (pos0) g->kv_store(dkc, dvc, dk, dv, 0, pos0, Hkv, hd, max_ctx);
    g->kv_store(dkc, dvc, dk + (size_t)pos0 * row, dv + (size_t)pos0 * row, pos0, T, Hkv, hd, max_ctx);
    float *dscratch = g->alloc(g->attention_scratch_floats(Hq, max_ctx) * sizeof(float));
    CHECK(dscratch != NULL, "attention scratch: %s", arwkv_last_error());
    if (!dscratch) {
        case_end();
        return;
    }
    g_dev[g_ndev++] = dscratch;
    g->attention_forward(dout, devf(q, (size_t)T * Hq * hd), dkc, dvc, dscratch, pos0, T, Hq, Hkv, hd, max_ctx);
    char name[112];
    snprintf(name, sizeof name, "kv_store pos0=%d T=%d Hkv=%d hd=%d ctx=%d k", pos0, T, Hkv, hd, max_ctx);
    expect(name, dkc, kc, cache, 0.0);
    snprintf(name, sizeof name, "kv_store pos0=%d T=%d Hkv=%d hd=%d ctx=%d v", pos0, T, Hkv, hd, max_ctx);
    expect(name, dvc, vc, cache, 0.0);
    snprintf(name, sizeof name, "attention_forward pos0=%d T=%d Hq=%d Hkv=%d hd=%d ctx=%d", pos0, T, Hq, Hkv, hd,
             max_ctx);
    expect(name, dout, out, (size_t)T * Hq * hd, tol);
    case_end();
}

static void test_attention_train(int B, int T, int Hq, int Hkv, int hd) {
    size_t nq = (size_t)B * T * Hq * hd, nk = (size_t)B * T * Hkv * hd, na = (size_t)B * Hq * T * T;
    float *q = rnd(nq, 1.0f), *k = rnd(nk, 1.0f), *v = rnd(nk, 1.0f), *dy = rnd(nq, 1.0f);
    float *out = host_buf(nq * sizeof(float)), *att = host_buf(na * sizeof(float));
    float *dq = rnd(nq, 0.1f), *dk = rnd(nk, 0.1f), *dv = rnd(nk, 0.1f);
    float *scratch = host_buf((size_t)B * Hq * T * sizeof(float));
    float *dout = devf(out, nq), *datt = devf(att, na), *ddq = devf(dq, nq), *ddk = devf(dk, nk), *ddv = devf(dv, nk);
    float *dq_in = devf(q, nq), *dk_in = devf(k, nk), *dv_in = devf(v, nk), *dscratch = devf(scratch, (size_t)B * Hq * T);
    attention_train_forward(out, att, q, k, v, B, T, Hq, Hkv, hd);
    g->attention_train_forward(dout, datt, dq_in, dk_in, dv_in, B, T, Hq, Hkv, hd);
    attention_train_backward(dq, dk, dv, scratch, dy, q, k, v, att, B, T, Hq, Hkv, hd);
    g->attention_train_backward(ddq, ddk, ddv, dscratch, devf(dy, nq), dq_in, dk_in, dv_in, datt, B, T, Hq, Hkv, hd);
    char name[112];
    const char *parts[] = {"out", "att", "dq", "dk", "dv"};
    const float *got[] = {dout, datt, ddq, ddk, ddv}, *want[] = {out, att, dq, dk, dv};
    size_t len[] = {nq, na, nq, nk, nk};
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "attention_train_%s B=%d T=%d Hq=%d Hkv=%d hd=%d %s", i < 2 ? "forward" : "backward",
                 B, T, Hq, Hkv, hd, parts[i]);
        expect(name, got[i], want[i], len[i], TOL_F32);
    }
    case_end();
}

static void test_crossentropy(int N, int V, float spread) {
    size_t n = (size_t)N * V;
    float *x = rnd(n, spread), *losses = host_buf(N * sizeof(float));
    int32_t *tg = host_buf(N * sizeof(int32_t));
    for (int i = 0; i < N; i++) tg[i] = (int32_t)((i * 7919u + 13u) % (unsigned)V);
    if (N > 4) tg[2] = -1, tg[4] = V;   // ignored rows
    float *dx = devf(x, n), *dlosses = devf(losses, N);
    int cnt = crossentropy_fused(losses, x, tg, 0.25f, N, V);
    int dcnt = g->crossentropy_fused(dlosses, dx, dev(tg, N * sizeof(int32_t)), 0.25f, N, V);
    char name[96];
    snprintf(name, sizeof name, "crossentropy_fused N=%d V=%d losses", N, V);
    expect(name, dlosses, losses, N, TOL_F32);
    snprintf(name, sizeof name, "crossentropy_fused N=%d V=%d dlogits", N, V);
    expect(name, dx, x, n, TOL_F32);
    CHECK(cnt == dcnt, "crossentropy_fused count %d, cpu %d", dcnt, cnt);
    case_end();
}

static void test_kl(int N, int Vs, int Vt, float tau, int masked) {
    float *s = rnd((size_t)N * Vs, 3.0f), *te = rnd((size_t)N * Vt, 3.0f), *losses = host_buf(N * sizeof(float));
    float *ds = rnd((size_t)N * Vs, 1e-3f);
    uint8_t *mask = host_buf(N);
    for (int i = 0; i < N; i++) mask[i] = i != 1;
    float *dls = devf(losses, N), *dds = devf(ds, (size_t)N * Vs), *dst = devf(s, (size_t)N * Vs);
    float *dte = devf(te, (size_t)N * Vt);
    uint8_t *dmask = masked ? dev(mask, N) : NULL;
    int cnt = kl_div_forward(losses, s, te, masked ? mask : NULL, tau, N, Vs, Vt);
    int dcnt = g->kl_div_forward(dls, dst, dte, dmask, tau, N, Vs, Vt);
    kl_div_backward(ds, s, te, masked ? mask : NULL, tau, 0.5f, N, Vs, Vt);
    g->kl_div_backward(dds, dst, dte, dmask, tau, 0.5f, N, Vs, Vt);
    char name[96];
    snprintf(name, sizeof name, "kl_div_forward N=%d Vs=%d Vt=%d tau=%g%s", N, Vs, Vt, tau, masked ? " mask" : "");
    expect(name, dls, losses, N, TOL_F32);
    CHECK(cnt == dcnt, "kl_div_forward count %d, cpu %d", dcnt, cnt);
    snprintf(name, sizeof name, "kl_div_backward N=%d Vs=%d Vt=%d tau=%g%s", N, Vs, Vt, tau, masked ? " mask" : "");
    expect(name, dds, ds, (size_t)N * Vs, TOL_F32);
    case_end();
}

static void test_optimiser(void) {
    size_t n = 1000003;
    float *x = rnd(n, 1.0f);
    double ref = 0;
    for (size_t i = 0; i < n; i++) ref += (double)x[i] * x[i];
    double got = g->sumsq(devf(x, n), n), e = fabs(got - ref) / ref;
    printf("%-58s rel %.2e (tol %.0e)\n", "sumsq n=1000003", e, 1e-12);
    CHECK(e <= 1e-12, "sumsq %.17g, cpu %.17g", got, ref);
    size_t m = 10007;
    float *p = rnd(m, 1.0f), *gr = rnd(m, 1.0f), *mo = rnd(m, 0.1f), *ve = rnd(m, 0.01f);
    for (size_t i = 0; i < m; i++) ve[i] = fabsf(ve[i]);
    float *dp = devf(p, m), *dm = devf(mo, m), *dv = devf(ve, m);
    float b1 = 0.9f, b2 = 0.999f, step = 1e-3f / (1.0f - b1 * b1 * b1), ibc2 = 1.0f / sqrtf(1.0f - b2 * b2 * b2);
    g->adamw_update(dp, devf(gr, m), dm, dv, m, 0.5f, 1.0f - 1e-4f, b1, b2, step, ibc2, 1e-8f);
    for (size_t j = 0; j < m; j++) {   // the formula of backend.h
        float gj = gr[j] * 0.5f;
        p[j] *= 1.0f - 1e-4f;
        mo[j] = b1 * mo[j] + (1.0f - b1) * gj;
        ve[j] = b2 * ve[j] + (1.0f - b2) * gj * gj;
        p[j] -= step * mo[j] / (sqrtf(ve[j]) * ibc2 + 1e-8f);
    }
    expect("adamw_update p", dp, p, m, TOL_F32);
    expect("adamw_update m", dm, mo, m, TOL_F32);
    expect("adamw_update v", dv, ve, m, TOL_F32);
    case_end();
}

int main(void) {
    int ndev = cuda_device_count();
    if (ndev <= 0) {
        printf("skipped: no CUDA device (%s)\n", arwkv_last_error());
        return 77;
    }
    g = backend_cuda(0);
    CHECK(g != NULL, "backend_cuda(0): %s", arwkv_last_error());
    if (!g) return test_summary();
    printf("%s: %d device(s)\n", g->name, ndev);

    test_memory();
    for (int T = 1; T <= 37; T += 36) {
        test_matmul_forward(T, 256, 320, ARWKV_F32, 0, 0, TOL_F32);
        test_matmul_forward(T, 256, 320, ARWKV_F32, 1, 0, TOL_F32);
        test_matmul_forward(T, 256, 320, ARWKV_BF16, 1, 0, 2e-2);
        test_matmul_forward(T, 256, 320, ARWKV_F16, 0, 0, 5e-3);
    }
    test_matmul_forward(37, 256, 320, ARWKV_F32, 0, 1, 5e-3);
    test_matmul_forward(300, 896, 4864, ARWKV_BF16, 1, 0, 2e-2);   // a Qwen2-0.5B MLP shape
    test_matmul_backward(37, 256, 320, 1);
    test_matmul_backward(1, 256, 320, 0);
    test_elementwise();
    test_rmsnorm(37, 320);
    test_rmsnorm(2, 3584);
    test_embedding();
    test_rope(0, 37, 3, 64);
    test_rope(100000, 5, 2, 128);
    test_attention(50, 5, 4, 2, 64, 128, TOL_F32);     // GQA ratio 2, decode after a prefix
    test_attention(0, 37, 14, 2, 128, 128, TOL_F32);   // ratio 7, prefill in several launches
    test_attention(3000, 2, 7, 1, 64, 4096, TOL_F32);
    // the last position of a 32k cache: the output averages 32k zero-mean values, so it is ~1/180
    // of them and both sides' fp32 rounding weighs more against it (7e-6 measured on an H200)
    test_attention(32767, 1, 2, 1, 128, 32768, 3e-5);
    test_attention_train(2, 37, 4, 2, 64);
    test_attention_train(1, 20, 14, 2, 64);
    test_attention_train(1, 300, 2, 1, 128);   // more keys than one tile of the backward
    test_crossentropy(7, 1000, 5.0f);
    test_crossentropy(3, 152064, 10.0f);
    test_kl(5, 1000, 1100, 2.0f, 1);
    test_kl(3, 1000, 1000, 1.0f, 0);
    test_kl(2, 151936, 152064, 1.0f, 1);
    test_optimiser();
    g->sync();
    CHECK(!cuda_has_failed(), "%s", arwkv_last_error());
    return test_summary();
}
