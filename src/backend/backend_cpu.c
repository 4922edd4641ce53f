// The CPU backend: buffers are host memory and the ops are the kernels of src/kernels/.
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "core/core.h"
#include "core/pool.h"
#include "kernels/kernels.h"
#include "kernels/train_ops.h"

static void *cpu_alloc(size_t bytes) { return aligned_alloc(256, (bytes + 255) & ~(size_t)255); }
static void cpu_release(void *p) { free(p); }
static void cpu_copy(void *dst, const void *src, size_t bytes) {
    if (bytes) memmove(dst, src, bytes);
}
static void cpu_zero(void *dst, size_t bytes) { memset(dst, 0, bytes); }
static void cpu_sync(void) {}
static int cpu_status(void) { return 0; }
static void cpu_describe(char *buf, size_t cap, double *bf16_peak) {
    snprintf(buf, cap, "CPU, %d threads", pool_threads());
    *bf16_peak = 0;
}
static void cpu_set_fast_math(int on) {}

// out (n) = a + b; small n (decode) stays out of OpenMP, whose serialized regions allocate
static void cpu_add(float *out, const float *a, const float *b, size_t n) {
    if (n < (1 << 20)) {
        for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
        return;
    }
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static void cpu_round_to(float *x, size_t n, arwkv_dtype dt) {
    if (dt == ARWKV_F16)
        for (size_t i = 0; i < n; i++) x[i] = f16_to_f32(f32_to_f16(x[i]));
    else if (dt == ARWKV_BF16)
        for (size_t i = 0; i < n; i++) x[i] = bf16_to_f32(f32_to_bf16(x[i]));
}

// k, v (T, Hkv, hd) -> caches (Hkv, max_ctx, hd) at rows pos0..: each head's keys stay contiguous
static void cpu_kv_store(float *kc, float *vc, const float *k, const float *v, int pos0, int T, int Hkv, int hd,
                         int max_ctx) {
    for (int t = 0; t < T; t++)
        for (int h = 0; h < Hkv; h++) {
            size_t dst = ((size_t)h * max_ctx + pos0 + t) * hd, src = ((size_t)t * Hkv + h) * hd;
            memcpy(kc + dst, k + src, hd * sizeof(float));
            memcpy(vc + dst, v + src, hd * sizeof(float));
        }
}

// one row of scores per pool thread (attention_forward indexes scratch by thread)
static size_t cpu_attention_scratch_floats(int Hq, int max_ctx) {
    return (size_t)pool_threads() * Hq * (size_t)max_ctx;
}

// last (B, D) = xn (B, T, D) at t = T - 1
static void cpu_shift_store(float *last, const float *xn, int B, int T, int D) {
    for (int b = 0; b < B; b++) memcpy(last + (size_t)b * D, xn + ((size_t)b * T + T - 1) * D, D * sizeof(float));
}

static void cpu_align_loss(float *loss, float *dy, const float *ys, const float *yt, double scale, int rows, int D) {
    double isd = 1.0 / sqrt((double)D);
    #pragma omp parallel for schedule(static) if ((size_t)rows * D >= (1 << 18))
    for (int r = 0; r < rows; r++) {
        const float *a = ys + (size_t)r * D, *t = yt + (size_t)r * D;
        float *g = dy + (size_t)r * D;
        double s = 0;
        for (int j = 0; j < D; j++) s += ((double)a[j] - t[j]) * ((double)a[j] - t[j]);
        double nrm = sqrt(s), k = nrm > 0 ? scale * isd / nrm : 0;
        loss[r] = (float)(nrm * isd);
        for (int j = 0; j < D; j++) g[j] = (float)(k * ((double)a[j] - t[j]));
    }
}

static double cpu_sumsq(const float *g, size_t n) {
    double s = 0;
    for (size_t j = 0; j < n; j++) s += (double)g[j] * g[j];
    return s;
}

static void cpu_adamw_update(float *p, const float *g, float *m, float *v, size_t n, float gscale, float keep,
                             float b1, float b2, float step, float ibc2, float eps) {
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t j = 0; j < n; j++) {
        float gj = g[j] * gscale;
        p[j] *= keep;
        m[j] = b1 * m[j] + (1.0f - b1) * gj;
        v[j] = b2 * v[j] + (1.0f - b2) * gj * gj;
        p[j] -= step * m[j] / (sqrtf(v[j]) * ibc2 + eps);
    }
}

static const backend cpu = {
    .name = "cpu",
    .host = 1,
    .alloc = cpu_alloc,
    .release = cpu_release,
    .upload = cpu_copy,
    .download = cpu_copy,
    .copy = cpu_copy,
    .zero = cpu_zero,
    .sync = cpu_sync,
    .status = cpu_status,
    .describe = cpu_describe,
    .set_fast_math = cpu_set_fast_math,
    .matmul_forward = matmul_forward,
    .matmul_backward = matmul_backward,
    .xp_forward = xp_forward,
    .xp_backward = xp_backward,
    .add = cpu_add,
    .round_to = cpu_round_to,
    .rmsnorm_forward = rmsnorm_forward,
    .rmsnorm_backward = rmsnorm_backward,
    .embedding_forward = embedding_forward,
    .embedding_backward = embedding_backward,
    .rope_forward = rope_forward,
    .rope_backward = rope_backward,
    .swiglu_forward = swiglu_forward,
    .swiglu_backward = swiglu_backward,
    .kv_store = cpu_kv_store,
    .attention_forward = attention_forward,
    .attention_scratch_floats = cpu_attention_scratch_floats,
    .attention_train_forward = attention_train_forward,
    .attention_train_backward = attention_train_backward,
    .token_shift_forward = token_shift_forward,
    .token_shift_backward = token_shift_backward,
    .shift_store = cpu_shift_store,
    .tanh_forward = tanh_forward,
    .tanh_backward = tanh_backward,
    .sigmoid_forward = sigmoid_forward,
    .sigmoid_backward = sigmoid_backward,
    .decay_forward = decay_forward,
    .decay_backward = decay_backward,
    .value_mix_forward = value_mix_forward,
    .value_mix_backward = value_mix_backward,
    .kk_norm_forward = kk_norm_forward,
    .kk_norm_backward = kk_norm_backward,
    .k_iclr_forward = k_iclr_forward,
    .k_iclr_backward = k_iclr_backward,
    .wkv_ab_forward = wkv_ab_forward,
    .wkv_ab_backward = wkv_ab_backward,
    .wkv7_forward = wkv7_forward_batch,
    .wkv7_backward = wkv7_backward_batch,
    .wkv7_scratch_floats = wkv7_scratch_floats,
    .bonus_forward = bonus_forward,
    .bonus_backward = bonus_backward,
    .group_norm_forward = group_norm_forward,
    .group_norm_backward = group_norm_backward,
    .gate_mul_forward = gate_mul_forward,
    .gate_mul_backward = gate_mul_backward,
    .crossentropy_fused = crossentropy_fused,
    .kl_div_forward = kl_div_forward,
    .kl_div_backward = kl_div_backward,
    .align_loss = cpu_align_loss,
    .sumsq = cpu_sumsq,
    .adamw_update = cpu_adamw_update,
};

const backend *backend_cpu(void) { return &cpu; }
