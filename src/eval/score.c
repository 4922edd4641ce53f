// The scoring driver: builds each task's requests, hands them to the backend in batches and turns
// the answers into per-document outcomes; eval_aggregate turns those into the reported metrics.
#include <math.h>
#include <stdlib.h>

#include "eval/eval.h"
#include "eval/eval_text.h"

void eval_opts_default(eval_opts *o) {
    *o = (eval_opts){
        .num_fewshot = -1,
        .fewshot_seed = 1234,
        .sampler = EVAL_SAMPLER_DEFAULT,
        .batch_size = 16,
        .order = EVAL_ORDER_DATASET,
        .chunk_docs = 256,
        .max_gen_toks = 256,
        .bootstrap_iters = 100000,
    };
}

int32_t eval_opts_shots(const eval_opts *o, const eval_task *t) {
    return o->num_fewshot >= 0 ? o->num_fewshot : t->num_fewshot;
}

// numpy.argmax: the first maximum, or the first NaN when there is one
static int32_t argmax(const double *v, int32_t n) {
    int32_t best = 0;
    if (isnan(v[0])) return 0;
    for (int32_t i = 1; i < n; i++) {
        if (isnan(v[i])) return i;
        if (v[i] > v[best]) best = i;
    }
    return best;
}

void eval_mc_score(const double *lls, const char *const *choices, int32_t n, int32_t gold, eval_doc_result *r) {
    double norm[EVAL_MAX_CHOICES];
    for (int32_t i = 0; i < n; i++) norm[i] = lls[i] / (double)eval_py_len(choices[i], strlen(choices[i]));
    r->pred = argmax(lls, n);
    r->pred_norm = argmax(norm, n);
    r->acc = r->pred == gold;
    r->acc_norm = r->pred_norm == gold;
}

void eval_doc_results_free(eval_doc_result *r, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(r[i].response);
        free(r[i].strict);
        free(r[i].flexible);
        r[i].response = r[i].strict = r[i].flexible = NULL;
    }
}

// ---- log-likelihood tasks --------------------------------------------------------------------

typedef struct {
    size_t len, idx;
} order_key;

static int cmp_longest(const void *a, const void *b) {
    const order_key *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

// Scores reqs[0..n) in the given order, batch_size at a time, answers landing in res by index.
static int score_requests(const eval_backend *b, const eval_ll_request *reqs, size_t n, const size_t *order,
                          int32_t batch_size, eval_ll_result *res) {
    size_t bs = batch_size > 0 ? (size_t)batch_size : 1;
    eval_ll_request *breq = malloc(bs * sizeof *breq);
    eval_ll_result *bres = malloc(bs * sizeof *bres);
    int rc = 0;
    if (!breq || !bres) rc = arwkv_set_error("scoring: out of memory for a batch of %zu", bs);
    for (size_t i = 0; i < n && !rc; i += bs) {
        size_t m = n - i < bs ? n - i : bs;
        for (size_t j = 0; j < m; j++) breq[j] = reqs[order ? order[i + j] : i + j];
        if (b->loglikelihood(b->ctx, breq, m, bres)) {
            rc = arwkv_wrap_error("log-likelihood of %zu requests", m);
            break;
        }
        for (size_t j = 0; j < m; j++) res[order ? order[i + j] : i + j] = bres[j];
    }
    free(breq);
    free(bres);
    return rc;
}

// Requests of one document: (context, continuation) strings for each choice, or the single target.
static int doc_pairs(const eval_backend *b, const eval_task *t, const eval_doc *d, const char *ctx, eval_ll_pair *pairs) {
    if (t->output == EVAL_OUT_LOGLIKELIHOOD) return eval_encode_pair(b, ctx, d->target, &pairs[0]);
    for (int32_t c = 0; c < d->n_choices; c++) {
        eval_buf cx = {0}, co = {0};
        int rc;
        if (t->multiple_input)   // the choice completes the context; the rest of the sentence is scored
            rc = eval_buf_puts(&cx, ctx) || eval_buf_puts(&cx, d->choices[c]) || eval_buf_printf(&co, " %s", d->target);
        else
            rc = eval_buf_puts(&cx, ctx) || eval_buf_printf(&co, " %s", d->choices[c]);
        if (!rc) rc = eval_encode_pair(b, cx.p, co.p, &pairs[c]);
        eval_buf_free(&cx);
        eval_buf_free(&co);
        if (rc) return -1;
    }
    return 0;
}

static int run_ll(const eval_backend *b, const eval_task *t, const eval_doc *docs, size_t nd,
                  eval_fewshot *fs, const eval_opts *o, eval_doc_result *out, progress *pg) {
    size_t chunk = o->chunk_docs ? o->chunk_docs : 256, cap = 0;
    eval_ll_pair *pairs = NULL;
    eval_ll_request *reqs = NULL;
    eval_ll_result *res = NULL;
    order_key *keys = NULL;
    size_t *order = NULL;
    int rc = 0;
    for (size_t d0 = 0; d0 < nd && !rc; d0 += chunk) {
        size_t d1 = d0 + chunk < nd ? d0 + chunk : nd, nreq = 0;
        for (size_t d = d0; d < d1; d++) nreq += t->output == EVAL_OUT_LOGLIKELIHOOD ? 1 : (size_t)docs[d].n_choices;
        if (nreq > cap) {
            cap = nreq;
            free(pairs), free(reqs), free(res), free(keys), free(order);
            pairs = calloc(cap, sizeof *pairs);
            reqs = calloc(cap, sizeof *reqs);
            res = calloc(cap, sizeof *res);
            keys = calloc(cap, sizeof *keys);
            order = calloc(cap, sizeof *order);
            if (!pairs || !reqs || !res || !keys || !order) {
                rc = arwkv_set_error("scoring: out of memory for %zu requests", cap);
                break;
            }
        }
        size_t r = 0;
        // contexts are built in dataset order: the default sampler's draws depend on it
        for (size_t d = d0; d < d1 && !rc; d++) {
            char *ctx = NULL;
            rc = eval_fewshot_context(fs, &docs[d], &ctx) || doc_pairs(b, t, &docs[d], ctx, &pairs[r]);
            free(ctx);
            size_t k = t->output == EVAL_OUT_LOGLIKELIHOOD ? 1 : (size_t)docs[d].n_choices;
            for (size_t j = 0; j < k && !rc; j++) rc = eval_ll_request_view(&pairs[r + j], b->max_length, &reqs[r + j]);
            if (rc) arwkv_wrap_error("%s doc %zu", t->name, d);
            r += k;
        }
        if (!rc) {
            for (size_t i = 0; i < nreq; i++) keys[i] = (order_key){pairs[i].nctx + pairs[i].ncont, i};
            if (o->order == EVAL_ORDER_LONGEST_FIRST) qsort(keys, nreq, sizeof *keys, cmp_longest);
            for (size_t i = 0; i < nreq; i++) order[i] = keys[i].idx;
            rc = score_requests(b, reqs, nreq, order, o->batch_size, res);
        }
        if (!rc) eval_collect_ll_results(t, docs, d0, d1, res, out);
        for (size_t i = 0; i < nreq; i++) eval_ll_pair_free(&pairs[i]);
        if (pg) progress_update(pg, (int64_t)d1, NULL);
    }
    free(pairs), free(reqs), free(res), free(keys), free(order);
    return rc;
}

void eval_collect_ll_results(const eval_task *t, const eval_doc *docs, size_t d0, size_t d1, const eval_ll_result *res,
                             eval_doc_result *out) {
    size_t r = 0;
    for (size_t d = d0; d < d1; d++) {
        eval_doc_result *dr = &out[d];
        size_t k = t->output == EVAL_OUT_LOGLIKELIHOOD ? 1 : (size_t)docs[d].n_choices;
        dr->n_lls = (int32_t)k;
        for (size_t j = 0; j < k; j++) {
            dr->ll[j] = res[r + j].ll;
            dr->is_greedy[j] = res[r + j].is_greedy;
        }
        if (t->output == EVAL_OUT_LOGLIKELIHOOD) dr->acc = dr->is_greedy[0] ? 1.0 : 0.0;
        else eval_mc_score(dr->ll, (const char *const *)docs[d].choices, docs[d].n_choices, docs[d].gold, dr);
        r += k;
    }
}

// ---- generation --------------------------------------------------------------------------------

static int run_generate(const eval_backend *b, const eval_task *t, const eval_doc *docs, size_t nd,
                        eval_fewshot *fs, const eval_opts *o, eval_doc_result *out, progress *pg) {
    if (!b->generate) return arwkv_set_error("task '%s' needs generation but the backend has none", t->name);
    int32_t max_ctx = b->max_length - o->max_gen_toks;
    if (max_ctx < 1)
        return arwkv_set_error("max_length %d leaves no room for a context before %d generated tokens", b->max_length, o->max_gen_toks);
    // the task's stop strings plus the EOS text, as handle_stop_sequences adds it
    const char *until[16];
    size_t nuntil = 0;
    for (size_t i = 0; t->until && t->until[i] && nuntil < 15; i++) until[nuntil++] = t->until[i];
    int have_eos = 0;
    for (size_t i = 0; i < nuntil && b->eos_text; i++) have_eos |= !strcmp(until[i], b->eos_text);
    if (b->eos_text && !have_eos) until[nuntil++] = b->eos_text;
    int rc = 0;
    for (size_t d = 0; d < nd && !rc; d++) {
        char *ctx = NULL, *text = NULL;
        int32_t *ids = NULL;
        size_t n = 0;
        rc = eval_fewshot_context(fs, &docs[d], &ctx);
        if (!rc && b->encode(b->ctx, ctx, strlen(ctx), &ids, &n)) rc = arwkv_wrap_error("encoding the prompt");
        if (!rc) {
            size_t keep = n < (size_t)max_ctx ? n : (size_t)max_ctx;   // left truncation
            if (b->generate(b->ctx, ids + (n - keep), keep, o->max_gen_toks, until, nuntil, &text))
                rc = arwkv_wrap_error("generation");
        }
        if (!rc) {
            eval_cut_at_stops(text, until, nuntil);
            eval_doc_result *r = &out[d];
            r->response = text;
            text = NULL;
            rc = eval_gsm8k_strict(r->response, &r->strict) || eval_gsm8k_flexible(r->response, &r->flexible);
            int a = rc ? -1 : eval_gsm8k_exact_match(r->strict, docs[d].target);
            int c = rc || a < 0 ? -1 : eval_gsm8k_exact_match(r->flexible, docs[d].target);
            if (a < 0 || c < 0) rc = -1;
            r->em_strict = a > 0;
            r->em_flexible = c > 0;
        }
        if (rc) arwkv_wrap_error("%s doc %zu", t->name, d);
        free(ctx);
        free(ids);
        free(text);
        if (pg) progress_update(pg, (int64_t)d + 1, NULL);
    }
    return rc;
}

// ---- perplexity ----------------------------------------------------------------------------------

int eval_rolling_loglikelihood(const eval_backend *b, const char *text, int32_t batch_size, double *ll) {
    *ll = 0;
    int32_t *ids = NULL;
    size_t n = 0, nw = 0;
    eval_window *w = NULL;
    if (b->encode(b->ctx, text, strlen(text), &ids, &n)) return arwkv_wrap_error("encoding a document");
    int rc = eval_rolling_windows(n, b->max_length, &w, &nw);
    eval_ll_request *reqs = rc ? NULL : calloc(nw ? nw : 1, sizeof *reqs);
    eval_ll_result *res = rc ? NULL : calloc(nw ? nw : 1, sizeof *res);
    if (!rc && (!reqs || !res)) rc = arwkv_set_error("perplexity: out of memory for %zu windows", nw);
    for (size_t i = 0; i < nw && !rc; i++) {
        reqs[i] = (eval_ll_request){.ctx = w[i].use_prefix ? &b->prefix_token : ids + w[i].ctx_start,
                                    .nctx = w[i].use_prefix ? 1 : w[i].nctx,
                                    .cont = ids + w[i].cont_start, .ncont = w[i].ncont};
    }
    if (!rc) rc = score_requests(b, reqs, nw, NULL, batch_size, res);
    for (size_t i = 0; i < nw && !rc; i++) *ll += res[i].ll;   // window order, as the harness sums
    free(reqs);
    free(res);
    free(w);
    free(ids);
    return rc;
}

static int run_rolling(const eval_backend *b, const eval_task *t, const eval_doc *docs, size_t nd,
                       const eval_opts *o, eval_doc_result *out, progress *pg) {
    for (size_t d = 0; d < nd; d++) {
        if (eval_rolling_loglikelihood(b, docs[d].target, o->batch_size, &out[d].ll[0]))
            return arwkv_wrap_error("%s doc %zu", t->name, d);
        out[d].n_lls = 1;
        out[d].words = eval_count_words(docs[d].target);
        out[d].bytes = eval_count_bytes(docs[d].target);
        if (pg) progress_update(pg, (int64_t)d + 1, NULL);
    }
    return 0;
}

int eval_run(const eval_backend *b, const eval_task *t, const eval_doc *docs, size_t ndocs,
             const eval_doc *pool, size_t npool, const eval_opts *o, eval_doc_result *out) {
    size_t nd = o->limit && o->limit < ndocs ? o->limit : ndocs;
    memset(out, 0, nd * sizeof *out);
    eval_fewshot fs;
    eval_sampler sampler = o->sampler_override ? o->sampler : t->sampler;
    if (eval_fewshot_init(&fs, t, pool, npool, eval_opts_shots(o, t), o->pool_is_eval_split, sampler, o->fewshot_seed))
        return -1;
    progress pg, *ppg = NULL;
    if (o->show_progress) {
        progress_init(&pg, t->name, "docs", (int64_t)nd);
        ppg = &pg;
    }
    int rc;
    switch (t->output) {
    case EVAL_OUT_GENERATE: rc = run_generate(b, t, docs, nd, &fs, o, out, ppg); break;
    case EVAL_OUT_ROLLING: rc = run_rolling(b, t, docs, nd, o, out, ppg); break;
    default: rc = run_ll(b, t, docs, nd, &fs, o, out, ppg); break;
    }
    if (ppg) progress_end(ppg);
    eval_fewshot_free(&fs);
    return rc ? -1 : 0;
}
