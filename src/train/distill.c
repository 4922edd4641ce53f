// Stages 1 and 2 of the distillation (docs/distillation.md): the teacher runs through the inference
// API (per sequence), the student through the training engine.
#include "train/distill.h"

#include <fnmatch.h>
#include <math.h>

#include "kernels/train_ops.h"

// a buffer of the backend, counted into *ok
static void *be_take(const backend *be, size_t bytes, int *ok) {
    void *p = be->alloc(bytes ? bytes : 1);
    *ok = *ok && p;
    return p;
}

int distill_init(distill *d, int stage, const arwkv_model *teacher, const arwkv_model *student, int32_t B,
                 int32_t T) {
    memset(d, 0, sizeof *d);
    const arwkv_config *tc = arwkv_model_config(teacher), *sc = arwkv_model_config(student);
    if (stage != 1 && stage != 2) return arwkv_set_error("distill: --stage must be 1 or 2, got %d", stage);
    if (tc->arch != ARWKV_ARCH_QWEN2) return arwkv_set_error("distill: the teacher must be a Qwen2 model");
    if (sc->arch != ARWKV_ARCH_RWKV_HYBRID) return arwkv_set_error("distill: the student must be an ARWKV model");
    if (stage == 1 && (tc->n_embd != sc->n_embd || tc->n_layer != sc->n_layer))
        return arwkv_set_error("distill: stage 1 needs teacher and student of the same width and depth "
                               "(teacher %d x %d layers, student %d x %d)",
                               tc->n_embd, tc->n_layer, sc->n_embd, sc->n_layer);
    if (tc->n_vocab < sc->n_vocab)
        return arwkv_set_error("distill: the teacher's vocabulary (%d) is smaller than the student's (%d)",
                               tc->n_vocab, sc->n_vocab);
    if (teacher->be != student->be)
        return arwkv_set_error("distill: teacher (%s) and student (%s) must be on the same device", teacher->be->name,
                               student->be->name);
    const backend *be = d->be = student->be;
    d->stage = stage;
    d->teacher = teacher;
    d->temperature = 1.0f;
    d->B = B;
    d->T = T;
    d->L = sc->n_layer;
    d->D = sc->n_embd;
    d->Vs = sc->n_vocab;
    d->Vt = tc->n_vocab;
    size_t BT = (size_t)B * T, LTD = (size_t)d->L * T * d->D, F = sizeof(float);
    if (arwkv_state_init(&d->ts, teacher, T)) return -1;
    d->layer_loss = calloc((size_t)d->L, sizeof(double));
    d->step_layer = calloc((size_t)d->L, sizeof(double));
    d->host = malloc(BT * F);
    d->host_ids = malloc(BT * sizeof(int32_t));
    d->host_mask = malloc(BT);
    int ok = d->layer_loss && d->step_layer && d->host && d->host_ids && d->host_mask;
    if (stage == 1) {
        d->cap_h = be_take(be, LTD * F, &ok);
        d->cap_y = be_take(be, LTD * F, &ok);
        d->h = be_take(be, B * LTD * F, &ok);
        d->y = be_take(be, B * LTD * F, &ok);
        d->ys = be_take(be, BT * d->D * F, &ok);
        d->dy = be_take(be, BT * d->D * F, &ok);
        d->losses = be_take(be, BT * F, &ok);
    } else {
        d->tlogits = be_take(be, BT * d->Vt * F, &ok);
        d->dlogits = be_take(be, BT * d->Vs * F, &ok);
        d->losses = be_take(be, BT * F, &ok);
        d->ce = be_take(be, BT * F, &ok);
        d->mask = be_take(be, BT, &ok);
        d->tg = be_take(be, BT * sizeof(int32_t), &ok);
    }
    if (!ok) {
        distill_free(d);
        return arwkv_set_error("distill: out of %s memory for batches of %d x %d tokens", be->name, B, T);
    }
    return 0;
}

void distill_free(distill *d) {
    arwkv_state_free(d->ts);
    void *dev[] = {d->cap_h, d->cap_y, d->h, d->y, d->ys, d->dy, d->tlogits, d->dlogits, d->losses, d->ce, d->mask,
                   d->tg};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        if (dev[i]) d->be->release(dev[i]);
    void *host[] = {d->layer_loss, d->step_layer, d->host, d->host_ids, d->host_mask};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++) free(host[i]);
    memset(d, 0, sizeof *d);
}

static int check_batch(const distill *d, const train_model *tm) {
    if (tm->B != d->B || tm->T != d->T)
        return arwkv_set_error("distill: batch %d x %d does not match the prepared %d x %d", tm->B, tm->T, d->B, d->T);
    return 0;
}

int distill_align_batch(distill *d, train_model *tm, const int32_t *in, float grad_scale, double *loss) {
    if (d->stage != 1 || check_batch(d, tm)) return d->stage != 1 ? arwkv_set_error("distill: not stage 1") : -1;
    const backend *be = d->be;
    int32_t B = d->B, T = d->T, L = d->L, D = d->D;
    size_t BT = (size_t)B * T, TD = (size_t)T * D;
    // teacher: every layer's normed attention input and Wo o, rearranged to (L, B*T, D)
    for (int32_t b = 0; b < B; b++) {
        arwkv_state_reset(d->ts);
        arwkv_state_capture(d->ts, d->cap_h, d->cap_y, 0, T);
        int rc = arwkv_forward(d->teacher, d->ts, in + (size_t)b * T, T, NULL, 0);
        arwkv_state_capture(d->ts, NULL, NULL, 0, 0);
        if (rc) return -1;
        for (int32_t l = 0; l < L; l++) {
            be->copy(d->h + (l * BT + (size_t)b * T) * D, d->cap_h + l * TD, TD * sizeof(float));
            be->copy(d->y + (l * BT + (size_t)b * T) * D, d->cap_y + l * TD, TD * sizeof(float));
        }
    }
    // student: layer by layer on the teacher's h (layer 0 first: it provides v_first); the loss is
    // averaged over rows and layers
    double total = 0, sc = grad_scale / ((double)BT * L);
    for (int32_t l = 0; l < L; l++) {
        if (train_time_mix_forward(tm, l, d->h + l * BT * D, d->ys)) return -1;
        be->align_loss(d->losses, d->dy, d->ys, d->y + l * BT * D, sc, (int)BT, D);
        be->download(d->host, d->losses, BT * sizeof(float));
        double sum = 0;
        for (size_t r = 0; r < BT; r++) sum += d->host[r];
        if (train_time_mix_backward(tm, l, d->dy)) return -1;
        d->layer_loss[l] = sum / (double)BT;
        total += d->layer_loss[l];
    }
    *loss = total / L;
    return 0;
}

int distill_kd_batch(distill *d, train_model *tm, const int32_t *in, const int32_t *tg, float grad_scale,
                     double *loss, double *kl, double *ce) {
    if (d->stage != 2 || check_batch(d, tm)) return d->stage != 2 ? arwkv_set_error("distill: not stage 2") : -1;
    const backend *be = d->be;
    int32_t B = d->B, T = d->T, Vs = d->Vs, Vt = d->Vt, BT = B * T;
    for (int32_t b = 0; b < B; b++) {
        arwkv_state_reset(d->ts);
        if (model_forward_all(d->teacher, d->ts, in + (size_t)b * T, T, d->tlogits + (size_t)b * T * Vt)) return -1;
    }
    if (train_forward_logits(tm, in)) return -1;
    int32_t nc = 0;
    for (int32_t i = 0; i < BT; i++) {
        d->host_mask[i] = tg[i] >= 0;
        d->host_ids[i] = tg[i] >= 0 && tg[i] < Vs ? tg[i] : -1;
        nc += d->host_ids[i] >= 0;
    }
    be->upload(d->mask, d->host_mask, (size_t)BT);
    be->upload(d->tg, d->host_ids, (size_t)BT * sizeof(int32_t));
    float tau = d->temperature, *hl = d->host;
    int n = be->kl_div_forward(d->losses, tm->logits, d->tlogits, d->mask, tau, BT, Vs, Vt);
    be->zero(d->dlogits, (size_t)BT * Vs * sizeof(float));
    be->download(hl, d->losses, (size_t)BT * sizeof(float));
    double kl_sum = 0, ce_sum = 0;
    for (int32_t i = 0; i < BT; i++) kl_sum += hl[i];
    if (n) be->kl_div_backward(d->dlogits, tm->logits, d->tlogits, d->mask, tau, grad_scale / (float)n, BT, Vs, Vt);
    double klm = n ? kl_sum / n : 0, cem = 0;
    if (d->ce_weight != 0) {
        // the logits become the CE gradient in place, then the KL gradient joins them
        float scale = nc ? d->ce_weight * grad_scale / (float)nc : 0.0f;
        be->crossentropy_fused(d->ce, tm->logits, d->tg, scale, BT, Vs);
        be->download(hl, d->ce, (size_t)BT * sizeof(float));
        for (int32_t i = 0; i < BT; i++) ce_sum += hl[i];
        be->add(tm->logits, tm->logits, d->dlogits, (size_t)BT * Vs);
        cem = nc ? ce_sum / nc : 0;
    } else {
        be->copy(tm->logits, d->dlogits, (size_t)BT * Vs * sizeof(float));
    }
    if (train_backward(tm)) return -1;
    *loss = klm + d->ce_weight * cem;
    if (kl) *kl = klm;
    if (ce) *ce = cem;
    return 0;
}

static int hook_setup(void *ctx, train_model *tm, const trainer_opts *o) {
    distill *d = ctx, want = *d;
    if (distill_init(d, want.stage, want.teacher, tm->m, tm->B, tm->T)) return -1;
    d->temperature = want.temperature;
    d->ce_weight = want.ce_weight;
    if (d->stage != 1) return 0;
    const char *tmix = "*time_mixer*";
    const char *const *only = o->n_only ? o->only : &tmix;
    train_model_set_trainable(tm, only, o->n_only ? o->n_only : 1, o->freeze, o->n_freeze);
    int64_t n = 0;
    for (int32_t i = 0; i < tm->n_tensors; i++) {
        train_tensor *t = &tm->tensors[i];
        t->trainable = t->trainable && fnmatch(tmix, t->name, 0) == 0;
        n += t->trainable;
    }
    return n ? 0 : arwkv_set_error("distill: stage 1 trains time-mix tensors only, and the patterns leave none");
}

static int hook_micro(void *ctx, train_model *tm, int64_t index, const int32_t *in, const int32_t *tg,
                      float grad_scale, double *loss) {
    distill *d = ctx;
    (void)index;
    d->step_micro++;
    if (d->stage == 1) {
        if (distill_align_batch(d, tm, in, grad_scale, loss)) return -1;
        for (int32_t l = 0; l < d->L; l++) d->step_layer[l] += d->layer_loss[l];
        return 0;
    }
    double kl, ce;
    if (distill_kd_batch(d, tm, in, tg, grad_scale, loss, &kl, &ce)) return -1;
    d->step_kl += kl;
    d->step_ce += ce;
    return 0;
}

static void hook_step_begin(void *ctx) {
    distill *d = ctx;
    memset(d->step_layer, 0, (size_t)d->L * sizeof(double));
    d->step_kl = d->step_ce = 0;
    d->step_micro = 0;
}

static void hook_log(void *ctx, char *buf, size_t cap) {
    distill *d = ctx;
    double k = d->step_micro ? 1.0 / (double)d->step_micro : 0;
    size_t n = 0;
    if (d->stage == 2) {
        snprintf(buf, cap, ", \"kl\": %.6f, \"ce\": %.6f", d->step_kl * k, d->step_ce * k);
        return;
    }
    n += (size_t)snprintf(buf + n, cap - n, ", \"layer_losses\": [");
    for (int32_t l = 0; l < d->L && n < cap; l++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%.6f", l ? ", " : "", d->step_layer[l] * k);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

trainer_hooks distill_hooks(distill *d) {
    return (trainer_hooks){.ctx = d, .setup = hook_setup, .micro_batch = hook_micro, .step_begin = hook_step_begin,
                           .log_fields = hook_log};
}
