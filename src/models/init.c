// Creating models in memory: random teachers/students (make-model) and students initialised from
// a teacher (init-student), as the paper's code did or from the teacher's attention weights.
#include <math.h>

#include "models/model.h"

typedef struct {
    arwkv_model *m;
    size_t bytes;
    int pass;
} create_ctx;

static int create_visit(void *ctx, const char *name, int32_t ndim, const int64_t *shape, tensor_kind kind, weight *w) {
    create_ctx *cc = ctx;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    if (cc->pass == 1) {
        cc->bytes += arena_align(n * sizeof(float));
        return 0;
    }
    w->dt = ARWKV_F32;
    w->data = arena_alloc(&cc->m->small, n * sizeof(float));
    return w->data ? 0 : -1;
}

// A model whose every tensor is an owned, zeroed fp32 buffer, laid out contiguously in visit order.
int model_create(arwkv_model **out, const arwkv_config *cfg) {
    arwkv_model *m = calloc(1, sizeof *m);
    m->cfg = *cfg;
    m->be = backend_cpu();
    m->dir = strdup("(in memory)");
    m->w.layers = calloc((size_t)cfg->n_layer, sizeof(layer_weights));
    create_ctx cc = {m, 64, 1};
    model_visit_tensors(cfg, &m->w, create_visit, &cc);
    if (arena_init(&m->small, "parameters", cc.bytes)) goto fail;
    cc.pass = 2;
    if (model_visit_tensors(cfg, &m->w, create_visit, &cc)) goto fail;
    if (cfg->tie_embeddings) m->w.lm_head = m->w.embed;
    *out = m;
    return 0;
fail:
    arwkv_model_free(m);
    *out = NULL;
    return -1;
}

static float *fp(const weight *w) { return (float *)w->data; }

static void fill_normal(float *x, size_t n, double std, rng *r) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(std * rng_normal(r));
}

static void fill_uniform(float *x, size_t n, double bound, rng *r) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(bound * (2.0 * rng_uniform(r) - 1.0));
}

static void fill_const(float *x, size_t n, float v) {
    for (size_t i = 0; i < n; i++) x[i] = v;
}

// rows (R, D) with orthonormal rows (R <= D) times scale, by Gram-Schmidt on Gaussian rows
static void fill_orthogonal_rows(float *x, int R, int D, double scale, rng *r) {
    double *row = malloc((size_t)D * sizeof(double)), *basis = malloc((size_t)R * D * sizeof(double));
    for (int i = 0; i < R; i++) {
        for (int j = 0; j < D; j++) row[j] = rng_normal(r);
        for (int p = 0; p < i; p++) {
            double dot = 0;
            for (int j = 0; j < D; j++) dot += row[j] * basis[(size_t)p * D + j];
            for (int j = 0; j < D; j++) row[j] -= dot * basis[(size_t)p * D + j];
        }
        double nrm = 0;
        for (int j = 0; j < D; j++) nrm += row[j] * row[j];
        nrm = sqrt(nrm) + 1e-30;
        for (int j = 0; j < D; j++) basis[(size_t)i * D + j] = row[j] / nrm;
        for (int j = 0; j < D; j++) x[(size_t)i * D + j] = (float)(scale * basis[(size_t)i * D + j]);
    }
    free(row);
    free(basis);
}

// The paper's time-mix initialisation of layer l (docs/model.md §2); r/k/v/o are left to the caller.
void model_init_time_mix(const arwkv_config *c, layer_weights *L, int l, rng *r) {
    int D = c->n_embd, nl = c->n_layer;
    double r01 = nl > 1 ? (double)l / (nl - 1) : 0.0, r1a0 = 1.0 - (double)l / nl;
    for (int n = 0; n < D; n++) {
        double ddd = (double)n / D;
        fp(&L->x_r)[n] = (float)(1.0 - pow(ddd, 0.2 * r1a0));
        fp(&L->x_w)[n] = (float)(1.0 - pow(ddd, 0.9 * r1a0));
        fp(&L->x_a)[n] = (float)(1.0 - pow(ddd, 0.9 * r1a0));
        fp(&L->x_k)[n] = (float)(1.0 - (pow(ddd, 0.9 * r1a0) + 0.4 * r01));
        fp(&L->x_v)[n] = (float)(1.0 - (pow(ddd, 0.4 * r1a0) + 0.6 * r01));
        if (c->has_gate) fp(&L->x_g)[n] = 1.0f;
        fp(&L->w0)[n] = (float)(-7.0 + 5.0 * pow((double)n / (D > 1 ? D - 1 : 1), 0.85 + sqrt(r01)) + 0.5);
    }
    fill_const(fp(&L->w1), (size_t)D * c->lora_w, 0.0f);
    fill_const(fp(&L->a1), (size_t)D * c->lora_a, 0.0f);
    fill_const(fp(&L->v1), (size_t)D * c->lora_v, 0.0f);
    fill_orthogonal_rows(fp(&L->w2), c->lora_w, D, 0.1, r);
    fill_orthogonal_rows(fp(&L->a2), c->lora_a, D, 0.1, r);
    fill_orthogonal_rows(fp(&L->v2), c->lora_v, D, 0.1, r);
    fill_const(fp(&L->a0), (size_t)D, 0.0f);
    fill_const(fp(&L->v0), (size_t)D, 1.0f);
    if (c->has_gate) {
        fill_const(fp(&L->g1), (size_t)D * c->lora_g, 1.0f);
        fill_const(fp(&L->g2), (size_t)D * c->lora_g, 1.0f);
    }
    fill_const(fp(&L->k_k), (size_t)D, 0.85f);
    fill_const(fp(&L->k_a), (size_t)D, 1.0f);
    fill_const(fp(&L->r_k), (size_t)D, 0.0f);
    if (c->has_group_norm) {
        fill_const(fp(&L->ln_x_w), (size_t)D, 1.0f);
        fill_const(fp(&L->ln_x_b), (size_t)D, 0.0f);
    }
}

// Random weights for tests and benchmarks: N(0, 0.02) matrices as HF initialises them, unit norms,
// small random biases; students get the paper's time-mix initialisation.
static void init_random(arwkv_model *m, uint64_t seed) {
    const arwkv_config *c = &m->cfg;
    rng r;
    rng_seed(&r, seed);
    size_t D = c->n_embd, F = c->n_ff, V = c->n_vocab;
    fill_normal(fp(&m->w.embed), V * D, 0.02, &r);
    fill_const(fp(&m->w.norm), D, 1.0f);
    if (!c->tie_embeddings) fill_normal(fp(&m->w.lm_head), V * D, 0.02, &r);
    for (int l = 0; l < c->n_layer; l++) {
        layer_weights *L = &m->w.layers[l];
        fill_const(fp(&L->ln1), D, 1.0f);
        fill_const(fp(&L->ln2), D, 1.0f);
        if (c->arch == ARWKV_ARCH_QWEN2) {
            size_t qd = (size_t)c->n_head * c->head_dim, kvd = (size_t)c->n_kv_head * c->head_dim;
            fill_normal(fp(&L->wq), qd * D, 0.02, &r);
            fill_normal(fp(&L->wk), kvd * D, 0.02, &r);
            fill_normal(fp(&L->wv), kvd * D, 0.02, &r);
            fill_normal(fp(&L->wo), D * qd, 0.02, &r);
            fill_normal(fp(&L->bq), qd, 0.02, &r);
            fill_normal(fp(&L->bk), kvd, 0.02, &r);
            fill_normal(fp(&L->bv), kvd, 0.02, &r);
        } else {
            model_init_time_mix(c, L, l, &r);
            double b = 1.0 / sqrt((double)D);
            fill_uniform(fp(&L->wq), D * D, b, &r);
            fill_uniform(fp(&L->wk), D * D, b, &r);
            fill_uniform(fp(&L->wv), D * D, b, &r);
            fill_uniform(fp(&L->wo), D * D, b, &r);
        }
        fill_normal(fp(&L->gate), F * D, 0.02, &r);
        fill_normal(fp(&L->up), F * D, 0.02, &r);
        fill_normal(fp(&L->down), D * F, 0.02, &r);
    }
}

static void copy_weight(weight *dst, const weight *src, size_t n) { dtype_to_f32(dst->data, src->data, src->dt, n); }

// Student config of a teacher: same sizes, 64-wide wkv heads, untied lm_head.
int model_student_config(arwkv_config *s, const arwkv_config *t, int gate) {
    if (t->arch != ARWKV_ARCH_QWEN2) return arwkv_set_error("the teacher must be a Qwen2 model");
    if (t->n_embd % 64) return arwkv_set_error("hidden_size %d is not a multiple of the wkv head size 64", t->n_embd);
    *s = *t;
    config_default_student(s);
    s->has_gate = gate;
    s->has_group_norm = 0;
    s->tie_embeddings = 0;
    s->rope_theta = 0;
    return 0;
}

// r from q, k and v with each kv head repeated for its query heads (GQA), o from o.
static void init_from_attention(const arwkv_config *tc, layer_weights *dst, const layer_weights *src) {
    size_t D = tc->n_embd, hd = tc->head_dim;
    int group = tc->n_head / tc->n_kv_head;
    copy_weight(&dst->wq, &src->wq, D * D);
    copy_weight(&dst->wo, &src->wo, D * D);
    for (int h = 0; h < tc->n_head; h++) {
        size_t kv = (size_t)(h / group) * hd * D, es = arwkv_dtype_size(src->wk.dt);
        weight k = {(uint8_t *)src->wk.data + kv * es, src->wk.dt}, v = {(uint8_t *)src->wv.data + kv * es, src->wv.dt};
        weight dk = {fp(&dst->wk) + (size_t)h * hd * D, ARWKV_F32}, dv = {fp(&dst->wv) + (size_t)h * hd * D, ARWKV_F32};
        copy_weight(&dk, &k, hd * D);
        copy_weight(&dv, &v, hd * D);
    }
}

int arwkv_student_init(arwkv_model **out, const arwkv_model *t, int32_t gate, int32_t from_attention,
                       uint64_t seed) {
    arwkv_config sc;
    if (model_student_config(&sc, &t->cfg, gate) || model_create(out, &sc)) return -1;
    arwkv_model *s = *out;
    size_t D = sc.n_embd, F = sc.n_ff, V = sc.n_vocab;
    rng r;
    rng_seed(&r, seed);
    copy_weight(&s->w.embed, &t->w.embed, V * D);
    copy_weight(&s->w.lm_head, &t->w.lm_head, V * D);
    copy_weight(&s->w.norm, &t->w.norm, D);
    double b = 1.0 / sqrt((double)D);
    for (int l = 0; l < sc.n_layer; l++) {
        layer_weights *dst = &s->w.layers[l];
        const layer_weights *src = &t->w.layers[l];
        copy_weight(&dst->ln1, &src->ln1, D);
        copy_weight(&dst->ln2, &src->ln2, D);
        copy_weight(&dst->gate, &src->gate, F * D);
        copy_weight(&dst->up, &src->up, F * D);
        copy_weight(&dst->down, &src->down, D * F);
        model_init_time_mix(&sc, dst, l, &r);
        if (from_attention) {
            init_from_attention(&t->cfg, dst, src);
        } else {
            fill_uniform(fp(&dst->wq), D * D, b, &r);
            fill_uniform(fp(&dst->wk), D * D, b, &r);
            fill_uniform(fp(&dst->wv), D * D, b, &r);
            fill_uniform(fp(&dst->wo), D * D, b, &r);
        }
    }
    return 0;
}

int arwkv_model_make_random(arwkv_model **out, const arwkv_config *cfg, uint64_t seed) {
    if (model_create(out, cfg)) return -1;
    init_random(*out, seed);
    return 0;
}

void arwkv_config_defaults(arwkv_config *c, arwkv_arch arch) {
    memset(c, 0, sizeof *c);
    c->arch = arch;
    c->rms_eps = 1e-6f;
    c->rope_theta = 1e6f;
    c->max_pos = 32768;
    c->bos_id = c->eos_id = -1;
    c->torch_dtype = ARWKV_BF16;
    if (arch == ARWKV_ARCH_RWKV_HYBRID) config_default_student(c);
}
