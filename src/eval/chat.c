// Benchmark prompts through a chat template (the harness's --apply_chat_template).
#include <stdlib.h>

#include "eval/eval_model.h"
#include "eval/eval_text.h"

// messages: [system] [user] (each only when given), rendered with the generation prompt
static int render(const arwkv_tokenizer *tok, const char *system, const char *user, char **out) {
    arwkv_chat_msg msgs[2];
    int32_t n = 0;
    if (system) msgs[n++] = (arwkv_chat_msg){"system", system};
    if (user) msgs[n++] = (arwkv_chat_msg){"user", user};
    return arwkv_chat_render(tok, msgs, n, 1, out);
}

int eval_chat_prompt(const arwkv_tokenizer *tok, const char *system, const char *user, char **out) {
    return render(tok, system, user, out);
}

// The rendered context of one doc: the description as the system message, the rest of the plain
// context (shots, then the question unless the task has multiple inputs) as the user message.
static int chat_context(const arwkv_tokenizer *tok, eval_fewshot *fs, const eval_doc *d, char **out) {
    *out = NULL;
    char *plain = NULL, *desc = eval_doc_description(fs->task, d);
    int rc = !desc || eval_fewshot_context(fs, d, &plain);
    size_t dl = desc ? strlen(desc) : 0;
    if (!rc && strncmp(plain, desc, dl))
        rc = arwkv_set_error("task '%s': the context does not start with its description", fs->task->name);
    if (!rc) {
        const char *user = plain + dl;
        rc = render(tok, dl ? desc : NULL, user[0] || !fs->task->multiple_input ? user : NULL, out);
    }
    free(desc);
    free(plain);
    return rc ? -1 : 0;
}

// (context, continuation) of each request of a doc; multiple-input tasks render each partial
// context as a user turn after the shared context, continuations carry no delimiter
static int doc_pairs(const eval_backend *b, const arwkv_tokenizer *tok, const eval_task *t, const eval_doc *d,
                     const char *ctx, eval_ll_pair *pairs) {
    if (t->output == EVAL_OUT_LOGLIKELIHOOD) return eval_encode_pair(b, ctx, d->target, &pairs[0]);
    for (int32_t c = 0; c < d->n_choices; c++) {
        int rc;
        if (t->multiple_input) {
            char *turn = NULL;
            eval_buf cx = {0};
            rc = render(tok, NULL, d->choices[c], &turn) || eval_buf_puts(&cx, ctx) || eval_buf_puts(&cx, turn) ||
                 eval_encode_pair(b, cx.p, d->target, &pairs[c]);
            free(turn);
            eval_buf_free(&cx);
        } else {
            rc = eval_encode_pair(b, ctx, d->choices[c], &pairs[c]);
        }
        if (rc) return -1;
    }
    return 0;
}

static int run_ll(const eval_backend *b, const arwkv_tokenizer *tok, const eval_task *t, const eval_doc *docs,
                  size_t nd, eval_fewshot *fs, const eval_opts *o, eval_doc_result *out, progress *pg) {
    size_t chunk = o->chunk_docs ? o->chunk_docs : 256, bs = o->batch_size > 0 ? (size_t)o->batch_size : 1;
    int rc = 0;
    for (size_t d0 = 0; d0 < nd && !rc; d0 += chunk) {
        size_t d1 = d0 + chunk < nd ? d0 + chunk : nd, nreq = 0, r = 0;
        for (size_t d = d0; d < d1; d++) nreq += t->output == EVAL_OUT_LOGLIKELIHOOD ? 1 : (size_t)docs[d].n_choices;
        eval_ll_pair *pairs = calloc(nreq, sizeof *pairs);
        eval_ll_request *reqs = calloc(nreq, sizeof *reqs);
        eval_ll_result *res = calloc(nreq, sizeof *res);
        if (!pairs || !reqs || !res) rc = arwkv_set_error("chat scoring: out of memory for %zu requests", nreq);
        for (size_t d = d0; d < d1 && !rc; d++) {   // dataset order: the shot sampler draws in it
            char *ctx = NULL;
            size_t k = t->output == EVAL_OUT_LOGLIKELIHOOD ? 1 : (size_t)docs[d].n_choices;
            rc = chat_context(tok, fs, &docs[d], &ctx) || doc_pairs(b, tok, t, &docs[d], ctx, &pairs[r]);
            for (size_t j = 0; j < k && !rc; j++) rc = eval_ll_request_view(&pairs[r + j], b->max_length, &reqs[r + j]);
            if (rc) arwkv_wrap_error("%s doc %zu", t->name, d);
            free(ctx);
            r += k;
        }
        for (size_t i = 0; i < nreq && !rc; i += bs)
            if (b->loglikelihood(b->ctx, reqs + i, nreq - i < bs ? nreq - i : bs, res + i))
                rc = arwkv_wrap_error("log-likelihood of %zu requests", nreq - i < bs ? nreq - i : bs);
        if (!rc) eval_collect_ll_results(t, docs, d0, d1, res, out);
        for (size_t i = 0; i < nreq && pairs; i++) eval_ll_pair_free(&pairs[i]);
        free(pairs), free(reqs), free(res);
        if (pg) progress_update(pg, (int64_t)d1, NULL);
    }
    return rc;
}

static int run_generate(const eval_backend *b, const arwkv_tokenizer *tok, const eval_task *t, const eval_doc *docs,
                        size_t nd, eval_fewshot *fs, const eval_opts *o, eval_doc_result *out, progress *pg) {
    if (!b->generate) return arwkv_set_error("task '%s' needs generation but the backend has none", t->name);
    int32_t max_ctx = b->max_length - o->max_gen_toks;
    if (max_ctx < 1) return arwkv_set_error("max_length %d leaves no room for a prompt", b->max_length);
    const char *until[16];
    size_t nuntil = 0;
    int have_eos = 0;
    for (size_t i = 0; t->until && t->until[i] && nuntil < 15; i++) until[nuntil++] = t->until[i];
    for (size_t i = 0; i < nuntil && b->eos_text; i++) have_eos |= !strcmp(until[i], b->eos_text);
    if (b->eos_text && !have_eos) until[nuntil++] = b->eos_text;
    int rc = 0;
    for (size_t d = 0; d < nd && !rc; d++) {
        char *ctx = NULL, *text = NULL;
        int32_t *ids = NULL;
        size_t n = 0;
        eval_doc_result *r = &out[d];
        rc = chat_context(tok, fs, &docs[d], &ctx) || b->encode(b->ctx, ctx, strlen(ctx), &ids, &n);
        if (!rc) {
            size_t keep = n < (size_t)max_ctx ? n : (size_t)max_ctx;
            rc = b->generate(b->ctx, ids + (n - keep), keep, o->max_gen_toks, until, nuntil, &text);
        }
        if (!rc) {
            eval_cut_at_stops(text, until, nuntil);
            r->response = text;
            rc = eval_gsm8k_strict(text, &r->strict) || eval_gsm8k_flexible(text, &r->flexible);
        }
        int a = rc ? -1 : eval_gsm8k_exact_match(r->strict, docs[d].target);
        int c = a < 0 ? -1 : eval_gsm8k_exact_match(r->flexible, docs[d].target);
        if (a < 0 || c < 0) rc = arwkv_wrap_error("%s doc %zu", t->name, d);
        r->em_strict = a > 0;
        r->em_flexible = c > 0;
        free(ctx);
        free(ids);
        if (pg) progress_update(pg, (int64_t)d + 1, NULL);
    }
    return rc;
}

int eval_run_chat(const eval_backend *b, const arwkv_tokenizer *tok, const eval_task *t, const eval_doc *docs,
                  size_t ndocs, const eval_doc *pool, size_t npool, const eval_opts *o, eval_doc_result *out) {
    if (t->output == EVAL_OUT_ROLLING) return eval_run(b, t, docs, ndocs, pool, npool, o, out);
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
    int rc = t->output == EVAL_OUT_GENERATE ? run_generate(b, tok, t, docs, nd, &fs, o, out, ppg)
                                            : run_ll(b, tok, t, docs, nd, &fs, o, out, ppg);
    if (ppg) progress_end(ppg);
    eval_fewshot_free(&fs);
    return rc ? -1 : 0;
}
