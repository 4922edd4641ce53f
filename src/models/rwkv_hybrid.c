// ARWKV student forward over one chunk of tokens (model.md §2, steps 1-17). With T == 1 this is
// the recurrent form; longer chunks run the token-parallel products and the WKV-7 scan.
#include "kernels/train_ops.h"
#include "models/model.h"

// out (T, D) = act(x (T, D) @ P1 (D, R)) @ P2 (R, D), act = tanh or identity
static void lora2(float *out, float *mid, const float *x, const weight *p1, const weight *p2, int T, int D, int R,
                  int tanh_mid) {
    xp_forward(mid, x, p1->data, T, D, R);
    if (tanh_mid) tanh_forward(mid, mid, (size_t)T * R);
    xp_forward(out, mid, p2->data, T, R, D);
}

static void time_mix_forward(const arwkv_model *m, arwkv_state *s, const layer_weights *L, int l, int T) {
    const arwkv_config *c = &m->cfg;
    int D = c->n_embd, H = c->n_head, N = c->head_dim;
    size_t TD = (size_t)T * D;
    float *shift = s->shift + (size_t)l * D;
    float *wkv = s->wkv + (size_t)l * H * N * N;

    // 2-4: token shift and the six lerp mixes
    const weight *mixes[6] = {&L->x_r, &L->x_w, &L->x_k, &L->x_v, &L->x_a, &L->x_g};
    float *outs[6] = {s->xr, s->xw, s->xk, s->xv, s->xa, s->xg};
    for (int j = 0; j < (c->has_gate ? 6 : 5); j++) token_shift_forward(outs[j], s->xn, shift, mixes[j]->data, 1, 1, T, D);
    memcpy(shift, s->xn + (size_t)(T - 1) * D, D * sizeof(float));

    // 5: r, k, v
    model_matmul(m, s->q, s->xr, &L->wq, NULL, T, D, D);
    model_matmul(m, s->k, s->xk, &L->wk, NULL, T, D, D);
    model_matmul(m, s->v, s->xv, &L->wv, NULL, T, D, D);
    // 6: decay
    lora2(s->wd, s->lora, s->xw, &L->w1, &L->w2, T, D, c->lora_w, 1);
    decay_forward(s->wd, s->wd, L->w0.data, T, D);
    // 7: value residual
    if (l == 0) {
        memcpy(s->vfirst, s->v, TD * sizeof(float));
    } else {
        lora2(s->o, s->lora, s->xv, &L->v1, &L->v2, T, D, c->lora_v, 0);
        value_mix_forward(s->v, s->v, s->vfirst, s->o, L->v0.data, T, D);
    }
    // 8: in-context learning rate
    lora2(s->aa, s->lora, s->xa, &L->a1, &L->a2, T, D, c->lora_a, 0);
    sigmoid_forward(s->aa, s->aa, L->a0.data, T, D);
    // 9: gate
    if (c->has_gate) {
        xp_forward(s->lora, s->xg, L->g1.data, T, D, c->lora_g);
        sigmoid_forward(s->lora, s->lora, NULL, T, c->lora_g);
        xp_forward(s->gg, s->lora, L->g2.data, T, c->lora_g, D);
    }
    // 10-11: normalised removal key, then the iclr-scaled key
    kk_norm_forward(s->kk, s->k, L->k_k.data, T, H, N);
    k_iclr_forward(s->k, s->k, s->aa, L->k_a.data, T, D);
    wkv_ab_forward(s->alpha, s->beta, s->kk, s->aa, TD);
    // 12: the scan
    wkv7_forward(s->o, wkv, NULL, T, s->q, s->wd, s->k, s->v, s->alpha, s->beta, T, H, N);
    // 13: optional GroupNorm
    if (c->has_group_norm)
        group_norm_forward(s->o, s->gn, s->gn + (size_t)T * H, s->o, L->ln_x_w.data, L->ln_x_b.data, 64e-5f, T, H, N);
    // 14-15: bonus and gate
    bonus_forward(s->o, s->q, s->k, s->v, L->r_k.data, T, H, N);
    if (c->has_gate) gate_mul_forward(s->o, s->o, s->gg, TD);
    // 16: output projection (into s->q, which is free again)
    model_matmul(m, s->q, s->o, &L->wo, NULL, T, D, D);
}

int rwkv_hybrid_forward_chunk(const arwkv_model *m, arwkv_state *s, const int32_t *ids, int T, float *logits,
                              int all_logits) {
    const arwkv_config *c = &m->cfg;
    int D = c->n_embd;
    embedding_forward(s->x, ids, m->w.embed.data, m->w.embed.dt, T, D, c->n_vocab);
    for (int l = 0; l < c->n_layer; l++) {
        const layer_weights *L = &m->w.layers[l];
        rmsnorm_forward(s->xn, NULL, s->x, L->ln1.data, c->rms_eps, T, D);
        time_mix_forward(m, s, L, l, T);
        if (s->cap_h || s->cap_y) model_capture_rows(s, l, s->xn, s->q, T);
        for (size_t i = 0; i < (size_t)T * D; i++) s->x[i] += s->q[i];
        model_mlp_forward(m, s, L, T);
    }
    if (logits) model_logits_forward(m, s, logits, T, all_logits);
    s->pos += T;
    return 0;
}
