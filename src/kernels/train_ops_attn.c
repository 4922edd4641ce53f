// Full-sequence causal GQA attention for training, with the probabilities kept for the backward.
#include "kernels/train_ops.h"

#include <math.h>
#include <stddef.h>

// keys per work item of the dk/dv pass: the tile's dk/dv rows stay in L1 while t runs down
#define KEY_TILE 16

static float dot(const float *a, const float *b, int n) {
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

void attention_train_forward(float *out, float *att, const float *q, const float *k, const float *v,
                             int B, int T, int Hq, int Hkv, int hd) {
    int group = Hq / Hkv;
    float scale = 1.0f / sqrtf((float)hd);
    // causal rows differ in length: dynamic chunks keep the threads even
    #pragma omp parallel for collapse(3) schedule(dynamic, 8)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < Hq; h++)
            for (int t = 0; t < T; t++) {
                int kh = h / group;
                const float *qt = q + (((size_t)b * T + t) * Hq + h) * hd;
                float *row = att + (((size_t)b * Hq + h) * T + t) * T;
                float mx = -INFINITY;
                for (int s = 0; s <= t; s++) {
                    row[s] = scale * dot(qt, k + (((size_t)b * T + s) * Hkv + kh) * hd, hd);
                    mx = row[s] > mx ? row[s] : mx;
                }
                float sum = 0.0f;
                for (int s = 0; s <= t; s++) {
                    row[s] = expf(row[s] - mx);
                    sum += row[s];
                }
                float inv = 1.0f / sum;
                for (int s = 0; s <= t; s++) row[s] *= inv;
                for (int s = t + 1; s < T; s++) row[s] = 0.0f;
                float *ot = out + (((size_t)b * T + t) * Hq + h) * hd;
                for (int i = 0; i < hd; i++) ot[i] = 0.0f;
                for (int s = 0; s <= t; s++) {
                    const float *vs = v + (((size_t)b * T + s) * Hkv + kh) * hd;
                    float p = row[s];
                    for (int i = 0; i < hd; i++) ot[i] += p * vs[i];
                }
            }
}

// With datt[t,s] = dout_t . v_s and rowdyt = sum_s att[t,s] datt[t,s], the softmax backward
// gives dscore[t,s] = att[t,s] (datt[t,s] - rowdyt). Pass 1 (rows t) stores rowdot and forms
// dq; pass 2 (tiles of keys s, per kv head) forms dk and dv, so that every output row is written
// by exactly one thread. datt is recomputed instead of stored: it would need another (T, T) per head.
void attention_train_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout,
                              const float *q, const float *k, const float *v, const float *att,
                              int B, int T, int Hq, int Hkv, int hd) {
    int group = Hq / Hkv;
    float scale = 1.0f / sqrtf((float)hd);
    #pragma omp parallel for collapse(3) schedule(dynamic, 8)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < Hq; h++)
            for (int t = 0; t < T; t++) {
                int kh = h / group;
                const float *dy = dout + (((size_t)b * T + t) * Hq + h) * hd;
                const float *row = att + (((size_t)b * Hq + h) * T + t) * T;
                float rd = 0.0f;
                for (int s = 0; s <= t; s++)
                    rd += row[s] * dot(dy, v + (((size_t)b * T + s) * Hkv + kh) * hd, hd);
                scratch[((size_t)b * Hq + h) * T + t] = rd;
                if (!dq) continue;
                float *dqt = dq + (((size_t)b * T + t) * Hq + h) * hd;
                for (int s = 0; s <= t; s++) {
                    size_t kv = (((size_t)b * T + s) * Hkv + kh) * hd;
                    float ds = scale * row[s] * (dot(dy, v + kv, hd) - rd);
                    for (int i = 0; i < hd; i++) dqt[i] += ds * k[kv + i];
                }
            }
    if (!dk && !dv) return;
    int ntiles = (T + KEY_TILE - 1) / KEY_TILE;
    #pragma omp parallel for collapse(3) schedule(dynamic, 1)
    for (int b = 0; b < B; b++)
        for (int kh = 0; kh < Hkv; kh++)
            for (int tile = 0; tile < ntiles; tile++) {
                int s0 = tile * KEY_TILE, s1 = s0 + KEY_TILE < T ? s0 + KEY_TILE : T;
                for (int h = kh * group; h < (kh + 1) * group; h++)
                    for (int t = s0; t < T; t++) {
                        const float *dy = dout + (((size_t)b * T + t) * Hq + h) * hd;
                        const float *qt = q + (((size_t)b * T + t) * Hq + h) * hd;
                        const float *row = att + (((size_t)b * Hq + h) * T + t) * T;
                        float rd = scratch[((size_t)b * Hq + h) * T + t];
                        int send = t + 1 < s1 ? t + 1 : s1;
                        for (int s = s0; s < send; s++) {
                            size_t kv = (((size_t)b * T + s) * Hkv + kh) * hd;
                            float p = row[s];
                            if (dv)
                                for (int i = 0; i < hd; i++) dv[kv + i] += p * dy[i];
                            if (dk) {
                                float ds = scale * p * (dot(dy, v + kv, hd) - rd);
                                for (int i = 0; i < hd; i++) dk[kv + i] += ds * qt[i];
                            }
                        }
                    }
            }
}
