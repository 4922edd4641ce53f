// Token-level requests: how the harness turns (context, continuation) strings into the tokens a
// causal model scores, and how a long document is cut into perplexity windows.
#include <stdlib.h>

#include "eval/eval.h"
#include "eval/eval_text.h"

static int encode(const eval_backend *b, const char *text, size_t len, int32_t **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    if (b->encode(b->ctx, text, len, ids, n)) return arwkv_wrap_error("encoding %zu bytes", len);
    return 0;
}

int eval_encode_pair(const eval_backend *b, const char *ctx, const char *cont, eval_ll_pair *out) {
    memset(out, 0, sizeof *out);
    size_t lctx = strlen(ctx), lcont = strlen(cont);
    int32_t *cont_ids = NULL, *ctx_ids = NULL, *whole = NULL;
    size_t ncont = 0, nctx = 0, nwhole = 0;
    if (lctx == 0) {   // harness: [prefix_token] + tok(cont)
        if (encode(b, cont, lcont, &cont_ids, &ncont)) return -1;
        out->toks = malloc((1 + ncont) * sizeof *out->toks);
        if (!out->toks) {
            free(cont_ids);
            return arwkv_set_error("out of memory for a %zu-token request", 1 + ncont);
        }
        out->toks[0] = b->prefix_token;
        if (ncont) memcpy(out->toks + 1, cont_ids, ncont * sizeof *cont_ids);
        out->nctx = 1;
        out->ncont = ncont;
        free(cont_ids);
        return 0;
    }
    // trailing whitespace of the context starts the continuation instead
    size_t keep = eval_py_rstrip_len(ctx, lctx);
    char *joined = malloc(lctx + lcont + 1);
    if (!joined) return arwkv_set_error("out of memory joining a %zu-byte request", lctx + lcont);
    memcpy(joined, ctx, lctx);
    memcpy(joined + lctx, cont, lcont + 1);
    int rc = encode(b, joined, lctx + lcont, &whole, &nwhole);
    if (!rc) rc = encode(b, joined, keep, &ctx_ids, &nctx);
    free(joined);
    if (!rc && nctx > nwhole)
        rc = arwkv_set_error("context encodes to %zu tokens but context + continuation to only %zu", nctx, nwhole);
    if (!rc) {
        // cont = whole[len(tok(ctx)):], the context tokens being tok(ctx) itself
        out->toks = malloc((nwhole ? nwhole : 1) * sizeof *out->toks);
        if (!out->toks) {
            rc = arwkv_set_error("out of memory for a %zu-token request", nwhole);
        } else {
            if (nctx) memcpy(out->toks, ctx_ids, nctx * sizeof *ctx_ids);
            if (nwhole > nctx) memcpy(out->toks + nctx, whole + nctx, (nwhole - nctx) * sizeof *whole);
            out->nctx = nctx;
            out->ncont = nwhole - nctx;
        }
    }
    free(whole);
    free(ctx_ids);
    return rc;
}

void eval_ll_pair_free(eval_ll_pair *p) {
    free(p->toks);
    memset(p, 0, sizeof *p);
}

int eval_ll_request_view(const eval_ll_pair *p, int32_t max_length, eval_ll_request *req) {
    // the harness asserts these three
    if (p->nctx == 0) return arwkv_set_error("request context encodes to no tokens");
    if (p->ncont == 0) return arwkv_set_error("request continuation encodes to no tokens");
    if (max_length < 1 || p->ncont > (size_t)max_length)
        return arwkv_set_error("continuation of %zu tokens exceeds max_length %d", p->ncont, max_length);
    size_t total = p->nctx + p->ncont, keep = total < (size_t)max_length + 1 ? total : (size_t)max_length + 1;
    req->nctx = keep - p->ncont;
    req->ctx = p->toks + (total - keep);
    req->cont = p->toks + p->nctx;
    req->ncont = p->ncont;
    return 0;
}

int eval_rolling_windows(size_t ntok, int32_t max_length, eval_window **out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (max_length < 1) return arwkv_set_error("rolling windows: max_length %d must be >= 1", max_length);
    if (ntok == 0) return 0;
    size_t L = (size_t)max_length, count = 1 + (ntok > L ? (ntok - L + L - 1) / L : 0);
    eval_window *w = calloc(count, sizeof *w);
    if (!w) return arwkv_set_error("rolling windows: out of memory for %zu windows", count);
    // first window: the prefix token predicts up to L tokens
    size_t first = ntok < L ? ntok : L;
    w[0] = (eval_window){.cont_start = 0, .ncont = first, .use_prefix = 1};
    size_t done = first, i = 1;
    while (done < ntok) {
        // later windows predict up to L new tokens, each seeing the L inputs before it; only the
        // part of the input before the predicted span counts as context (a disjoint window)
        size_t np = ntok - done < L ? ntok - done : L, end = done + np;
        w[i++] = (eval_window){.ctx_start = end - L - 1, .nctx = L + 1 - np, .cont_start = done, .ncont = np};
        done = end;
    }
    *out = w;
    *n = i;
    return 0;
}
