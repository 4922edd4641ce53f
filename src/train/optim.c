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
    const backend *be = o->be = tm->m->be;
    o->m = be->alloc(tm->n_params * sizeof(float));
    o->v = be->alloc(tm->n_params * sizeof(float));
    if (!o->m || !o->v) {
        adamw_free(o);
        return arwkv_set_error("adamw: out of %s memory for %zu moments", be->name, tm->n_params);
    }
    be->zero(o->m, tm->n_params * sizeof(float));
    be->zero(o->v, tm->n_params * sizeof(float));
    return 0;
}

void adamw_free(adamw *o) {
    if (o->m) o->be->release(o->m);
    if (o->v) o->be->release(o->v);
    o->m = o->v = NULL;
}

double train_grad_norm(const train_model *tm) {
    double s = 0;
    for (int32_t i = 0; i < tm->n_tensors; i++) {
        const train_tensor *t = &tm->tensors[i];
        if (!t->trainable) continue;
        s += tm->m->be->sumsq(tm->grads + t->off, t->n);
    }
    return sqrt(s);
}

void adamw_step(adamw *o, train_model *tm, float lr, double grad_norm) {
    o->t++;
    double clip = o->clip > 0 ? fmin(1.0, o->clip / (grad_norm + 1e-6)) : 1.0;
    double bc1 = 1.0 - pow(o->beta1, (double)o->t), bc2 = sqrt(1.0 - pow(o->beta2, (double)o->t));
    float b1 = o->beta1, b2 = o->beta2, step = (float)(lr / bc1), ibc2 = (float)(1.0 / bc2), eps = o->eps;
    for (int32_t i = 0; i < tm->n_tensors; i++) {
        const train_tensor *t = &tm->tensors[i];
        if (!t->trainable) continue;
        float keep = t->decay ? 1.0f - lr * o->weight_decay : 1.0f;
        tm->m->be->adamw_update(tm->params + t->off, tm->grads + t->off, o->m + t->off, o->v + t->off, t->n,
                                (float)clip, keep, b1, b2, step, ibc2, eps);
    }
}

float train_lr_at(int64_t step, int64_t warmup, int64_t total, float lr, float min_lr, int cosine) {
    if (step < warmup) return lr * (float)(step + 1) / (float)warmup;
    if (!cosine || total <= warmup) return lr;
    double p = (double)(step - warmup) / (double)(total - warmup);
    if (p > 1) p = 1;
    return (float)(min_lr + 0.5 * (lr - min_lr) * (1.0 + cos(3.14159265358979323846 * p)));
}
