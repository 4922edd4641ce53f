// The scoring driver over a fake backend whose answers are known by hand:
//   encode: one token per byte;
//   ll(ctx, cont) = -1.0 * ncont - 0.001 * nctx + (0.5 if the last cont byte is 'C');
//   is_greedy = ncont is even;
//   generate: a canned answer per GSM8K document.
// So a multiple-choice doc picks its shortest continuation (ties to the first; MMLU always " C")
// and acc_norm picks its longest. Expected accuracies were counted by hand and cross-checked with
// Python applying the same rule to the harness's own preprocessing.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "test_util.h"

#define DATA "tests/data/eval/"

typedef struct {
    size_t calls, requests, max_batch;
    size_t first_len[8];        // ctx + cont length of the first request of the first calls
    int fail;                   // make loglikelihood fail
    const eval_doc *docs;       // GSM8K docs, to find which one a prompt ends with
    size_t ndocs;
    const char *const *answers;
    size_t gen_calls, gen_last_n, gen_nuntil;
    int gen_until_has_eos;
} fake;

static int fake_encode(void *ctx, const char *text, size_t len, int32_t **ids, size_t *n) {
    *ids = malloc((len ? len : 1) * sizeof **ids);
    if (!*ids) return -1;
    for (size_t i = 0; i < len; i++) (*ids)[i] = (unsigned char)text[i];
    *n = len;
    return 0;
}

static int fake_ll(void *ctx, const eval_ll_request *reqs, size_t n, eval_ll_result *out) {
    fake *f = ctx;
    if (f->fail) return arwkv_set_error("fake backend failure");
    if (f->calls < 8) f->first_len[f->calls] = reqs[0].nctx + reqs[0].ncont;
    f->calls++;
    f->requests += n;
    if (n > f->max_batch) f->max_batch = n;
    for (size_t i = 0; i < n; i++) {
        const eval_ll_request *r = &reqs[i];
        out[i].ll = -1.0 * (double)r->ncont - 0.001 * (double)r->nctx + (r->cont[r->ncont - 1] == 'C' ? 0.5 : 0.0);
        out[i].is_greedy = r->ncont % 2 == 0;
    }
    return 0;
}

static int fake_generate(void *ctx, const int32_t *ids, size_t n, int32_t max_tokens, const char *const *until,
                         size_t nuntil, char **text) {
    fake *f = ctx;
    f->gen_calls++;
    f->gen_last_n = n;
    f->gen_nuntil = nuntil;
    f->gen_until_has_eos = nuntil > 0 && !strcmp(until[nuntil - 1], "<|endoftext|>");
    for (size_t d = 0; d < f->ndocs; d++) {
        const char *t = f->docs[d].text;
        size_t l = strlen(t), m = n < l ? n : l;
        int same = 1;
        for (size_t i = 0; i < m && same; i++) same = ids[n - m + i] == (unsigned char)t[l - m + i];
        if (same) {
            *text = strdup(f->answers[d]);
            return 0;
        }
    }
    return arwkv_set_error("fake generate: prompt matches no document");
}

static eval_backend make_backend(fake *f, int32_t max_length) {
    return (eval_backend){.ctx = f, .encode = fake_encode, .loglikelihood = fake_ll, .generate = fake_generate,
                          .prefix_token = 151643, .max_length = max_length, .eos_text = "<|endoftext|>"};
}

static void close_to(double got, double want, double tol, const char *what) {
    double e = fabs(got - want) / fmax(fabs(want), 1e-300);
    CHECK(e <= tol, "%s: got %.17g want %.17g", what, got, want);
}

// Runs a task file and returns its accuracies (and the results table rows).
static void run_task(const char *task, const char *file, size_t n, const eval_opts *o, double want_acc,
                     double want_norm, eval_doc_result **keep) {
    const eval_task *t = eval_task_find(task);
    eval_docs d = {0};
    CHECK(eval_docs_read(&d, t, file) == 0 && d.n == n, "%s: %s", file, arwkv_last_error());
    fake f = {0};
    eval_backend b = make_backend(&f, 2048);
    eval_doc_result *res = calloc(d.n, sizeof *res);
    CHECK(eval_run(&b, t, d.docs, d.n, d.docs, d.n, o, res) == 0, "%s run: %s", task, arwkv_last_error());
    double acc = 0, norm = 0;
    for (size_t i = 0; i < d.n; i++) {
        acc += res[i].acc;
        norm += res[i].acc_norm;
    }
    close_to(acc / (double)d.n, want_acc, 1e-15, task);
    if (want_norm >= 0) close_to(norm / (double)d.n, want_norm, 1e-15, task);
    if (keep) *keep = res;
    else free(res);
    eval_docs_free(&d);
}

static void test_multiple_choice(void) {
    eval_opts o;
    eval_opts_default(&o);
    run_task("arc_easy", DATA "arc.jsonl", 6, &o, 1.0 / 6, 2.0 / 6, NULL);   // docs 4 | 5, 6
    run_task("hellaswag", DATA "hellaswag.jsonl", 6, &o, 0.0, 5.0 / 6, NULL);
    run_task("winogrande", DATA "winogrande.jsonl", 6, &o, 2.0 / 6, -1, NULL);   // the shorter option wins
    run_task("mmlu", DATA "mmlu.jsonl", 8, &o, 4.0 / 8, -1, NULL);                  // always " C"
}

static void test_mc_score(void) {
    eval_doc_result r;
    // acc_norm divides by characters: "ééééé" is 10 bytes but 5 characters
    const char *ch[2] = {"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", "abcdefgh"};
    eval_mc_score((const double[]){-8.5, -9.0}, ch, 2, 1, &r);
    CHECK(r.pred == 0 && r.pred_norm == 1 && r.acc == 0 && r.acc_norm == 1, "chars, not bytes: pred %d norm %d", r.pred, r.pred_norm);
    const char *ab[3] = {"a", "b", "c"};
    eval_mc_score((const double[]){-1.0, -1.0, -2.0}, ab, 3, 1, &r);
    CHECK(r.pred == 0 && r.acc == 0, "ties go to the first");
    eval_mc_score((const double[]){-1.0, NAN, 0.0}, ab, 3, 1, &r);
    CHECK(r.pred == 1, "NaN wins like numpy.argmax");
}

static void test_aggregate_mmlu(void) {
    const eval_task *t = eval_task_find("mmlu");
    eval_docs d = {0};
    eval_docs_read(&d, t, DATA "mmlu.jsonl");
    fake f = {0};
    eval_backend b = make_backend(&f, 2048);
    eval_opts o;
    eval_opts_default(&o);
    o.num_fewshot = 1;   // first_n from the same file: prompts change, the choice of " C" does not
    eval_doc_result res[8];
    CHECK(eval_run(&b, t, d.docs, d.n, d.docs, d.n, &o, res) == 0, "mmlu 1-shot: %s", arwkv_last_error());
    eval_results rs = {0};
    CHECK(eval_aggregate(t, d.docs, res, d.n, &o, &rs) == 0, "aggregate");
    // by hand: geography [1,0,1], algebra [1,1,0], biology [0,0]; each 3-doc subject has
    // stderr sqrt(1/3)/sqrt(3) = 1/3; pooled over all: sqrt((2*3/9 + 2*3/9 + 0) / (8-3) / 8)
    static const struct {
        const char *task;
        double v, se;
        int64_t n;
    } want[] = {
        {"mmlu", 0.5, sqrt(1.0 / 30.0), 8},
        {"mmlu_social_sciences", 2.0 / 3, 1.0 / 3, 3},
        {"mmlu_stem", 2.0 / 5, sqrt(2.0 / 45.0), 5},
        {"mmlu_abstract_algebra", 2.0 / 3, 1.0 / 3, 3},
        {"mmlu_college_biology", 0.0, 0.0, 2},
        {"mmlu_high_school_geography", 2.0 / 3, 1.0 / 3, 3},
    };
    CHECK(rs.n == 6, "%zu rows", rs.n);
    for (size_t i = 0; i < 6 && i < rs.n; i++) {
        CHECK(!strcmp(rs.items[i].task, want[i].task), "row %zu is %s, want %s", i, rs.items[i].task, want[i].task);
        close_to(rs.items[i].value, want[i].v, 1e-15, want[i].task);
        if (want[i].se > 0) close_to(rs.items[i].stderr, want[i].se, 1e-14, want[i].task);
        else CHECK(rs.items[i].stderr == 0, "zero stderr");
        CHECK(rs.items[i].n == want[i].n && rs.items[i].num_fewshot == 1, "%s n %lld", want[i].task, (long long)rs.items[i].n);
    }
    eval_results_free(&rs);
    eval_docs_free(&d);
}

static void test_batching(void) {
    // the same scores whatever the batch size, request order or chunking
    static const char *const tasks[][2] = {{"hellaswag", DATA "hellaswag.jsonl"},
                                          {"winogrande", DATA "winogrande.jsonl"},
                                          {"arc_easy", DATA "arc.jsonl"},
                                          {"lambada_openai", DATA "lambada.jsonl"}};
    for (size_t k = 0; k < 4; k++) {
        const eval_task *t = eval_task_find(tasks[k][0]);
        eval_docs d = {0};
        eval_docs_read(&d, t, tasks[k][1]);
        eval_opts o1, o2;
        eval_opts_default(&o1);
        o1.num_fewshot = 2;   // default sampler over the same file: the RNG stream must not depend on chunking
        o1.pool_is_eval_split = 1;
        o1.batch_size = 1;
        o2 = o1;
        o2.batch_size = 5;
        o2.order = EVAL_ORDER_LONGEST_FIRST;
        o2.chunk_docs = 2;
        fake f1 = {0}, f2 = {0};
        eval_backend b1 = make_backend(&f1, 2048), b2 = make_backend(&f2, 2048);
        eval_doc_result *r1 = calloc(d.n, sizeof *r1), *r2 = calloc(d.n, sizeof *r2);
        CHECK(eval_run(&b1, t, d.docs, d.n, d.docs, d.n, &o1, r1) == 0, "one at a time: %s", arwkv_last_error());
        CHECK(eval_run(&b2, t, d.docs, d.n, d.docs, d.n, &o2, r2) == 0, "batched: %s", arwkv_last_error());
        int same = 1;
        for (size_t i = 0; i < d.n; i++) {
            same &= r1[i].n_lls == r2[i].n_lls && r1[i].acc == r2[i].acc && r1[i].acc_norm == r2[i].acc_norm;
            for (int32_t j = 0; j < r1[i].n_lls; j++)
                same &= r1[i].ll[j] == r2[i].ll[j] && r1[i].is_greedy[j] == r2[i].is_greedy[j];
        }
        CHECK(same, "%s: batched scores differ from one-at-a-time", tasks[k][0]);
        CHECK(f1.max_batch == 1 && f1.calls == f1.requests, "%s: one request per call", tasks[k][0]);
        CHECK(f2.requests == f1.requests && f2.calls < f1.calls, "%s: %zu calls batched vs %zu", tasks[k][0], f2.calls, f1.calls);
        // longest first inside a chunk: the first call starts with a request at least as long as any other in it
        CHECK(f2.first_len[0] >= f1.first_len[0], "%s: longest-first order", tasks[k][0]);
        free(r1);
        free(r2);
        eval_docs_free(&d);
    }
}

static void test_lambada(void) {
    const eval_task *t = eval_task_find("lambada_openai");
    eval_docs d = {0};
    eval_docs_read(&d, t, DATA "lambada.jsonl");
    fake f = {0};
    eval_backend b = make_backend(&f, 2048);
    eval_opts o;
    eval_opts_default(&o);
    o.bootstrap_iters = 1000;
    eval_doc_result res[5];
    CHECK(eval_run(&b, t, d.docs, d.n, NULL, 0, &o, res) == 0, "lambada: %s", arwkv_last_error());
    // " locket": 7 tokens after 77; the last doc has an empty context, so 1 prefix token
    static const double lls[5] = {-7.077, -7.051, -8.066, -5.048, -8.001};
    static const int greedy[5] = {0, 0, 1, 0, 1};
    for (int i = 0; i < 5; i++) {
        close_to(res[i].ll[0], lls[i], 1e-15, "lambada ll");
        CHECK(res[i].acc == greedy[i], "lambada %d acc = is_greedy", i);
    }
    eval_results rs = {0};
    CHECK(eval_aggregate(t, d.docs, res, d.n, &o, &rs) == 0 && rs.n == 2, "lambada aggregate");
    if (rs.n == 2) {
        CHECK(!strcmp(rs.items[0].metric, "perplexity") && !strcmp(rs.items[1].metric, "acc"), "lambada metrics");
        close_to(rs.items[0].value, 1151.2458698180033, 1e-13, "lambada perplexity (Python)");
        CHECK(rs.items[0].stderr > 0, "bootstrap stderr");
        close_to(rs.items[1].value, 0.4, 1e-15, "lambada acc");
    }
    eval_results_free(&rs);
    f.fail = 1;
    CHECK(eval_run(&b, t, d.docs, d.n, NULL, 0, &o, res) == -1 && strstr(arwkv_last_error(), "fake backend failure"),
          "backend errors propagate: %s", arwkv_last_error());
    eval_docs_free(&d);
}

static const char *const k_answers[8] = {
    " Tara has 3*4=12 pencils.\n#### 12\n\nQuestion: ignored",
    " 250*4=1000 rolls.\n#### 1,000.",
    " It is -7 degrees now.",
    " One ticket costs $6.<|endoftext|>Question",
    " 4 jars hold 6.0 liters.\n#### 6.0",
    " She reads 84 pages</s>",
    " Legs: 28 + 18 = 46. #### 46 and 2 more",
    " It goes 150 km.<|im_end|>#### 999",
};

static void test_gsm8k(void) {
    const eval_task *t = eval_task_find("gsm8k");
    eval_docs d = {0};
    eval_docs_read(&d, t, DATA "gsm8k.jsonl");
    fake f = {.docs = d.docs, .ndocs = d.n, .answers = k_answers};
    eval_backend b = make_backend(&f, 2048);
    eval_opts o;
    eval_opts_default(&o);
    o.num_fewshot = 2;
    o.pool_is_eval_split = 1;
    eval_doc_result res[8];
    CHECK(eval_run(&b, t, d.docs, d.n, d.docs, d.n, &o, res) == 0, "gsm8k: %s", arwkv_last_error());
    CHECK(f.gen_calls == 8 && f.gen_nuntil == 4 && f.gen_until_has_eos, "until = task stops + EOS text");
    static const int strict[8] = {1, 1, 0, 0, 0, 0, 1, 0}, flex[8] = {1, 1, 1, 1, 0, 1, 0, 1};
    for (int i = 0; i < 8; i++)
        CHECK(res[i].em_strict == strict[i] && res[i].em_flexible == flex[i], "gsm8k %d: strict %g (%s) flex %g (%s)", i,
              res[i].em_strict, res[i].strict, res[i].em_flexible, res[i].flexible);
    CHECK(!strcmp(res[0].response, " Tara has 3*4=12 pencils.\n#### 12\n\n"), "cut at Question:");
    CHECK(!strcmp(res[3].response, " One ticket costs $6."), "cut at the EOS text");
    eval_results rs = {0};
    CHECK(eval_aggregate(t, d.docs, res, d.n, &o, &rs) == 0 && rs.n == 2, "gsm8k aggregate");
    if (rs.n == 2) {
        CHECK(!strcmp(rs.items[0].filter, "strict-match") && !strcmp(rs.items[1].filter, "flexible-extract"), "filters");
        close_to(rs.items[0].value, 3.0 / 8, 1e-15, "strict-match");
        close_to(rs.items[1].value, 6.0 / 8, 1e-15, "flexible-extract");
    }
    eval_results_free(&rs);
    eval_doc_results_free(res, 8);

    // the prompt keeps its last max_length - max_gen_toks tokens
    b = make_backend(&f, 300);
    o.num_fewshot = 0;
    o.limit = 3;
    CHECK(eval_run(&b, t, d.docs, d.n, NULL, 0, &o, res) == 0, "gsm8k truncated: %s", arwkv_last_error());
    CHECK(f.gen_last_n == 44 && res[2].em_flexible == 1, "left-truncated prompt of %zu tokens", f.gen_last_n);
    eval_doc_results_free(res, 3);
    b = make_backend(&f, 256);
    CHECK(eval_run(&b, t, d.docs, d.n, NULL, 0, &o, res) == -1 && strstr(arwkv_last_error(), "no room"), "max_length <= 256");
    eval_docs_free(&d);
}

static void test_rolling(void) {
    const eval_task *t = eval_task_find("perplexity");
    json_t *rec = json_pack("{s:s}", "text", "abcdefghij");
    eval_doc doc;
    CHECK(eval_doc_from_json(&doc, t, rec, "mem") == 0, "perplexity doc");
    fake f = {0};
    eval_backend b = make_backend(&f, 4);
    eval_opts o;
    eval_opts_default(&o);
    eval_doc_result r;
    CHECK(eval_run(&b, t, &doc, 1, NULL, 0, &o, &r) == 0, "rolling: %s", arwkv_last_error());
    // windows (prefix | 4), (1 | 4), (3 | 2): -4.001 - 4.001 - 2.003
    close_to(r.ll[0], -10.005, 1e-15, "rolling ll");
    CHECK(r.words == 1 && r.bytes == 10 && f.calls == 1 && f.requests == 3, "counts");
    eval_results rs = {0};
    CHECK(eval_aggregate(t, &doc, &r, 1, &o, &rs) == 0 && rs.n == 3, "rolling aggregate");
    if (rs.n == 3) {
        close_to(rs.items[0].value, exp(10.005), 1e-15, "word_perplexity");
        close_to(rs.items[1].value, exp(1.0005), 1e-15, "byte_perplexity");
        close_to(rs.items[2].value, 1.0005 / log(2.0), 1e-15, "bits_per_byte");
    }
    eval_results_free(&rs);
    eval_doc_free(&doc);
    json_decref(rec);
}

int main(void) {
    test_mc_score();
    test_multiple_choice();
    test_aggregate_mmlu();
    test_batching();
    test_lambada();
    test_gsm8k();
    test_rolling();
    return test_summary();
}
