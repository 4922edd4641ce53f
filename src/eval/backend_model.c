// The eval_backend of an arwkv model: log-likelihoods with shared-prefix reuse, greedy generation.
#include <math.h>
#include <stdlib.h>

#include "eval/eval_model.h"
#include "eval/eval_text.h"

enum { MAX_SNAPS = 16 };   // saved states along the current context; bounds the student's copies

typedef struct {
    int32_t pos;
    arwkv_snapshot *state;   // student only: the teacher's cache is rewound instead
    float *logits;           // V: the logits predicting the token at pos
} snapshot;

typedef struct {
    const arwkv_model *m;
    const arwkv_tokenizer *tok;
    eval_model_opts opts;
    arwkv_state *s;
    int32_t cap;               // tokens the state can hold (teacher KV cache); 0 before allocation
    int32_t V, teacher;
    float *last;               // V: logits predicting the token at the live state's position
    float *rows;               // (BLOCK, V): logits of one continuation piece
    snapshot snaps[MAX_SNAPS]; // positions ascending, all prefixes of path
    int nsnaps;
    int32_t *path;             // the context the snapshots were taken along
    size_t npath, path_cap;
    struct sort_item *items;
    size_t items_cap;
    int32_t prefix;            // the prefix token of an empty context
    int32_t stop[3];           // token ids that end a generation
    int nstop;
    char *eos_text;
    eval_model_stats stats;
} model_backend;

struct sort_item {
    const eval_ll_request *r;
    size_t idx;
};

// ---- state management ----------------------------------------------------------------------------

// A teacher cache holds `need` tokens afterwards. A larger cache takes over the cached rows, so
// the saved positions stay valid.
static int ensure_state(model_backend *mb, size_t need) {
    if (mb->s && (!mb->teacher || need <= (size_t)mb->cap)) return 0;
    if (need > (size_t)INT32_MAX / 2) return arwkv_set_error("eval: a sequence of %zu tokens is too long", need);
    int32_t cap = 2048;
    while ((size_t)cap < need) cap *= 2;
    if (mb->teacher && cap > mb->opts.max_length + 1 && need <= (size_t)mb->opts.max_length + 1) cap = mb->opts.max_length + 1;
    arwkv_state *s;
    if (arwkv_state_init(&s, mb->m, mb->teacher ? cap : 1)) return -1;
    if (mb->s && arwkv_state_copy(s, mb->s)) {
        arwkv_state_free(s);
        return -1;
    }
    arwkv_state_free(mb->s);
    mb->s = s;
    mb->cap = cap;
    return 0;
}

static int snapshot_push(model_backend *mb) {
    if (mb->nsnaps == MAX_SNAPS) mb->nsnaps--;   // keep the deepest: the next request starts there
    snapshot *sn = &mb->snaps[mb->nsnaps];
    if (!sn->logits && !(sn->logits = malloc((size_t)mb->V * sizeof(float))))
        return arwkv_set_error("eval: out of memory for a saved state");
    arwkv_snapshot_free(sn->state);
    sn->state = NULL;
    if (!mb->teacher && arwkv_state_snapshot(mb->s, &sn->state)) return -1;
    sn->pos = arwkv_state_pos(mb->s);
    memcpy(sn->logits, mb->last, (size_t)mb->V * sizeof(float));
    mb->nsnaps++;
    return 0;
}

// the teacher's cache below pos still holds this prefix (later tokens only wrote past it), so it
// is rewound; the student's state is restored
static int snapshot_restore(model_backend *mb, const snapshot *sn) {
    if (mb->teacher ? arwkv_state_rewind(mb->s, sn->pos) : arwkv_state_restore(mb->s, sn->state)) return -1;
    memcpy(mb->last, sn->logits, (size_t)mb->V * sizeof(float));
    return 0;
}

static int set_path(model_backend *mb, const int32_t *ids, size_t n) {
    if (n > mb->path_cap) {
        int32_t *p = realloc(mb->path, n * sizeof *p);
        if (!p) return arwkv_set_error("eval: out of memory for a %zu-token context", n);
        mb->path = p;
        mb->path_cap = n;
    }
    memcpy(mb->path, ids, n * sizeof *ids);
    mb->npath = n;
    return 0;
}

static size_t common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    size_t i = 0, n = na < nb ? na : nb;
    while (i < n && a[i] == b[i]) i++;
    return i;
}

// ---- log-likelihood --------------------------------------------------------------------------------

// adds log-softmax(x)[tok] (in double) to *ll; clears *greedy unless tok is the first maximum
static void score_row(const float *x, int32_t V, int32_t tok, double *ll, int32_t *greedy) {
    int32_t am = 0;
    for (int32_t i = 1; i < V; i++)
        if (x[i] > x[am]) am = i;
    double mx = x[am], sum = 0.0;
    for (int32_t i = 0; i < V; i++) sum += exp((double)x[i] - mx);
    *ll += (double)x[tok] - mx - log(sum);
    if (am != tok) *greedy = 0;
}

static int check_ids(const int32_t *ids, size_t n, int32_t V, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return arwkv_set_error("eval: %s token %zu is id %d, outside the model's vocabulary (%d)", what, i, ids[i], V);
    return 0;
}

// Whether a state saved at pos serves a request with nctx context tokens: only at the positions
// where that request's own pieces end, so that restoring it changes no number.
static int canonical(size_t pos, size_t nctx) { return pos % EVAL_MODEL_BLOCK == 0 || pos == nctx; }

// Scores r. next / next_nctx: the common prefix with the next request's context and its length,
// which decide the states worth saving; has_next 0 (the last of a call) saves every block.
static int score_one(model_backend *mb, const eval_ll_request *r, int has_next, size_t next_lcp, size_t next_nctx,
                     eval_ll_result *out) {
    const arwkv_model *m = mb->m;
    size_t nctx = r->nctx, ncont = r->ncont, V = (size_t)mb->V;
    if (!nctx || !ncont) return arwkv_set_error("eval: a request needs context and continuation tokens");
    if (check_ids(r->ctx, nctx, mb->V, "context") || check_ids(r->cont, ncont, mb->V, "continuation")) return -1;
    if (ensure_state(mb, nctx + ncont - 1)) return -1;
    size_t lcp = common_prefix(mb->path, mb->npath, r->ctx, nctx);
    if (mb->opts.no_reuse) mb->nsnaps = 0;
    while (mb->nsnaps && ((size_t)mb->snaps[mb->nsnaps - 1].pos > lcp || !canonical(mb->snaps[mb->nsnaps - 1].pos, nctx)))
        mb->nsnaps--;
    size_t p = 0;
    if (mb->nsnaps) {
        if (snapshot_restore(mb, &mb->snaps[mb->nsnaps - 1])) return -1;
        p = (size_t)arwkv_state_pos(mb->s);
    } else {
        arwkv_state_reset(mb->s);
    }
    mb->stats.tokens_reused += (int64_t)p;
    if (set_path(mb, r->ctx, nctx)) return -1;
    while (p < nctx) {
        size_t q = (p / EVAL_MODEL_BLOCK + 1) * EVAL_MODEL_BLOCK;
        if (q > nctx) q = nctx;
        if (arwkv_forward(m, mb->s, r->ctx + p, (int32_t)(q - p), mb->last, 0)) return -1;
        mb->stats.tokens_fed += (int64_t)(q - p);
        p = q;
        int wanted = !has_next || (q <= next_lcp && canonical(q, next_nctx));
        if (!mb->opts.no_reuse && wanted && snapshot_push(mb)) return -1;
    }
    double ll = 0.0;
    int32_t greedy = 1;
    score_row(mb->last, mb->V, r->cont[0], &ll, &greedy);
    // the continuation but its last token, in pieces counted from the end of the context
    for (size_t c0 = 0; c0 + 1 < ncont; c0 += EVAL_MODEL_BLOCK) {
        size_t nrow = ncont - 1 - c0 < EVAL_MODEL_BLOCK ? ncont - 1 - c0 : EVAL_MODEL_BLOCK;
        if (arwkv_forward(m, mb->s, r->cont + c0, (int32_t)nrow, mb->rows, 1)) return -1;
        // rows on all threads (a row of a large vocabulary costs as much as its lm_head product);
        // summed in order afterwards, so the result does not depend on the thread count
        double lls[EVAL_MODEL_BLOCK];
        int32_t grs[EVAL_MODEL_BLOCK];
        #pragma omp parallel for schedule(static) if (nrow > 1 && V >= 4096)
        for (size_t j = 0; j < nrow; j++) {
            lls[j] = 0.0;
            grs[j] = 1;
            score_row(mb->rows + j * V, mb->V, r->cont[c0 + j + 1], &lls[j], &grs[j]);
        }
        for (size_t j = 0; j < nrow; j++) {
            ll += lls[j];
            greedy &= grs[j];
        }
        mb->stats.tokens_fed += (int64_t)nrow;
    }
    out->ll = ll;
    out->is_greedy = greedy;
    mb->stats.requests++;
    return 0;
}

static int cmp_item(const void *a, const void *b) {
    const struct sort_item *x = a, *y = b;
    size_t n = x->r->nctx < y->r->nctx ? x->r->nctx : y->r->nctx;
    for (size_t i = 0; i < n; i++)
        if (x->r->ctx[i] != y->r->ctx[i]) return x->r->ctx[i] < y->r->ctx[i] ? -1 : 1;
    if (x->r->nctx != y->r->nctx) return x->r->nctx < y->r->nctx ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

// Contexts in sorted order: requests sharing a prefix come together, so one saved state per
// depth of the current context serves all of them.
static int backend_loglikelihood(void *ctx, const eval_ll_request *reqs, size_t n, eval_ll_result *out) {
    model_backend *mb = ctx;
    if (n > mb->items_cap) {
        struct sort_item *it = realloc(mb->items, n * sizeof *it);
        if (!it) return arwkv_set_error("eval: out of memory sorting %zu requests", n);
        mb->items = it;
        mb->items_cap = n;
    }
    for (size_t i = 0; i < n; i++) mb->items[i] = (struct sort_item){&reqs[i], i};
    qsort(mb->items, n, sizeof *mb->items, cmp_item);
    for (size_t i = 0; i < n; i++) {
        const eval_ll_request *r = mb->items[i].r, *nx = i + 1 < n ? mb->items[i + 1].r : NULL;
        size_t lcp = nx ? common_prefix(r->ctx, r->nctx, nx->ctx, nx->nctx) : 0;
        if (score_one(mb, r, nx != NULL, lcp, nx ? nx->nctx : 0, &out[mb->items[i].idx]))
            return arwkv_wrap_error("request %zu (%zu + %zu tokens)", mb->items[i].idx, r->nctx, r->ncont);
    }
    return 0;
}

// ---- encode and generate ---------------------------------------------------------------------------

static int backend_encode(void *ctx, const char *text, size_t len, int32_t **ids, size_t *n) {
    model_backend *mb = ctx;
    if (!mb->tok) return arwkv_set_error("eval: this backend has no tokenizer");
    return arwkv_tokenize(mb->tok, text, len, ids, n, 1);
}

static int32_t argmax_row(const float *x, int32_t V) {
    int32_t am = 0;
    for (int32_t i = 1; i < V; i++)
        if (x[i] > x[am]) am = i;
    return am;
}

// whether a stop string ends within the bytes appended after `from`
static int hit_stop(const eval_buf *out, size_t from, const char *const *until, size_t nuntil) {
    for (size_t j = 0; j < nuntil; j++) {
        size_t ul = strlen(until[j]);
        if (!ul || ul > out->len) continue;
        size_t start = from + 1 >= ul ? from + 1 - ul : 0;
        if (strstr(out->p + start, until[j])) return 1;
    }
    return 0;
}

static int backend_generate(void *ctx, const int32_t *ids, size_t n, int32_t max_tokens, const char *const *until,
                            size_t nuntil, char **text) {
    model_backend *mb = ctx;
    *text = NULL;
    if (!mb->tok) return arwkv_set_error("eval: generation needs a tokenizer");
    if (n == 0) {   // an empty prompt conditions on the prefix token, as a request would
        ids = &mb->prefix;
        n = 1;
    }
    if (check_ids(ids, n, mb->V, "prompt")) return -1;
    if (ensure_state(mb, n + (size_t)(max_tokens > 0 ? max_tokens : 0))) return -1;
    mb->nsnaps = 0;   // the cache is about to be overwritten from position 0
    mb->npath = 0;
    arwkv_state_reset(mb->s);
    if (arwkv_forward(mb->m, mb->s, ids, (int32_t)n, mb->last, 0)) return -1;
    arwkv_token_stream *ts = NULL;
    if (arwkv_token_stream_init(&ts, mb->tok, 1)) return -1;
    eval_buf out = {0};
    const char *piece;
    size_t len;
    int rc = eval_buf_puts(&out, "");
    for (int32_t i = 0; i < max_tokens && !rc; i++) {
        int32_t t = argmax_row(mb->last, mb->V), stop = 0;
        for (int k = 0; k < mb->nstop; k++) stop |= t == mb->stop[k];
        if (stop) break;
        mb->stats.generated++;
        size_t before = out.len;
        rc = arwkv_token_stream_push(ts, t, &piece, &len) || eval_buf_append(&out, piece, len);
        if (rc || hit_stop(&out, before, until, nuntil)) break;
        if (i + 1 < max_tokens) rc = arwkv_forward(mb->m, mb->s, &t, 1, mb->last, 0);
    }
    if (!rc) rc = arwkv_token_stream_flush(ts, &piece, &len) || eval_buf_append(&out, piece, len);
    arwkv_token_stream_free(ts);
    if (rc) {
        eval_buf_free(&out);
        return -1;
    }
    *text = eval_buf_take(&out);
    return *text ? 0 : -1;
}

// ---- construction ------------------------------------------------------------------------------------

static void add_stop(model_backend *mb, int32_t id) {
    if (id < 0 || id >= mb->V) return;
    for (int k = 0; k < mb->nstop; k++)
        if (mb->stop[k] == id) return;
    mb->stop[mb->nstop++] = id;
}

int eval_model_backend_init(eval_backend *b, const arwkv_model *m, const arwkv_tokenizer *tok,
                            const eval_model_opts *o) {
    memset(b, 0, sizeof *b);
    const arwkv_config *c = arwkv_model_config(m);
    model_backend *mb = calloc(1, sizeof *mb);
    if (!mb) return arwkv_set_error("eval: out of memory");
    mb->m = m;
    mb->tok = tok;
    if (o) mb->opts = *o;
    if (mb->opts.max_length <= 0) mb->opts.max_length = c->max_pos > 0 ? c->max_pos : 2048;
    mb->V = c->n_vocab;
    mb->teacher = c->arch == ARWKV_ARCH_QWEN2;
    mb->last = malloc((size_t)mb->V * sizeof(float));
    mb->rows = malloc((size_t)EVAL_MODEL_BLOCK * mb->V * sizeof(float));
    if (!mb->last || !mb->rows) {
        eval_backend tmp = {.ctx = mb};
        eval_model_backend_free(&tmp);
        return arwkv_set_error("eval: out of memory for %d x %d logits", EVAL_MODEL_BLOCK, mb->V);
    }
    // the harness's prefix token is the tokenizer's BOS, else its EOS (Qwen2.5 has no BOS)
    arwkv_special_tokens spt = tok ? arwkv_tokenizer_special(tok) : (arwkv_special_tokens){0};
    const arwkv_special_tokens *sp = tok ? &spt : NULL;
    int32_t eos = sp && sp->eos >= 0 ? sp->eos : c->eos_id;
    int32_t prefix = sp ? (sp->bos >= 0 ? sp->bos : sp->eos) : (c->bos_id >= 0 ? c->bos_id : c->eos_id);
    if (prefix < 0) prefix = eos >= 0 ? eos : 0;
    mb->prefix = prefix;
    add_stop(mb, eos);
    add_stop(mb, c->eos_id);
    if (sp) add_stop(mb, sp->endoftext);
    if (tok && eos >= 0) {
        size_t len;
        if (arwkv_detokenize(tok, &eos, 1, 0, &mb->eos_text, &len)) mb->eos_text = NULL;
    }
    *b = (eval_backend){
        .ctx = mb,
        .encode = backend_encode,
        .loglikelihood = backend_loglikelihood,
        .generate = backend_generate,
        .prefix_token = prefix,
        .max_length = mb->opts.max_length,
        .eos_text = mb->eos_text,
    };
    return 0;
}

void eval_model_backend_free(eval_backend *b) {
    model_backend *mb = b->ctx;
    if (!mb) return;
    for (int i = 0; i < MAX_SNAPS; i++) {
        arwkv_snapshot_free(mb->snaps[i].state);
        free(mb->snaps[i].logits);
    }
    arwkv_state_free(mb->s);
    free(mb->last);
    free(mb->rows);
    free(mb->path);
    free(mb->items);
    free(mb->eos_text);
    free(mb);
    memset(b, 0, sizeof *b);
}

const eval_model_stats *eval_model_backend_stats(const eval_backend *b) {
    return &((const model_backend *)b->ctx)->stats;
}
