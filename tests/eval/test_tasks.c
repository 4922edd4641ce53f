// Task readers, preprocessing and few-shot prompts against strings produced by the harness's own
// Python (lm_eval v0.4.7 hellaswag/utils.py, winogrande/preprocess_winogrande.py, the MMLU and
// LAMBADA templates, and random.Random(1234).sample for the default sampler).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "test_util.h"

#define DATA "tests/data/eval/"

static void check_str(const char *got, const char *want, const char *what) {
    int ok = got && !strcmp(got, want);
    CHECK(ok, "%s:\n  got  [%s]\n  want [%s]", what, got ? got : "(null)", want);
}

static eval_docs read_task(const char *task, const char *file, size_t want_n) {
    eval_docs d = {0};
    const eval_task *t = eval_task_find(task);
    CHECK(t != NULL, "task %s", task);
    int rc = t ? eval_docs_read(&d, t, file) : -1;
    CHECK(rc == 0, "reading %s: %s", file, arwkv_last_error());
    CHECK(d.n == want_n, "%s: %zu docs, want %zu", file, d.n, want_n);
    return d;
}

static void test_hellaswag(void) {
    eval_docs d = read_task("hellaswag", DATA "hellaswag.jsonl", 6);
    if (d.n != 6) return;
    static const char *const text[6] = {
        "Baking cookies: A man pours flour into a bowl. He",
        "Home and Garden: How to repot a fern. Choose a new pot. Pick a pot one size larger.",
        "Skateboarding: A girl stands on a skateboard at the top of a ramp. She pushes off and",
        "Washing dishes:  Plates are stacked in the sink. A woman",
        "Tuning a guitar: A musician holds a guitar [step\nnew line] on his knee. \xc3\x89ric turns",
        "Making tea: Water heats in a kettle. The kettle",
    };
    static const char *const ends1[4] = {" Water the fern the day before.. Loosen the roots.",
                                         "Throw the fern away and buy a cactus.", "Paint the pot red.",
                                         " Sing to the fern."};
    static const int gold[6] = {0, 0, 0, 1, 0, 1};
    for (int i = 0; i < 6; i++) {
        check_str(d.docs[i].text, text[i], "hellaswag query");
        CHECK(d.docs[i].gold == gold[i], "hellaswag %d gold %d", i, d.docs[i].gold);
        CHECK(d.docs[i].n_choices == 4, "hellaswag %d choices", i);
    }
    for (int j = 0; j < 4; j++) check_str(d.docs[1].choices[j], ends1[j], "hellaswag endings of doc 1");
    check_str(d.docs[0].choices[2], "paints the bowl blue.", "double space in an ending");
    check_str(d.docs[2].choices[3], "reads a [newspaper.", "unclosed bracket stays");
    check_str(d.docs[3].choices[3], "drops a plate the floor.", "bracket span removed");
    eval_docs_free(&d);

    static const char *const cases[][2] = {
        {"  a [b] c [d]]e [f\ng] h  ", "a c ]e [f\ng] h"},
        {"[title] x [title]y", " x. y"},
        {"a   b    c", "a  b  c"},
        {"[[x]] y", "] y"},
        {"tail [open", "tail [open"},
        {" \xc2\xa0x [title] z\xe2\x80\x83", "x. z"},   // NBSP and EM SPACE are Python whitespace
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = eval_hellaswag_preprocess(cases[i][0]);
        check_str(p, cases[i][1], "hellaswag preprocess");
        free(p);
    }
}

static void test_winogrande(void) {
    eval_docs d = read_task("winogrande", DATA "winogrande.jsonl", 6);
    if (d.n != 6) return;
    check_str(d.docs[0].choices[0], "The kettle boiled faster than the pot because the kettle", "wg ctx 0");
    check_str(d.docs[0].choices[1], "The kettle boiled faster than the pot because the pot", "wg ctx 1");
    check_str(d.docs[0].target, "held less water.", "wg continuation");
    check_str(d.docs[3].target, "had studied the openings.", "wg continuation stripped");
    static const int gold[6] = {0, 1, 0, 0, 1, 1};
    for (int i = 0; i < 6; i++) CHECK(d.docs[i].gold == gold[i], "wg %d gold", i);
    CHECK(d.docs[0].text == NULL, "multiple-input docs have no doc_to_text string");

    // shots show the gold context + " " + continuation; the evaluated doc adds nothing itself
    const eval_task *t = eval_task_find("winogrande");
    eval_fewshot fs;
    CHECK(eval_fewshot_init(&fs, t, d.docs, 6, 2, 0, EVAL_SAMPLER_FIRST_N, 1234) == 0, "fewshot init");
    char *ctx = NULL;
    CHECK(eval_fewshot_context(&fs, &d.docs[4], &ctx) == 0, "wg context");
    check_str(ctx,
              "The kettle boiled faster than the pot because the kettle held less water.\n\n"
              "Mira lent her umbrella to Jonas, since Jonas was going out into the storm.\n\n",
              "winogrande 2-shot context");
    free(ctx);
    eval_fewshot_free(&fs);
    eval_docs_free(&d);
}

static void test_mmlu(void) {
    eval_docs d = read_task("mmlu", DATA "mmlu.jsonl", 8);
    if (d.n != 8) return;
    const eval_task *t = eval_task_find("mmlu");
    check_str(d.docs[0].text,
              "Which river flows through the invented city of Vellmar?\nA. The Osk\nB. The Brine\nC. The Tallow\n"
              "D. The Fennick\nAnswer:",
              "mmlu doc_to_text (question stripped)");
    check_str(d.docs[7].text,
              "Un enzyme d\xc3\xa9natur\xc3\xa9 perd sa\xe2\x80\xa6\n(choose the best answer)\nA. forme\nB. masse\n"
              "C. charge nette\nD. couleur\nAnswer:",
              "mmlu doc_to_text with UTF-8");
    check_str(d.docs[0].choices[3], "D", "mmlu choices are letters");
    CHECK(d.docs[0].gold == 2 && d.docs[5].gold == 1, "mmlu gold");
    char *desc = eval_doc_description(t, &d.docs[3]);
    check_str(desc, "The following are multiple choice questions (with answers) about abstract algebra.\n\n", "description");
    free(desc);

    // first_n per subject from a pool that holds the evaluated docs: equal docs are dropped, so
    // doc 0 keeps one shot (doc 1) and doc 2 keeps both
    eval_fewshot fs;
    CHECK(eval_fewshot_init(&fs, t, d.docs, 8, 2, 0, t->sampler, 1234) == 0, "mmlu fewshot init");
    char *ctx = NULL;
    CHECK(eval_fewshot_context(&fs, &d.docs[0], &ctx) == 0, "mmlu ctx 0");
    const char *hdr = "The following are multiple choice questions (with answers) about high school geography.\n\n";
    char want[4096];
    snprintf(want, sizeof want, "%s%s A\n\n%s", hdr, d.docs[1].text, d.docs[0].text);
    check_str(ctx, want, "mmlu doc 0 context (itself dropped from the shots)");
    free(ctx);
    CHECK(eval_fewshot_context(&fs, &d.docs[2], &ctx) == 0, "mmlu ctx 2");
    snprintf(want, sizeof want, "%s%s C\n\n%s A\n\n%s", hdr, d.docs[0].text, d.docs[1].text, d.docs[2].text);
    check_str(ctx, want, "mmlu doc 2 context");
    free(ctx);
    CHECK(eval_fewshot_context(&fs, &d.docs[6], &ctx) == 0, "mmlu ctx 6");
    CHECK(ctx && !strncmp(ctx, "The following are multiple choice questions (with answers) about college biology.\n\n", 83),
          "biology description");
    CHECK(ctx && strstr(ctx, d.docs[7].text) && !strstr(ctx, d.docs[0].text), "biology shots from biology only");
    free(ctx);
    eval_fewshot_free(&fs);
    // a subject without shot documents
    CHECK(eval_fewshot_init(&fs, t, d.docs, 3, 1, 0, t->sampler, 1234) == 0, "pool of geography only");
    CHECK(eval_fewshot_context(&fs, &d.docs[4], &ctx) == -1 && strstr(arwkv_last_error(), "abstract_algebra"),
          "missing subject: %s", arwkv_last_error());
    eval_fewshot_free(&fs);
    eval_docs_free(&d);
}

static void test_arc_lambada(void) {
    eval_docs d = read_task("arc_easy", DATA "arc.jsonl", 6);
    if (d.n == 6) {
        check_str(d.docs[0].text, "Question: Which tool best measures the mass of a small stone?\nAnswer:", "arc text");
        static const int gold[6] = {1, 0, 1, 0, 0, 0};
        static const int nch[6] = {4, 3, 5, 4, 4, 4};
        for (int i = 0; i < 6; i++)
            CHECK(d.docs[i].gold == gold[i] && d.docs[i].n_choices == nch[i], "arc %d gold %d n %d", i,
                  d.docs[i].gold, d.docs[i].n_choices);
        check_str(d.docs[2].choices[1], "water", "arc numeric labels");
        check_str(d.docs[5].choices[3], "Gr\xc3\xb6\xc3\x9f" "e", "arc generic record");
    }
    eval_docs_free(&d);

    d = read_task("lambada_openai", DATA "lambada.jsonl", 5);
    if (d.n == 5) {
        check_str(d.docs[0].text, "She opened the old chest and found, wrapped in silk, her grandmother's silver", "lambada ctx");
        check_str(d.docs[0].target, " locket", "lambada target");
        check_str(d.docs[4].text, "", "lambada one-word ctx");
        check_str(d.docs[4].target, " nospace", "lambada one-word target");
    }
    eval_docs_free(&d);
}

static void test_gsm8k_shots(void) {
    eval_docs d = read_task("gsm8k", DATA "gsm8k.jsonl", 8);
    if (d.n != 8) return;
    const eval_task *t = eval_task_find("gsm8k");
    CHECK(t->num_fewshot == 5 && t->sampler == EVAL_SAMPLER_DEFAULT, "gsm8k defaults");
    check_str(d.docs[2].text, "Question: The temperature was 5 degrees and fell by 12 degrees. What is it now?\nAnswer:", "gsm8k text");
    check_str(d.docs[2].target, "5-12=<<5-12=-7>>-7\n#### -7", "gsm8k target is the full answer");

    // pool = the evaluated split: each doc draws sample(pool, 3), drops itself, keeps 2
    static const int shots_a[8][2] = {{7, 6}, {6, 4}, {0, 5}, {1, 0}, {3, 0}, {0, 2}, {7, 4}, {2, 0}};
    eval_fewshot fs;
    CHECK(eval_fewshot_init(&fs, t, d.docs, 8, 2, 1, EVAL_SAMPLER_DEFAULT, 1234) == 0, "init A");
    for (int i = 0; i < 8; i++) {
        char *ctx = NULL, want[8192];
        const eval_doc *a = &d.docs[shots_a[i][0]], *b = &d.docs[shots_a[i][1]];
        snprintf(want, sizeof want, "%s %s\n\n%s %s\n\n%s", a->text, a->target, b->text, b->target, d.docs[i].text);
        CHECK(eval_fewshot_context(&fs, &d.docs[i], &ctx) == 0, "ctx A %d", i);
        check_str(ctx, want, "gsm8k 2-shot context, pool is the evaluated split");
        free(ctx);
    }
    eval_fewshot_free(&fs);

    // pool from another split that happens to contain the doc: k = 3 draws, equal docs dropped
    static const int shots_b[3][3] = {{7, 6, -1}, {6, 4, -1}, {0, 5, 6}};
    CHECK(eval_fewshot_init(&fs, t, d.docs, 8, 3, 0, EVAL_SAMPLER_DEFAULT, 1234) == 0, "init B");
    for (int i = 0; i < 3; i++) {
        char *ctx = NULL;
        char want[8192] = "";
        for (int j = 0; j < 3 && shots_b[i][j] >= 0; j++) {
            const eval_doc *s = &d.docs[shots_b[i][j]];
            size_t l = strlen(want);
            snprintf(want + l, sizeof want - l, "%s %s\n\n", s->text, s->target);
        }
        strncat(want, d.docs[i].text, sizeof want - strlen(want) - 1);
        CHECK(eval_fewshot_context(&fs, &d.docs[i], &ctx) == 0, "ctx B %d", i);
        check_str(ctx, want, "gsm8k 3-shot context, doc dropped from its own shots");
        free(ctx);
    }
    eval_fewshot_free(&fs);
    CHECK(eval_fewshot_init(&fs, t, d.docs, 8, 8, 1, EVAL_SAMPLER_DEFAULT, 1234) == 0, "init C");
    char *ctx = NULL;
    CHECK(eval_fewshot_context(&fs, &d.docs[0], &ctx) == -1, "9 draws from 8 docs is an error");
    eval_fewshot_free(&fs);
    eval_docs_free(&d);
}

static void expect_doc_error(const char *task, const char *json, const char *needle) {
    json_error_t je;
    json_t *rec = json_loads(json, JSON_DECODE_ANY, &je);
    eval_doc d;
    int rc = eval_doc_from_json(&d, eval_task_find(task), rec, "x.jsonl:3");
    CHECK(rc == -1 && strstr(arwkv_last_error(), needle), "%s %s: rc %d, error '%s', want '%s'", task, json, rc,
          arwkv_last_error(), needle);
    if (rc == 0) eval_doc_free(&d);
    json_decref(rec);
}

static void test_errors(void) {
    CHECK(eval_task_find("nope") == NULL && strstr(arwkv_last_error(), "unknown task 'nope'"), "unknown task");
    expect_doc_error("winogrande", "{\"sentence\":\"no blank\",\"option1\":\"a\",\"option2\":\"b\",\"answer\":\"1\"}", "x.jsonl:3: field 'sentence' has no '_'");
    expect_doc_error("winogrande", "{\"sentence\":\"a _ b\",\"option1\":\"a\",\"option2\":\"b\",\"answer\":\"3\"}", "field 'answer'");
    expect_doc_error("mmlu", "{\"question\":\"q\",\"subject\":\"s\",\"choices\":[\"a\",\"b\",\"c\",\"d\"],\"answer\":4}", "out of range for 4 choices");
    expect_doc_error("mmlu", "{\"question\":\"q\",\"choices\":[\"a\",\"b\",\"c\",\"d\"],\"answer\":0}", "field 'subject' missing");
    expect_doc_error("mmlu", "{\"question\":\"q\",\"subject\":\"s\",\"choices\":[\"a\",\"b\",\"c\"],\"answer\":0}", "MMLU needs 4");
    expect_doc_error("arc_easy", "{\"question\":\"q\",\"choices\":{\"text\":[\"a\",\"b\"],\"label\":[\"A\",\"B\"]},\"answerKey\":\"E\"}", "names no choice");
    expect_doc_error("hellaswag", "{\"activity_label\":\"a\",\"ctx_a\":\"b\",\"ctx_b\":\"c\",\"endings\":[\"x\",1],\"label\":\"0\"}", "field 'endings'[1] must be a string");
    expect_doc_error("mc", "{\"choices\":[\"x\"],\"answer\":0}", "expected a \"question\" or \"context\" field");
    expect_doc_error("gsm8k", "[1,2]", "expected a JSON object");

    const char *path = "/tmp/arwkv_eval_bad.jsonl";
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("{\"question\": \"q\", \"answer\": \"#### 1\"}\n\n{\"question\": \"q\",\n", f);
        fclose(f);
    }
    eval_docs d = {0};
    CHECK(eval_docs_read(&d, eval_task_find("gsm8k"), path) == -1 && strstr(arwkv_last_error(), "arwkv_eval_bad.jsonl:3:"),
          "bad JSON line names the line: %s", arwkv_last_error());
    eval_docs_free(&d);
    remove(path);
}

int main(void) {
    test_hellaswag();
    test_winogrande();
    test_mmlu();
    test_arc_lambada();
    test_gsm8k_shots();
    test_errors();
    return test_summary();
}
