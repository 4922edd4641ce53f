// matmul_forward / matmul_backward against naive double-precision references (all weight dtypes,
// tails in every dimension, unaligned pointers, bias or not), accumulation semantics, a central
// finite-difference check of the backward, and a sanity check of memory_read_bandwidth.
#include <math.h>
#include <stdlib.h>

#include "kernels/kernels.h"
#include "cpu_level.h"
#include "test_util.h"

#define TOL 1e-5

static unsigned long long g_seed = 12345;

// w as stored in dtype dt (rounded from the fp32 values) plus its exact fp32 value for the reference
static void *make_weights(float *w32, arwkv_dtype dt, size_t n) {
    uint16_t *h = malloc(n * 2 + 8);
    void *out = dt == ARWKV_F32 ? (void *)w32 : (void *)(h + 1);   // +1: unaligned on purpose
    if (dt == ARWKV_F32) free(h);
    for (size_t i = 0; i < n && dt != ARWKV_F32; i++) {
        if (dt == ARWKV_BF16) h[i + 1] = f32_to_bf16(w32[i]), w32[i] = bf16_to_f32(h[i + 1]);
        else h[i + 1] = f32_to_f16(w32[i]), w32[i] = f16_to_f32(h[i + 1]);
    }
    return out;
}

static void ref_forward(double *out, const float *inp, const float *w, const float *bias, int T, int C, int OC) {
    for (int t = 0; t < T; t++)
        for (int o = 0; o < OC; o++) {
            double s = bias ? bias[o] : 0.0;
            for (int k = 0; k < C; k++) s += (double)inp[(size_t)t * C + k] * w[(size_t)o * C + k];
            out[(size_t)t * OC + o] = s;
        }
}

static double rel_err_fd(const float *a, const double *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        if (!(d <= num)) num = d;
        if (fabs(b[i]) > den) den = fabs(b[i]);
    }
    return num / (den > 1e-30 ? den : 1e-30);
}

static double g_worst_fwd, g_worst_bwd;

static void check_forward(int T, int C, int OC, arwkv_dtype dt, int with_bias) {
    size_t ni = (size_t)T * C, nw = (size_t)OC * C, no = (size_t)T * OC;
    float *inp = malloc((ni + 1) * 4), *w32 = malloc((nw + 1) * 4), *bias = malloc((OC + 1) * 4);
    float *out = malloc((no + 1) * 4);
    double *ref = malloc(no * sizeof(double));
    fill_uniform(inp + 1, ni, 1.0f, &g_seed);
    fill_uniform(w32 + 1, nw, 0.5f, &g_seed);
    fill_uniform(bias + 1, OC, 1.0f, &g_seed);
    for (size_t i = 0; i <= no; i++) out[i] = NAN;   // forward must overwrite, never read out
    void *w = make_weights(w32 + 1, dt, nw);
    const float *b = with_bias ? bias + 1 : NULL;
    matmul_forward(out + 1, inp + 1, w, dt, b, T, C, OC);
    ref_forward(ref, inp + 1, w32 + 1, b, T, C, OC);
    double e = rel_err_fd(out + 1, ref, no);
    if (e > g_worst_fwd) g_worst_fwd = e;
    CHECK(e < TOL, "forward T=%d C=%d OC=%d %s bias=%d: rel err %.3g", T, C, OC, arwkv_dtype_name(dt), with_bias, e);
    CHECK(isnan(out[0]), "forward wrote before its output (T=%d C=%d OC=%d)", T, C, OC);
    if (dt != ARWKV_F32) free((uint16_t *)w - 1);
    free(inp), free(w32), free(bias), free(out), free(ref);
}

static void check_backward(int T, int C, int OC, int mask) {
    size_t ni = (size_t)T * C, nw = (size_t)OC * C, no = (size_t)T * OC;
    float *inp = malloc((ni + 1) * 4), *w = malloc((nw + 1) * 4), *dout = malloc((no + 1) * 4);
    float *dinp = malloc((ni + 1) * 4), *dw = malloc((nw + 1) * 4), *db = malloc((OC + 1) * 4);
    double *rinp = malloc(ni * 8), *rw = malloc(nw * 8), *rb = malloc(OC * 8);
    fill_uniform(inp + 1, ni, 1.0f, &g_seed);
    fill_uniform(w + 1, nw, 0.5f, &g_seed);
    fill_uniform(dout + 1, no, 1.0f, &g_seed);
    // gradients start non-zero: the kernel must add to them
    fill_uniform(dinp + 1, ni, 3.0f, &g_seed);
    fill_uniform(dw + 1, nw, 3.0f, &g_seed);
    fill_uniform(db + 1, OC, 3.0f, &g_seed);
    for (size_t i = 0; i < ni; i++) rinp[i] = dinp[i + 1];
    for (size_t i = 0; i < nw; i++) rw[i] = dw[i + 1];
    for (int i = 0; i < OC; i++) rb[i] = db[i + 1];
    for (int t = 0; t < T; t++)
        for (int o = 0; o < OC; o++) {
            double d = dout[1 + (size_t)t * OC + o];
            if (mask & 4) rb[o] += d;
            for (int k = 0; k < C; k++) {
                if (mask & 1) rinp[(size_t)t * C + k] += d * w[1 + (size_t)o * C + k];
                if (mask & 2) rw[(size_t)o * C + k] += d * inp[1 + (size_t)t * C + k];
            }
        }
    matmul_backward(mask & 1 ? dinp + 1 : NULL, mask & 2 ? dw + 1 : NULL, mask & 4 ? db + 1 : NULL, dout + 1,
                    inp + 1, w + 1, T, C, OC);
    double e1 = rel_err_fd(dinp + 1, rinp, ni), e2 = rel_err_fd(dw + 1, rw, nw), e3 = rel_err_fd(db + 1, rb, OC);
    double e = fmax(e1, fmax(e2, e3));
    if (e > g_worst_bwd) g_worst_bwd = e;
    CHECK(e < TOL, "backward T=%d C=%d OC=%d mask=%d: rel err dinp %.3g dw %.3g dbias %.3g", T, C, OC, mask, e1, e2, e3);
    free(inp), free(w), free(dout), free(dinp), free(dw), free(db), free(rinp), free(rw), free(rb);
}

// L = sum(out * G) with out = inp @ w^T + b; the kernel's gradients (dout = G) against central
// differences of L computed through matmul_forward itself
static void check_finite_diff(void) {
    enum { T = 3, C = 5, OC = 4 };
    float inp[T * C], w[OC * C], b[OC], G[T * OC], out[T * OC];
    float dinp[T * C] = {0}, dw[OC * C] = {0}, db[OC] = {0};
    fill_uniform(inp, T * C, 1.0f, &g_seed);
    fill_uniform(w, OC * C, 1.0f, &g_seed);
    fill_uniform(b, OC, 1.0f, &g_seed);
    fill_uniform(G, T * OC, 1.0f, &g_seed);
    matmul_backward(dinp, dw, db, G, inp, w, T, C, OC);
    float *params[3] = {inp, w, b}, *grads[3] = {dinp, dw, db};
    int sizes[3] = {T * C, OC * C, OC};
    const float h = 1e-2f;
    for (int p = 0; p < 3; p++) {
        double num[T * C > OC * C ? T * C : OC * C];
        for (int i = 0; i < sizes[p]; i++) {
            float keep = params[p][i];
            double L[2];
            for (int s = 0; s < 2; s++) {
                params[p][i] = keep + (s ? -h : h);
                matmul_forward(out, inp, w, ARWKV_F32, b, T, C, OC);
                L[s] = 0;
                for (int j = 0; j < T * OC; j++) L[s] += (double)out[j] * G[j];
            }
            params[p][i] = keep;
            num[i] = (L[0] - L[1]) / (2.0 * h);
        }
        double e = rel_err_fd(grads[p], num, sizes[p]);
        CHECK(e < 1e-3, "finite differences, tensor %d: rel err %.3g", p, e);
        printf("finite-difference check, %s: rel err %.2e\n", p == 0 ? "dinp" : p == 1 ? "dw" : "dbias", e);
    }
}

int main(void) {
    if (cpu_level_skip()) return 77;
    static const int Ts[] = {1, 2, 3, 4, 5, 7, 8, 9, 64, 129};
    static const int shapes[][2] = {{1, 1}, {7, 5}, {17, 33}, {64, 48}, {100, 37}, {45, 130}, {600, 20}};
    static const arwkv_dtype dts[] = {ARWKV_F32, ARWKV_BF16, ARWKV_F16};
    for (size_t d = 0; d < 3; d++)
        for (size_t t = 0; t < sizeof Ts / sizeof Ts[0]; t++)
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
                for (int bias = 0; bias < 2; bias++) check_forward(Ts[t], shapes[s][0], shapes[s][1], dts[d], bias);
    // larger blocks: K split into several blocks, M past one row block, N past one column block
    check_forward(300, 520, 70, ARWKV_BF16, 1);
    check_forward(9, 16, 3100, ARWKV_F16, 1);
    check_forward(1, 896, 1001, ARWKV_BF16, 1);
    check_forward(4, 903, 515, ARWKV_F32, 0);
    check_forward(33, 896, 250, ARWKV_BF16, 0);
    check_forward(8, 0, 5, ARWKV_F32, 1);
    printf("forward: worst rel err %.2e\n", g_worst_fwd);

    static const int bshapes[][3] = {{1, 1, 1}, {3, 5, 7}, {7, 17, 33}, {64, 48, 100}, {129, 37, 70},
                                     {600, 20, 40}, {40, 300, 9}, {2, 700, 30}};
    for (size_t s = 0; s < sizeof bshapes / sizeof bshapes[0]; s++)
        check_backward(bshapes[s][0], bshapes[s][1], bshapes[s][2], 7);
    for (int mask = 0; mask < 7; mask++) check_backward(65, 19, 23, mask);
    printf("backward: worst rel err %.2e\n", g_worst_bwd);
    check_finite_diff();

    size_t nbuf = ((size_t)64 << 20) / sizeof(float);
    float *buf = aligned_alloc(64, nbuf * sizeof(float));
    double bw = memory_read_bandwidth(buf, nbuf);
    printf("read bandwidth (64 MiB): %.1f GB/s\n", bw / 1e9);
    CHECK(bw > 1e8 && bw < 1e13, "read bandwidth %.3g B/s is implausible", bw);
    bw = memory_read_bandwidth(buf, 1250);   // smaller than one block per thread
    CHECK(bw > 0, "read bandwidth of a tiny buffer: %.3g B/s", bw);
    CHECK(memory_read_bandwidth(buf, 1000) == 0, "a buffer below 1024 floats is refused");
    free(buf);
    return test_summary();
}
