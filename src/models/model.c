// Loading a model directory, per-sequence state, and the forward entry point.
#include "models/model.h"

typedef struct {
    arwkv_model *m;
    const arwkv_load_opts *opts;
    size_t small_bytes;   // pass 1: bytes of fp32/converted copies
    int pass;
} load_ctx;

static size_t numel_of(int32_t ndim, const int64_t *shape) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    return n;
}

static bool is_float(arwkv_dtype dt) { return dt == ARWKV_F32 || dt == ARWKV_F16 || dt == ARWKV_BF16; }

static int load_visit(void *ctx, const char *name, int32_t ndim, const int64_t *shape, tensor_kind kind, weight *w) {
    load_ctx *lc = ctx;
    size_t n = numel_of(ndim, shape);
    int convert_to = kind == TENSOR_SMALL || lc->opts->all_f32 ? ARWKV_F32 : lc->opts->weight_dtype;
    const st_tensor *t = NULL;
    if (lc->pass == 1) {
        t = safetensors_expect(&lc->m->st, name, ndim, shape);
        if (!t) return -1;
        if (!is_float(t->dtype))
            return arwkv_set_error("%s: tensor '%s': dtype %s is not a floating-point type", lc->m->dir, name,
                                   arwkv_dtype_name(t->dtype));
        if (convert_to >= 0 && (arwkv_dtype)convert_to != t->dtype)
            lc->small_bytes += arena_align(n * arwkv_dtype_size((arwkv_dtype)convert_to));
        return 0;
    }
    t = safetensors_find(&lc->m->st, name);
    if (convert_to < 0 || (arwkv_dtype)convert_to == t->dtype) {
        w->data = (void *)t->data;
        w->dt = t->dtype;
        return 0;
    }
    w->dt = (arwkv_dtype)convert_to;
    w->data = arena_alloc(&lc->m->small, n * arwkv_dtype_size(w->dt));
    if (!w->data) return -1;
    if (w->dt == ARWKV_F32) {
        dtype_to_f32(w->data, t->data, t->dtype, n);
    } else {
        float *tmp = malloc(n * sizeof(float));
        if (!tmp) return arwkv_set_error("out of memory converting '%s'", name);
        dtype_to_f32(tmp, t->data, t->dtype, n);
        dtype_from_f32(w->data, tmp, w->dt, n);
        free(tmp);
    }
    return 0;
}

int arwkv_model_load(arwkv_model **out, const char *dir, const arwkv_load_opts *opts) {
    arwkv_load_opts def = {.weight_dtype = -1, .all_f32 = 0, .act_dtype = ARWKV_F32};
    if (!opts) opts = &def;
    arwkv_model *m = calloc(1, sizeof *m);
    m->dir = strdup(dir);
    *out = NULL;
    if (config_load(&m->cfg, dir) || safetensors_open(&m->st, dir)) goto fail;
    m->w.layers = calloc((size_t)m->cfg.n_layer, sizeof(layer_weights));
    // untied checkpoints of tied configs (and the reverse) exist in the wild: trust the file
    if (m->cfg.tie_embeddings && safetensors_find(&m->st, "lm_head.weight")) m->cfg.tie_embeddings = 0;
    load_ctx lc = {m, opts, 0, 1};
    if (model_visit_tensors(&m->cfg, &m->w, load_visit, &lc)) goto fail;
    if (arena_init(&m->small, "weights", lc.small_bytes + 64)) goto fail;
    lc.pass = 2;
    if (model_visit_tensors(&m->cfg, &m->w, load_visit, &lc)) goto fail;
    if (m->cfg.tie_embeddings) m->w.lm_head = m->w.embed;
    m->act_dtype = opts->act_dtype == ARWKV_F16 || opts->act_dtype == ARWKV_BF16 ? (arwkv_dtype)opts->act_dtype : ARWKV_F32;
    *out = m;
    return 0;
fail:
    arwkv_model_free(m);
    return -1;
}

void model_matmul(const arwkv_model *m, float *out, float *inp, const weight *w, const float *bias, int T, int C, int OC) {
    if (m->act_dtype != ARWKV_F32) {
        size_t n = (size_t)T * C;
        for (size_t i = 0; i < n; i++)
            inp[i] = m->act_dtype == ARWKV_F16 ? f16_to_f32(f32_to_f16(inp[i])) : bf16_to_f32(f32_to_bf16(inp[i]));
    }
    matmul_forward(out, inp, w->data, w->dt, bias, T, C, OC);
}

void arwkv_model_free(arwkv_model *m) {
    if (!m) return;
    safetensors_close(&m->st);
    arena_free(&m->small);
    free(m->w.layers);
    free(m->dir);
    free(m);
}

const arwkv_config *arwkv_model_config(const arwkv_model *m) { return &m->cfg; }

// ---- state --------------------------------------------------------------------------------------

enum { DEFAULT_CHUNK = 256 };

typedef struct {
    float **ptr;
    size_t n;
} act_slot;

int arwkv_state_init(arwkv_state **out, const arwkv_model *m, int32_t max_ctx) {
    const arwkv_config *c = &m->cfg;
    arwkv_state *s = calloc(1, sizeof *s);
    s->m = m;
    s->chunk = DEFAULT_CHUNK;
    s->max_ctx = max_ctx > 0 ? max_ctx : c->max_pos;
    size_t T = (size_t)s->chunk, D = (size_t)c->n_embd, F = (size_t)c->n_ff, L = (size_t)c->n_layer;
    int nthreads = omp_get_max_threads();
    size_t mem = 0;
    if (c->arch == ARWKV_ARCH_QWEN2) {
        size_t kv = L * c->n_kv_head * (size_t)s->max_ctx * c->head_dim;
        mem = 2 * arena_align(kv * sizeof(float));
    } else {
        mem = arena_align(L * D * sizeof(float)) + arena_align(L * c->n_head * (size_t)c->head_dim * c->head_dim * 4);
    }
    if (arena_init(&s->mem, c->arch == ARWKV_ARCH_QWEN2 ? "kv-cache" : "rnn-state", mem)) goto fail;
    if (c->arch == ARWKV_ARCH_QWEN2) {
        size_t kv = L * c->n_kv_head * (size_t)s->max_ctx * c->head_dim;
        s->kcache = arena_alloc(&s->mem, kv * sizeof(float));
        s->vcache = arena_alloc(&s->mem, kv * sizeof(float));
    } else {
        s->shift = arena_alloc(&s->mem, L * D * sizeof(float));
        s->wkv = arena_alloc(&s->mem, L * c->n_head * (size_t)c->head_dim * c->head_dim * sizeof(float));
    }
    size_t lora = (size_t)(c->lora_g > c->lora_w ? c->lora_g : c->lora_w);
    size_t scratch = c->arch == ARWKV_ARCH_QWEN2 ? (size_t)nthreads * c->n_head * (T + (size_t)s->max_ctx) : 0;
    size_t TS = c->arch == ARWKV_ARCH_QWEN2 ? 0 : T;   // rows of the student-only buffers
    act_slot slots[] = {
        {&s->x, T * D}, {&s->xn, T * D}, {&s->q, T * D}, {&s->k, T * D}, {&s->v, T * D}, {&s->o, T * D},
        {&s->ff_gate, T * F}, {&s->ff_up, T * F}, {&s->scratch, scratch},
        {&s->xr, TS * D}, {&s->xw, TS * D}, {&s->xk, TS * D}, {&s->xv, TS * D}, {&s->xa, TS * D}, {&s->xg, TS * D},
        {&s->wd, TS * D}, {&s->aa, TS * D}, {&s->gg, TS * D}, {&s->kk, TS * D}, {&s->alpha, TS * D},
        {&s->beta, TS * D}, {&s->vfirst, TS * D}, {&s->lora, TS * lora}, {&s->gn, TS * 2 * (size_t)c->n_head},
    };
    size_t n_slots = sizeof slots / sizeof slots[0], acts = 0;
    for (size_t i = 0; i < n_slots; i++) acts += arena_align(slots[i].n * sizeof(float));
    if (arena_init(&s->acts, "activations", acts)) goto fail;
    for (size_t i = 0; i < n_slots; i++) *slots[i].ptr = arena_alloc(&s->acts, slots[i].n * sizeof(float));
    *out = s;
    return 0;
fail:
    arwkv_state_free(s);
    *out = NULL;
    return -1;
}

void arwkv_state_reset(arwkv_state *s) {
    s->pos = 0;
    if (s->shift) {
        const arwkv_config *c = &s->m->cfg;
        memset(s->shift, 0, (size_t)c->n_layer * c->n_embd * sizeof(float));
        memset(s->wkv, 0, (size_t)c->n_layer * c->n_head * c->head_dim * c->head_dim * sizeof(float));
    }
}

void arwkv_state_free(arwkv_state *s) {
    if (!s) return;
    arena_free(&s->mem);
    arena_free(&s->acts);
    free(s);
}

int32_t arwkv_state_pos(const arwkv_state *s) { return s->pos; }

size_t arwkv_state_bytes(const arwkv_state *s) {
    const arwkv_config *c = &s->m->cfg;
    if (c->arch == ARWKV_ARCH_QWEN2)   // what the cache holds now, not what was reserved
        return 2 * (size_t)c->n_layer * c->n_kv_head * (size_t)s->pos * c->head_dim * sizeof(float);
    return s->mem.used;
}

int arwkv_forward(const arwkv_model *m, arwkv_state *s, const int32_t *ids, int32_t T, float *logits, int all_logits) {
    const arwkv_config *c = &m->cfg;
    for (int32_t i = 0; i < T; i++)
        if (ids[i] < 0 || ids[i] >= c->n_vocab)
            return arwkv_set_error("token id %d at position %d is outside the vocabulary (size %d)", ids[i], i, c->n_vocab);
    if (c->arch == ARWKV_ARCH_QWEN2 && s->pos + T > s->max_ctx)
        return arwkv_set_error("context of %d tokens exceeds the KV cache (%d)", s->pos + T, s->max_ctx);
    for (int32_t t0 = 0; t0 < T; t0 += s->chunk) {
        int n = T - t0 < s->chunk ? T - t0 : s->chunk;
        int last = t0 + n == T;
        float *lg = !logits ? NULL : all_logits ? logits + (size_t)t0 * c->n_vocab : last ? logits : NULL;
        int rc = c->arch == ARWKV_ARCH_QWEN2 ? qwen2_forward_chunk(m, s, ids + t0, n, lg, all_logits)
                                             : rwkv_hybrid_forward_chunk(m, s, ids + t0, n, lg, all_logits);
        if (rc) return -1;
    }
    return 0;
}

void arwkv_state_capture(arwkv_state *s, float *h, float *y, int32_t pos0, int32_t len) {
    s->cap_h = h;
    s->cap_y = y;
    s->cap_pos0 = pos0;
    s->cap_len = len;
}

// copy rows of the chunk starting at state position s->pos into the capture buffers of layer l
void model_capture_rows(arwkv_state *s, int l, const float *h, const float *y, int T) {
    int D = s->m->cfg.n_embd;
    for (int t = 0; t < T; t++) {
        int p = s->pos + t - s->cap_pos0;
        if (p < 0 || p >= s->cap_len) continue;
        size_t off = ((size_t)l * s->cap_len + p) * D;
        if (s->cap_h) memcpy(s->cap_h + off, h + (size_t)t * D, D * sizeof(float));
        if (s->cap_y) memcpy(s->cap_y + off, y + (size_t)t * D, D * sizeof(float));
    }
}

double arwkv_read_bandwidth(size_t bytes) { return memory_read_bandwidth(bytes); }
