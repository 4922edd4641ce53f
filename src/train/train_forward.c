// Batched training forward of both model types (model.md §1, §2 steps 1-17), saving what the
// backward needs, and the next-token cross-entropy.
#include "kernels/train_ops.h"
#include "train/profile.h"
#include "train/train.h"

#define P(w) ((const float *)(w).data)

// the matrix products, timed for the profile table
static void mm_forward(float *out, const float *inp, const weight *w, const float *bias, int T, int C, int OC) {
    prof_mark pm = prof_begin();
    matmul_forward(out, inp, w->data, ARWKV_F32, bias, T, C, OC);
    prof_end(PROF_MATMUL_FWD, pm, 2.0 * T * C * OC);
}

static void lora_forward(float *out, const float *inp, const weight *p, int T, int C, int R) {
    prof_mark pm = prof_begin();
    xp_forward(out, inp, P(*p), T, C, R);
    prof_end(PROF_LORA_FWD, pm, 2.0 * T * C * R);
}

static void add_into(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static void teacher_block_forward(train_model *tm, const layer_weights *L, int l, float *tmp) {
    const arwkv_config *c = &tm->m->cfg;
    int B = tm->B, T = tm->T, BT = B * T, D = c->n_embd, Hq = c->n_head, Hkv = c->n_kv_head, hd = c->head_dim;
    int qd = Hq * hd, kvd = Hkv * hd;
    const float *xn = tm->xn[l];
    mm_forward(tm->q[l], xn, &L->wq, P(L->bq), BT, D, qd);
    mm_forward(tm->k[l], xn, &L->wk, P(L->bk), BT, D, kvd);
    mm_forward(tm->v[l], xn, &L->wv, P(L->bv), BT, D, kvd);
    for (int b = 0; b < B; b++) {
        rope_forward(tm->q[l] + (size_t)b * T * qd, 0, c->rope_theta, T, Hq, hd);
        rope_forward(tm->k[l] + (size_t)b * T * kvd, 0, c->rope_theta, T, Hkv, hd);
    }
    prof_mark pm = prof_begin();
    attention_train_forward(tm->ao[l], tm->att[l], tm->q[l], tm->k[l], tm->v[l], B, T, Hq, Hkv, hd);
    prof_end(PROF_ATTN_FWD, pm, 0);
    mm_forward(tmp, tm->ao[l], &L->wo, NULL, BT, qd, D);
}

// out (BT, D) = act(x @ P1) @ P2 with the middle (BT, R) saved
static void lora2(float *out, float *mid, const float *x, const weight *p1, const weight *p2, int BT, int D, int R,
                  int tanh_mid) {
    lora_forward(mid, x, p1, BT, D, R);
    if (tanh_mid) tanh_forward(mid, mid, (size_t)BT * R);
    lora_forward(out, mid, p2, BT, R, D);
}

static void student_block_forward(train_model *tm, const layer_weights *L, int l, float *tmp) {
    const arwkv_config *c = &tm->m->cfg;
    int B = tm->B, T = tm->T, BT = B * T, D = c->n_embd, H = c->n_head, N = c->head_dim;
    size_t TD = (size_t)BT * D, plane = (size_t)T * D;
    const weight *mixes[6] = {&L->x_r, &L->x_w, &L->x_k, &L->x_v, &L->x_a, &L->x_g};
    int M = c->has_gate ? 6 : 5;
    float *xm = tm->xmix[l];
    for (int j = 0; j < M; j++) token_shift_forward(xm + j * TD, tm->xn[l], tm->zero_shift, P(*mixes[j]), 1, B, T, D);
    const float *xr = xm, *xw = xm + TD, *xk = xm + 2 * TD, *xv = xm + 3 * TD, *xa = xm + 4 * TD, *xg = xm + 5 * TD;
    mm_forward(tm->r[l], xr, &L->wq, NULL, BT, D, D);
    mm_forward(tm->k0[l], xk, &L->wk, NULL, BT, D, D);
    mm_forward(tm->v0[l], xv, &L->wv, NULL, BT, D, D);
    lora2(tm->wz[l], tm->wmid[l], xw, &L->w1, &L->w2, BT, D, c->lora_w, 1);
    decay_forward(tm->wd[l], tm->wz[l], P(L->w0), BT, D);
    if (l == 0) {
        if (!tm->keep_vfirst) memcpy(tm->vfirst, tm->v0[l], TD * sizeof(float));
        memcpy(tm->vf[l], tm->v0[l], TD * sizeof(float));
    } else {
        lora2(tm->vz[l], tm->vmid[l], xv, &L->v1, &L->v2, BT, D, c->lora_v, 0);
        value_mix_forward(tm->vf[l], tm->v0[l], tm->vfirst, tm->vz[l], P(L->v0), BT, D);
    }
    lora2(tm->a[l], tm->amid[l], xa, &L->a1, &L->a2, BT, D, c->lora_a, 0);
    sigmoid_forward(tm->a[l], tm->a[l], P(L->a0), BT, D);
    if (c->has_gate) {
        lora_forward(tm->gmid[l], xg, &L->g1, BT, D, c->lora_g);
        sigmoid_forward(tm->gmid[l], tm->gmid[l], NULL, BT, c->lora_g);
        lora_forward(tm->g[l], tm->gmid[l], &L->g2, BT, c->lora_g, D);
    }
    kk_norm_forward(tm->kk[l], tm->k0[l], P(L->k_k), BT, H, N);
    k_iclr_forward(tm->kf[l], tm->k0[l], tm->a[l], P(L->k_a), BT, D);
    wkv_ab_forward(tm->alpha[l], tm->beta[l], tm->kk[l], tm->a[l], TD);
    size_t nck = (T + tm->K - 1) / tm->K, HNN = (size_t)H * N * N;
    prof_mark pm = prof_begin();
    // one parallel region over the sequences (the scan inside then runs on its thread alone)
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        size_t o = (size_t)b * plane;
        float *state = tm->state + b * HNN;
        memset(state, 0, HNN * sizeof(float));
        wkv7_forward(tm->ow[l] + o, state, tm->ckpt[l] + b * nck * HNN, tm->K, tm->r[l] + o, tm->wd[l] + o,
                     tm->kf[l] + o, tm->vf[l] + o, tm->alpha[l] + o, tm->beta[l] + o, T, H, N);
    }
    prof_end(PROF_WKV_FWD, pm, 0);
    // ob: the (group-normed) scan output plus the bonus
    if (c->has_group_norm)
        group_norm_forward(tm->ob[l], tm->gnm[l], tm->gnr[l], tm->ow[l], P(L->ln_x_w), P(L->ln_x_b), 64e-5f, BT, H, N);
    else
        memcpy(tm->ob[l], tm->ow[l], TD * sizeof(float));
    bonus_forward(tm->ob[l], tm->r[l], tm->kf[l], tm->vf[l], P(L->r_k), BT, H, N);
    const float *o = tm->ob[l];
    if (c->has_gate) {
        gate_mul_forward(tm->og[l], tm->ob[l], tm->g[l], TD);
        o = tm->og[l];
    }
    mm_forward(tmp, o, &L->wo, NULL, BT, D, D);
}

int train_time_mix_forward(train_model *tm, int32_t l, const float *xn, float *y) {
    const arwkv_config *c = &tm->m->cfg;
    if (c->arch != ARWKV_ARCH_RWKV_HYBRID || l < 0 || l >= c->n_layer)
        return arwkv_set_error("train: layer %d has no time-mix block", l);
    memcpy(tm->xn[l], xn, (size_t)tm->B * tm->T * c->n_embd * sizeof(float));
    student_block_forward(tm, &tm->m->w.layers[l], l, y);
    return 0;
}

int train_forward_logits(train_model *tm, const int32_t *inputs) {
    const arwkv_config *c = &tm->m->cfg;
    const model_weights *W = &tm->m->w;
    int BT = tm->B * tm->T, D = c->n_embd, F = c->n_ff, V = c->n_vocab;
    size_t TD = (size_t)BT * D;
    for (int i = 0; i < BT; i++)
        if (inputs[i] < 0 || inputs[i] >= V)
            return arwkv_set_error("train: input token %d at position %d is outside the vocabulary (%d)", inputs[i],
                                   i, V);
    memcpy(tm->inputs, inputs, BT * sizeof(int32_t));
    prof_mark pm = prof_begin();
    float *tmp = tm->dx;   // free during the forward
    embedding_forward(tm->x[0], inputs, W->embed.data, ARWKV_F32, BT, D, V);
    for (int l = 0; l < c->n_layer; l++) {
        const layer_weights *L = &W->layers[l];
        rmsnorm_forward(tm->xn[l], tm->rstd1[l], tm->x[2 * l], P(L->ln1), c->rms_eps, BT, D);
        if (c->arch == ARWKV_ARCH_QWEN2) teacher_block_forward(tm, L, l, tmp);
        else student_block_forward(tm, L, l, tmp);
        add_into(tm->x[2 * l + 1], tm->x[2 * l], tmp, TD);
        rmsnorm_forward(tm->f[l], tm->rstd2[l], tm->x[2 * l + 1], P(L->ln2), c->rms_eps, BT, D);
        mm_forward(tm->ffg[l], tm->f[l], &L->gate, NULL, BT, D, F);
        mm_forward(tm->ffu[l], tm->f[l], &L->up, NULL, BT, D, F);
        swiglu_forward(tm->ffh[l], tm->ffg[l], tm->ffu[l], BT, F);
        mm_forward(tmp, tm->ffh[l], &L->down, NULL, BT, F, D);
        add_into(tm->x[2 * l + 2], tm->x[2 * l + 1], tmp, TD);
    }
    rmsnorm_forward(tm->xnf, tm->rstdf, tm->x[2 * c->n_layer], P(W->norm), c->rms_eps, BT, D);
    mm_forward(tm->logits, tm->xnf, &W->lm_head, NULL, BT, D, V);
    prof_end(PROF_FORWARD, pm, 0);
    return 0;
}

int train_forward(train_model *tm, const int32_t *inputs, const int32_t *targets, float grad_scale, float *loss) {
    int BT = tm->B * tm->T, V = tm->m->cfg.n_vocab;
    if (train_forward_logits(tm, inputs)) return -1;
    int32_t n = 0;
    for (int i = 0; i < BT; i++) {
        tm->targets[i] = targets[i] >= 0 && targets[i] < V ? targets[i] : -1;
        n += tm->targets[i] >= 0;
    }
    tm->n_counted = n;
    tm->grad_scale = grad_scale;
    // the logits become scaled dlogits here: the backward needs nothing else from them
    float scale = n ? grad_scale / (float)n : 0.0f;
    prof_mark pm = prof_begin();
    crossentropy_fused(tm->losses, tm->logits, tm->targets, scale, BT, V);
    prof_end(PROF_LOSS, pm, 0);
    double sum = 0;
    for (int i = 0; i < BT; i++) sum += tm->losses[i];
    *loss = n ? (float)(sum / n) : 0.0f;
    return 0;
}
