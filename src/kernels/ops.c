// Inference forward ops of both model types (training variants live in train_ops.c).
#include <math.h>
#include <omp.h>

#include "kernels/kernels.h"
#include "core/pool.h"
#include "kernels/parallel.h"
#include "kernels/train_ops_vec.h"

// rows [lo, hi) of rmsnorm_forward
static void rmsnorm_rows(float *out, float *rstd, const float *inp, const float *weight, float eps, int C,
                         int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; t++) {
        const float *x = inp + (size_t)t * C;
        float *o = out + (size_t)t * C;
        float ss = 0.0f;
        for (int i = 0; i < C; i++) ss += x[i] * x[i];
        float r = 1.0f / sqrtf(ss / C + eps);
        for (int i = 0; i < C; i++) o[i] = x[i] * r * weight[i];
        if (rstd) rstd[t] = r;
    }
}

// out (T, C) = inp / sqrt(mean(inp^2) + eps) * weight (C)
void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, float eps, int T, int C) {
    KERNELS_ROWS(T > 16, T, rmsnorm_rows, out, rstd, inp, weight, eps, C);
}

// out (T, C) = table[ids] (V, C), converted to fp32
void embedding_forward(float *out, const int32_t *ids, const void *table, arwkv_dtype dt, int T, int C, int V) {
    size_t es = arwkv_dtype_size(dt);
    for (int t = 0; t < T; t++) {
        int id = ids[t] < 0 || ids[t] >= V ? 0 : ids[t];   // callers validate ids; never read out of bounds
        dtype_to_f32(out + (size_t)t * C, (const uint8_t *)table + (size_t)id * C * es, dt, (size_t)C);
    }
}

// tokens [lo, hi) of rope_rotate
static void rope_rows(float *x, int pos0, float theta, int H, int hd, int dir, int64_t lo, int64_t hi) {
    int half = hd / 2;
    for (int64_t t = lo; t < hi; t++) {
        double p = (double)(pos0 + t);
        for (int i = 0; i < half; i++) {
            // angles in double: positions reach 1e5+ where float phase error would exceed 1e-5
            double f = p * pow((double)theta, -2.0 * i / hd);
            float c = (float)cos(f), s = dir * (float)sin(f);
            for (int h = 0; h < H; h++) {
                float *u = x + ((size_t)t * H + h) * hd;
                float a = u[i], b = u[i + half];
                u[i] = a * c - b * s;
                u[i + half] = b * c + a * s;
            }
        }
    }
}

// rotate-half RoPE in place on x (T, H, hd) at positions pos0 .., by +angle (dir 1) or by -angle
// (dir -1: the transpose, which carries gradients back)
void rope_rotate(float *x, int pos0, float theta, int T, int H, int hd, int dir) {
    KERNELS_ROWS((size_t)T * H * hd > 65536, T, rope_rows, x, pos0, theta, H, hd, dir);
}

void rope_forward(float *x, int pos0, float theta, int T, int H, int hd) { rope_rotate(x, pos0, theta, T, H, hd, 1); }

static void swiglu_rows(float *out, const float *gate, const float *up, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

// out (T, F) = silu(gate) * up
void swiglu_forward(float *out, const float *gate, const float *up, int T, int F) {
    size_t n = (size_t)T * F;
    KERNELS_ROWS(n > 65536, n, swiglu_rows, out, gate, up);
}

// one query row: token t, head h; att: pos0 + t + 1 floats of scratch
static void attention_row(float *out, const float *q, const float *kc, const float *vc, float *att, int pos0,
                          int t, int h, int Hq, int Hkv, int hd, int max_ctx) {
    int group = Hq / Hkv;
    float scale = 1.0f / sqrtf((float)hd);
    const float *qh = q + ((size_t)t * Hq + h) * hd;
    const float *kh = kc + (size_t)(h / group) * max_ctx * hd;
    const float *vh = vc + (size_t)(h / group) * max_ctx * hd;
    int n = pos0 + t + 1;
    for (int p = 0; p < n; p += 8)   // scores of 8 keys per pass, sharing the loads of q
        vec_dot_many(att + p, qh, kh + (size_t)p * hd, (size_t)hd, n - p < 8 ? n - p : 8, hd);
    float mx = vec_max(att, n);
    vec_exp(att, att, scale, -scale * mx, n);
    float inv = 1.0f / vec_sum(att, n);
    float *o = out + ((size_t)t * Hq + h) * hd;
    for (int i = 0; i < hd; i++) o[i] = 0.0f;
    for (int p = 0; p < n; p++) {
        const float *vp = vh + (size_t)p * hd;
        float w = att[p] * inv;
        for (int i = 0; i < hd; i++) o[i] += w * vp[i];
    }
}

typedef struct {
    float *out;
    const float *q, *kc, *vc;
    float *scratch;
    int pos0, T, Hq, Hkv, hd, max_ctx;
} attn_args;

static void attention_task(void *p, int64_t lo, int64_t hi, int ith) {
    const attn_args *a = p;
    for (int64_t i = lo; i < hi; i++)
        attention_row(a->out, a->q, a->kc, a->vc, a->scratch + (size_t)ith * a->Hq * (a->pos0 + a->T), a->pos0,
                      (int)(i / a->Hq), (int)(i % a->Hq), a->Hq, a->Hkv, a->hd, a->max_ctx);
}

// q (T, Hq, hd) at positions pos0..; kc, vc (Hkv, max_ctx, hd); out (T, Hq, hd)
void attention_forward(float *out, const float *q, const float *kc, const float *vc, float *scratch,
                       int pos0, int T, int Hq, int Hkv, int hd, int max_ctx) {
    int npos = pos0 + T;
    int64_t n = (int64_t)T * Hq, grain = (size_t)T * Hq * npos * hd > 32768 ? 1 : n;
    pool_for(n, grain, attention_task, &(attn_args){out, q, kc, vc, scratch, pos0, T, Hq, Hkv, hd, max_ctx});
}

// in-place softmax of each row of x (T, V)
void softmax_forward(float *x, int T, int V) {
    for (int t = 0; t < T; t++) {
        float *r = x + (size_t)t * V, mx = -INFINITY, sum = 0.0f;
        for (int i = 0; i < V; i++) mx = r[i] > mx ? r[i] : mx;
        for (int i = 0; i < V; i++) sum += r[i] = expf(r[i] - mx);
        for (int i = 0; i < V; i++) r[i] /= sum;
    }
}

// sum over t of -log softmax(logits[t])[targets[t]], targets < 0 ignored
double cross_entropy_forward(const float *logits, const int32_t *targets, int T, int V) {
    double total = 0.0;
    for (int t = 0; t < T; t++) {
        if (targets[t] < 0) continue;
        const float *r = logits + (size_t)t * V;
        double mx = -INFINITY, sum = 0.0;
        for (int i = 0; i < V; i++) mx = r[i] > mx ? r[i] : mx;
        for (int i = 0; i < V; i++) sum += exp(r[i] - mx);
        total += mx + log(sum) - r[targets[t]];
    }
    return total;
}
