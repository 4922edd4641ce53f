// Training setup: the trained model's flat parameter vector, the tensor table and one backend
// allocation for parameters, gradients, activations and backward scratch.
#include <fnmatch.h>

#include "models/model_train.h"

typedef struct {
    train_model *tm;
    int pass;          // 0: count, 1: copy
    float *host;       // pass 1: the parameters in host memory (uploaded after)
    size_t off;
    int32_t idx;
} param_ctx;

static int param_visit(void *ctx, const char *name, int32_t ndim, const int64_t *shape, tensor_kind kind, weight *w) {
    param_ctx *pc = ctx;
    size_t n = 1;
    int big = 0;
    for (int i = 0; i < ndim; i++) {
        n *= (size_t)shape[i];
        big += shape[i] > 1;
    }
    if (pc->pass == 1) {
        train_tensor *t = &pc->tm->tensors[pc->idx];
        snprintf(t->name, sizeof t->name, "%s", name);
        t->off = pc->off;
        t->n = n;
        t->decay = big >= 2;
        t->trainable = 1;
        float *dst = pc->tm->params + pc->off;
        if (pc->host) {
            dtype_to_f32(pc->host + pc->off, w->data, w->dt, n);
        }
        w->data = dst;
        w->dt = ARWKV_F32;
    }
    pc->idx++;
    pc->off += arena_align(n * sizeof(float)) / sizeof(float);   // keeps every tensor 64-byte aligned
    return 0;
}

// Sizes (base NULL) or places the scratch of the backward after the activations.
static size_t scratch_layout(train_model *tm, char *base) {
    const arwkv_config *c = &tm->m->cfg;
    size_t BT = (size_t)tm->B * tm->T, D = c->n_embd, F = c->n_ff, V = c->n_vocab;
    size_t qd = (size_t)c->n_head * c->head_dim, Dm = D > qd ? D : qd;
    int student = c->arch == ARWKV_ARCH_RWKV_HYBRID;
    size_t R = 64;
    if (student) {
        int r4[4] = {c->lora_w, c->lora_a, c->lora_v, c->has_gate ? c->lora_g : 0};
        for (int i = 0; i < 4; i++) R = (size_t)r4[i] > R ? (size_t)r4[i] : R;
    }
    model_layout ly = {base, 0};
    tm->logits = model_layout_take(&ly, BT * V);
    tm->losses = model_layout_take(&ly, BT);
    tm->targets = (int32_t *)model_layout_take(&ly, BT);
    tm->dx = model_layout_take(&ly, BT * D);
    tm->dxn = model_layout_take(&ly, BT * D);
    tm->dlogit_x = model_layout_take(&ly, BT * D);
    for (int i = 0; i < 24; i++) tm->d[i] = model_layout_take(&ly, BT * Dm);
    tm->dmid = model_layout_take(&ly, BT * R);
    tm->dmid2 = model_layout_take(&ly, BT * R);
    tm->dh = model_layout_take(&ly, BT * F);
    tm->dgate = model_layout_take(&ly, BT * F);
    tm->dup = model_layout_take(&ly, BT * F);
    tm->attn_scratch = model_layout_take(&ly, student ? 1 : (size_t)tm->B * c->n_head * tm->T);
    tm->wkv_scratch = model_layout_take(&ly, student ? tm->m->be->wkv7_scratch_floats(tm->K, tm->B, c->n_head, c->head_dim) : 1);
    return ly.used;
}

int train_model_init(train_model *tm, const arwkv_model *src, int32_t B, int32_t T) {
    return train_model_init_on(tm, src, backend_cpu(), B, T);
}

int train_model_init_on(train_model *tm, const arwkv_model *src, const backend *be, int32_t B, int32_t T) {
    memset(tm, 0, sizeof *tm);
    if (B <= 0 || T <= 0) return arwkv_set_error("train: batch %d x %d tokens is empty", B, T);
    if (!src->be->host) return arwkv_set_error("train: the model to train must be loaded on the CPU");
    tm->B = B;
    tm->T = T;
    tm->K = MODEL_WKV_K;
    tm->grad_scale = 1.0f;
    // the trained model: src's config and tensor table, weights redirected into params below
    arwkv_model *m = tm->m = calloc(1, sizeof *m);
    if (!m) return arwkv_set_error("train: out of memory");
    m->cfg = src->cfg;
    m->be = be;
    m->act_dtype = ARWKV_F32;
    m->dir = strdup(src->dir ? src->dir : "");
    m->w = src->w;
    m->w.layers = malloc((size_t)m->cfg.n_layer * sizeof *m->w.layers);
    if (!m->w.layers || !m->dir || model_acts_init(&tm->a, &m->cfg)) {
        train_model_free(tm);
        return arwkv_set_error("train: out of memory for the tensor table");
    }
    memcpy(m->w.layers, src->w.layers, (size_t)m->cfg.n_layer * sizeof *m->w.layers);
    const arwkv_config *c = &m->cfg;
    param_ctx pc = {tm, 0, NULL, 0, 0};
    model_visit_tensors(c, &m->w, param_visit, &pc);
    tm->n_params = pc.off;
    tm->n_tensors = pc.idx;
    tm->tensors = calloc((size_t)tm->n_tensors, sizeof *tm->tensors);
    float *host = malloc(tm->n_params * sizeof(float));
    tm->host_targets = malloc((size_t)B * T * sizeof(int32_t));
    tm->host_losses = malloc((size_t)B * T * sizeof(float));
    if (!tm->tensors || !host || !tm->host_targets || !tm->host_losses) {
        free(host);
        train_model_free(tm);
        return arwkv_set_error("train: out of memory for %zu parameters", tm->n_params);
    }
    tm->bytes_params = 2 * arena_align(tm->n_params * sizeof(float));
    tm->bytes_acts = model_acts_layout(&tm->a, c, B, T, tm->K, 1, NULL);
    tm->bytes_scratch = scratch_layout(tm, NULL);
    tm->bytes_logits = arena_align((size_t)B * T * c->n_vocab * sizeof(float));
    size_t total = tm->bytes_params + tm->bytes_acts + tm->bytes_scratch;
    tm->mem = be->alloc(total);
    if (!tm->mem) {
        free(host);
        train_model_free(tm);
        return arwkv_set_error("train: out of %s memory for %.1f MiB (batch %d x %d)", be->name, total / 1048576.0,
                               B, T);
    }
    char *base = tm->mem;
    tm->params = (float *)base;
    tm->grads = (float *)(base + tm->bytes_params / 2);
    model_acts_layout(&tm->a, c, B, T, tm->K, 1, base + tm->bytes_params);
    scratch_layout(tm, base + tm->bytes_params + tm->bytes_acts);
    tm->bytes_scratch -= tm->bytes_logits;
    memset(host, 0, tm->n_params * sizeof(float));
    pc = (param_ctx){tm, 1, host, 0, 0};
    model_visit_tensors(c, &m->w, param_visit, &pc);
    if (c->tie_embeddings) m->w.lm_head = m->w.embed;
    be->upload(tm->params, host, tm->n_params * sizeof(float));
    free(host);
    be->zero(tm->grads, tm->n_params * sizeof(float));
    if (tm->a.zero_shift) be->zero(tm->a.zero_shift, (size_t)B * c->n_embd * sizeof(float));
    return 0;
}

void train_model_free(train_model *tm) {
    if (tm->m) {
        if (tm->mem) tm->m->be->release(tm->mem);
        free(tm->m->w.layers);
        free(tm->m->dir);
        free(tm->m);
    }
    free(tm->tensors);
    free(tm->host_targets);
    free(tm->host_losses);
    model_acts_free(&tm->a);
    memset(tm, 0, sizeof *tm);
}

void train_model_print_sizes(const train_model *tm, FILE *fp) {
    char a[32], b[32], c[32], d[32];
    fmt_bytes(a, sizeof a, (double)tm->bytes_params);
    fmt_bytes(b, sizeof b, (double)tm->bytes_acts);
    fmt_bytes(c, sizeof c, (double)tm->bytes_scratch);
    fmt_bytes(d, sizeof d, (double)tm->bytes_logits);
    fprintf(fp, "train memory (batch %d x %d): params+grads %s, activations %s, backward scratch %s, logits %s\n",
            tm->B, tm->T, a, b, c, d);
}

int64_t train_model_set_trainable(train_model *tm, const char *const *only, int n_only, const char *const *freeze,
                                  int n_freeze) {
    int64_t count = 0;
    for (int32_t i = 0; i < tm->n_tensors; i++) {
        train_tensor *t = &tm->tensors[i];
        int on = n_only == 0;
        for (int j = 0; j < n_only && !on; j++) on = fnmatch(only[j], t->name, 0) == 0;
        for (int j = 0; j < n_freeze && on; j++) on = fnmatch(freeze[j], t->name, 0) != 0;
        t->trainable = on;
        count += on ? (int64_t)t->n : 0;
    }
    return count;
}

void train_zero_grads(train_model *tm) { tm->m->be->zero(tm->grads, tm->n_params * sizeof(float)); }
