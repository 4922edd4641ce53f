// The model backend of the evaluator on the tiny golden models (V = 97), checked against
//   (a) log-likelihoods computed here from arwkv_forward logits of each whole request, with the
//       log-softmax in double;
//   (b) the same requests scored one at a time, and in reverse order: bit-identical;
//   (c) a backend that never reuses a saved state: bit-identical, but more tokens run;
//   generation against a greedy loop written here; chat prompts and the retrieval runners through
//   a fake backend; kv_recall_make against strings produced by CPython's random.Random.
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval_model.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

#define GOLDEN "tests/data/golden/"

static uint64_t g_seed = 12345;

static int32_t rand_id(int32_t V) {
    g_seed = g_seed * 6364136223846793005ull + 1442695040888963407ull;
    return (int32_t)((g_seed >> 33) % (uint64_t)V);
}

// ---- requests over shared prefixes ----------------------------------------------------------------

enum { NREQ = 14 };

typedef struct {
    int32_t toks[NREQ][700];
    eval_ll_request reqs[NREQ];
} request_set;

// contexts sharing 200 tokens (two 128-blocks apart), identical contexts with several
// continuations, contexts of exactly 128 and 256 tokens, a continuation longer than a block
static void make_requests(request_set *rs, int32_t V) {
    int32_t shared[300], q1[40], q2[40];
    for (int i = 0; i < 300; i++) shared[i] = rand_id(V);
    for (int i = 0; i < 40; i++) q1[i] = rand_id(V), q2[i] = rand_id(V);
    struct { const int32_t *a; size_t na; const int32_t *b; size_t nb; size_t ncont; } spec[NREQ] = {
        {shared, 200, q1, 30, 1}, {shared, 200, q1, 30, 3}, {shared, 200, q1, 30, 2}, {shared, 200, q1, 30, 5},
        {shared, 200, q2, 37, 1}, {shared, 200, q2, 37, 4},
        {shared, 128, NULL, 0, 2}, {shared, 128, NULL, 0, 1}, {shared, 256, NULL, 0, 3}, {shared, 256, NULL, 0, 3},
        {q1, 11, NULL, 0, 1}, {q1, 11, NULL, 0, 150}, {shared, 1, NULL, 0, 6}, {shared, 129, NULL, 0, 1},
    };
    for (int r = 0; r < NREQ; r++) {
        int32_t *t = rs->toks[r];
        memcpy(t, spec[r].a, spec[r].na * sizeof *t);
        if (spec[r].nb) memcpy(t + spec[r].na, spec[r].b, spec[r].nb * sizeof *t);
        size_t nctx = spec[r].na + spec[r].nb;
        for (size_t j = 0; j < spec[r].ncont; j++) t[nctx + j] = rand_id(V);
        rs->reqs[r] = (eval_ll_request){t, nctx, t + nctx, spec[r].ncont};
    }
    rs->reqs[9].cont = rs->toks[8] + 256;   // two requests with the same context and continuation
}

// ll and greedy of one request from the logits of a single forward pass over all its inputs
static int reference(const arwkv_model *m, const eval_ll_request *r, double *ll, int32_t *greedy) {
    int32_t V = arwkv_model_config(m)->n_vocab, n = (int32_t)(r->nctx + r->ncont - 1);
    int32_t *in = malloc((size_t)n * sizeof *in);
    float *lg = malloc((size_t)n * V * sizeof *lg);
    memcpy(in, r->ctx, r->nctx * sizeof *in);
    memcpy(in + r->nctx, r->cont, (r->ncont - 1) * sizeof *in);
    arwkv_state *s;
    int rc = arwkv_state_init(&s, m, n) || arwkv_forward(m, s, in, n, lg, 1);
    *ll = 0;
    *greedy = 1;
    for (size_t j = 0; j < r->ncont && !rc; j++) {
        const float *row = lg + (r->nctx - 1 + j) * (size_t)V;
        double mx = -INFINITY, z = 0;
        int32_t am = 0;
        for (int32_t i = 0; i < V; i++) {
            if (row[i] > mx) mx = row[i], am = i;
        }
        for (int32_t i = 0; i < V; i++) z += exp((double)row[i] - mx);
        *ll += (double)row[r->cont[j]] - mx - log(z);
        if (am != r->cont[j]) *greedy = 0;
    }
    arwkv_state_free(s);
    free(in);
    free(lg);
    return rc;
}

static void check_model(const char *dir) {
    arwkv_model *m;
    if (arwkv_model_load(&m, dir, NULL)) {
        CHECK(0, "load %s: %s", dir, arwkv_last_error());
        return;
    }
    int32_t V = arwkv_model_config(m)->n_vocab;
    request_set *rs = calloc(1, sizeof *rs);
    make_requests(rs, V);
    eval_backend b, b1, b0;
    eval_model_opts no_reuse = {.no_reuse = 1};
    CHECK(!eval_model_backend_init(&b, m, NULL, NULL), "%s", arwkv_last_error());
    CHECK(!eval_model_backend_init(&b1, m, NULL, NULL), "%s", arwkv_last_error());
    CHECK(!eval_model_backend_init(&b0, m, NULL, &no_reuse), "%s", arwkv_last_error());
    CHECK(b.prefix_token == 95 && b.max_length == 4096, "%s: prefix %d max_length %d", dir, b.prefix_token, b.max_length);
    eval_ll_result all[NREQ], one[NREQ], rev[NREQ], none[NREQ];
    CHECK(!b.loglikelihood(b.ctx, rs->reqs, NREQ, all), "%s", arwkv_last_error());
    for (int r = 0; r < NREQ; r++) CHECK(!b1.loglikelihood(b1.ctx, &rs->reqs[r], 1, &one[r]), "%s", arwkv_last_error());
    eval_ll_request rreq[NREQ];
    for (int r = 0; r < NREQ; r++) rreq[r] = rs->reqs[NREQ - 1 - r];
    CHECK(!b1.loglikelihood(b1.ctx, rreq, NREQ, rev), "%s", arwkv_last_error());
    CHECK(!b0.loglikelihood(b0.ctx, rs->reqs, NREQ, none), "%s", arwkv_last_error());
    // (a) against the single-pass reference
    double worst = 0;
    int greedy_same = 1, any_greedy = 0;
    for (int r = 0; r < NREQ; r++) {
        double ll;
        int32_t g;
        CHECK(!reference(m, &rs->reqs[r], &ll, &g), "%s", arwkv_last_error());
        double e = fabs(all[r].ll - ll) / fmax(fabs(ll), 1e-12);
        if (e > worst) worst = e;
        greedy_same &= g == all[r].is_greedy;
        any_greedy |= g;
    }
    CHECK(worst < 2e-6, "%s: rel err of ll vs reference %.3g", dir, worst);
    CHECK(greedy_same, "%s: is_greedy differs from the reference", dir);
    printf("%s: ll vs single-pass reference: max rel err %.3g (greedy requests: %s)\n", dir, worst, any_greedy ? "some" : "none");
    // (b) and (c): bit-identical
    int same_one = 1, same_rev = 1, same_none = 1;
    for (int r = 0; r < NREQ; r++) {
        same_one &= one[r].ll == all[r].ll && one[r].is_greedy == all[r].is_greedy;
        same_rev &= rev[NREQ - 1 - r].ll == all[r].ll && rev[NREQ - 1 - r].is_greedy == all[r].is_greedy;
        same_none &= none[r].ll == all[r].ll && none[r].is_greedy == all[r].is_greedy;
    }
    CHECK(same_one, "%s: one-at-a-time scoring differs from the batch", dir);
    CHECK(same_rev, "%s: reversed batch differs", dir);
    CHECK(same_none, "%s: scoring without reuse differs", dir);
    CHECK(all[8].ll == all[9].ll, "%s: identical requests differ", dir);
    const eval_model_stats *sr = eval_model_backend_stats(&b), *s0 = eval_model_backend_stats(&b0);
    int64_t total = 0;
    for (int r = 0; r < NREQ; r++) total += (int64_t)(rs->reqs[r].nctx + rs->reqs[r].ncont - 1);
    CHECK(s0->tokens_fed == total && s0->tokens_reused == 0, "%s: no-reuse ran %lld of %lld tokens", dir,
          (long long)s0->tokens_fed, (long long)total);
    // counted by hand: each first request of the 200-token family restarts at block 128 (4 x 128),
    // shared[:128] and shared[:129] reuse 128 each, the rest of each group its whole context
    // (3 x 230 + 237 + 256 + 11)
    CHECK(sr->tokens_fed + sr->tokens_reused == total && sr->tokens_reused == 1834, "%s: reuse ran %lld, reused %lld of %lld",
          dir, (long long)sr->tokens_fed, (long long)sr->tokens_reused, (long long)total);
    printf("%s: tokens run %lld with reuse, %lld without\n", dir, (long long)sr->tokens_fed, (long long)s0->tokens_fed);
    // a teacher cache that grows keeps its rows: a long request still restarts from block 256
    int32_t *longer = malloc(2200 * sizeof *longer);
    memcpy(longer, rs->toks[8], 256 * sizeof *longer);
    for (int i = 256; i < 2200; i++) longer[i] = rand_id(V);
    eval_ll_request lr[2] = {{longer, 266, longer + 266, 2}, {rs->toks[8], 256, longer + 256, 1900}};
    eval_ll_result lo[2];
    CHECK(!b.loglikelihood(b.ctx, &lr[0], 1, &lo[0]), "%s", arwkv_last_error());
    int64_t before = sr->tokens_reused;
    CHECK(!b.loglikelihood(b.ctx, &lr[1], 1, &lo[1]), "%s", arwkv_last_error());
    CHECK(sr->tokens_reused - before == 256, "%s: the long request reused %lld", dir, (long long)(sr->tokens_reused - before));
    for (int i = 0; i < 2; i++) {
        double ll;
        int32_t g;
        CHECK(!reference(m, &lr[i], &ll, &g), "%s", arwkv_last_error());
        CHECK(fabs(lo[i].ll - ll) <= 2e-6 * fabs(ll) && g == lo[i].is_greedy, "%s: long request %d: ll %.9g want %.9g", dir, i,
              lo[i].ll, ll);
    }
    free(longer);
    // an id outside the vocabulary is an error naming the request, not a crash
    int32_t bad[2] = {3, V};
    eval_ll_request br = {bad, 1, bad + 1, 1};
    eval_ll_result bo;
    CHECK(b.loglikelihood(b.ctx, &br, 1, &bo) && strstr(arwkv_last_error(), "vocabulary"), "%s", arwkv_last_error());
    eval_model_backend_free(&b);
    eval_model_backend_free(&b1);
    eval_model_backend_free(&b0);
    free(rs);
    arwkv_model_free(m);
}

// ---- a tokenizer for the V = 97 models: ' ' and the 94 printable ASCII characters, two specials --

static tokenizer *tiny_tokenizer(void) {
    char *json = malloc(8192), *p = json;
    p += sprintf(p, "{\"version\":\"1.0\",\"added_tokens\":["
                    "{\"id\":95,\"content\":\"<|endoftext|>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true},"
                    "{\"id\":96,\"content\":\"<|im_end|>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}],"
                    "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true},"
                    "\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\"},"
                    "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"continuing_subword_prefix\":\"\","
                    "\"end_of_word_suffix\":\"\",\"fuse_unk\":false,\"byte_fallback\":false,\"vocab\":{\"\\u0120\":0");
    for (int c = 33; c < 127; c++) {
        if (c == '"' || c == '\\') p += sprintf(p, ",\"\\%c\":%d", c, c - 32);
        else p += sprintf(p, ",\"%c\":%d", c, c - 32);
    }
    p += sprintf(p, "},\"merges\":[]}}");
    const char cfg[] = "{\"eos_token\":\"<|endoftext|>\",\"bos_token\":null}";
    tokenizer *t = NULL;
    if (tokenizer_load_json(&t, json, strlen(json), cfg, strlen(cfg), "tiny97")) CHECK(0, "tiny tokenizer: %s", arwkv_last_error());
    free(json);
    return t;
}

// greedy generation against a loop over arwkv_forward written here
static void check_generate(const char *dir, tokenizer *tok) {
    arwkv_model *m;
    if (arwkv_model_load(&m, dir, NULL)) {
        CHECK(0, "load %s: %s", dir, arwkv_last_error());
        return;
    }
    eval_backend b;
    CHECK(!eval_model_backend_init(&b, m, tok, NULL), "%s", arwkv_last_error());
    CHECK(b.prefix_token == 95 && b.eos_text && !strcmp(b.eos_text, "<|endoftext|>"), "%s: prefix %d eos '%s'", dir,
          b.prefix_token, b.eos_text ? b.eos_text : "(null)");
    const char *prompt = "The pass key is 123. What is it?";
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(!b.encode(b.ctx, prompt, strlen(prompt), &ids, &n) && n == strlen(prompt), "encode: %zu ids", n);
    CHECK(n > 4 && ids[0] == 'T' - 32 && ids[3] == 0, "encode ids %d %d", n ? ids[0] : -1, n > 3 ? ids[3] : -1);
    // score a request first, so that generation starts from a used state
    eval_ll_request r = {ids, 5, ids + 5, 3};
    eval_ll_result lr;
    CHECK(!b.loglikelihood(b.ctx, &r, 1, &lr), "%s", arwkv_last_error());
    char *text = NULL;
    CHECK(!b.generate(b.ctx, ids, n, 12, NULL, 0, &text), "%s", arwkv_last_error());
    // reference: greedy ids, stopping at 95/96 (specials); decode = id + 32, 0 = ' '
    arwkv_state *s;
    float lg[97];
    char want[64] = {0};
    size_t w = 0;
    CHECK(!arwkv_state_init(&s, m, 256) && !arwkv_forward(m, s, ids, (int32_t)n, lg, 0), "%s", arwkv_last_error());
    for (int i = 0; i < 12; i++) {
        int32_t am = 0;
        for (int32_t v = 1; v < 97; v++)
            if (lg[v] > lg[am]) am = v;
        if (am == 95 || am == 96) break;   // the tokenizer's EOS and config.json's eos_token_id stop
        want[w++] = (char)(am ? am + 32 : ' ');
        if (arwkv_forward(m, s, &am, 1, lg, 0)) break;
    }
    CHECK(text && !strcmp(text, want), "%s: generated '%s', want '%s'", dir, text ? text : "(null)", want);
    printf("%s: greedy continuation '%s'\n", dir, want);
    // a stop string ends generation as soon as it appears: the text is the shortest prefix holding it
    if (w > 3) {
        char stop[3] = {want[1], want[2], 0}, *cut = NULL, expect[64] = {0};
        for (size_t k = 1; k <= w && !expect[0]; k++) {
            memcpy(expect, want, k);
            expect[k] = 0;
            if (!strstr(expect, stop)) expect[0] = 0;
        }
        const char *until[] = {"never", stop};
        CHECK(!b.generate(b.ctx, ids, n, 12, until, 2, &cut), "%s", arwkv_last_error());
        CHECK(cut && !strcmp(cut, expect), "%s: early stop gave '%s', want '%s'", dir, cut ? cut : "(null)", expect);
        free(cut);
    }
    free(text);
    free(ids);
    arwkv_state_free(s);
    eval_model_backend_free(&b);
    arwkv_model_free(m);
}

// ---- chat prompts and retrieval runners through a fake backend -------------------------------------

typedef struct {
    char ctx0[1024], cont0[64];   // first request's text
    char gen0[2048];              // first generation prompt
    int calls, gen_calls;
    int wrong;                    // generate answers off by one
} fake;

static int fake_encode(void *ctx, const char *text, size_t len, int32_t **ids, size_t *n) {
    *ids = malloc((len ? len : 1) * sizeof **ids);
    for (size_t i = 0; i < len; i++) (*ids)[i] = (unsigned char)text[i];
    *n = len;
    return 0;
}

static int fake_ll(void *ctx, const eval_ll_request *reqs, size_t n, eval_ll_result *out) {
    fake *f = ctx;
    for (size_t i = 0; i < n; i++) {
        if (f->calls++ == 0 && i == 0) {
            size_t k = 0;
            for (size_t j = 0; j < reqs[0].nctx && k + 1 < sizeof f->ctx0; j++) f->ctx0[k++] = (char)reqs[0].ctx[j];
            f->ctx0[k] = 0;
            for (k = 0; k < reqs[0].ncont && k + 1 < sizeof f->cont0; k++) f->cont0[k] = (char)reqs[0].cont[k];
            f->cont0[k] = 0;
        }
        out[i].ll = -(double)reqs[i].ncont;
        out[i].is_greedy = 0;
    }
    return 0;
}

// answers with the number after "<key>=" (kv prompts) or after "The pass key is " (passkey)
static int fake_generate(void *ctx, const int32_t *ids, size_t n, int32_t max_tokens, const char *const *until,
                         size_t nuntil, char **text) {
    fake *f = ctx;
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++) s[i] = (char)ids[i];
    s[n] = 0;
    if (f->gen_calls++ == 0) snprintf(f->gen0, sizeof f->gen0, "%s", s);
    long v = -1;
    char *q = strstr(s, "Question: ");
    if (q) {
        char key[8] = {0}, pat[16];
        memcpy(key, q + 10, 4);
        snprintf(pat, sizeof pat, "%s=", key);
        char *at = strstr(s, pat);
        if (at) v = strtol(at + 5, NULL, 10);
    } else if ((q = strstr(s, "The pass key is "))) {
        v = strtol(q + 16, NULL, 10);
    }
    free(s);
    *text = malloc(32);
    snprintf(*text, 32, " %ld.\nMore", v + f->wrong);
    return 0;
}

static void check_chat(void) {
    tokenizer *tok = tiny_tokenizer();
    if (!tok) return;
    CHECK(!tokenizer_set_chat_template(tok, "chatml"), "%s", arwkv_last_error());
    const eval_task *t = eval_task_find("mmlu");
    eval_docs docs = {0};
    CHECK(!eval_docs_read(&docs, t, "tests/data/eval/mmlu.jsonl"), "%s", arwkv_last_error());
    fake f = {0};
    eval_backend b = {.ctx = &f, .encode = fake_encode, .loglikelihood = fake_ll, .generate = fake_generate,
                      .prefix_token = 95, .max_length = 4096, .eos_text = "<|endoftext|>"};
    eval_opts o;
    eval_opts_default(&o);
    o.limit = 1;
    eval_doc_result res[1];
    CHECK(!eval_run_chat(&b, tok, t, docs.docs, docs.n, NULL, 0, &o, res), "%s", arwkv_last_error());
    // the description is the system message; the context's trailing "\n" starts the continuation
    const char *want = "<|im_start|>system\nThe following are multiple choice questions (with answers) about high school "
                       "geography.\n\n<|im_end|>\n<|im_start|>user\nWhich river flows through the invented city of "
                       "Vellmar?\nA. The Osk\nB. The Brine\nC. The Tallow\nD. The Fennick\nAnswer:<|im_end|>\n"
                       "<|im_start|>assistant";
    CHECK(!strcmp(f.ctx0, want), "chat context:\n%s", f.ctx0);
    CHECK(!strcmp(f.cont0, "\nA"), "chat continuation '%s'", f.cont0);
    CHECK(res[0].n_lls == 4, "%d lls", res[0].n_lls);
    eval_doc_results_free(res, 1);
    eval_docs_free(&docs);

    // generation: no description, so the template's default system message; the response is cut
    // at the task's stop strings (the fake answers " <n>.\nMore" and GSM8K stops at nothing here)
    t = eval_task_find("gsm8k");
    memset(&docs, 0, sizeof docs);
    CHECK(!eval_docs_read(&docs, t, "tests/data/eval/gsm8k.jsonl"), "%s", arwkv_last_error());
    o.num_fewshot = 0;
    CHECK(!eval_run_chat(&b, tok, t, docs.docs, docs.n, NULL, 0, &o, res), "%s", arwkv_last_error());
    const char *gwant = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
                        "<|im_start|>user\nQuestion: Tara has 3 boxes with 4 pencils in each box. How many pencils does she "
                        "have?\nAnswer:<|im_end|>\n<|im_start|>assistant\n";
    CHECK(!strcmp(f.gen0, gwant), "chat generation prompt:\n%s", f.gen0);
    CHECK(res[0].response && res[0].flexible && !strcmp(res[0].flexible, "-1.") && res[0].em_flexible == 0.0,
          "gsm8k response '%s' flexible '%s'", res[0].response ? res[0].response : "", res[0].flexible ? res[0].flexible : "");
    eval_doc_results_free(res, 1);
    eval_docs_free(&docs);

    // retrieval: a backend that reads the answer out of the prompt scores 1, one off by one 0
    eval_results rs = {0};
    int32_t pairs[] = {4, 16};
    int64_t chars[] = {300};
    eval_retrieval_opts ro = {.seed = 1234, .trials = 5};
    CHECK(!eval_kv_recall_run(&b, pairs, 2, &ro, &rs) && !eval_passkey_run(&b, chars, 1, &ro, &rs), "%s", arwkv_last_error());
    f.wrong = 1;
    CHECK(!eval_kv_recall_run(&b, pairs, 1, &ro, &rs), "%s", arwkv_last_error());
    ro.chat = tok;
    f.wrong = 0;
    CHECK(!eval_kv_recall_run(&b, pairs, 1, &ro, &rs), "%s", arwkv_last_error());
    CHECK(rs.n == 10, "%zu result rows", rs.n);
    if (rs.n == 10) {
        CHECK(!strcmp(rs.items[0].task, "kv_recall_4") && !strcmp(rs.items[0].metric, "acc") && rs.items[0].value == 1.0 &&
                  rs.items[0].n == 5, "row 0: %s %s %g", rs.items[0].task, rs.items[0].metric, rs.items[0].value);
        // a 4-pair prompt: "Remember: " (10), 4 pairs "xxxx=v" of 6..8 bytes, 3 ", ", ". Question: xxxx? Answer:" (25)
        double tk = rs.items[1].value;
        CHECK(!strcmp(rs.items[1].metric, "prompt_tokens") && tk >= 10 + 4 * 6 + 6 + 25 && tk <= 10 + 4 * 8 + 6 + 25,
              "kv_recall_4 prompt_tokens %g", tk);
        CHECK(!strcmp(rs.items[2].task, "kv_recall_16") && rs.items[2].value == 1.0, "row 2 %s %g", rs.items[2].task, rs.items[2].value);
        CHECK(!strcmp(rs.items[4].task, "passkey_300") && rs.items[4].value == 1.0, "row 4 %s %g", rs.items[4].task, rs.items[4].value);
        CHECK(rs.items[5].value > 300 + 150, "passkey prompt_tokens %g", rs.items[5].value);
        CHECK(rs.items[6].value == 0.0, "wrong answers scored %g", rs.items[6].value);
        CHECK(rs.items[8].value == 1.0 && rs.items[9].value > tk + 40, "chat-wrapped kv: acc %g, prompt tokens %g vs %g",
              rs.items[8].value, rs.items[9].value, tk);
    }
    eval_results_free(&rs);
    tokenizer_free(tok);
}

// ---- kv_recall_make: strings from CPython (3.11) running the documented recipe ----------------------

static void check_kv_recall(void) {
    static const struct { uint64_t seed; int n; const char *prompt; int answer; } cases[] = {
        {7, 4, "Remember: kemu=49, crdl=596, bqgb=88, nnch=92. Question: nnch? Answer:", 92},
        {12345, 3, "Remember: nxaz=305, lgis=446, fldn=267. Question: fldn? Answer:", 267},
        {0, 1, "Remember: mynb=265. Question: mynb? Answer:", 265},
        {4294967295u, 2, "Remember: utgg=621, qjtk=984. Question: qjtk? Answer:", 984},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = NULL;
        int a = -1;
        CHECK(!kv_recall_make(cases[i].seed, cases[i].n, &p, &a), "%s", arwkv_last_error());
        CHECK(p && !strcmp(p, cases[i].prompt) && a == cases[i].answer, "seed %llu: '%s' %d",
              (unsigned long long)cases[i].seed, p ? p : "(null)", a);
        free(p);
    }
    // 2000 pairs from seed 1 redraw one repeated key: the tail and length show the draws stayed in step
    char *p = NULL;
    int a = -1;
    CHECK(!kv_recall_make(1, 2000, &p, &a), "%s", arwkv_last_error());
    const char *tail = "gllw=43, unsj=445, juqf=767, fzqs=137, vwas=0. Question: xcfo? Answer:";
    CHECK(p && strlen(p) == 19802 && !strcmp(p + strlen(p) - strlen(tail), tail) && a == 380, "2000 pairs: len %zu answer %d",
          p ? strlen(p) : 0, a);
    free(p);
    CHECK(kv_recall_make(1ull << 32, 4, &p, &a) && p == NULL, "seed 2^32 accepted");
    CHECK(kv_recall_make(1, 0, &p, &a) && p == NULL, "0 pairs accepted");
}

int main(void) {
    // the models are tiny: on a shared machine, threads would only wait on each other
    omp_set_num_threads(1);
    check_model(GOLDEN "qwen2_gqa2_tied_f32");
    check_model(GOLDEN "arwkv_gate_f32");
    tokenizer *tok = tiny_tokenizer();
    if (tok) {
        check_generate(GOLDEN "qwen2_gqa2_tied_f32", tok);
        check_generate(GOLDEN "arwkv_gate_f32", tok);
        tokenizer_free(tok);
    }
    check_chat();
    check_kv_recall();
    return test_summary();
}
