// Aggregation as lm_eval/api/metrics.py computes it (plain left-to-right sums, Bessel-corrected
// stderr, the seeded bootstrap, pooled group stderr) and the results table / JSON.
#include <math.h>
#include <stdlib.h>

#include "eval/eval.h"
#include "eval/eval_text.h"

double eval_mean(const double *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    return n ? s / (double)n : NAN;
}

double eval_sample_stddev(const double *x, size_t n) {
    if (n < 2) return NAN;
    double mu = eval_mean(x, n), s = 0;
    for (size_t i = 0; i < n; i++) s += (x[i] - mu) * (x[i] - mu);
    return sqrt(s / (double)(n - 1));
}

double eval_mean_stderr(const double *x, size_t n) {
    return n < 2 ? NAN : eval_sample_stddev(x, n) / sqrt((double)n);
}

double eval_perplexity(const double *lls, size_t n) { return exp(-eval_mean(lls, n)); }

static double weighted_mean(const double *ll, const int64_t *w, size_t n) {
    double a = 0, b = 0;
    for (size_t i = 0; i < n; i++) {
        a += ll[i];
        b += (double)w[i];
    }
    return a / b;
}

double eval_word_perplexity(const double *ll, const int64_t *words, size_t n) { return exp(-weighted_mean(ll, words, n)); }
double eval_byte_perplexity(const double *ll, const int64_t *bytes, size_t n) { return exp(-weighted_mean(ll, bytes, n)); }
double eval_bits_per_byte(const double *ll, const int64_t *bytes, size_t n) { return -weighted_mean(ll, bytes, n) / log(2.0); }

int64_t eval_count_words(const char *s) {
    size_t n = strlen(s), i = 0;
    int64_t pieces = 1;
    int in_space = 0;
    while (i < n) {
        int sp = eval_py_isspace(eval_utf8_next(s, n, &i));
        if (sp && !in_space) pieces++;
        in_space = sp;
    }
    return pieces;
}

int64_t eval_count_bytes(const char *s) { return (int64_t)strlen(s); }

int eval_bootstrap_stderr(double (*f)(const double *, size_t), const double *xs, size_t n,
                          int64_t iters, double *out) {
    *out = NAN;
    if (iters <= 0 || n == 0) return 0;
    int64_t chunk = iters < 1000 ? iters : 1000, nchunks = iters / chunk, total = nchunks * chunk;
    double *res = malloc((size_t)total * sizeof *res);
    if (!res) return arwkv_set_error("bootstrap: out of memory for %lld resamples of %zu", (long long)total, n);
    int failed = 0;
    // chunk i: random.Random(i), then `chunk` times choices(xs, k=n) = xs[floor(random() * n)]
    #pragma omp parallel for schedule(dynamic, 1)
    for (int64_t c = 0; c < nchunks; c++) {
        double *d = malloc(n * sizeof *d);
        if (!d) {
            #pragma omp atomic write
            failed = 1;
            continue;
        }
        pyrandom rng;
        pyrandom_seed(&rng, (uint32_t)c);
        const double dn = (double)n;
        for (int64_t r = 0; r < chunk; r++) {
            for (size_t i = 0; i < n; i++) d[i] = xs[(size_t)(pyrandom_random(&rng) * dn)];   // floor: the product is >= 0
            res[c * chunk + r] = f(d, n);
        }
        free(d);
    }
    if (!failed) *out = eval_sample_stddev(res, (size_t)total);
    free(res);
    return failed ? arwkv_set_error("bootstrap: out of memory for a resample of %zu", n) : 0;
}

double eval_weighted_mean(const double *values, const int64_t *sizes, size_t n) {
    double a = 0, b = 0;
    for (size_t i = 0; i < n; i++) {
        a += values[i] * (double)sizes[i];
        b += (double)sizes[i];
    }
    return a / b;
}

double eval_pooled_stderr(const double *stderrs, const int64_t *sizes, size_t n) {
    double num = 0;
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        // a one-document subtask has no stderr and adds no within-task variance
        if (sizes[i] > 1) num += (double)(sizes[i] - 1) * stderrs[i] * stderrs[i] * (double)sizes[i];
        total += sizes[i];
    }
    if (total <= (int64_t)n) return NAN;
    return sqrt(num / (double)(total - (int64_t)n) / (double)total);
}

// ---- results ---------------------------------------------------------------------------------

int eval_results_add(eval_results *rs, const char *task, const char *metric, const char *filter,
                     double value, double stderr, int64_t n, int32_t num_fewshot) {
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 16;
        eval_result *p = realloc(rs->items, cap * sizeof *p);
        if (!p) return arwkv_set_error("results: out of memory");
        rs->items = p;
        rs->cap = cap;
    }
    eval_result *r = &rs->items[rs->n];
    *r = (eval_result){.value = value, .stderr = stderr, .n = n, .num_fewshot = num_fewshot};
    r->task = eval_strdup(task);
    r->metric = eval_strdup(metric);
    r->filter = eval_strdup(filter ? filter : "none");
    if (!r->task || !r->metric || !r->filter) {
        free(r->task);
        free(r->metric);
        free(r->filter);
        return -1;
    }
    rs->n++;
    return 0;
}

void eval_results_free(eval_results *rs) {
    for (size_t i = 0; i < rs->n; i++) {
        free(rs->items[i].task);
        free(rs->items[i].metric);
        free(rs->items[i].filter);
    }
    free(rs->items);
    memset(rs, 0, sizeof *rs);
}

static int same_row(const eval_result *a, const eval_result *b) {
    return !strcmp(a->task, b->task) && !strcmp(a->metric, b->metric) && !strcmp(a->filter, b->filter);
}

static const eval_result *find_row(const eval_results *rs, const eval_result *key) {
    for (size_t i = 0; i < rs->n; i++)
        if (same_row(&rs->items[i], key)) return &rs->items[i];
    return NULL;
}

char *eval_results_markdown(const eval_results *models, const char *const *names, size_t nmodels) {
    eval_buf s = {0};
    int rc = eval_buf_puts(&s, "| Task | Filter | n-shot | Metric |");
    for (size_t m = 0; m < nmodels; m++) rc |= eval_buf_printf(&s, " %s |", names[m]);
    rc |= eval_buf_puts(&s, "\n|---|---|---:|---|");
    for (size_t m = 0; m < nmodels; m++) rc |= eval_buf_puts(&s, "---:|");
    rc |= eval_buf_puts(&s, "\n");
    // rows in first-seen order over all models
    for (size_t m = 0; m < nmodels && !rc; m++) {
        for (size_t i = 0; i < models[m].n && !rc; i++) {
            const eval_result *row = &models[m].items[i];
            int seen = 0;
            for (size_t p = 0; p < m && !seen; p++) seen = find_row(&models[p], row) != NULL;
            for (size_t j = 0; j < i && !seen; j++) seen = same_row(&models[m].items[j], row);
            if (seen) continue;
            rc |= eval_buf_printf(&s, "| %s | %s | %d | %s |", row->task, row->filter, row->num_fewshot, row->metric);
            for (size_t c = 0; c < nmodels; c++) {
                const eval_result *v = find_row(&models[c], row);
                if (!v) rc |= eval_buf_puts(&s, " - |");
                else if (isnan(v->stderr)) rc |= eval_buf_printf(&s, " %.4f ± N/A |", v->value);
                else rc |= eval_buf_printf(&s, " %.4f ± %.4f |", v->value, v->stderr);
            }
            rc |= eval_buf_puts(&s, "\n");
        }
    }
    if (rc) return eval_buf_free(&s), NULL;
    return eval_buf_take(&s);
}

// json_real refuses NaN and infinities: those become null
static json_t *num_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *one_model_json(const eval_results *rs) {
    json_t *root = json_object(), *results = json_object(), *nshot = json_object(), *nsamples = json_object();
    // set_new hands each object to root (or frees it when root is missing)
    if (json_object_set_new(root, "results", results) | json_object_set_new(root, "n-shot", nshot) |
        json_object_set_new(root, "n-samples", nsamples))
        goto fail;
    for (size_t i = 0; i < rs->n; i++) {
        const eval_result *r = &rs->items[i];
        json_t *t = json_object_get(results, r->task);
        if (!t) {
            t = json_object();
            if (json_object_set_new(results, r->task, t) ||
                json_object_set_new(t, "alias", json_string(r->task)) ||
                json_object_set_new(nshot, r->task, json_integer(r->num_fewshot)) ||
                json_object_set_new(nsamples, r->task, json_pack("{s:I,s:I}", "original", (json_int_t)r->n,
                                                                 "effective", (json_int_t)r->n)))
                goto fail;
        }
        char key[256], skey[256];
        snprintf(key, sizeof key, "%s,%s", r->metric, r->filter);
        snprintf(skey, sizeof skey, "%s_stderr,%s", r->metric, r->filter);
        if (json_object_set_new(t, key, num_or_null(r->value)) ||
            json_object_set_new(t, skey, isnan(r->stderr) ? json_string("N/A") : num_or_null(r->stderr)))
            goto fail;
    }
    return root;
fail:
    json_decref(root);
    arwkv_set_error("results JSON: out of memory");
    return NULL;
}

json_t *eval_results_json(const eval_results *models, const char *const *names, size_t nmodels) {
    if (nmodels == 1) return one_model_json(&models[0]);
    json_t *root = json_object();
    if (!root) return arwkv_set_error("results JSON: out of memory"), NULL;
    for (size_t m = 0; m < nmodels; m++) {
        json_t *o = one_model_json(&models[m]);
        if (!o || json_object_set_new(root, names[m], o)) {
            json_decref(root);
            return NULL;
        }
    }
    return root;
}
