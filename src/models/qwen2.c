// Qwen2 teacher: the attention block, forward and backward (docs/model.md §1). Inference appends to a
// KV cache and attends over it; training runs full-sequence causal attention from position 0 and
// keeps the probabilities for the backward.
#include "models/model_train.h"

void qwen2_block_forward(const arwkv_model *m, model_acts *a, const model_pass *p, int l, float *out) {
    const arwkv_config *c = &m->cfg;
    const backend *be = m->be;
    const layer_weights *L = &m->w.layers[l];
    int B = p->B, T = p->T, BT = B * T, D = c->n_embd, Hq = c->n_head, Hkv = c->n_kv_head, hd = c->head_dim;
    int qd = Hq * hd, kvd = Hkv * hd;
    float *xn = a->xn[l], *q = a->q[l], *k = a->k[l], *v = a->v[l];
    model_matmul(m, q, xn, &L->wq, L->bq.data, BT, D, qd);
    model_matmul(m, k, xn, &L->wk, L->bk.data, BT, D, kvd);
    model_matmul(m, v, xn, &L->wv, L->bv.data, BT, D, kvd);
    if (p->kc) {   // one sequence continuing at pos0
        size_t layer_off = (size_t)l * Hkv * p->max_ctx * hd;
        be->rope_forward(q, p->pos0, c->rope_theta, T, Hq, hd);
        be->rope_forward(k, p->pos0, c->rope_theta, T, Hkv, hd);
        be->kv_store(p->kc + layer_off, p->vc + layer_off, k, v, p->pos0, T, Hkv, hd, p->max_ctx);
        be->attention_forward(a->ao[l], q, p->kc + layer_off, p->vc + layer_off, p->scratch, p->pos0, T, Hq, Hkv, hd,
                              p->max_ctx);
    } else {
        for (int b = 0; b < B; b++) {
            be->rope_forward(q + (size_t)b * T * qd, 0, c->rope_theta, T, Hq, hd);
            be->rope_forward(k + (size_t)b * T * kvd, 0, c->rope_theta, T, Hkv, hd);
        }
        prof_mark pm = model_prof_begin(be);
        be->attention_train_forward(a->ao[l], a->att[l], q, k, v, B, T, Hq, Hkv, hd);
        model_prof_end(be, PROF_ATTN_FWD, pm, 0);
    }
    model_matmul(m, out, a->ao[l], &L->wo, NULL, BT, qd, D);
}

void qwen2_block_backward(train_model *tm, int l, const float *dy) {
    const arwkv_config *c = &tm->m->cfg;
    const backend *be = tm->m->be;
    const layer_weights *L = &tm->m->w.layers[l];
    const model_acts *a = &tm->a;
    int B = tm->B, T = tm->T, BT = B * T, D = c->n_embd, Hq = c->n_head, Hkv = c->n_kv_head, hd = c->head_dim;
    int qd = Hq * hd, kvd = Hkv * hd;
    float *dao = train_zeroed(tm, tm->d[0], (size_t)BT * qd), *dq = train_zeroed(tm, tm->d[1], (size_t)BT * qd);
    float *dk = train_zeroed(tm, tm->d[2], (size_t)BT * kvd), *dv = train_zeroed(tm, tm->d[3], (size_t)BT * kvd);
    train_mm_backward(tm, dao, &L->wo, NULL, dy, a->ao[l], BT, qd, D);
    prof_mark pm = model_prof_begin(be);
    be->attention_train_backward(dq, dk, dv, tm->attn_scratch, dao, a->q[l], a->k[l], a->v[l], a->att[l], B, T, Hq,
                                 Hkv, hd);
    model_prof_end(be, PROF_ATTN_BWD, pm, 0);
    for (int b = 0; b < B; b++) {
        be->rope_backward(dq + (size_t)b * T * qd, 0, c->rope_theta, T, Hq, hd);
        be->rope_backward(dk + (size_t)b * T * kvd, 0, c->rope_theta, T, Hkv, hd);
    }
    const float *xn = a->xn[l];
    train_mm_backward(tm, tm->dxn, &L->wq, &L->bq, dq, xn, BT, D, qd);
    train_mm_backward(tm, tm->dxn, &L->wk, &L->bk, dk, xn, BT, D, kvd);
    train_mm_backward(tm, tm->dxn, &L->wv, &L->bv, dv, xn, BT, D, kvd);
}
