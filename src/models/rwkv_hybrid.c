// ARWKV student: the RWKV-7 time-mix block, forward and backward (docs/model.md §2, steps 2-16). One
// sequence continuing from a carried state (inference; T == 1 is the recurrent form) and a batch
// of sequences starting from zeros with state checkpoints for the backward (training) run the same
// token-parallel products and WKV-7 scan.
#include "models/model_train.h"

#define P(w) ((const float *)(w).data)

// GroupNorm epsilon of the published checkpoints (head_size_divisor 8: 1e-5 * 8^2)
static float group_norm_eps(const arwkv_config *c) {
    double d = c->head_size_divisor > 0 ? c->head_size_divisor : 8;
    return (float)(1e-5 * d * d);
}

static void lora_forward(const backend *be, float *out, const float *inp, const weight *p, int T, int C, int R) {
    prof_mark pm = model_prof_begin(be);
    be->xp_forward(out, inp, P(*p), T, C, R);
    model_prof_end(be, PROF_LORA_FWD, pm, 2.0 * T * C * R);
}

// out (BT, D) = act(x @ P1) @ P2 with the middle (BT, R) kept
static void lora2(const backend *be, float *out, float *mid, const float *x, const weight *p1, const weight *p2,
                  int BT, int D, int R, int tanh_mid) {
    lora_forward(be, mid, x, p1, BT, D, R);
    if (tanh_mid) be->tanh_forward(mid, mid, (size_t)BT * R);
    lora_forward(be, out, mid, p2, BT, R, D);
}

void rwkv_block_forward(const arwkv_model *m, model_acts *a, const model_pass *p, int l, float *out) {
    const arwkv_config *c = &m->cfg;
    const backend *be = m->be;
    const layer_weights *L = &m->w.layers[l];
    int B = p->B, T = p->T, BT = B * T, D = c->n_embd, H = c->n_head, N = c->head_dim;
    size_t TD = (size_t)BT * D, HNN = (size_t)H * N * N;
    const weight *mixes[6] = {&L->x_r, &L->x_w, &L->x_k, &L->x_v, &L->x_a, &L->x_g};
    int M = c->has_gate ? 6 : 5;
    float *xm = a->xmix[l], *xn = a->xn[l];
    // 2-4: token shift (from the carried shift, or zeros at each sequence start) and the lerp mixes
    float *shift = p->shift ? p->shift + (size_t)l * D : a->zero_shift;
    for (int j = 0; j < M; j++) be->token_shift_forward(xm + j * TD, xn, shift, P(*mixes[j]), 1, B, T, D);
    if (p->shift) be->shift_store(shift, xn, B, T, D);
    float *xr = xm, *xw = xm + TD, *xk = xm + 2 * TD, *xv = xm + 3 * TD, *xa = xm + 4 * TD, *xg = xm + 5 * TD;
    // 5: r, k, v
    model_matmul(m, a->r[l], xr, &L->wq, NULL, BT, D, D);
    model_matmul(m, a->k0[l], xk, &L->wk, NULL, BT, D, D);
    model_matmul(m, a->v0[l], xv, &L->wv, NULL, BT, D, D);
    // 6: decay
    lora2(be, a->wz[l], a->wmid[l], xw, &L->w1, &L->w2, BT, D, c->lora_w, 1);
    be->decay_forward(a->wd[l], a->wz[l], P(L->w0), BT, D);
    // 7: value residual (v_first from layer 0, detached)
    if (l == 0) {
        if (!a->keep_vfirst) be->copy(a->vfirst, a->v0[l], TD * sizeof(float));
        be->copy(a->vf[l], a->v0[l], TD * sizeof(float));
    } else {
        lora2(be, a->vz[l], a->vmid[l], xv, &L->v1, &L->v2, BT, D, c->lora_v, 0);
        be->value_mix_forward(a->vf[l], a->v0[l], a->vfirst, a->vz[l], P(L->v0), BT, D);
    }
    // 8: in-context learning rate
    lora2(be, a->a[l], a->amid[l], xa, &L->a1, &L->a2, BT, D, c->lora_a, 0);
    be->sigmoid_forward(a->a[l], a->a[l], P(L->a0), BT, D);
    // 9: gate
    if (c->has_gate) {
        lora_forward(be, a->gmid[l], xg, &L->g1, BT, D, c->lora_g);
        be->sigmoid_forward(a->gmid[l], a->gmid[l], NULL, BT, c->lora_g);
        lora_forward(be, a->g[l], a->gmid[l], &L->g2, BT, c->lora_g, D);
    }
    // 10-11: normalised removal key, then the iclr-scaled key
    be->kk_norm_forward(a->kk[l], a->k0[l], P(L->k_k), BT, H, N);
    be->k_iclr_forward(a->kf[l], a->k0[l], a->a[l], P(L->k_a), BT, D);
    be->wkv_ab_forward(a->alpha[l], a->beta[l], a->kk[l], a->a[l], TD);
    // 12: the scan, from the carried state or from zeros
    float *state = p->wkv ? p->wkv + (size_t)l * HNN : a->state;
    if (!p->wkv) be->zero(state, (size_t)B * HNN * sizeof(float));
    prof_mark pm = model_prof_begin(be);
    be->wkv7_forward(a->ow[l], state, a->ckpt[l], p->K, a->r[l], a->wd[l], a->kf[l], a->vf[l], a->alpha[l],
                     a->beta[l], B, T, H, N);
    model_prof_end(be, PROF_WKV_FWD, pm, 0);
    // 13: optional GroupNorm; 14: bonus
    if (c->has_group_norm)
        be->group_norm_forward(a->ob[l], a->gnm[l], a->gnr[l], a->ow[l], P(L->ln_x_w), P(L->ln_x_b),
                               group_norm_eps(c), BT, H, N);
    else
        be->copy(a->ob[l], a->ow[l], TD * sizeof(float));
    be->bonus_forward(a->ob[l], a->r[l], a->kf[l], a->vf[l], P(L->r_k), BT, H, N);
    // 15: gate; 16: output projection
    float *o = a->ob[l];
    if (c->has_gate) {
        be->gate_mul_forward(a->og[l], a->ob[l], a->g[l], TD);
        o = a->og[l];
    }
    model_matmul(m, out, o, &L->wo, NULL, BT, D, D);
}

static void lora_backward(train_model *tm, float *dinp, const weight *p, const float *dout, const float *inp, int T,
                          int C, int R) {
    float *dp = train_grad_of(tm, p);
    prof_mark pm = model_prof_begin(tm->m->be);
    tm->m->be->xp_backward(dinp, dp, dout, inp, P(*p), T, C, R);
    model_prof_end(tm->m->be, PROF_LORA_BWD, pm, 2.0 * T * C * R * ((dinp != NULL) + (dp != NULL)));
}

// backward of out = act(x @ P1) @ P2 given dout; accumulates dx
static void lora2_backward(train_model *tm, float *dx, const float *dout, const float *x, const float *mid,
                           const weight *p1, const weight *p2, int BT, int D, int R, int tanh_mid) {
    float *dmid = train_zeroed(tm, tm->dmid, (size_t)BT * R);
    lora_backward(tm, dmid, p2, dout, mid, BT, R, D);
    const float *dpre = dmid;
    if (tanh_mid) {
        tm->m->be->tanh_backward(train_zeroed(tm, tm->dmid2, (size_t)BT * R), dmid, mid, (size_t)BT * R);
        dpre = tm->dmid2;
    }
    lora_backward(tm, dx, p1, dpre, x, BT, D, R);
}

void rwkv_block_backward(train_model *tm, int l, const float *dy) {
    const arwkv_config *c = &tm->m->cfg;
    const backend *be = tm->m->be;
    const layer_weights *L = &tm->m->w.layers[l];
    const model_acts *a = &tm->a;
    int B = tm->B, T = tm->T, BT = B * T, D = c->n_embd, H = c->n_head, N = c->head_dim;
    size_t TD = (size_t)BT * D;
    int M = c->has_gate ? 6 : 5;
    // gradients w.r.t. the activations, all (BT, D)
    float *dob = train_zeroed(tm, tm->d[0], TD), *dow = tm->d[1], *dr = train_zeroed(tm, tm->d[2], TD);
    float *dkf = train_zeroed(tm, tm->d[3], TD), *dvf = train_zeroed(tm, tm->d[4], TD);
    float *dwd = train_zeroed(tm, tm->d[5], TD), *dal = train_zeroed(tm, tm->d[6], TD);
    float *dbe = train_zeroed(tm, tm->d[7], TD), *dkk = train_zeroed(tm, tm->d[8], TD);
    float *da = train_zeroed(tm, tm->d[9], TD), *dk0 = train_zeroed(tm, tm->d[10], TD);
    float *dv0 = train_zeroed(tm, tm->d[11], TD), *dz = tm->d[12], *dg = tm->d[13];
    float *dxm[6];
    for (int j = 0; j < M; j++) dxm[j] = train_zeroed(tm, tm->d[14 + j], TD);
    const float *o_in = c->has_gate ? a->og[l] : a->ob[l];
    float *dof = c->has_gate ? train_zeroed(tm, tm->d[20], TD) : dob;
    train_mm_backward(tm, dof, &L->wo, NULL, dy, o_in, BT, D, D);
    if (c->has_gate) be->gate_mul_backward(dob, train_zeroed(tm, dg, TD), dof, a->ob[l], a->g[l], TD);
    be->bonus_backward(dr, dkf, dvf, train_grad_of(tm, &L->r_k), dob, a->r[l], a->kf[l], a->vf[l], P(L->r_k), BT, H,
                       N);
    if (c->has_group_norm)
        be->group_norm_backward(train_zeroed(tm, dow, TD), train_grad_of(tm, &L->ln_x_w), train_grad_of(tm, &L->ln_x_b),
                                dob, a->ow[l], P(L->ln_x_w), a->gnm[l], a->gnr[l], BT, H, N);
    else
        dow = dob;
    prof_mark pm = model_prof_begin(be);
    be->wkv7_backward(dr, dwd, dkf, dvf, dal, dbe, NULL, tm->wkv_scratch, dow, a->ckpt[l], tm->K, a->r[l], a->wd[l],
                      a->kf[l], a->vf[l], a->alpha[l], a->beta[l], B, T, H, N);
    model_prof_end(be, PROF_WKV_BWD, pm, 0);
    be->wkv_ab_backward(dkk, da, dal, dbe, a->kk[l], a->a[l], TD);
    be->k_iclr_backward(dk0, da, train_grad_of(tm, &L->k_a), dkf, a->k0[l], a->a[l], P(L->k_a), BT, D);
    be->kk_norm_backward(dk0, train_grad_of(tm, &L->k_k), dkk, a->k0[l], P(L->k_k), BT, H, N);
    const float *xm = a->xmix[l];
    const float *xr = xm, *xw = xm + TD, *xk = xm + 2 * TD, *xv = xm + 3 * TD, *xa = xm + 4 * TD, *xg = xm + 5 * TD;
    if (c->has_gate) {
        float *dgm = train_zeroed(tm, tm->dmid, (size_t)BT * c->lora_g);
        float *dgp = train_zeroed(tm, tm->dmid2, (size_t)BT * c->lora_g);
        lora_backward(tm, dgm, &L->g2, dg, a->gmid[l], BT, c->lora_g, D);
        be->sigmoid_backward(dgp, NULL, dgm, a->gmid[l], BT, c->lora_g);
        lora_backward(tm, dxm[5], &L->g1, dgp, xg, BT, D, c->lora_g);
    }
    be->sigmoid_backward(train_zeroed(tm, dz, TD), train_grad_of(tm, &L->a0), da, a->a[l], BT, D);
    lora2_backward(tm, dxm[4], dz, xa, a->amid[l], &L->a1, &L->a2, BT, D, c->lora_a, 0);
    if (l == 0) {
        be->copy(dv0, dvf, TD * sizeof(float));
    } else {
        be->value_mix_backward(dv0, train_zeroed(tm, dz, TD), train_grad_of(tm, &L->v0), dvf, a->v0[l], a->vfirst,
                               a->vz[l], P(L->v0), BT, D);
        lora2_backward(tm, dxm[3], dz, xv, a->vmid[l], &L->v1, &L->v2, BT, D, c->lora_v, 0);
    }
    be->decay_backward(train_zeroed(tm, dz, TD), train_grad_of(tm, &L->w0), dwd, a->wz[l], P(L->w0), BT, D);
    lora2_backward(tm, dxm[1], dz, xw, a->wmid[l], &L->w1, &L->w2, BT, D, c->lora_w, 1);
    train_mm_backward(tm, dxm[0], &L->wq, NULL, dr, xr, BT, D, D);
    train_mm_backward(tm, dxm[2], &L->wk, NULL, dk0, xk, BT, D, D);
    train_mm_backward(tm, dxm[3], &L->wv, NULL, dv0, xv, BT, D, D);
    const weight *mixes[6] = {&L->x_r, &L->x_w, &L->x_k, &L->x_v, &L->x_a, &L->x_g};
    for (int j = 0; j < M; j++)
        be->token_shift_backward(tm->dxn, NULL, train_grad_of(tm, mixes[j]), dxm[j], a->xn[l], a->zero_shift,
                                 P(*mixes[j]), 1, B, T, D);
}
