// Qwen2 teacher forward over one chunk of tokens with a KV cache (model.md §1).
#include "models/model.h"

// logits (T or 1, V) from the final residual stream s->x (T, D)
void model_logits_forward(const arwkv_model *m, arwkv_state *s, float *logits, int T, int all) {
    const arwkv_config *c = &m->cfg;
    int D = c->n_embd, first = all ? 0 : T - 1, n = all ? T : 1;
    rmsnorm_forward(s->xn, NULL, s->x + (size_t)first * D, m->w.norm.data, c->rms_eps, n, D);
    model_matmul(m, logits, s->xn, &m->w.lm_head, NULL, n, D, c->n_vocab);
}

// x += Wdown(silu(Wgate f) * Wup f), f = RMSNorm(x) * ln2
void model_mlp_forward(const arwkv_model *m, arwkv_state *s, const layer_weights *L, int T) {
    const arwkv_config *c = &m->cfg;
    int D = c->n_embd, F = c->n_ff;
    rmsnorm_forward(s->xn, NULL, s->x, L->ln2.data, c->rms_eps, T, D);
    model_matmul(m, s->ff_gate, s->xn, &L->gate, NULL, T, D, F);
    model_matmul(m, s->ff_up, s->xn, &L->up, NULL, T, D, F);
    swiglu_forward(s->ff_gate, s->ff_gate, s->ff_up, T, F);
    model_matmul(m, s->o, s->ff_gate, &L->down, NULL, T, F, D);
    for (size_t i = 0; i < (size_t)T * D; i++) s->x[i] += s->o[i];
}

int qwen2_forward_chunk(const arwkv_model *m, arwkv_state *s, const int32_t *ids, int T, float *logits, int all_logits) {
    const arwkv_config *c = &m->cfg;
    int D = c->n_embd, Hq = c->n_head, Hkv = c->n_kv_head, hd = c->head_dim, kvd = Hkv * hd;
    embedding_forward(s->x, ids, m->w.embed.data, m->w.embed.dt, T, D, c->n_vocab);
    for (int l = 0; l < c->n_layer; l++) {
        const layer_weights *L = &m->w.layers[l];
        rmsnorm_forward(s->xn, NULL, s->x, L->ln1.data, c->rms_eps, T, D);
        model_matmul(m, s->q, s->xn, &L->wq, L->bq.data, T, D, Hq * hd);
        model_matmul(m, s->k, s->xn, &L->wk, L->bk.data, T, D, kvd);
        model_matmul(m, s->v, s->xn, &L->wv, L->bv.data, T, D, kvd);
        rope_forward(s->q, s->pos, c->rope_theta, T, Hq, hd);
        rope_forward(s->k, s->pos, c->rope_theta, T, Hkv, hd);
        // cache layout (L, Hkv, max_ctx, hd): each head's keys are contiguous for the score loop
        size_t layer_off = (size_t)l * Hkv * s->max_ctx * hd;
        for (int t = 0; t < T; t++)
            for (int h = 0; h < Hkv; h++) {
                size_t dst = layer_off + ((size_t)h * s->max_ctx + s->pos + t) * hd;
                memcpy(s->kcache + dst, s->k + (size_t)t * kvd + (size_t)h * hd, hd * sizeof(float));
                memcpy(s->vcache + dst, s->v + (size_t)t * kvd + (size_t)h * hd, hd * sizeof(float));
            }
        attention_forward(s->o, s->q, s->kcache + layer_off, s->vcache + layer_off, s->scratch, s->pos, T, Hq,
                          Hkv, hd, s->max_ctx);
        model_matmul(m, s->q, s->o, &L->wo, NULL, T, Hq * hd, D);
        if (s->cap_h || s->cap_y) model_capture_rows(s, l, s->xn, s->q, T);
        for (size_t i = 0; i < (size_t)T * D; i++) s->x[i] += s->q[i];
        model_mlp_forward(m, s, L, T);
    }
    if (logits) model_logits_forward(m, s, logits, T, all_logits);
    s->pos += T;
    return 0;
}
