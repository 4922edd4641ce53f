// CUDA WKV-7 scan time per call at the student's training shapes (head size 64, checkpoints every
// 16 tokens): the forward (with checkpoints) and the backward, timed with CUDA events over several
// calls after a warm-up. GFLOP/s counts 6 N^2 flops per head per token forward and twice that
// backward, as bench_wkv7 (the CPU twin) does. bench_wkv7_cuda [reps [small|large]]
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef ARWKV_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "core/core.h"
#include "cuda/cuda_ops.h"
#include "cuda/cuda_rwkv.h"

enum { NIN = 6, N = 64, K = 16 };   // r, wd, k, v, alpha, beta

static unsigned long long g_seed = 12345;

static float urand(void) {
    g_seed = g_seed * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(g_seed >> 11) / 9007199254740992.0);
}

// scan inputs as the model makes them: wd in (0.545, 1), alpha = -kk with kk unit-norm per head,
// beta = kk * a with a in (0.5, 1.5)
static void make_inputs(float **x, size_t n) {
    for (int i = 0; i < NIN; i++) {
        x[i] = malloc(n * sizeof(float));
        for (size_t e = 0; e < n; e++) x[i][e] = 2.0f * urand() - 1.0f;
    }
    for (size_t e = 0; e < n; e++) x[1][e] = expf(-expf(-0.5f) / (1.0f + expf(-4.0f * x[1][e])));
    for (size_t th = 0; th < n; th += N) {
        double nrm = 0;
        for (int j = 0; j < N; j++) nrm += (double)x[4][th + j] * x[4][th + j];
        for (int j = 0; j < N; j++) {
            float kk = (float)(x[4][th + j] / sqrt(nrm));
            x[4][th + j] = -kk;
            x[5][th + j] = kk * (urand() + 0.5f);
        }
    }
}

static float *dev_upload(const float *x, size_t n) {
    float *d = cuda_alloc(n * sizeof(float));
    if (d && x) cuda_upload(d, x, n * sizeof(float));
    if (d && !x) cuda_zero(d, n * sizeof(float));
    return d;
}

// ms per call of the forward (what = 0) or backward (1), averaged over reps calls
static double time_calls(int what, int reps, float **d, float *dout, float *out, float *state, float *ckpt,
                         float *scratch, int B, int T, int H) {
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    cudaEventRecord(e0, 0);
    for (int i = 0; i < reps; i++) {
        if (what == 0) cuda_wkv7_forward(out, state, ckpt, K, d[0], d[1], d[2], d[3], d[4], d[5], B, T, H, N);
        else
            cuda_wkv7_backward(d[6], d[7], d[8], d[9], d[10], d[11], NULL, scratch, dout, ckpt, K, d[0], d[1], d[2],
                               d[3], d[4], d[5], B, T, H, N);
    }
    cudaEventRecord(e1, 0);
    cudaEventSynchronize(e1);
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    return ms / reps;
}

// reps, or more calls of ms each to fill 50 ms
static int calls_for(int reps, double ms) {
    int n = ms > 0 ? (int)(50.0 / ms) : reps;
    return n > reps ? (n < 10000 ? n : 10000) : reps;
}

static int bench_shape(int B, int T, int H, int reps) {
    const size_t n = (size_t)B * T * H * N, ns = (size_t)B * H * N * N, nc = (size_t)(T + K - 1) / K * ns;
    float *x[NIN], *d[2 * NIN];
    make_inputs(x, n);
    for (int i = 0; i < NIN; i++) d[i] = dev_upload(x[i], n), d[NIN + i] = dev_upload(NULL, n);
    for (size_t e = 0; e < n; e++) x[0][e] = 2.0f * urand() - 1.0f;   // reused for dL/dout
    float *dout = dev_upload(x[0], n), *out = dev_upload(NULL, n), *state = dev_upload(NULL, ns);
    float *ckpt = dev_upload(NULL, nc), *scratch = dev_upload(NULL, cuda_wkv7_scratch_floats(K, B, H, N));
    for (int i = 0; i < NIN; i++) free(x[i]);
    int ok = !cuda_has_failed();
    for (int i = 0; i < 2 * NIN; i++) ok = ok && d[i];
    if (!ok || !dout || !out || !state || !ckpt || !scratch) {
        printf("B%d T%d H%d: allocation failed: %s\n", B, T, H, arwkv_last_error());
        return 1;
    }
    // warm-up of at least 0.3 s, so that the clocks have risen; then at least reps calls and 50 ms
    double fwd = 0, bwd = 0;
    for (double t0 = time_now(); time_now() - t0 < 0.3;) {
        fwd = time_calls(0, 1, d, dout, out, state, ckpt, scratch, B, T, H);
        bwd = time_calls(1, 1, d, dout, out, state, ckpt, scratch, B, T, H);
    }
    fwd = time_calls(0, calls_for(reps, fwd), d, dout, out, state, ckpt, scratch, B, T, H);
    bwd = time_calls(1, calls_for(reps, bwd), d, dout, out, state, ckpt, scratch, B, T, H);
    const double flop = 6.0 * N * N * (double)B * T * H;
    printf("B%d T%-5d H%-3d N%d K%d  forward %8.3f ms (%6.0f GFLOP/s)  backward %8.3f ms (%6.0f GFLOP/s)\n", B, T, H, N,
           K, fwd, flop / fwd * 1e-6, bwd, 2 * flop / bwd * 1e-6);
    for (int i = 0; i < 2 * NIN; i++) cuda_release(d[i]);
    cuda_release(dout), cuda_release(out), cuda_release(state), cuda_release(ckpt), cuda_release(scratch);
    if (cuda_has_failed()) {
        printf("B%d T%d H%d: %s\n", B, T, H, arwkv_last_error());
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 10;
    if (reps < 1) reps = 1;
    if (cuda_device_count() <= 0 || cuda_context_init(0)) {
        printf("bench_wkv7_cuda: skipped: %s\n", arwkv_last_error());
        return 0;
    }
    struct cudaDeviceProp prop;
    cudaGetDeviceProperties(&prop, 0);
    printf("device: %s, %d SMs\n", prop.name, prop.multiProcessorCount);
    const char *only = argc > 2 ? argv[2] : "";
    int bad = 0;
    if (strcmp(only, "large")) bad |= bench_shape(4, 512, 14, reps);   // Qwen2.5-0.5B student, training batch
    if (strcmp(only, "small")) bad |= bench_shape(8, 2048, 56, reps);  // 7B student at a long context
    return bad;
}
#else
int main(void) {
    printf("bench_wkv7_cuda: skipped: built without CUDA\n");
    return 0;
}
#endif
