// Copying, snapshotting, restoring and rewinding a sequence's state (arwkv.h).
#include "models/model.h"

// ---- the state's storage -------------------------------------------------------------------------
// Every access to struct arwkv_state in this file is in this group (the position is read with
// arwkv_state_pos). The operations below need only the model config, the position, the cache
// length and four buffers: the teacher's K and V caches, (L, Hkv, max_ctx, hd) each, and the
// student's token shift (L, D) and WKV state (L, H, N, N).
// The buffers are memory of the model's backend: the transfers go through its upload, download
// and copy.

typedef enum { BUF_K, BUF_V, BUF_SHIFT, BUF_WKV } state_buf;

static const arwkv_config *state_config(const arwkv_state *s) { return &s->m->cfg; }

static int32_t state_max_ctx(const arwkv_state *s) { return s->max_ctx; }

static void state_set_pos(arwkv_state *s, int32_t pos) { s->pos = pos; }

static float *state_buffer(const arwkv_state *s, state_buf b) {
    return b == BUF_K ? s->kcache : b == BUF_V ? s->vcache : b == BUF_SHIFT ? s->shift : s->wkv;
}

// n floats at float offset off of buffer b: state -> host, host -> state, state -> state
static void state_download(const arwkv_state *s, state_buf b, size_t off, float *dst, size_t n) {
    s->m->be->download(dst, state_buffer(s, b) + off, n * sizeof(float));
}

static void state_upload(arwkv_state *s, state_buf b, size_t off, const float *src, size_t n) {
    s->m->be->upload(state_buffer(s, b) + off, src, n * sizeof(float));
}

// both states on one device (arwkv_state_copy checks)
static void state_transfer(arwkv_state *dst, size_t dst_off, const arwkv_state *src, size_t src_off, state_buf b,
                           size_t n) {
    dst->m->be->copy(state_buffer(dst, b) + dst_off, state_buffer(src, b) + src_off, n * sizeof(float));
}

static int same_device(const arwkv_state *a, const arwkv_state *b) { return a->m->be == b->m->be; }

// ---- the blocks a state consists of --------------------------------------------------------------

// Up to position pos: per (layer, kv head) the teacher's K rows [0, pos) then its V rows (nothing
// at position 0), or the student's shift then wkv. The teacher's rows start at a per-state offset
// (caches differ in length), hence `lh` rather than an offset.
typedef void (*block_fn)(void *ctx, state_buf b, size_t lh, size_t n);

static void for_each_block(const arwkv_config *c, int32_t pos, block_fn fn, void *ctx) {
    if (c->arch != ARWKV_ARCH_QWEN2) {
        fn(ctx, BUF_SHIFT, 0, (size_t)c->n_layer * c->n_embd);
        fn(ctx, BUF_WKV, 0, (size_t)c->n_layer * c->n_head * c->head_dim * c->head_dim);
        return;
    }
    size_t n = (size_t)pos * c->head_dim;
    for (size_t lh = 0; n && lh < (size_t)c->n_layer * c->n_kv_head; lh++) {
        fn(ctx, BUF_K, lh, n);
        fn(ctx, BUF_V, lh, n);
    }
}

static size_t block_offset(const arwkv_state *s, state_buf b, size_t lh) {
    return b == BUF_K || b == BUF_V ? lh * (size_t)state_max_ctx(s) * state_config(s)->head_dim : 0;
}

static void count_block(void *ctx, state_buf b, size_t lh, size_t n) { *(size_t *)ctx += n; }

// the shape fields the state layout and its meaning depend on (those a state file checks)
static int same_shape(const arwkv_config *a, const arwkv_config *b) {
    return a->arch == b->arch && a->n_embd == b->n_embd && a->n_layer == b->n_layer && a->n_ff == b->n_ff &&
           a->n_vocab == b->n_vocab && a->n_head == b->n_head && a->n_kv_head == b->n_kv_head &&
           a->head_dim == b->head_dim && a->has_gate == b->has_gate && a->has_group_norm == b->has_group_norm;
}

static int shape_error(const char *what, const arwkv_config *from, const arwkv_config *to) {
    return arwkv_set_error("%s belongs to a model of another shape (%s, %d layers, D %d) than the state's "
                           "(%s, %d layers, D %d)", what, from->arch == ARWKV_ARCH_QWEN2 ? "qwen2" : "arwkv",
                           from->n_layer, from->n_embd, to->arch == ARWKV_ARCH_QWEN2 ? "qwen2" : "arwkv",
                           to->n_layer, to->n_embd);
}

// a teacher's cache must hold pos tokens; a student's state holds any position
static int check_room(const char *what, const arwkv_state *s, int32_t pos) {
    if (state_config(s)->arch == ARWKV_ARCH_QWEN2 && pos > state_max_ctx(s))
        return arwkv_set_error("%s: %d tokens do not fit a KV cache of %d", what, pos, state_max_ctx(s));
    return 0;
}

// ---- copy ----------------------------------------------------------------------------------------

typedef struct {
    arwkv_state *dst;
    const arwkv_state *src;
} copy_ctx;

static void copy_block(void *ctx, state_buf b, size_t lh, size_t n) {
    copy_ctx *c = ctx;
    state_transfer(c->dst, block_offset(c->dst, b, lh), c->src, block_offset(c->src, b, lh), b, n);
}

int arwkv_state_copy(arwkv_state *dst, const arwkv_state *src) {
    if (dst == src) return 0;
    const arwkv_config *c = state_config(src);
    if (!same_shape(c, state_config(dst))) return shape_error("state copy: the source state", c, state_config(dst));
    if (!same_device(dst, src)) return arwkv_set_error("state copy: the states are on different devices");
    int32_t pos = arwkv_state_pos(src);
    if (check_room("state copy", dst, pos)) return -1;
    copy_ctx ctx = {dst, src};
    for_each_block(c, pos, copy_block, &ctx);
    state_set_pos(dst, pos);
    return 0;
}

// ---- snapshots -------------------------------------------------------------------------------------

struct arwkv_snapshot {
    arwkv_config cfg;   // of the model it was taken from
    int32_t pos;
    size_t n;           // floats in data, the blocks in for_each_block order
    float *data;
};

typedef struct {
    const arwkv_state *s;
    float *p;
} save_ctx;

typedef struct {
    arwkv_state *s;
    const float *p;
} load_ctx;

static void save_block(void *ctx, state_buf b, size_t lh, size_t n) {
    save_ctx *c = ctx;
    state_download(c->s, b, block_offset(c->s, b, lh), c->p, n);
    c->p += n;
}

static void load_block(void *ctx, state_buf b, size_t lh, size_t n) {
    load_ctx *c = ctx;
    state_upload(c->s, b, block_offset(c->s, b, lh), c->p, n);
    c->p += n;
}

int arwkv_state_snapshot(const arwkv_state *s, arwkv_snapshot **out) {
    *out = NULL;
    const arwkv_config *c = state_config(s);
    arwkv_snapshot *sn = calloc(1, sizeof *sn);
    if (!sn) return arwkv_set_error("state snapshot: out of memory");
    sn->cfg = *c;
    sn->pos = arwkv_state_pos(s);
    for_each_block(c, sn->pos, count_block, &sn->n);
    if (sn->n && !(sn->data = malloc(sn->n * sizeof(float)))) {
        size_t mib = (sn->n * sizeof(float)) >> 20;
        free(sn);
        return arwkv_set_error("state snapshot: out of memory for %zu MiB", mib);
    }
    save_ctx ctx = {s, sn->data};
    for_each_block(c, sn->pos, save_block, &ctx);
    *out = sn;
    return 0;
}

int arwkv_state_restore(arwkv_state *s, const arwkv_snapshot *snap) {
    const arwkv_config *c = state_config(s);
    if (!same_shape(&snap->cfg, c)) return shape_error("state restore: the snapshot", &snap->cfg, c);
    if (check_room("state restore", s, snap->pos)) return -1;
    load_ctx ctx = {s, snap->data};
    for_each_block(c, snap->pos, load_block, &ctx);
    state_set_pos(s, snap->pos);
    return 0;
}

void arwkv_snapshot_free(arwkv_snapshot *snap) {
    if (!snap) return;
    free(snap->data);
    free(snap);
}

size_t arwkv_snapshot_bytes(const arwkv_snapshot *snap) { return snap->n * sizeof(float); }

int32_t arwkv_snapshot_pos(const arwkv_snapshot *snap) { return snap->pos; }

// ---- rewind ----------------------------------------------------------------------------------------

int arwkv_state_rewind(arwkv_state *s, int32_t pos) {
    int32_t cur = arwkv_state_pos(s);
    if (pos < 0 || pos > cur) return arwkv_set_error("state rewind: position %d is outside [0, %d]", pos, cur);
    if (state_config(s)->arch == ARWKV_ARCH_QWEN2 || pos == cur) {
        state_set_pos(s, pos);
    } else if (pos == 0) {
        arwkv_state_reset(s);
    } else {
        return arwkv_set_error("state rewind: a student's RNN state cannot go back from %d to %d tokens "
                               "(restore a snapshot instead)", cur, pos);
    }
    return 0;
}
