// Finite-difference gradient checks for the training kernels.
// Each test writes a naive double-precision mirror of the forward and a scalar loss
// L = sum(W * out) over it (W = the dout handed to the float backward). The float backward runs
// on gradient buffers pre-filled with random values; subtracting the prefill gives the analytic
// gradient, so an op that overwrote instead of accumulating fails the same comparison.
#ifndef ARWKV_TRAIN_OPS_FD_H
#define ARWKV_TRAIN_OPS_FD_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

typedef double (*fd_loss_fn)(void *ctx);

// central-difference step; the mirrors are smooth and O(1), so truncation and rounding
// errors are both near 1e-10 relative
#define FD_EPS 1e-5
// at most this many coordinates per tensor are differentiated (evenly spread, both ends included)
#define FD_MAX_COORDS 128

static inline double *fd_dup(const float *x, size_t n) {
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static inline float *fd_alloc(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

static inline float *fd_rand(size_t n, float scale, unsigned long long *seed) {
    float *x = fd_alloc(n);
    fill_uniform(x, n, scale, seed);
    return x;
}

static inline float *fd_copy(const float *x, size_t n) {
    float *y = fd_alloc(n);
    memcpy(y, x, n * sizeof *y);
    return y;
}

// sum of W * y over n values
static inline double fd_dot(const float *w, const double *y, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)w[i] * y[i];
    return s;
}

// Compares the analytic gradient (after - prefill) of the double tensor x (n) with central
// differences of loss(ctx), which reads x. Returns the relative error.
static inline double fd_check(const char *name, const float *after, const float *prefill, double *x,
                       size_t n, fd_loss_fn loss, void *ctx, double tol) {
    size_t m = n < FD_MAX_COORDS ? n : FD_MAX_COORDS;
    double *an = malloc(m * sizeof *an), *num = malloc(m * sizeof *num);
    for (size_t j = 0; j < m; j++) {
        size_t i = m > 1 ? j * (n - 1) / (m - 1) : 0;
        an[j] = (double)after[i] - (prefill ? (double)prefill[i] : 0.0);
        double x0 = x[i];
        x[i] = x0 + FD_EPS;
        double lp = loss(ctx);
        x[i] = x0 - FD_EPS;
        double lm = loss(ctx);
        x[i] = x0;
        num[j] = (lp - lm) / (2 * FD_EPS);
    }
    double err = rel_err_d(an, num, m);
    printf("  %-34s grad rel err %.2e (%zu of %zu coords)\n", name, err, m, n);
    CHECK(err < tol, "%s: gradient rel err %.3e >= %.1e", name, err, tol);
    free(an);
    free(num);
    return err;
}

// float forward output against the double mirror
static inline double fd_check_fwd(const char *name, const float *out, const double *ref, size_t n, double tol) {
    double *o = fd_dup(out, n);
    double err = rel_err_d(o, ref, n);
    printf("  %-34s fwd  rel err %.2e\n", name, err);
    CHECK(err < tol, "%s: forward rel err %.3e >= %.1e", name, err, tol);
    free(o);
    return err;
}

#endif
