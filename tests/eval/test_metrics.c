// Metrics against lm_eval v0.4.7 api/metrics.py run under CPython 3.11 (mean, mean_stderr,
// perplexity, weighted_mean, pooled_sample_stderr, _bootstrap_internal with 2000 and 300 resamples)
// and against hand-computed values; then the Markdown and JSON results layout.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "test_util.h"

static void close_to(double got, double want, double tol, const char *what) {
    double e = fabs(got - want) / fmax(fabs(want), 1e-300);
    CHECK(e <= tol, "%s: got %.17g want %.17g (rel err %.3g)", what, got, want, e);
}

static void test_basic(void) {
    const double acc[10] = {1, 0, 1, 1, 0, 1, 1, 1, 0, 1};
    close_to(eval_mean(acc, 10), 0.7, 0, "mean");
    // by hand: sum (x - 0.7)^2 = 7 * 0.09 + 3 * 0.49 = 2.1; sqrt(2.1 / 9) / sqrt(10)
    close_to(eval_mean_stderr(acc, 10), sqrt(2.1 / 9.0) / sqrt(10.0), 1e-15, "stderr by hand");
    close_to(eval_mean_stderr(acc, 10), 0.15275252316519466, 1e-15, "stderr vs harness");
    CHECK(isnan(eval_mean_stderr(acc, 1)), "one sample has no stderr");

    const double xs[7] = {-1.5, -0.25, -3.0, -0.75, -2.0, -0.1, -4.5};
    close_to(eval_perplexity(xs, 7), exp(12.1 / 7.0), 1e-15, "perplexity by hand");
    close_to(eval_perplexity(xs, 7), 5.63260158444571, 1e-15, "perplexity vs harness");

    const double ll[3] = {-10.0, -20.5, -3.25};
    const int64_t words[3] = {4, 9, 2}, bytes[3] = {20, 41, 9};
    close_to(eval_word_perplexity(ll, words, 3), exp(33.75 / 15.0), 1e-15, "word perplexity by hand");
    close_to(eval_word_perplexity(ll, words, 3), 9.487735836358526, 1e-15, "word perplexity vs harness");
    close_to(eval_byte_perplexity(ll, bytes, 3), 1.619541131795612, 1e-15, "byte perplexity");
    close_to(eval_bits_per_byte(ll, bytes, 3), 33.75 / 70.0 / log(2.0), 1e-15, "bits per byte by hand");
    close_to(eval_bits_per_byte(ll, bytes, 3), 0.695585109000036, 1e-15, "bits per byte vs harness");

    const double se[3] = {0.1, 0.05, 0.2};
    const int64_t sizes[3] = {10, 40, 5};
    close_to(eval_pooled_stderr(se, sizes, 3), 0.044249767886870975, 1e-15, "pooled stderr");
    const double m[3] = {0.5, 0.25, 1.0};
    close_to(eval_weighted_mean(m, sizes, 3), (5.0 + 10.0 + 5.0) / 55.0, 1e-15, "weighted mean");
}

static void test_counts(void) {
    // len(re.split(r"\s+", s)) in Python
    static const struct {
        const char *s;
        int64_t n;
    } w[] = {{"a b  c", 3}, {" lead", 2}, {"trail ", 2}, {"", 1}, {"one", 1},
             {"x\xc2\xa0y\xe3\x80\x80z\n", 4}, {"\t\n", 2}};
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        CHECK(eval_count_words(w[i].s) == w[i].n, "words in [%s]: %lld, want %lld", w[i].s,
              (long long)eval_count_words(w[i].s), (long long)w[i].n);
    CHECK(eval_count_bytes("h\xc3\xa9") == 3, "bytes are UTF-8 bytes");
}

static void test_bootstrap(void) {
    const double xs[7] = {-1.5, -0.25, -3.0, -0.75, -2.0, -0.1, -4.5};
    double se = 0;
    CHECK(eval_bootstrap_stderr(eval_perplexity, xs, 7, 2000, &se) == 0, "bootstrap");
    close_to(se, 4.465113974166564, 1e-12, "bootstrap 2 chunks of 1000");
    CHECK(eval_bootstrap_stderr(eval_perplexity, xs, 7, 300, &se) == 0, "bootstrap 300");
    close_to(se, 4.791145149444854, 1e-12, "bootstrap 1 chunk of 300");
    CHECK(eval_bootstrap_stderr(eval_perplexity, xs, 7, 0, &se) == 0 && isnan(se), "no bootstrap");
}

static void test_tables(void) {
    eval_results a = {0}, b = {0};
    CHECK(eval_results_add(&a, "arc_easy", "acc", NULL, 0.75, 0.0125, 100, 0) == 0, "add");
    eval_results_add(&a, "arc_easy", "acc_norm", "none", 0.7, 0.013, 100, 0);
    eval_results_add(&a, "gsm8k", "exact_match", "strict-match", 0.25, NAN, 1, 5);
    eval_results_add(&b, "arc_easy", "acc", "none", 0.5, 0.02, 100, 0);
    eval_results_add(&b, "lambada_openai", "perplexity", "none", 12.34567, 0.5, 50, 0);
    eval_results models[2] = {a, b};
    const char *names[2] = {"teacher", "student"};
    char *md = eval_results_markdown(models, names, 2);
    const char *want =
        "| Task | Filter | n-shot | Metric | teacher | student |\n"
        "|---|---|---:|---|---:|---:|\n"
        "| arc_easy | none | 0 | acc | 0.7500 ± 0.0125 | 0.5000 ± 0.0200 |\n"
        "| arc_easy | none | 0 | acc_norm | 0.7000 ± 0.0130 | - |\n"
        "| gsm8k | strict-match | 5 | exact_match | 0.2500 ± N/A | - |\n"
        "| lambada_openai | none | 0 | perplexity | - | 12.3457 ± 0.5000 |\n";
    CHECK(md && !strcmp(md, want), "markdown:\n%s\nwant:\n%s", md ? md : "(null)", want);
    free(md);

    json_t *j = eval_results_json(&a, names, 1);
    json_t *arc = json_object_get(json_object_get(j, "results"), "arc_easy");
    CHECK(arc && json_real_value(json_object_get(arc, "acc,none")) == 0.75, "acc,none");
    CHECK(arc && json_real_value(json_object_get(arc, "acc_norm_stderr,none")) == 0.013, "acc_norm_stderr,none");
    CHECK(arc && !strcmp(json_string_value(json_object_get(arc, "alias")), "arc_easy"), "alias");
    json_t *g = json_object_get(json_object_get(j, "results"), "gsm8k");
    CHECK(g && !strcmp(json_string_value(json_object_get(g, "exact_match_stderr,strict-match")), "N/A"), "N/A stderr");
    CHECK(json_integer_value(json_object_get(json_object_get(j, "n-shot"), "gsm8k")) == 5, "n-shot");
    CHECK(json_integer_value(json_object_get(json_object_get(json_object_get(j, "n-samples"), "arc_easy"), "original")) == 100,
          "n-samples");
    json_decref(j);
    j = eval_results_json(models, names, 2);
    CHECK(json_object_get(json_object_get(json_object_get(j, "student"), "results"), "lambada_openai") != NULL,
          "two models are keyed by name");
    json_decref(j);
    eval_results_free(&a);
    eval_results_free(&b);
}

int main(void) {
    test_basic();
    test_counts();
    test_bootstrap();
    test_tables();
    return test_summary();
}
