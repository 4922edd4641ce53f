// Token sampling: greedy, temperature, top-k, top-p.
#define _GNU_SOURCE   // qsort_r
#include <math.h>

#include "models/model.h"

struct arwkv_sampler {
    int32_t V, top_k;
    float temp, top_p;
    rng r;
    float *prob;
    int32_t *idx;
};

int arwkv_sampler_init(arwkv_sampler **out, int32_t V, float temp, int32_t top_k, float top_p, uint64_t seed) {
    if (!(temp >= 0) || !(top_p > 0 && top_p <= 1) || top_k < 0)
        return arwkv_set_error("sampler: need temp >= 0, 0 < top_p <= 1, top_k >= 0");
    arwkv_sampler *sp = calloc(1, sizeof *sp);
    sp->V = V, sp->top_k = top_k, sp->temp = temp, sp->top_p = top_p;
    rng_seed(&sp->r, seed);
    sp->prob = malloc((size_t)V * sizeof(float));
    sp->idx = malloc((size_t)V * sizeof(int32_t));
    *out = sp;
    return 0;
}

void arwkv_sampler_free(arwkv_sampler *sp) {
    if (!sp) return;
    free(sp->prob);
    free(sp->idx);
    free(sp);
}

static int by_prob_desc(const void *a, const void *b, void *prob) {
    float pa = ((const float *)prob)[*(const int32_t *)a], pb = ((const float *)prob)[*(const int32_t *)b];
    return pa < pb ? 1 : pa > pb ? -1 : (*(const int32_t *)a - *(const int32_t *)b);
}

int32_t arwkv_sampler_sample(arwkv_sampler *sp, const float *logits) {
    int32_t V = sp->V, best = 0;
    for (int32_t i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = i;
    if (sp->temp == 0.0f) return best;
    double sum = 0.0;
    for (int32_t i = 0; i < V; i++) sum += sp->prob[i] = expf((logits[i] - logits[best]) / sp->temp);
    int32_t n = V;
    for (int32_t i = 0; i < V; i++) sp->idx[i] = i;
    if (sp->top_k > 0 || sp->top_p < 1.0f) {
        qsort_r(sp->idx, (size_t)V, sizeof(int32_t), by_prob_desc, sp->prob);
        if (sp->top_k > 0 && sp->top_k < n) n = sp->top_k;
        double kept = 0.0, cut = sp->top_p * sum;
        for (int32_t i = 0; i < n; i++) {
            kept += sp->prob[sp->idx[i]];
            if (kept >= cut) {
                n = i + 1;
                break;
            }
        }
        sum = 0.0;
        for (int32_t i = 0; i < n; i++) sum += sp->prob[sp->idx[i]];
    }
    double u = rng_uniform(&sp->r) * sum, acc = 0.0;
    for (int32_t i = 0; i < n; i++) {
        acc += sp->prob[sp->idx[i]];
        if (u < acc) return sp->idx[i];
    }
    return sp->idx[n - 1];
}
