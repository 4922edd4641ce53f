// The tensor table of both model types: HF names, shapes and how each is held.
#include "models/model.h"

typedef struct {
    tensor_visit_fn fn;
    void *ctx;
    char name[160];
} visit;

static int emit(visit *v, const char *name, tensor_kind kind, weight *w, int32_t ndim, int64_t d0, int64_t d1,
                int64_t d2) {
    int64_t shape[3] = {d0, d1, d2};
    return v->fn(v->ctx, name, ndim, shape, kind, w);
}

static int emit_layer(visit *v, int i, const char *suffix, tensor_kind kind, weight *w, int32_t ndim,
                      int64_t d0, int64_t d1, int64_t d2) {
    char name[160];
    snprintf(name, sizeof name, "model.layers.%d.%s", i, suffix);
    return emit(v, name, kind, w, ndim, d0, d1, d2);
}

static int visit_qwen2_attention(visit *v, const arwkv_config *c, layer_weights *L, int i) {
    int64_t D = c->n_embd, qd = (int64_t)c->n_head * c->head_dim, kvd = (int64_t)c->n_kv_head * c->head_dim;
    if (emit_layer(v, i, "self_attn.q_proj.weight", TENSOR_MATRIX, &L->wq, 2, qd, D, 0)) return -1;
    if (emit_layer(v, i, "self_attn.q_proj.bias", TENSOR_SMALL, &L->bq, 1, qd, 0, 0)) return -1;
    if (emit_layer(v, i, "self_attn.k_proj.weight", TENSOR_MATRIX, &L->wk, 2, kvd, D, 0)) return -1;
    if (emit_layer(v, i, "self_attn.k_proj.bias", TENSOR_SMALL, &L->bk, 1, kvd, 0, 0)) return -1;
    if (emit_layer(v, i, "self_attn.v_proj.weight", TENSOR_MATRIX, &L->wv, 2, kvd, D, 0)) return -1;
    if (emit_layer(v, i, "self_attn.v_proj.bias", TENSOR_SMALL, &L->bv, 1, kvd, 0, 0)) return -1;
    return emit_layer(v, i, "self_attn.o_proj.weight", TENSOR_MATRIX, &L->wo, 2, D, qd, 0);
}

static int visit_time_mix(visit *v, const arwkv_config *c, layer_weights *L, int i) {
    int64_t D = c->n_embd, H = c->n_head, N = c->head_dim;
    struct { const char *name; weight *w; } vec[] = {
        {"x_r", &L->x_r}, {"x_w", &L->x_w}, {"x_k", &L->x_k}, {"x_v", &L->x_v}, {"x_a", &L->x_a},
        {"x_g", &L->x_g}, {"w0", &L->w0}, {"a0", &L->a0}, {"v0", &L->v0}, {"k_k", &L->k_k}, {"k_a", &L->k_a},
    };
    struct { const char *name; weight *w; int64_t r; int down; } lora[] = {
        {"w1", &L->w1, c->lora_w, 0}, {"w2", &L->w2, c->lora_w, 1}, {"a1", &L->a1, c->lora_a, 0},
        {"a2", &L->a2, c->lora_a, 1}, {"v1", &L->v1, c->lora_v, 0}, {"v2", &L->v2, c->lora_v, 1},
        {"g1", &L->g1, c->lora_g, 0}, {"g2", &L->g2, c->lora_g, 1},
    };
    struct { const char *name; weight *w; } mat[] = {
        {"receptance.weight", &L->wq}, {"key.weight", &L->wk}, {"value.weight", &L->wv}, {"output.weight", &L->wo},
    };
    char suffix[128];
    for (size_t j = 0; j < sizeof vec / sizeof vec[0]; j++) {
        if (vec[j].w == &L->x_g && !c->has_gate) continue;
        snprintf(suffix, sizeof suffix, "self_attn.time_mixer.%s", vec[j].name);
        if (emit_layer(v, i, suffix, TENSOR_SMALL, vec[j].w, 3, 1, 1, D)) return -1;
    }
    for (size_t j = 0; j < sizeof lora / sizeof lora[0]; j++) {
        if ((lora[j].w == &L->g1 || lora[j].w == &L->g2) && !c->has_gate) continue;
        snprintf(suffix, sizeof suffix, "self_attn.time_mixer.%s", lora[j].name);
        int64_t d0 = lora[j].down ? lora[j].r : D, d1 = lora[j].down ? D : lora[j].r;
        if (emit_layer(v, i, suffix, TENSOR_SMALL, lora[j].w, 2, d0, d1, 0)) return -1;
    }
    if (emit_layer(v, i, "self_attn.time_mixer.r_k", TENSOR_SMALL, &L->r_k, 2, H, N, 0)) return -1;
    for (size_t j = 0; j < sizeof mat / sizeof mat[0]; j++) {
        snprintf(suffix, sizeof suffix, "self_attn.time_mixer.%s", mat[j].name);
        if (emit_layer(v, i, suffix, TENSOR_MATRIX, mat[j].w, 2, D, D, 0)) return -1;
    }
    if (c->has_group_norm) {
        if (emit_layer(v, i, "self_attn.time_mixer.ln_x.weight", TENSOR_SMALL, &L->ln_x_w, 1, D, 0, 0)) return -1;
        if (emit_layer(v, i, "self_attn.time_mixer.ln_x.bias", TENSOR_SMALL, &L->ln_x_b, 1, D, 0, 0)) return -1;
    }
    return 0;
}

int model_visit_tensors(const arwkv_config *c, model_weights *W, tensor_visit_fn fn, void *ctx) {
    visit v = {fn, ctx, {0}};
    int64_t D = c->n_embd, F = c->n_ff, V = c->n_vocab;
    if (emit(&v, "model.embed_tokens.weight", TENSOR_MATRIX, &W->embed, 2, V, D, 0)) return -1;
    for (int i = 0; i < c->n_layer; i++) {
        layer_weights *L = &W->layers[i];
        if (emit_layer(&v, i, "input_layernorm.weight", TENSOR_SMALL, &L->ln1, 1, D, 0, 0)) return -1;
        int rc = c->arch == ARWKV_ARCH_QWEN2 ? visit_qwen2_attention(&v, c, L, i) : visit_time_mix(&v, c, L, i);
        if (rc) return -1;
        if (emit_layer(&v, i, "post_attention_layernorm.weight", TENSOR_SMALL, &L->ln2, 1, D, 0, 0)) return -1;
        if (emit_layer(&v, i, "mlp.gate_proj.weight", TENSOR_MATRIX, &L->gate, 2, F, D, 0)) return -1;
        if (emit_layer(&v, i, "mlp.up_proj.weight", TENSOR_MATRIX, &L->up, 2, F, D, 0)) return -1;
        if (emit_layer(&v, i, "mlp.down_proj.weight", TENSOR_MATRIX, &L->down, 2, D, F, 0)) return -1;
    }
    if (emit(&v, "model.norm.weight", TENSOR_SMALL, &W->norm, 1, D, 0, 0)) return -1;
    if (!c->tie_embeddings && emit(&v, "lm_head.weight", TENSOR_MATRIX, &W->lm_head, 2, V, D, 0)) return -1;
    return 0;
}

static int count_visit(void *ctx, const char *name, int32_t ndim, const int64_t *shape, tensor_kind kind, weight *w) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    *(int64_t *)ctx += n;
    return 0;
}

int64_t arwkv_config_param_count(const arwkv_config *cfg) {
    model_weights W = {0};
    layer_weights *layers = calloc((size_t)cfg->n_layer, sizeof *layers);
    W.layers = layers;
    int64_t n = 0;
    model_visit_tensors(cfg, &W, count_visit, &n);
    free(layers);
    return n;
}

typedef struct {
    double bytes, macs;
    const weight *embed;
} cost_ctx;

static int cost_visit(void *ctx, const char *name, int32_t ndim, const int64_t *shape, tensor_kind kind, weight *w) {
    cost_ctx *cc = ctx;
    if (kind != TENSOR_MATRIX || w == cc->embed) return 0;
    double n = (double)shape[0] * (double)shape[1];
    cc->bytes += n * (double)arwkv_dtype_size(w->dt);
    cc->macs += n;
    return 0;
}

void arwkv_model_cost(const arwkv_model *m, double *bytes, double *macs) {
    model_weights W = m->w;
    cost_ctx cc = {0, 0, &W.embed};
    model_visit_tensors(&m->cfg, &W, cost_visit, &cc);
    if (m->cfg.tie_embeddings) {   // lm_head is the embedding, read in full for every token
        double n = (double)m->cfg.n_vocab * m->cfg.n_embd;
        cc.bytes += n * (double)arwkv_dtype_size(m->w.embed.dt);
        cc.macs += n;
    }
    *bytes = cc.bytes;
    *macs = cc.macs;
}
