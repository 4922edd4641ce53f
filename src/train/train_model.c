// Training setup: the flat parameter vector, the tensor table and the activation arena.
#include <fnmatch.h>

#include "train/train.h"

enum { WKV_CHUNK = 16 };

typedef struct {
    train_model *tm;
    int pass;          // 0: count, 1: copy
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
        dtype_to_f32(dst, w->data, w->dt, n);
        w->data = dst;
        w->dt = ARWKV_F32;
    }
    pc->idx++;
    pc->off += arena_align(n * sizeof(float)) / sizeof(float);   // keeps every tensor 64-byte aligned
    return 0;
}

// Every activation buffer, in one place: pass 0 only adds up the sizes.
typedef struct {
    train_model *tm;
    int pass;
    size_t *acc;
} lay;

static float *take(lay *ly, size_t n) {
    *ly->acc += arena_align(n * sizeof(float));
    return ly->pass ? arena_alloc(&ly->tm->mem, n * sizeof(float)) : NULL;
}

static void layout(train_model *tm, int pass) {
    const arwkv_config *c = &tm->m->cfg;
    size_t BT = (size_t)tm->B * tm->T, D = c->n_embd, F = c->n_ff, V = c->n_vocab, L = c->n_layer;
    size_t qd = (size_t)c->n_head * c->head_dim, kvd = (size_t)c->n_kv_head * c->head_dim;
    size_t H = c->n_head, N = c->head_dim, nck = (tm->T + tm->K - 1) / tm->K;
    int student = c->arch == ARWKV_ARCH_RWKV_HYBRID;
    size_t R = 64;
    if (student) {
        int r4[4] = {c->lora_w, c->lora_a, c->lora_v, c->has_gate ? c->lora_g : 0};
        for (int i = 0; i < 4; i++) R = (size_t)r4[i] > R ? (size_t)r4[i] : R;
    }
    size_t Dm = D > qd ? D : qd;
    lay ly = {tm, pass, &tm->bytes_acts};
    if (!pass) tm->bytes_acts = tm->bytes_scratch = tm->bytes_logits = 0;
    for (size_t i = 0; i < 2 * L + 1; i++) tm->x[i] = take(&ly, BT * D);
    for (size_t l = 0; l < L; l++) {
        tm->rstd1[l] = take(&ly, BT);
        tm->rstd2[l] = take(&ly, BT);
        tm->xn[l] = take(&ly, BT * D);
        tm->f[l] = take(&ly, BT * D);
        tm->ffg[l] = take(&ly, BT * F);
        tm->ffu[l] = take(&ly, BT * F);
        tm->ffh[l] = take(&ly, BT * F);
        if (!student) {
            tm->q[l] = take(&ly, BT * qd);
            tm->k[l] = take(&ly, BT * kvd);
            tm->v[l] = take(&ly, BT * kvd);
            tm->att[l] = take(&ly, (size_t)tm->B * H * tm->T * tm->T);
            tm->ao[l] = take(&ly, BT * qd);
            continue;
        }
        tm->xmix[l] = take(&ly, (c->has_gate ? 6 : 5) * BT * D);
        float **full[] = {tm->r, tm->k0, tm->kf, tm->v0, tm->vf, tm->wz, tm->wd, tm->vz, tm->a,
                          tm->kk, tm->alpha, tm->beta, tm->ow, tm->ob};
        for (size_t j = 0; j < sizeof full / sizeof full[0]; j++) full[j][l] = take(&ly, BT * D);
        tm->wmid[l] = take(&ly, BT * c->lora_w);
        tm->vmid[l] = take(&ly, BT * c->lora_v);
        tm->amid[l] = take(&ly, BT * c->lora_a);
        tm->ckpt[l] = take(&ly, (size_t)tm->B * nck * H * N * N);
        if (c->has_gate) {
            tm->gmid[l] = take(&ly, BT * c->lora_g);
            tm->g[l] = take(&ly, BT * D);
            tm->og[l] = take(&ly, BT * D);
        }
        if (c->has_group_norm) {
            tm->gnm[l] = take(&ly, BT * H);
            tm->gnr[l] = take(&ly, BT * H);
        }
    }
    if (student) tm->vfirst = take(&ly, BT * D);
    tm->rstdf = take(&ly, BT);
    tm->xnf = take(&ly, BT * D);
    tm->zero_shift = take(&ly, (size_t)tm->B * D);
    tm->inputs = (int32_t *)take(&ly, BT);
    tm->targets = (int32_t *)take(&ly, BT);
    ly.acc = &tm->bytes_logits;
    tm->logits = take(&ly, BT * V);
    tm->losses = take(&ly, BT);
    ly.acc = &tm->bytes_scratch;
    tm->dx = take(&ly, BT * D);
    tm->dxn = take(&ly, BT * D);
    tm->dlogit_x = take(&ly, BT * D);
    for (int i = 0; i < 24; i++) tm->d[i] = take(&ly, BT * Dm);
    tm->dmid = take(&ly, BT * R);
    tm->dmid2 = take(&ly, BT * R);
    tm->dh = take(&ly, BT * F);
    tm->dgate = take(&ly, BT * F);
    tm->dup = take(&ly, BT * F);
    tm->attn_scratch = take(&ly, student ? 1 : (size_t)tm->B * c->n_head * tm->T);
    tm->state = take(&ly, student ? (size_t)tm->B * H * N * N : 1);   // one WKV state per sequence
}

int train_model_init(train_model *tm, arwkv_model *m, int32_t B, int32_t T) {
    memset(tm, 0, sizeof *tm);
    if (B <= 0 || T <= 0) return arwkv_set_error("train: batch %d x %d tokens is empty", B, T);
    tm->m = m;
    tm->B = B;
    tm->T = T;
    tm->K = WKV_CHUNK;
    tm->grad_scale = 1.0f;
    const arwkv_config *c = &m->cfg;
    param_ctx pc = {tm, 0, 0, 0};
    model_visit_tensors(c, &m->w, param_visit, &pc);
    tm->n_params = pc.off;
    tm->n_tensors = pc.idx;
    tm->tensors = calloc((size_t)tm->n_tensors, sizeof *tm->tensors);
    size_t L = c->n_layer, nfield = 36;
    float **ptrs = calloc(nfield * L + 2 * L + 1, sizeof *ptrs);
    if (!tm->tensors || !ptrs) return arwkv_set_error("train: out of memory for the tensor table");
    tm->x = ptrs;
    float ***fields[] = {&tm->rstd1, &tm->rstd2, &tm->xn, &tm->f, &tm->ffg, &tm->ffu, &tm->ffh, &tm->q, &tm->k,
                         &tm->v, &tm->att, &tm->ao, &tm->xmix, &tm->r, &tm->k0, &tm->kf, &tm->v0, &tm->vf,
                         &tm->wmid, &tm->wz, &tm->wd, &tm->vmid, &tm->vz, &tm->amid, &tm->a, &tm->gmid, &tm->g,
                         &tm->kk, &tm->alpha, &tm->beta, &tm->ckpt, &tm->ow, &tm->gnm, &tm->gnr, &tm->og, &tm->ob};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) *fields[i] = ptrs + 2 * L + 1 + i * L;
    layout(tm, 0);
    tm->bytes_params = 2 * tm->n_params * sizeof(float);
    if (arena_init(&tm->mem, "training", tm->bytes_params + tm->bytes_acts + tm->bytes_scratch + tm->bytes_logits + 64))
        return -1;
    tm->params = arena_alloc(&tm->mem, tm->n_params * sizeof(float));
    tm->grads = arena_alloc(&tm->mem, tm->n_params * sizeof(float));
    pc = (param_ctx){tm, 1, 0, 0};
    model_visit_tensors(c, &m->w, param_visit, &pc);
    if (c->tie_embeddings) m->w.lm_head = m->w.embed;
    layout(tm, 1);
    return 0;
}

void train_model_free(train_model *tm) {
    arena_free(&tm->mem);
    free(tm->tensors);
    free(tm->x);
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

void train_zero_grads(train_model *tm) { memset(tm->grads, 0, tm->n_params * sizeof(float)); }
