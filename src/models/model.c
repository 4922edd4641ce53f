// Loading a model directory, per-sequence state, and the forward entry point.
#include "kernels/kernels.h"
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

// Device copies of every weight in one allocation of the backend
typedef struct {
    const backend *be;
    char *base;
    size_t used;
} upload_ctx;

static int upload_visit(void *ctx, const char *name, int32_t ndim, const int64_t *shape, tensor_kind kind, weight *w) {
    upload_ctx *uc = ctx;
    size_t bytes = numel_of(ndim, shape) * arwkv_dtype_size(w->dt), at = uc->used;
    uc->used += (bytes + 255) & ~(size_t)255;
    if (!uc->base) return 0;
    uc->be->upload(uc->base + at, w->data, bytes);
    w->data = uc->base + at;
    return 0;
}

int model_set_device(arwkv_model *m, const char *device) {
    const backend *be = backend_get(device);
    if (!be) return -1;
    if (be->host) return 0;
    upload_ctx uc = {be, NULL, 0};
    model_visit_tensors(&m->cfg, &m->w, upload_visit, &uc);
    m->dev = be->alloc(uc.used);
    if (!m->dev) return arwkv_set_error("%s: out of %s memory for %.1f MiB of weights", m->dir, be->name,
                                        uc.used / 1048576.0);
    uc.base = m->dev;
    uc.used = 0;
    model_visit_tensors(&m->cfg, &m->w, upload_visit, &uc);
    if (m->cfg.tie_embeddings) m->w.lm_head = m->w.embed;
    m->be = be;
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
    m->be = backend_cpu();
    if (opts->device && model_set_device(m, opts->device)) goto fail;
    *out = m;
    return 0;
fail:
    arwkv_model_free(m);
    return -1;
}

void arwkv_model_free(arwkv_model *m) {
    if (!m) return;
    if (m->dev) m->be->release(m->dev);
    safetensors_close(&m->st);
    arena_free(&m->small);
    free(m->w.layers);
    free(m->dir);
    free(m);
}

const arwkv_config *arwkv_model_config(const arwkv_model *m) { return &m->cfg; }

// ---- state --------------------------------------------------------------------------------------

enum { DEFAULT_CHUNK = 256 };

int arwkv_state_init(arwkv_state **out, const arwkv_model *m, int32_t max_ctx) {
    const arwkv_config *c = &m->cfg;
    const backend *be = m->be;
    arwkv_state *s = calloc(1, sizeof *s);
    if (!s || model_acts_init(&s->a, c)) {
        free(s);
        return arwkv_set_error("out of memory for a state");
    }
    s->m = m;
    s->chunk = DEFAULT_CHUNK;
    s->max_ctx = max_ctx > 0 ? max_ctx : c->max_pos;
    size_t D = (size_t)c->n_embd, L = (size_t)c->n_layer, V = (size_t)c->n_vocab;
    int teacher = c->arch == ARWKV_ARCH_QWEN2;
    size_t kv = L * c->n_kv_head * (size_t)s->max_ctx * c->head_dim, shift = L * D;
    size_t wkv = L * c->n_head * (size_t)c->head_dim * c->head_dim;
    size_t a0 = teacher ? arena_align(kv * sizeof(float)) : arena_align(shift * sizeof(float));
    s->mem_bytes = a0 + (teacher ? arena_align(kv * sizeof(float)) : arena_align(wkv * sizeof(float)));
    size_t acts = model_acts_layout(&s->a, c, 1, s->chunk, 0, 0, NULL);
    size_t scratch = teacher ? be->attention_scratch_floats(c->n_head, s->max_ctx) : 0;
    size_t logits = be->host ? 0 : (size_t)s->chunk * V;
    size_t act_bytes = acts + arena_align(scratch * sizeof(float)) + arena_align(logits * sizeof(float));
    s->mem = be->alloc(s->mem_bytes);
    s->act_mem = be->alloc(act_bytes);
    if (!s->mem || !s->act_mem) {
        char a[32], b[32];
        fmt_bytes(a, sizeof a, (double)s->mem_bytes);
        fmt_bytes(b, sizeof b, (double)act_bytes);
        arwkv_set_error("out of %s memory for a %s %s and %s of activations", be->name, a,
                        teacher ? "KV cache" : "state", b);
        arwkv_state_free(s);
        *out = NULL;
        return -1;
    }
    char *base = s->mem, *ab = s->act_mem;
    if (teacher) {
        s->kcache = (float *)base;
        s->vcache = (float *)(base + a0);
    } else {
        s->shift = (float *)base;
        s->wkv = (float *)(base + a0);
    }
    be->zero(s->mem, s->mem_bytes);
    model_acts_layout(&s->a, c, 1, s->chunk, 0, 0, ab);
    s->scratch = scratch ? (float *)(ab + acts) : NULL;
    s->logits = logits ? (float *)(ab + acts + arena_align(scratch * sizeof(float))) : NULL;
    *out = s;
    return 0;
}

void arwkv_state_reset(arwkv_state *s) {
    s->pos = 0;
    if (s->shift) s->m->be->zero(s->mem, s->mem_bytes);
}

void arwkv_state_free(arwkv_state *s) {
    if (!s) return;
    if (s->mem) s->m->be->release(s->mem);
    if (s->act_mem) s->m->be->release(s->act_mem);
    model_acts_free(&s->a);
    free(s);
}

int32_t arwkv_state_pos(const arwkv_state *s) { return s->pos; }

size_t arwkv_state_bytes(const arwkv_state *s) {
    const arwkv_config *c = &s->m->cfg;
    if (c->arch == ARWKV_ARCH_QWEN2)   // what the cache holds now, not what was reserved
        return 2 * (size_t)c->n_layer * c->n_kv_head * (size_t)s->pos * c->head_dim * sizeof(float);
    return s->mem_bytes;
}

void arwkv_state_capture(arwkv_state *s, float *h, float *y, int32_t pos0, int32_t len) {
    s->cap_h = h;
    s->cap_y = y;
    s->cap_pos0 = pos0;
    s->cap_len = len;
}

const char *arwkv_cpu_kernels(void) { return kernels_cpu_level(); }

double arwkv_read_bandwidth(size_t bytes) {
    size_t n = bytes / sizeof(float);
    float *buf = aligned_alloc(64, (n * sizeof(float) + 63) & ~(size_t)63);
    if (!buf) return 0;
    double bw = memory_read_bandwidth(buf, n);
    free(buf);
    return bw;
}
