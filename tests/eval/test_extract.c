// GSM8K filters, exact_match normalisation and stop strings against Python's re / numpy running
// the harness's rules (RegexFilter.apply and exact_match_hf_evaluate of lm_eval v0.4.7).
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "test_util.h"

static void check_str(const char *got, const char *want, const char *what, const char *input) {
    int ok = got && !strcmp(got, want);
    CHECK(ok, "%s of [%s]: got [%s], want [%s]", what, input, got ? got : "(null)", want);
}

static void test_filters(void) {
    // response, strict-match, flexible-extract
    static const char *const cases[][3] = {
        {"The answer is #### 42", "42", "42"},
        {"Each costs $1,000. So #### 1,000.", "1,000.", "1,000."},
        {"It dropped to -7 degrees.", "[invalid]", "-7"},
        {"No numbers here.", "[invalid]", "[invalid]"},
        {"#### 5 and then #### 6", "5", "6"},
        {"Total: $18.\n", "[invalid]", "$18."},
        {"The result is 3.5, not 4", "[invalid]", "4"},
        {"####  12", "[invalid]", "12"},
        {"1,2,3", "[invalid]", "1,2,3"},
        {"answer: -0.5.", "[invalid]", "-0.5."},
        {"$ 5", "[invalid]", "5"},
        {"..", "[invalid]", ".."},
        {"-", "[invalid]", "[invalid]"},
        {"#### -3.", "-3.", "-3."},
        {"We get 7\n#### 7\n\n", "7", "7"},
        {"x = --5", "[invalid]", "-5"},
        {"", "[invalid]", "[invalid]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = NULL, *f = NULL;
        CHECK(eval_gsm8k_strict(cases[i][0], &s) == 0, "strict rc");
        CHECK(eval_gsm8k_flexible(cases[i][0], &f) == 0, "flexible rc");
        check_str(s, cases[i][1], "strict-match", cases[i][0]);
        check_str(f, cases[i][2], "flexible-extract", cases[i][0]);
        free(s);
        free(f);
    }
}

static void test_normalize(void) {
    static const char *const cases[][2] = {
        {"#### 1,000", "1000"},
        {"a #### 1 #### 2", "2"},            // through the last "#### "
        {"line1\nline2\n#### 7", "7"},       // (?s): across newlines
        {"ABC", "abc"},
        {"5.\n", "5\n"},                     // '$' also matches before a final newline
        {"5..", "5."},
        {"$1,234.50", "1234.50"},
        {"[invalid]", "[invalid]"},
        {"1.5.", "1.5"},
        {"\xc3\x89", "\xc3\xa9"},            // lower-casing is Unicode-aware
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *n = NULL;
        CHECK(eval_gsm8k_normalize(cases[i][0], &n) == 0, "normalize rc");
        check_str(n, cases[i][1], "normalize", cases[i][0]);
        free(n);
    }
    const char *ref = "250*4=<<250*4=1000>>1000 rolls.\n#### 1,000";
    CHECK(eval_gsm8k_exact_match("1,000.", ref) == 1, "1,000. matches #### 1,000");
    CHECK(eval_gsm8k_exact_match("$1000", ref) == 1, "$1000 matches");
    CHECK(eval_gsm8k_exact_match("1000.0", ref) == 0, "1000.0 does not");
    CHECK(eval_gsm8k_exact_match("[invalid]", ref) == 0, "[invalid] does not");
    CHECK(eval_gsm8k_exact_match("-7", "5-12=<<5-12=-7>>-7\n#### -7") == 1, "negative answer");
    CHECK(eval_gsm8k_exact_match("7", "5-12=<<5-12=-7>>-7\n#### -7") == 0, "sign matters");
}

static void test_stops(void) {
    const char *until[] = {"Question:", "</s>", "", "<|im_end|>", "<|endoftext|>"};
    char a[] = "42.\n\nQuestion: next one</s>";
    eval_cut_at_stops(a, until, 5);
    CHECK(!strcmp(a, "42.\n\n"), "cut at Question: -> [%s]", a);
    char b[] = "x</s>y Question: z";
    eval_cut_at_stops(b, until, 5);
    CHECK(!strcmp(b, "x"), "cut at the earliest stop -> [%s]", b);
    char c[] = "no stop here";
    eval_cut_at_stops(c, until, 5);
    CHECK(!strcmp(c, "no stop here"), "unchanged");
    char d[] = "<|endoftext|>junk";
    eval_cut_at_stops(d, until, 5);
    CHECK(!strcmp(d, ""), "stop at the start leaves nothing");
}

int main(void) {
    test_filters();
    test_normalize();
    test_stops();
    return test_summary();
}
