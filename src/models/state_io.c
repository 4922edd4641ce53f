// Saving and restoring a sequence's state: header (magic, version, shape hash), position, state.
#include "models/model.h"

#define STATE_MAGIC "ARWKVST\0"
enum { STATE_VERSION = 1 };

typedef struct {
    char magic[8];
    uint32_t version, flags;   // flags bit 0: last logits follow the state
    uint64_t shape_hash;
    int32_t pos, n_vocab;
} state_header;

static uint64_t shape_hash(const arwkv_config *c) {
    int32_t v[] = {c->arch, c->n_embd, c->n_layer, c->n_ff, c->n_vocab, c->n_head, c->n_kv_head, c->head_dim,
                   c->has_gate, c->has_group_norm};
    return hash_fnv1a(v, sizeof v, 0);
}

// the blocks that make up the state: KV rows for each layer/head up to pos, or shift + wkv
typedef int (*block_fn)(void *ctx, float *p, size_t n);

static int for_each_block(const arwkv_state *s, int32_t pos, block_fn fn, void *ctx) {
    const arwkv_config *c = &s->m->cfg;
    if (c->arch != ARWKV_ARCH_QWEN2) {
        if (fn(ctx, s->shift, (size_t)c->n_layer * c->n_embd)) return -1;
        return fn(ctx, s->wkv, (size_t)c->n_layer * c->n_head * c->head_dim * c->head_dim);
    }
    for (int l = 0; l < c->n_layer; l++)
        for (int h = 0; h < c->n_kv_head; h++) {
            size_t off = (((size_t)l * c->n_kv_head + h) * s->max_ctx) * c->head_dim, n = (size_t)pos * c->head_dim;
            if (fn(ctx, s->kcache + off, n) || fn(ctx, s->vcache + off, n)) return -1;
        }
    return 0;
}

typedef struct {
    FILE *fp;
    const backend *be;   // the state's buffers live there; a GPU's go through a host copy
} io_ctx;

static int write_block(void *ctx, float *p, size_t n) {
    io_ctx *io = ctx;
    float *h = io->be->host ? p : malloc(n * sizeof(float));
    if (!h) return arwkv_set_error("out of memory");
    if (h != p) io->be->download(h, p, n * sizeof(float));
    int rc = fwrite(h, sizeof(float), n, io->fp) == n ? 0 : arwkv_set_error("write failed");
    if (h != p) free(h);
    return rc;
}

static int read_block(void *ctx, float *p, size_t n) {
    io_ctx *io = ctx;
    float *h = io->be->host ? p : malloc(n * sizeof(float));
    if (!h) return -1;
    int rc = fread(h, sizeof(float), n, io->fp) == n ? 0 : -1;
    if (h != p) {
        if (!rc) io->be->upload(p, h, n * sizeof(float));
        free(h);
    }
    return rc;
}

int arwkv_state_save(const arwkv_state *s, const char *path, const float *last_logits) {
    const arwkv_config *c = &s->m->cfg;
    state_header h = {STATE_MAGIC, STATE_VERSION, last_logits ? 1u : 0u, shape_hash(c), s->pos, c->n_vocab};
    atomic_file af;
    if (atomic_file_open(&af, path)) return -1;
    int rc = fwrite(&h, sizeof h, 1, af.fp) == 1 ? 0 : -1;
    io_ctx io = {af.fp, s->m->be}, host = {af.fp, backend_cpu()};
    if (rc == 0) rc = for_each_block(s, s->pos, write_block, &io);
    if (rc == 0 && last_logits) rc = write_block(&host, (float *)last_logits, (size_t)c->n_vocab);
    if (rc) {
        atomic_file_abort(&af);
        return arwkv_set_error("%s: write failed", path);
    }
    return atomic_file_commit(&af);
}

int arwkv_state_load(arwkv_state *s, const char *path, float *last_logits, int *has_logits) {
    const arwkv_config *c = &s->m->cfg;
    FILE *f = fopen(path, "rb");
    if (!f) return arwkv_set_error("%s: cannot open state file", path);
    state_header h;
    int rc = 0;
    if (fread(&h, sizeof h, 1, f) != 1 || memcmp(h.magic, STATE_MAGIC, 8))
        rc = arwkv_set_error("%s: not an arwkv state file", path);
    else if (h.version != STATE_VERSION)
        rc = arwkv_set_error("%s: state file version %u, expected %d", path, h.version, STATE_VERSION);
    else if (h.shape_hash != shape_hash(c))
        rc = arwkv_set_error("%s: the state belongs to a model of another shape than %s", path, s->m->dir);
    else if (h.pos < 0 || (c->arch == ARWKV_ARCH_QWEN2 && h.pos > s->max_ctx))
        rc = arwkv_set_error("%s: state position %d does not fit a cache of %d tokens", path, h.pos, s->max_ctx);
    io_ctx io = {f, s->m->be}, host = {f, backend_cpu()};
    if (rc == 0 && for_each_block(s, h.pos, read_block, &io))
        rc = arwkv_set_error("%s: truncated state file", path);
    int with_logits = rc == 0 && (h.flags & 1u);
    if (with_logits && last_logits && read_block(&host, last_logits, (size_t)c->n_vocab))
        rc = arwkv_set_error("%s: truncated state file", path);
    fclose(f);
    if (rc) {
        arwkv_state_reset(s);
        return -1;
    }
    s->pos = h.pos;
    if (has_logits) *has_logits = with_logits && last_logits;
    return 0;
}
