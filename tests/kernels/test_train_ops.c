// Training kernels of the teacher and the losses: finite differences against double mirrors,
// accumulation, and hand-computed cross-entropy / KL values.
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

static unsigned long long g_seed = 12345;

// ---- rmsnorm --------------------------------------------------------------------------------
typedef struct { double *x, *w; const float *W; int T, C; double eps; } rms_ctx;

static double rms_loss(void *p) {
    rms_ctx *c = p;
    double L = 0;
    for (int t = 0; t < c->T; t++) {
        const double *x = c->x + (size_t)t * c->C;
        double ss = 0;
        for (int i = 0; i < c->C; i++) ss += x[i] * x[i];
        double r = 1.0 / sqrt(ss / c->C + c->eps);
        for (int i = 0; i < c->C; i++) L += c->W[(size_t)t * c->C + i] * x[i] * r * c->w[i];
    }
    return L;
}

static void test_rmsnorm(int T, int C) {
    printf("rmsnorm T=%d C=%d\n", T, C);
    size_t n = (size_t)T * C;
    float *x = fd_rand(n, 2.0f, &g_seed), *w = fd_rand(C, 1.0f, &g_seed), *W = fd_rand(n, 1.0f, &g_seed);
    float *rstd = fd_alloc(T);
    for (int t = 0; t < T; t++) {
        double ss = 0;
        for (int i = 0; i < C; i++) ss += (double)x[(size_t)t * C + i] * x[(size_t)t * C + i];
        rstd[t] = (float)(1.0 / sqrt(ss / C + 1e-6));
    }
    float *dx = fd_rand(n, 1.0f, &g_seed), *dx0 = fd_copy(dx, n);
    float *dw = fd_rand(C, 1.0f, &g_seed), *dw0 = fd_copy(dw, C);
    rmsnorm_backward(dx, dw, W, x, w, rstd, T, C);
    rmsnorm_backward(NULL, NULL, W, x, w, rstd, T, C);
    rms_ctx c = { fd_dup(x, n), fd_dup(w, C), W, T, C, 1e-6 };
    fd_check("rmsnorm dinp (+=)", dx, dx0, c.x, n, rms_loss, &c, GRAD_TOL);
    fd_check("rmsnorm dweight (+=)", dw, dw0, c.w, C, rms_loss, &c, GRAD_TOL);
    free(c.x); free(c.w); free(x); free(w); free(W); free(rstd); free(dx); free(dx0); free(dw); free(dw0);
}

// ---- embedding ------------------------------------------------------------------------------
typedef struct { double *table; const int32_t *ids; const float *W; int T, C, V; } emb_ctx;

static double emb_loss(void *p) {
    emb_ctx *c = p;
    double L = 0;
    for (int t = 0; t < c->T; t++) {
        if (c->ids[t] < 0 || c->ids[t] >= c->V) continue;
        for (int i = 0; i < c->C; i++)
            L += c->W[(size_t)t * c->C + i] * c->table[(size_t)c->ids[t] * c->C + i];
    }
    return L;
}

static void test_embedding(void) {
    enum { T = 7, C = 70, V = 6 };
    printf("embedding T=%d C=%d V=%d\n", T, C, V);
    const int32_t ids[T] = { 2, 5, 2, -1, 0, 2, 6 };   // repeats and two out-of-range ids
    float *table = fd_rand(V * C, 1.0f, &g_seed), *W = fd_rand(T * C, 1.0f, &g_seed);
    float *dt = fd_rand(V * C, 1.0f, &g_seed), *dt0 = fd_copy(dt, V * C);
    embedding_backward(dt, W, ids, T, C, V);
    emb_ctx c = { fd_dup(table, V * C), ids, W, T, C, V };
    fd_check("embedding dtable (+=)", dt, dt0, c.table, V * C, emb_loss, &c, GRAD_TOL);
    free(c.table); free(table); free(W); free(dt); free(dt0);
}

// ---- swiglu ---------------------------------------------------------------------------------
typedef struct { double *gate, *up; const float *W; size_t n; } swi_ctx;

static double swi_loss(void *p) {
    swi_ctx *c = p;
    double L = 0;
    for (size_t i = 0; i < c->n; i++) L += c->W[i] * c->gate[i] / (1 + exp(-c->gate[i])) * c->up[i];
    return L;
}

static void test_swiglu(int T, int F) {
    size_t n = (size_t)T * F;
    printf("swiglu T=%d F=%d\n", T, F);
    float *g = fd_rand(n, 4.0f, &g_seed), *u = fd_rand(n, 2.0f, &g_seed), *W = fd_rand(n, 1.0f, &g_seed);
    float *dg = fd_rand(n, 1.0f, &g_seed), *dg0 = fd_copy(dg, n);
    float *du = fd_rand(n, 1.0f, &g_seed), *du0 = fd_copy(du, n);
    swiglu_backward(dg, du, W, g, u, T, F);
    swi_ctx c = { fd_dup(g, n), fd_dup(u, n), W, n };
    fd_check("swiglu dgate (+=)", dg, dg0, c.gate, n, swi_loss, &c, GRAD_TOL);
    fd_check("swiglu dup (+=)", du, du0, c.up, n, swi_loss, &c, GRAD_TOL);
    free(c.gate); free(c.up); free(g); free(u); free(W); free(dg); free(dg0); free(du); free(du0);
}

// ---- rope -----------------------------------------------------------------------------------
typedef struct { double *x; const float *W; int pos0, T, H, hd; double theta; } rope_ctx;

static double rope_loss(void *p) {
    rope_ctx *c = p;
    int half = c->hd / 2;
    double L = 0;
    for (int t = 0; t < c->T; t++)
        for (int h = 0; h < c->H; h++)
            for (int i = 0; i < half; i++) {
                size_t o = ((size_t)t * c->H + h) * c->hd;
                double f = (c->pos0 + t) * pow(c->theta, -2.0 * i / c->hd);
                double a = c->x[o + i], b = c->x[o + i + half];
                L += c->W[o + i] * (a * cos(f) - b * sin(f)) + c->W[o + i + half] * (b * cos(f) + a * sin(f));
            }
    return L;
}

static void test_rope(int pos0) {
    int T = 4, H = 3, hd = 16;
    size_t n = (size_t)T * H * hd;
    printf("rope_backward pos0=%d T=%d H=%d hd=%d\n", pos0, T, H, hd);
    float *x = fd_rand(n, 1.0f, &g_seed), *W = fd_rand(n, 1.0f, &g_seed);
    float *dx = fd_copy(W, n);
    rope_backward(dx, pos0, 10000.0f, T, H, hd);
    rope_ctx c = { fd_dup(x, n), W, pos0, T, H, hd, 10000.0 };
    fd_check("rope dx (in place)", dx, NULL, c.x, n, rope_loss, &c, GRAD_TOL);
    free(c.x); free(x); free(W); free(dx);
}

// ---- cross-entropy --------------------------------------------------------------------------
typedef struct { double *logits; const int32_t *targets; int N, V; double scale; } ce_ctx;

static double ce_row(const double *x, int V, int target) {
    double mx = x[0], s = 0;
    for (int j = 1; j < V; j++) mx = x[j] > mx ? x[j] : mx;
    for (int j = 0; j < V; j++) s += exp(x[j] - mx);
    return mx + log(s) - x[target];
}

static double ce_loss(void *p) {
    ce_ctx *c = p;
    double L = 0;
    for (int i = 0; i < c->N; i++)
        if (c->targets[i] >= 0) L += ce_row(c->logits + (size_t)i * c->V, c->V, c->targets[i]);
    return c->scale * L;
}

static void test_crossentropy(void) {
    enum { N = 5, V = 90 };
    printf("crossentropy N=%d V=%d\n", N, V);
    const int32_t targets[N] = { 3, -1, 0, 89, 41 };
    float *x = fd_rand(N * V, 5.0f, &g_seed), losses[N];
    int count = crossentropy_forward(losses, x, targets, N, V);
    CHECK(count == 4, "counted rows %d, expected 4", count);
    double ref[N];
    for (int i = 0; i < N; i++) {
        double xd[V];
        for (int j = 0; j < V; j++) xd[j] = x[i * V + j];
        ref[i] = targets[i] < 0 ? 0 : ce_row(xd, V, targets[i]);
    }
    fd_check_fwd("crossentropy losses", losses, ref, N, FWD_TOL);
    float scale = 0.7f;
    float *dx = fd_rand(N * V, 1.0f, &g_seed), *dx0 = fd_copy(dx, N * V);
    crossentropy_backward(dx, x, targets, scale, N, V);
    ce_ctx c = { fd_dup(x, N * V), targets, N, V, scale };
    fd_check("crossentropy dlogits (+=)", dx, dx0, c.logits, N * V, ce_loss, &c, GRAD_TOL);
    // fused: the same losses, and logits replaced by exactly the gradient
    float *fx = fd_copy(x, N * V), *g = fd_alloc(N * V), flosses[N];
    crossentropy_backward(g, x, targets, scale, N, V);
    int fcount = crossentropy_fused(flosses, fx, targets, scale, N, V);
    CHECK(fcount == 4, "fused counted rows %d", fcount);
    double e1 = rel_err(flosses, losses, N), e2 = rel_err(fx, g, N * V);
    printf("  crossentropy_fused vs separate: losses %.2e, grad %.2e\n", e1, e2);
    CHECK(e1 < 1e-6 && e2 < 1e-6, "fused differs: %.2e %.2e", e1, e2);
    free(c.logits); free(x); free(dx); free(dx0); free(fx); free(g);
}

// logits (0, ln 2, ln 3): softmax (1/6, 2/6, 3/6)
static void test_crossentropy_hand(void) {
    printf("crossentropy hand-computed\n");
    float x[9] = { 0, logf(2), logf(3), 0, logf(2), logf(3), 100, 100, 100 };
    int32_t targets[3] = { 2, 0, -1 };
    float losses[3], dx[9] = { 0 };
    int count = crossentropy_forward(losses, x, targets, 3, 3);
    CHECK(count == 2, "count %d", count);
    CHECK(fabs(losses[0] - log(2.0)) < 1e-6, "loss %.8f, expected ln 2", losses[0]);
    CHECK(fabs(losses[1] - log(6.0)) < 1e-6, "loss %.8f, expected ln 6", losses[1]);
    CHECK(losses[2] == 0.0f, "ignored row loss %g", losses[2]);
    crossentropy_backward(dx, x, targets, 0.5f, 3, 3);
    const double want[9] = { 0.5 / 6, 1.0 / 6, 1.5 / 6 - 0.5, 0.5 / 6 - 0.5, 1.0 / 6, 1.5 / 6, 0, 0, 0 };
    double err = 0;
    for (int i = 0; i < 9; i++) err = fmax(err, fabs(dx[i] - want[i]));
    printf("  losses %.7f %.7f (ln 2, ln 6), grad max abs err %.2e\n", losses[0], losses[1], err);
    CHECK(err < 1e-6, "hand gradient err %.3e", err);
    // far-apart logits: no overflow, no NaN; loss of the top class ~0, of the bottom one 2000
    float wl[2], wide[2 * 16];   // 16 wide so that the vector exp path runs
    int32_t tw[2] = { 0, 2 };
    for (int i = 0; i < 32; i++) wide[i] = i % 16 == 0 ? 1000.0f : i % 16 == 1 ? 0.0f : -1000.0f;
    crossentropy_forward(wl, wide, tw, 2, 16);
    printf("  wide logits: losses %g %g (expected 0, 2000)\n", wl[0], wl[1]);
    CHECK(fabs(wl[0]) < 1e-6 && fabs(wl[1] - 2000.0) < 1e-3, "wide logits: %g %g", wl[0], wl[1]);
}

// ---- KL distillation loss -------------------------------------------------------------------
typedef struct {
    double *s;
    const float *te;
    const uint8_t *mask;
    int N, Vs, Vt;
    double tau, scale;
} kl_ctx;

static double kl_row(const double *s, const float *te, int Vs, double tau) {
    double ms = s[0], mt = te[0], ss = 0, st = 0, kl = 0;
    for (int j = 1; j < Vs; j++) {
        ms = s[j] > ms ? s[j] : ms;
        mt = te[j] > mt ? te[j] : mt;
    }
    for (int j = 0; j < Vs; j++) {
        ss += exp((s[j] - ms) / tau);
        st += exp((te[j] - mt) / tau);
    }
    for (int j = 0; j < Vs; j++) {
        double lp = (te[j] - mt) / tau - log(st), lq = (s[j] - ms) / tau - log(ss);
        kl += exp(lp) * (lp - lq);
    }
    return tau * tau * kl;
}

static double kl_loss(void *p) {
    kl_ctx *c = p;
    double L = 0;
    for (int i = 0; i < c->N; i++)
        if (!c->mask || c->mask[i]) L += kl_row(c->s + (size_t)i * c->Vs, c->te + (size_t)i * c->Vt, c->Vs, c->tau);
    return c->scale * L;
}

static void test_kl(float tau) {
    enum { N = 4, Vs = 70, Vt = 77 };
    printf("kl_div tau=%g N=%d Vs=%d Vt=%d\n", tau, N, Vs, Vt);
    const uint8_t mask[N] = { 1, 0, 1, 1 };
    float *s = fd_rand(N * Vs, 4.0f, &g_seed), *te = fd_rand(N * Vt, 4.0f, &g_seed), losses[N];
    int count = kl_div_forward(losses, s, te, mask, tau, N, Vs, Vt);
    CHECK(count == 3, "count %d", count);
    kl_ctx c = { fd_dup(s, N * Vs), te, mask, N, Vs, Vt, tau, 0.3 };
    double ref[N];
    for (int i = 0; i < N; i++) ref[i] = mask[i] ? kl_row(c.s + i * Vs, te + i * Vt, Vs, tau) : 0;
    fd_check_fwd("kl_div losses", losses, ref, N, FWD_TOL);
    float *ds = fd_rand(N * Vs, 1.0f, &g_seed), *ds0 = fd_copy(ds, N * Vs);
    kl_div_backward(ds, s, te, mask, tau, 0.3f, N, Vs, Vt);
    fd_check("kl_div dstudent (+=)", ds, ds0, c.s, N * Vs, kl_loss, &c, GRAD_TOL);
    // identical distributions: zero loss, zero gradient (teacher's extra logits are cut)
    float *same = fd_alloc(N * Vt), *g = fd_alloc(N * Vs);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < Vt; j++) same[i * Vt + j] = j < Vs ? s[i * Vs + j] : 50.0f;
    kl_div_forward(losses, s, same, NULL, tau, N, Vs, Vt);
    kl_div_backward(g, s, same, NULL, tau, 1.0f, N, Vs, Vt);
    double lmax = 0, gmax = 0;
    for (int i = 0; i < N; i++) lmax = fmax(lmax, fabs(losses[i]));
    for (int i = 0; i < N * Vs; i++) gmax = fmax(gmax, fabs(g[i]));
    printf("  identical: max |loss| %.2e, max |grad| %.2e\n", lmax, gmax);
    CHECK(lmax < 1e-5 && gmax < 1e-6, "KL of identical rows: loss %.3e grad %.3e", lmax, gmax);
    free(c.s); free(s); free(te); free(ds); free(ds0); free(same); free(g);
}

// p_T = (1/4, 3/4) from teacher (0, 2 ln 3) / tau with tau = 2 and an extra teacher logit that
// the cut to Vs = 2 drops; q = (1/2, 1/2). Loss = tau^2 (1/4 ln(1/2) + 3/4 ln(3/2)).
static void test_kl_hand(void) {
    printf("kl_div hand-computed\n");
    float s[2] = { 1.5f, 1.5f }, te[3] = { 0.0f, 2.0f * logf(3.0f), 30.0f }, loss, ds[2] = { 0 };
    kl_div_forward(&loss, s, te, NULL, 2.0f, 1, 2, 3);
    double want = 4.0 * (0.25 * log(0.5) + 0.75 * log(1.5));
    // gradient: tau * (q - p) = 2 * (1/2 - 1/4, 1/2 - 3/4)
    kl_div_backward(ds, s, te, NULL, 2.0f, 1.0f, 1, 2, 3);
    printf("  loss %.7f (expected %.7f), grad %.6f %.6f (expected 0.5 -0.5)\n", loss, want, ds[0], ds[1]);
    CHECK(fabs(loss - want) < 1e-6, "loss %.8f expected %.8f", loss, want);
    CHECK(fabs(ds[0] - 0.5) < 1e-6 && fabs(ds[1] + 0.5) < 1e-6, "grad %.8f %.8f", ds[0], ds[1]);
}

// ---- attention ------------------------------------------------------------------------------
typedef struct { double *q, *k, *v; const float *W; int B, T, Hq, Hkv, hd; } att_ctx;

// double mirror: returns L = sum W * out; fills probs (B, Hq, T, T) when not NULL
static double att_mirror(const att_ctx *c, double *out, double *probs) {
    int B = c->B, T = c->T, Hq = c->Hq, Hkv = c->Hkv, hd = c->hd, g = Hq / Hkv;
    double *p = malloc((size_t)T * sizeof *p), L = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < Hq; h++)
            for (int t = 0; t < T; t++) {
                const double *qt = c->q + (((size_t)b * T + t) * Hq + h) * hd;
                double mx = -INFINITY, sum = 0;
                for (int s = 0; s <= t; s++) {
                    const double *ks = c->k + (((size_t)b * T + s) * Hkv + h / g) * hd;
                    double d = 0;
                    for (int i = 0; i < hd; i++) d += qt[i] * ks[i];
                    p[s] = d / sqrt((double)hd);
                    mx = fmax(mx, p[s]);
                }
                for (int s = 0; s <= t; s++) sum += (p[s] = exp(p[s] - mx));
                for (int s = 0; s < T; s++) {
                    if (s <= t) p[s] /= sum;
                    if (probs) probs[(((size_t)b * Hq + h) * T + t) * T + s] = s <= t ? p[s] : 0;
                }
                size_t o = (((size_t)b * T + t) * Hq + h) * hd;
                for (int i = 0; i < hd; i++) {
                    double acc = 0;
                    for (int s = 0; s <= t; s++) acc += p[s] * c->v[(((size_t)b * T + s) * Hkv + h / g) * hd + i];
                    if (out) out[o + i] = acc;
                    L += c->W[o + i] * acc;
                }
            }
    free(p);
    return L;
}

static double att_loss(void *p) { return att_mirror(p, NULL, NULL); }

static void test_attention(int B, int T, int Hq, int Hkv, int hd) {
    printf("attention B=%d T=%d Hq=%d Hkv=%d hd=%d\n", B, T, Hq, Hkv, hd);
    size_t nq = (size_t)B * T * Hq * hd, nk = (size_t)B * T * Hkv * hd, na = (size_t)B * Hq * T * T;
    float *q = fd_rand(nq, 1.5f, &g_seed), *k = fd_rand(nk, 1.5f, &g_seed), *v = fd_rand(nk, 1.0f, &g_seed);
    float *W = fd_rand(nq, 1.0f, &g_seed), *out = fd_alloc(nq), *att = fd_alloc(na);
    for (size_t i = 0; i < na; i++) att[i] = NAN;   // every entry must be written
    attention_train_forward(out, att, q, k, v, B, T, Hq, Hkv, hd);
    att_ctx c = { fd_dup(q, nq), fd_dup(k, nk), fd_dup(v, nk), W, B, T, Hq, Hkv, hd };
    double *oref = malloc(nq * sizeof *oref), *pref = malloc(na * sizeof *pref);
    att_mirror(&c, oref, pref);
    fd_check_fwd("attention out", out, oref, nq, FWD_TOL);
    fd_check_fwd("attention probs", att, pref, na, FWD_TOL);
    float *dq = fd_rand(nq, 1.0f, &g_seed), *dq0 = fd_copy(dq, nq);
    float *dk = fd_rand(nk, 1.0f, &g_seed), *dk0 = fd_copy(dk, nk);
    float *dv = fd_rand(nk, 1.0f, &g_seed), *dv0 = fd_copy(dv, nk);
    float *scratch = fd_alloc((size_t)B * Hq * T);
    attention_train_backward(dq, dk, dv, scratch, W, q, k, v, att, B, T, Hq, Hkv, hd);
    fd_check("attention dq (+=)", dq, dq0, c.q, nq, att_loss, &c, GRAD_TOL);
    fd_check("attention dk (+=)", dk, dk0, c.k, nk, att_loss, &c, GRAD_TOL);
    fd_check("attention dv (+=)", dv, dv0, c.v, nk, att_loss, &c, GRAD_TOL);
    // any subset of gradients: dk alone must equal the dk of the full call
    float *dk2 = fd_copy(dk0, nk);
    attention_train_backward(NULL, dk2, NULL, scratch, W, q, k, v, att, B, T, Hq, Hkv, hd);
    double e = rel_err(dk2, dk, nk);
    CHECK(e < 1e-6, "dk alone differs: %.3e", e);
    free(c.q); free(c.k); free(c.v); free(oref); free(pref); free(q); free(k); free(v); free(W);
    free(out); free(att); free(dq); free(dq0); free(dk); free(dk0); free(dv); free(dv0); free(scratch); free(dk2);
}

int main(void) {
    if (cpu_level_skip()) return 77;
    test_rmsnorm(3, 72);
    test_rmsnorm(64, 576);   // above the threading threshold: weight gradient split over blocks
    test_embedding();
    test_swiglu(5, 301);    // several exp chunks and a scalar tail
    test_swiglu(40, 1000);  // above the threading threshold
    test_rope(0);
    test_rope(70000);
    test_crossentropy();
    test_crossentropy_hand();
    test_kl(1.0f);
    test_kl(2.5f);
    test_kl_hand();
    test_attention(2, 6, 4, 2, 8);    // GQA, one key tile
    test_attention(1, 37, 2, 2, 4);   // MHA, several key tiles with a partial last one
    test_attention(2, 40, 6, 2, 16);  // group of 3 query heads per kv head
    return test_summary();
}
