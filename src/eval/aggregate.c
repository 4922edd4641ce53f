// Per-document outcomes -> reported metrics, named as the harness names them.
#include <math.h>
#include <stdlib.h>

#include "eval/eval.h"
#include "eval/eval_text.h"

static int add_mean(eval_results *rs, const char *task, const char *metric, const char *filter,
                    const double *x, size_t n, int32_t k) {
    return eval_results_add(rs, task, metric, filter, eval_mean(x, n), eval_mean_stderr(x, n), (int64_t)n, k);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

// MMLU: one subtask per subject, category groups and the "mmlu" group, each group a size-weighted
// mean of its subjects with the pooled stderr (the group's leaf tasks, not nested groups).
static int aggregate_mmlu(const eval_doc *docs, const eval_doc_result *res, size_t n, int32_t k, eval_results *rs) {
    static const char *const cats[] = {"stem", "other", "social_sciences", "humanities"};
    const char **subj = malloc((n ? n : 1) * sizeof *subj);
    double *x = malloc((n ? n : 1) * sizeof *x), *mean = NULL, *se = NULL, *gm = NULL, *gs = NULL;
    int64_t *size = NULL, *gn = NULL;
    size_t ns = 0;
    int rc = 0;
    if (!subj || !x) goto oom;
    for (size_t i = 0; i < n; i++) {
        if (!docs[i].subject) {
            rc = arwkv_set_error("mmlu doc %zu has no subject", i);
            goto done;
        }
        subj[ns++] = docs[i].subject;
    }
    qsort(subj, ns, sizeof *subj, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < ns; i++)
        if (u == 0 || strcmp(subj[u - 1], subj[i])) subj[u++] = subj[i];
    ns = u;
    mean = calloc(ns + 1, sizeof *mean), se = calloc(ns + 1, sizeof *se), size = calloc(ns + 1, sizeof *size);
    gm = calloc(ns + 1, sizeof *gm), gs = calloc(ns + 1, sizeof *gs), gn = calloc(ns + 1, sizeof *gn);
    if (!mean || !se || !size || !gm || !gs || !gn) goto oom;
    for (size_t s = 0; s < ns; s++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (!strcmp(docs[i].subject, subj[s])) x[m++] = res[i].acc;
        mean[s] = eval_mean(x, m);
        se[s] = eval_mean_stderr(x, m);
        size[s] = (int64_t)m;
    }
    // leaf order of the harness's groups: categories in the mmlu group's order, subjects sorted
    size_t ng = 0;
    for (int pass = 0; pass < 5; pass++)
        for (size_t s = 0; s < ns; s++) {
            const char *c = eval_mmlu_category(subj[s]);
            if (pass < 4 ? (c && !strcmp(c, cats[pass])) : !c) {
                gm[ng] = mean[s];
                gs[ng] = se[s];
                gn[ng++] = size[s];
            }
        }
    int64_t total = 0;
    for (size_t i = 0; i < ng; i++) total += gn[i];
    rc = eval_results_add(rs, "mmlu", "acc", "none", eval_weighted_mean(gm, gn, ng), eval_pooled_stderr(gs, gn, ng), total, k);
    static const char *const shown[] = {"humanities", "other", "social_sciences", "stem"};
    for (int c = 0; c < 4 && !rc; c++) {
        ng = 0;
        total = 0;
        for (size_t s = 0; s < ns; s++) {
            const char *cat = eval_mmlu_category(subj[s]);
            if (cat && !strcmp(cat, shown[c])) {
                gm[ng] = mean[s];
                gs[ng] = se[s];
                gn[ng++] = size[s];
                total += size[s];
            }
        }
        if (ng == 0) continue;
        char name[64];
        snprintf(name, sizeof name, "mmlu_%s", shown[c]);
        rc = eval_results_add(rs, name, "acc", "none", eval_weighted_mean(gm, gn, ng), eval_pooled_stderr(gs, gn, ng), total, k);
    }
    for (size_t s = 0; s < ns && !rc; s++) {
        char name[256];
        snprintf(name, sizeof name, "mmlu_%s", subj[s]);
        rc = eval_results_add(rs, name, "acc", "none", mean[s], se[s], size[s], k);
    }
    goto done;
oom:
    rc = arwkv_set_error("mmlu aggregation: out of memory");
done:
    free(subj), free(x), free(mean), free(se), free(size), free(gm), free(gs), free(gn);
    return rc;
}

int eval_aggregate(const eval_task *t, const eval_doc *docs, const eval_doc_result *res, size_t n,
                   const eval_opts *o, eval_results *rs) {
    size_t nd = o->limit && o->limit < n ? o->limit : n;
    int32_t k = eval_opts_shots(o, t);
    if (nd == 0) return arwkv_set_error("task '%s': no documents to aggregate", t->name);
    if (t->per_subject) return aggregate_mmlu(docs, res, nd, k, rs);
    double *x = malloc(nd * sizeof *x);
    int64_t *w = malloc(nd * sizeof *w);
    if (!x || !w) {
        free(x);
        free(w);
        return arwkv_set_error("aggregation: out of memory for %zu docs", nd);
    }
    int rc = 0;
    switch (t->output) {
    case EVAL_OUT_MULTIPLE_CHOICE:
        for (size_t i = 0; i < nd; i++) x[i] = res[i].acc;
        rc = add_mean(rs, t->name, "acc", "none", x, nd, k);
        if (!rc && t->report_acc_norm) {
            for (size_t i = 0; i < nd; i++) x[i] = res[i].acc_norm;
            rc = add_mean(rs, t->name, "acc_norm", "none", x, nd, k);
        }
        break;
    case EVAL_OUT_LOGLIKELIHOOD: {
        double se = NAN;
        for (size_t i = 0; i < nd; i++) x[i] = res[i].ll[0];
        rc = eval_bootstrap_stderr(eval_perplexity, x, nd, o->bootstrap_iters, &se);
        if (!rc) rc = eval_results_add(rs, t->name, "perplexity", "none", eval_perplexity(x, nd), se, (int64_t)nd, k);
        for (size_t i = 0; i < nd; i++) x[i] = res[i].acc;
        if (!rc) rc = add_mean(rs, t->name, "acc", "none", x, nd, k);
        break;
    }
    case EVAL_OUT_GENERATE:
        for (size_t i = 0; i < nd; i++) x[i] = res[i].em_strict;
        rc = add_mean(rs, t->name, "exact_match", "strict-match", x, nd, k);
        for (size_t i = 0; i < nd; i++) x[i] = res[i].em_flexible;
        if (!rc) rc = add_mean(rs, t->name, "exact_match", "flexible-extract", x, nd, k);
        break;
    case EVAL_OUT_ROLLING:
        for (size_t i = 0; i < nd; i++) {
            x[i] = res[i].ll[0];
            w[i] = res[i].words;
        }
        rc = eval_results_add(rs, t->name, "word_perplexity", "none", eval_word_perplexity(x, w, nd), NAN, (int64_t)nd, k);
        for (size_t i = 0; i < nd; i++) w[i] = res[i].bytes;
        if (!rc) rc = eval_results_add(rs, t->name, "byte_perplexity", "none", eval_byte_perplexity(x, w, nd), NAN, (int64_t)nd, k);
        if (!rc) rc = eval_results_add(rs, t->name, "bits_per_byte", "none", eval_bits_per_byte(x, w, nd), NAN, (int64_t)nd, k);
        break;
    }
    free(x);
    free(w);
    return rc;
}
