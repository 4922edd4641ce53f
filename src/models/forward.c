// The trunk both architectures share (docs/model.md §1): embedding, the block loop with the SwiGLU MLP,
// final norm and lm_head; forward and backward, for inference (arwkv_forward: chunks of one
// sequence over its cache or state) and training (batches with every activation kept).
#include "models/model_train.h"

#define P(w) ((const float *)(w).data)

void model_matmul(const arwkv_model *m, float *out, float *inp, const weight *w, const float *bias, int T, int C,
                  int OC) {
    if (m->act_dtype != ARWKV_F32) m->be->round_to(inp, (size_t)T * C, m->act_dtype);
    prof_mark pm = model_prof_begin(m->be);
    m->be->matmul_forward(out, inp, w->data, w->dt, bias, T, C, OC);
    model_prof_end(m->be, PROF_MATMUL_FWD, pm, 2.0 * T * C * OC);
}

// rows of this pass that fall in the capture window, copied for layer l (one contiguous range)
static void capture_rows(const arwkv_model *m, const model_pass *p, int l, const float *h, const float *y) {
    int D = m->cfg.n_embd, t0 = p->cap_pos0 - p->pos0, t1 = t0 + p->cap_len;
    if (t0 < 0) t0 = 0;
    if (t1 > p->T) t1 = p->T;
    if (t1 <= t0) return;
    size_t dst = ((size_t)l * p->cap_len + (p->pos0 + t0 - p->cap_pos0)) * D, n = (size_t)(t1 - t0) * D;
    if (p->cap_h) m->be->copy(p->cap_h + dst, h + (size_t)t0 * D, n * sizeof(float));
    if (p->cap_y) m->be->copy(p->cap_y + dst, y + (size_t)t0 * D, n * sizeof(float));
}

void model_forward(const arwkv_model *m, model_acts *a, const model_pass *p, float *logits, int all_logits) {
    const arwkv_config *c = &m->cfg;
    const backend *be = m->be;
    const model_weights *W = &m->w;
    int BT = p->B * p->T, D = c->n_embd, F = c->n_ff, V = c->n_vocab;
    size_t TD = (size_t)BT * D;
    be->embedding_forward(a->x[0], a->ids, W->embed.data, W->embed.dt, BT, D, V);
    for (int l = 0; l < c->n_layer; l++) {
        const layer_weights *L = &W->layers[l];
        be->rmsnorm_forward(a->xn[l], a->rstd1[l], a->x[2 * l], P(L->ln1), c->rms_eps, BT, D);
        if (c->arch == ARWKV_ARCH_QWEN2) qwen2_block_forward(m, a, p, l, a->tmp);
        else rwkv_block_forward(m, a, p, l, a->tmp);
        if (p->cap_h || p->cap_y) capture_rows(m, p, l, a->xn[l], a->tmp);
        be->add(a->x[2 * l + 1], a->x[2 * l], a->tmp, TD);
        // x += Wdown(silu(Wgate f) * Wup f), f = RMSNorm(x) * ln2
        be->rmsnorm_forward(a->f[l], a->rstd2[l], a->x[2 * l + 1], P(L->ln2), c->rms_eps, BT, D);
        model_matmul(m, a->ffg[l], a->f[l], &L->gate, NULL, BT, D, F);
        model_matmul(m, a->ffu[l], a->f[l], &L->up, NULL, BT, D, F);
        be->swiglu_forward(a->ffh[l], a->ffg[l], a->ffu[l], BT, F);
        model_matmul(m, a->tmp, a->ffh[l], &L->down, NULL, BT, F, D);
        be->add(a->x[2 * l + 2], a->x[2 * l + 1], a->tmp, TD);
    }
    if (!logits) return;
    int first = all_logits ? 0 : BT - 1, n = all_logits ? BT : 1;
    be->rmsnorm_forward(a->xnf, a->rstdf, a->x[2 * c->n_layer] + (size_t)first * D, P(W->norm), c->rms_eps, n, D);
    model_matmul(m, logits, a->xnf, &W->lm_head, NULL, n, D, V);
}

// ---- inference ----------------------------------------------------------------------------------

// logits: host memory (copied back from a GPU) or, with on_backend, a buffer of the backend
static void forward_chunk(const arwkv_model *m, arwkv_state *s, const int32_t *ids, int T, float *logits, int all,
                          int on_backend) {
    const arwkv_config *c = &m->cfg;
    const backend *be = m->be;
    be->upload(s->a.ids, ids, (size_t)T * sizeof(int32_t));
    model_pass p = {.B = 1, .T = T, .pos0 = s->pos, .kc = s->kcache, .vc = s->vcache, .max_ctx = s->max_ctx,
                    .shift = s->shift, .wkv = s->wkv, .scratch = s->scratch, .cap_h = s->cap_h, .cap_y = s->cap_y,
                    .cap_pos0 = s->cap_pos0, .cap_len = s->cap_len, .K = MODEL_WKV_K};
    int direct = be->host || on_backend;
    model_forward(m, &s->a, &p, !logits ? NULL : direct ? logits : s->logits, all);
    if (logits && !direct) be->download(logits, s->logits, (size_t)(all ? T : 1) * c->n_vocab * sizeof(float));
    s->pos += T;
}

static int forward_checked(const arwkv_model *m, arwkv_state *s, const int32_t *ids, int32_t T, float *logits,
                           int all_logits, int on_backend) {
    const arwkv_config *c = &m->cfg;
    for (int32_t i = 0; i < T; i++)
        if (ids[i] < 0 || ids[i] >= c->n_vocab)
            return arwkv_set_error("token id %d at position %d is outside the vocabulary (size %d)", ids[i], i,
                                   c->n_vocab);
    if (c->arch == ARWKV_ARCH_QWEN2 && s->pos + T > s->max_ctx)
        return arwkv_set_error("context of %d tokens exceeds the KV cache (%d)", s->pos + T, s->max_ctx);
    for (int32_t t0 = 0; t0 < T; t0 += s->chunk) {
        int n = T - t0 < s->chunk ? T - t0 : s->chunk;
        int last = t0 + n == T;
        float *lg = !logits ? NULL : all_logits ? logits + (size_t)t0 * c->n_vocab : last ? logits : NULL;
        forward_chunk(m, s, ids + t0, n, lg, all_logits, on_backend);
    }
    return m->be->status();
}

int arwkv_forward(const arwkv_model *m, arwkv_state *s, const int32_t *ids, int32_t T, float *logits,
                  int all_logits) {
    return forward_checked(m, s, ids, T, logits, all_logits, 0);
}

int model_forward_all(const arwkv_model *m, arwkv_state *s, const int32_t *ids, int32_t T, float *logits) {
    return forward_checked(m, s, ids, T, logits, 1, 1);
}

// ---- training -----------------------------------------------------------------------------------

float *train_grad_of(train_model *tm, const weight *w) {
    size_t off = (size_t)((const float *)w->data - tm->params);
    int32_t lo = 0, hi = tm->n_tensors - 1;
    while (lo < hi) {   // last tensor with t->off <= off
        int32_t mid = (lo + hi + 1) / 2;
        if (tm->tensors[mid].off <= off) lo = mid;
        else hi = mid - 1;
    }
    return tm->tensors[lo].trainable ? tm->grads + off : NULL;
}

float *train_zeroed(train_model *tm, float *p, size_t n) {
    tm->m->be->zero(p, n * sizeof(float));
    return p;
}

void train_mm_backward(train_model *tm, float *dinp, const weight *w, const weight *bias, const float *dout,
                       const float *inp, int T, int C, int OC) {
    float *dw = train_grad_of(tm, w), *db = bias ? train_grad_of(tm, bias) : NULL;
    prof_mark pm = model_prof_begin(tm->m->be);
    tm->m->be->matmul_backward(dinp, dw, db, dout, inp, w->data, T, C, OC);
    model_prof_end(tm->m->be, PROF_MATMUL_BWD, pm, 2.0 * T * C * OC * ((dinp != NULL) + (dw != NULL)));
}

static model_pass train_pass(const train_model *tm) {
    return (model_pass){.B = tm->B, .T = tm->T, .K = tm->K};
}

int train_forward_logits(train_model *tm, const int32_t *inputs) {
    const arwkv_config *c = &tm->m->cfg;
    int BT = tm->B * tm->T, V = c->n_vocab;
    for (int i = 0; i < BT; i++)
        if (inputs[i] < 0 || inputs[i] >= V)
            return arwkv_set_error("train: input token %d at position %d is outside the vocabulary (%d)", inputs[i],
                                   i, V);
    tm->m->be->upload(tm->a.ids, inputs, (size_t)BT * sizeof(int32_t));
    prof_mark pm = model_prof_begin(tm->m->be);
    model_pass p = train_pass(tm);
    model_forward(tm->m, &tm->a, &p, tm->logits, 1);
    model_prof_end(tm->m->be, PROF_FORWARD, pm, 0);
    return tm->m->be->status();
}

int train_forward(train_model *tm, const int32_t *inputs, const int32_t *targets, float grad_scale, float *loss) {
    const backend *be = tm->m->be;
    int BT = tm->B * tm->T, V = tm->m->cfg.n_vocab;
    if (train_forward_logits(tm, inputs)) return -1;
    int32_t *tg = tm->host_targets, n = 0;
    float *losses = tm->host_losses;
    for (int i = 0; i < BT; i++) {
        tg[i] = targets[i] >= 0 && targets[i] < V ? targets[i] : -1;
        n += tg[i] >= 0;
    }
    be->upload(tm->targets, tg, (size_t)BT * sizeof(int32_t));
    tm->n_counted = n;
    tm->grad_scale = grad_scale;
    // the logits become scaled dlogits here: the backward needs nothing else from them
    float scale = n ? grad_scale / (float)n : 0.0f;
    prof_mark pm = model_prof_begin(be);
    be->crossentropy_fused(tm->losses, tm->logits, tm->targets, scale, BT, V);
    model_prof_end(be, PROF_LOSS, pm, 0);
    be->download(losses, tm->losses, (size_t)BT * sizeof(float));
    double sum = 0;
    for (int i = 0; i < BT; i++) sum += losses[i];
    *loss = n ? (float)(sum / n) : 0.0f;
    return 0;
}

int train_backward(train_model *tm) {
    const arwkv_config *c = &tm->m->cfg;
    const backend *be = tm->m->be;
    const model_weights *W = &tm->m->w;
    const model_acts *a = &tm->a;
    int BT = tm->B * tm->T, D = c->n_embd, F = c->n_ff, V = c->n_vocab;
    size_t TD = (size_t)BT * D;
    prof_mark pm = model_prof_begin(be);
    float *dx = train_zeroed(tm, tm->dx, TD), *dxf = train_zeroed(tm, tm->dlogit_x, TD);
    train_mm_backward(tm, dxf, &W->lm_head, NULL, tm->logits, a->xnf, BT, D, V);
    be->rmsnorm_backward(dx, train_grad_of(tm, &W->norm), dxf, a->x[2 * c->n_layer], P(W->norm), a->rstdf, BT, D);
    for (int l = c->n_layer - 1; l >= 0; l--) {
        const layer_weights *L = &W->layers[l];
        // MLP: x[2l+2] = x[2l+1] + down(swiglu(gate f, up f)), f = RMSNorm(x[2l+1]) * ln2
        float *dh = train_zeroed(tm, tm->dh, (size_t)BT * F), *dgt = train_zeroed(tm, tm->dgate, (size_t)BT * F);
        float *dup = train_zeroed(tm, tm->dup, (size_t)BT * F), *df = train_zeroed(tm, tm->dxn, TD);
        train_mm_backward(tm, dh, &L->down, NULL, dx, a->ffh[l], BT, F, D);
        be->swiglu_backward(dgt, dup, dh, a->ffg[l], a->ffu[l], BT, F);
        train_mm_backward(tm, df, &L->gate, NULL, dgt, a->f[l], BT, D, F);
        train_mm_backward(tm, df, &L->up, NULL, dup, a->f[l], BT, D, F);
        be->rmsnorm_backward(dx, train_grad_of(tm, &L->ln2), df, a->x[2 * l + 1], P(L->ln2), a->rstd2[l], BT, D);
        // attention / time-mix: x[2l+1] = x[2l] + block(RMSNorm(x[2l]) * ln1)
        train_zeroed(tm, tm->dxn, TD);
        if (c->arch == ARWKV_ARCH_QWEN2) qwen2_block_backward(tm, l, dx);
        else rwkv_block_backward(tm, l, dx);
        be->rmsnorm_backward(dx, train_grad_of(tm, &L->ln1), tm->dxn, a->x[2 * l], P(L->ln1), a->rstd1[l], BT, D);
    }
    float *dembed = train_grad_of(tm, &W->embed);
    if (dembed) be->embedding_backward(dembed, dx, a->ids, BT, D, V);
    model_prof_end(be, PROF_BACKWARD, pm, 0);
    return be->status();
}

int train_time_mix_forward(train_model *tm, int32_t l, const float *xn, float *y) {
    const arwkv_config *c = &tm->m->cfg;
    if (c->arch != ARWKV_ARCH_RWKV_HYBRID || l < 0 || l >= c->n_layer)
        return arwkv_set_error("train: layer %d has no time-mix block", l);
    tm->m->be->copy(tm->a.xn[l], xn, (size_t)tm->B * tm->T * c->n_embd * sizeof(float));
    model_pass p = train_pass(tm);
    rwkv_block_forward(tm->m, &tm->a, &p, l, y);
    return tm->m->be->status();
}

int train_time_mix_backward(train_model *tm, int32_t l, const float *dy) {
    const arwkv_config *c = &tm->m->cfg;
    if (c->arch != ARWKV_ARCH_RWKV_HYBRID || l < 0 || l >= c->n_layer)
        return arwkv_set_error("train: layer %d has no time-mix block", l);
    train_zeroed(tm, tm->dxn, (size_t)tm->B * tm->T * c->n_embd);
    rwkv_block_backward(tm, l, dy);
    return tm->m->be->status();
}
