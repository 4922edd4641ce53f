// Batched training backward of both model types: the forward of train_forward.c in reverse,
// accumulating into the gradients of trainable tensors only (frozen ones get NULL pointers).
#include "kernels/train_ops.h"
#include "train/profile.h"
#include "train/train.h"

#define P(w) ((const float *)(w).data)

// the gradient of a weight, or NULL when its tensor is frozen
static float *grad_of(train_model *tm, const weight *w) {
    size_t off = (size_t)((const float *)w->data - tm->params);
    int32_t lo = 0, hi = tm->n_tensors - 1;
    while (lo < hi) {   // last tensor with t->off <= off
        int32_t mid = (lo + hi + 1) / 2;
        if (tm->tensors[mid].off <= off) lo = mid;
        else hi = mid - 1;
    }
    return tm->tensors[lo].trainable ? tm->grads + off : NULL;
}

// the matrix products, timed for the profile table
static void mm_backward(train_model *tm, float *dinp, const weight *w, const weight *bias, const float *dout,
                        const float *inp, int T, int C, int OC) {
    float *dw = grad_of(tm, w), *db = bias ? grad_of(tm, bias) : NULL;
    prof_mark pm = prof_begin();
    matmul_backward(dinp, dw, db, dout, inp, w->data, T, C, OC);
    prof_end(PROF_MATMUL_BWD, pm, 2.0 * T * C * OC * ((dinp != NULL) + (dw != NULL)));
}

static void lora_backward(train_model *tm, float *dinp, const weight *p, const float *dout, const float *inp, int T,
                          int C, int R) {
    float *dp = grad_of(tm, p);
    prof_mark pm = prof_begin();
    xp_backward(dinp, dp, dout, inp, P(*p), T, C, R);
    prof_end(PROF_LORA_BWD, pm, 2.0 * T * C * R * ((dinp != NULL) + (dp != NULL)));
}

static float *zeroed(float *p, size_t n) {
    memset(p, 0, n * sizeof(float));
    return p;
}

// dx: gradient w.r.t. the block output (the residual add); accumulates the block input's part into tm->dxn
static void teacher_block_backward(train_model *tm, const layer_weights *L, int l, const float *dy) {
    const arwkv_config *c = &tm->m->cfg;
    int B = tm->B, T = tm->T, BT = B * T, D = c->n_embd, Hq = c->n_head, Hkv = c->n_kv_head, hd = c->head_dim;
    int qd = Hq * hd, kvd = Hkv * hd;
    float *dao = zeroed(tm->d[0], (size_t)BT * qd), *dq = zeroed(tm->d[1], (size_t)BT * qd);
    float *dk = zeroed(tm->d[2], (size_t)BT * kvd), *dv = zeroed(tm->d[3], (size_t)BT * kvd);
    mm_backward(tm, dao, &L->wo, NULL, dy, tm->ao[l], BT, qd, D);
    prof_mark pm = prof_begin();
    attention_train_backward(dq, dk, dv, tm->attn_scratch, dao, tm->q[l], tm->k[l], tm->v[l], tm->att[l], B, T, Hq,
                             Hkv, hd);
    prof_end(PROF_ATTN_BWD, pm, 0);
    for (int b = 0; b < B; b++) {
        rope_backward(dq + (size_t)b * T * qd, 0, c->rope_theta, T, Hq, hd);
        rope_backward(dk + (size_t)b * T * kvd, 0, c->rope_theta, T, Hkv, hd);
    }
    const float *xn = tm->xn[l];
    mm_backward(tm, tm->dxn, &L->wq, &L->bq, dq, xn, BT, D, qd);
    mm_backward(tm, tm->dxn, &L->wk, &L->bk, dk, xn, BT, D, kvd);
    mm_backward(tm, tm->dxn, &L->wv, &L->bv, dv, xn, BT, D, kvd);
}

// backward of out = act(x @ P1) @ P2 given dout; accumulates dx
static void lora2_backward(train_model *tm, float *dx, const float *dout, const float *x, const float *mid,
                           const weight *p1, const weight *p2, int BT, int D, int R, int tanh_mid) {
    float *dmid = zeroed(tm->dmid, (size_t)BT * R);
    lora_backward(tm, dmid, p2, dout, mid, BT, R, D);
    const float *dpre = dmid;
    if (tanh_mid) {
        tanh_backward(zeroed(tm->dmid2, (size_t)BT * R), dmid, mid, (size_t)BT * R);
        dpre = tm->dmid2;
    }
    lora_backward(tm, dx, p1, dpre, x, BT, D, R);
}

static void student_block_backward(train_model *tm, const layer_weights *L, int l, const float *dy) {
    const arwkv_config *c = &tm->m->cfg;
    int B = tm->B, T = tm->T, BT = B * T, D = c->n_embd, H = c->n_head, N = c->head_dim;
    size_t TD = (size_t)BT * D, plane = (size_t)T * D;
    int M = c->has_gate ? 6 : 5;
    // gradients w.r.t. the activations, all (BT, D)
    float *dob = zeroed(tm->d[0], TD), *dow = tm->d[1], *dr = zeroed(tm->d[2], TD), *dkf = zeroed(tm->d[3], TD);
    float *dvf = zeroed(tm->d[4], TD), *dwd = zeroed(tm->d[5], TD), *dal = zeroed(tm->d[6], TD);
    float *dbe = zeroed(tm->d[7], TD), *dkk = zeroed(tm->d[8], TD), *da = zeroed(tm->d[9], TD);
    float *dk0 = zeroed(tm->d[10], TD), *dv0 = zeroed(tm->d[11], TD), *dz = tm->d[12], *dg = tm->d[13];
    float *dxm[6];
    for (int j = 0; j < M; j++) dxm[j] = zeroed(tm->d[14 + j], TD);
    const float *o_in = c->has_gate ? tm->og[l] : tm->ob[l];
    float *dof = c->has_gate ? zeroed(tm->d[20], TD) : dob;
    mm_backward(tm, dof, &L->wo, NULL, dy, o_in, BT, D, D);
    if (c->has_gate) gate_mul_backward(dob, zeroed(dg, TD), dof, tm->ob[l], tm->g[l], TD);
    bonus_backward(dr, dkf, dvf, grad_of(tm, &L->r_k), dob, tm->r[l], tm->kf[l], tm->vf[l], P(L->r_k), BT, H, N);
    if (c->has_group_norm)
        group_norm_backward(zeroed(dow, TD), grad_of(tm, &L->ln_x_w), grad_of(tm, &L->ln_x_b), dob, tm->ow[l],
                            P(L->ln_x_w), tm->gnm[l], tm->gnr[l], BT, H, N);
    else
        dow = dob;
    size_t nck = (T + tm->K - 1) / tm->K, HNN = (size_t)H * N * N;
    prof_mark pm = prof_begin();
    // one parallel region over the sequences (the scan inside then runs on its thread alone)
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        size_t o = (size_t)b * plane;
        wkv7_backward(dr + o, dwd + o, dkf + o, dvf + o, dal + o, dbe + o, NULL, dow + o, tm->ckpt[l] + b * nck * HNN,
                      tm->K, tm->r[l] + o, tm->wd[l] + o, tm->kf[l] + o, tm->vf[l] + o, tm->alpha[l] + o,
                      tm->beta[l] + o, T, H, N);
    }
    prof_end(PROF_WKV_BWD, pm, 0);
    wkv_ab_backward(dkk, da, dal, dbe, tm->kk[l], tm->a[l], TD);
    k_iclr_backward(dk0, da, grad_of(tm, &L->k_a), dkf, tm->k0[l], tm->a[l], P(L->k_a), BT, D);
    kk_norm_backward(dk0, grad_of(tm, &L->k_k), dkk, tm->k0[l], P(L->k_k), BT, H, N);
    const float *xm = tm->xmix[l];
    const float *xr = xm, *xw = xm + TD, *xk = xm + 2 * TD, *xv = xm + 3 * TD, *xa = xm + 4 * TD, *xg = xm + 5 * TD;
    if (c->has_gate) {
        float *dgm = zeroed(tm->dmid, (size_t)BT * c->lora_g), *dgp = zeroed(tm->dmid2, (size_t)BT * c->lora_g);
        lora_backward(tm, dgm, &L->g2, dg, tm->gmid[l], BT, c->lora_g, D);
        sigmoid_backward(dgp, NULL, dgm, tm->gmid[l], BT, c->lora_g);
        lora_backward(tm, dxm[5], &L->g1, dgp, xg, BT, D, c->lora_g);
    }
    sigmoid_backward(zeroed(dz, TD), grad_of(tm, &L->a0), da, tm->a[l], BT, D);
    lora2_backward(tm, dxm[4], dz, xa, tm->amid[l], &L->a1, &L->a2, BT, D, c->lora_a, 0);
    if (l == 0) {
        memcpy(dv0, dvf, TD * sizeof(float));
    } else {
        value_mix_backward(dv0, zeroed(dz, TD), grad_of(tm, &L->v0), dvf, tm->v0[l], tm->vfirst, tm->vz[l],
                           P(L->v0), BT, D);
        lora2_backward(tm, dxm[3], dz, xv, tm->vmid[l], &L->v1, &L->v2, BT, D, c->lora_v, 0);
    }
    decay_backward(zeroed(dz, TD), grad_of(tm, &L->w0), dwd, tm->wz[l], P(L->w0), BT, D);
    lora2_backward(tm, dxm[1], dz, xw, tm->wmid[l], &L->w1, &L->w2, BT, D, c->lora_w, 1);
    mm_backward(tm, dxm[0], &L->wq, NULL, dr, xr, BT, D, D);
    mm_backward(tm, dxm[2], &L->wk, NULL, dk0, xk, BT, D, D);
    mm_backward(tm, dxm[3], &L->wv, NULL, dv0, xv, BT, D, D);
    const weight *mixes[6] = {&L->x_r, &L->x_w, &L->x_k, &L->x_v, &L->x_a, &L->x_g};
    for (int j = 0; j < M; j++)
        token_shift_backward(tm->dxn, NULL, grad_of(tm, mixes[j]), dxm[j], tm->xn[l], tm->zero_shift, P(*mixes[j]), 1,
                             B, T, D);
}

int train_time_mix_backward(train_model *tm, int32_t l, const float *dy) {
    const arwkv_config *c = &tm->m->cfg;
    if (c->arch != ARWKV_ARCH_RWKV_HYBRID || l < 0 || l >= c->n_layer)
        return arwkv_set_error("train: layer %d has no time-mix block", l);
    zeroed(tm->dxn, (size_t)tm->B * tm->T * c->n_embd);
    student_block_backward(tm, &tm->m->w.layers[l], l, dy);
    return 0;
}

int train_backward(train_model *tm) {
    const arwkv_config *c = &tm->m->cfg;
    const model_weights *W = &tm->m->w;
    int BT = tm->B * tm->T, D = c->n_embd, F = c->n_ff, V = c->n_vocab;
    size_t TD = (size_t)BT * D;
    prof_mark pm = prof_begin();
    float *dx = zeroed(tm->dx, TD), *dxf = zeroed(tm->dlogit_x, TD);
    mm_backward(tm, dxf, &W->lm_head, NULL, tm->logits, tm->xnf, BT, D, V);
    rmsnorm_backward(dx, grad_of(tm, &W->norm), dxf, tm->x[2 * c->n_layer], P(W->norm), tm->rstdf, BT, D);
    for (int l = c->n_layer - 1; l >= 0; l--) {
        const layer_weights *L = &W->layers[l];
        // MLP: x[2l+2] = x[2l+1] + down(swiglu(gate f, up f)), f = RMSNorm(x[2l+1]) * ln2
        float *dh = zeroed(tm->dh, (size_t)BT * F), *dgt = zeroed(tm->dgate, (size_t)BT * F);
        float *dup = zeroed(tm->dup, (size_t)BT * F), *df = zeroed(tm->dxn, TD);
        mm_backward(tm, dh, &L->down, NULL, dx, tm->ffh[l], BT, F, D);
        swiglu_backward(dgt, dup, dh, tm->ffg[l], tm->ffu[l], BT, F);
        mm_backward(tm, df, &L->gate, NULL, dgt, tm->f[l], BT, D, F);
        mm_backward(tm, df, &L->up, NULL, dup, tm->f[l], BT, D, F);
        rmsnorm_backward(dx, grad_of(tm, &L->ln2), df, tm->x[2 * l + 1], P(L->ln2), tm->rstd2[l], BT, D);
        // attention / time-mix: x[2l+1] = x[2l] + block(RMSNorm(x[2l]) * ln1)
        zeroed(tm->dxn, TD);
        if (c->arch == ARWKV_ARCH_QWEN2) teacher_block_backward(tm, L, l, dx);
        else student_block_backward(tm, L, l, dx);
        rmsnorm_backward(dx, grad_of(tm, &L->ln1), tm->dxn, tm->x[2 * l], P(L->ln1), tm->rstd1[l], BT, D);
    }
    float *dembed = grad_of(tm, &W->embed);
    if (dembed) embedding_backward(dembed, dx, tm->inputs, BT, D, V);
    prof_end(PROF_BACKWARD, pm, 0);
    return 0;
}
