// AdamW with global-norm clipping and the learning-rate schedules.
#include <math.h>

#include "train/train.h"

int adamw_init(adamw *o, const train_model *tm) {
    memset(o, 0, sizeof *o);
    o->lr = 1e-3f;
    o->beta1 = 0.9f;
    o->beta2 = 0.95f;
    o->eps = 1e-8f;
    o->weight_decay = 0.1f;
    o->clip = 1.0f;
    o->m = calloc(tm->n_params, sizeof(float));
    o->v = calloc(tm->n_params, sizeof(float));
    if (!o->m || !o->v) {
        adamw_free(o);
        return arwkv_set_error("adamw: out of memory for %zu moments", tm->n_params);
    }
    return 0;
}

void adamw_free(adamw *o) {
    free(o->m);
    free(o->v);
    o->m = o->v = NULL;
}

double train_grad_norm(const train_model *tm) {
    double s = 0;
    for (int32_t i = 0; i < tm->n_tensors; i++) {
        const train_tensor *t = &tm->tensors[i];
        if (!t->trainable) continue;
        const float *g = tm->grads + t->off;
        for (size_t j = 0; j < t->n; j++) s += (double)g[j] * g[j];
    }
    return sqrt(s);
}

void adamw_step(adamw *o, train_model *tm, float lr, double grad_norm) {
    o->t++;
    double clip = o->clip > 0 ? fmin(1.0, o->clip / (grad_norm + 1e-6)) : 1.0;
    double bc1 = 1.0 - pow(o->beta1, (double)o->t), bc2 = sqrt(1.0 - pow(o->beta2, (double)o->t));
    float b1 = o->beta1, b2 = o->beta2, step = (float)(lr / bc1), ibc2 = (float)(1.0 / bc2), eps = o->eps;
    // one parallel region for the whole update; tensors are independent, so no barrier between them
    #pragma omp parallel if (tm->n_params > 65536)
    for (int32_t i = 0; i < tm->n_tensors; i++) {
        const train_tensor *t = &tm->tensors[i];
        if (!t->trainable) continue;
        float *p = tm->params + t->off, *g = tm->grads + t->off, *m = o->m + t->off, *v = o->v + t->off;
        float keep = t->decay ? 1.0f - lr * o->weight_decay : 1.0f, c = (float)clip;
        #pragma omp for schedule(static) nowait
        for (size_t j = 0; j < t->n; j++) {
            float gj = g[j] * c;
            p[j] *= keep;
            m[j] = b1 * m[j] + (1.0f - b1) * gj;
            v[j] = b2 * v[j] + (1.0f - b2) * gj * gj;
            p[j] -= step * m[j] / (sqrtf(v[j]) * ibc2 + eps);
        }
    }
}

float train_lr_at(int64_t step, int64_t warmup, int64_t total, float lr, float min_lr, int cosine) {
    if (step < warmup) return lr * (float)(step + 1) / (float)warmup;
    if (!cosine || total <= warmup) return lr;
    double p = (double)(step - warmup) / (double)(total - warmup);
    if (p > 1) p = 1;
    return (float)(min_lr + 0.5 * (lr - min_lr) * (1.0 + cos(3.14159265358979323846 * p)));
}
