// arwkv eval: lm-evaluation-harness compatible benchmarks, perplexity and retrieval probes for one
// or more models, printed side by side.
#include <errno.h>
#include <math.h>

#include "cli.h"
#include "eval/eval_model.h"

typedef struct {
    cli_list models;
    const char *task, *data, *fewshot_data, *json, *lengths, *dtype, *device;
    int64_t limit, shots, seed, max_length, ctx, max_gen;
    int chat, no_reuse;
} eval_args;

enum { TASK_BENCH, TASK_TEXT_PPL, TASK_KV, TASK_PASSKEY };

static const char k_usage[] =
    "-m DIR [-m DIR2 ...] --task T [--data FILE] [--limit N] [--shots K] [--seed S] [--chat] [--json OUT] "
    "[--lengths L1,L2,...]\n"
    "tasks: mmlu arc_easy arc_challenge winogrande hellaswag lambada gsm8k mc perplexity kv passkey";

// comma-separated positive integers
static int parse_lengths(const char *s, int64_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    size_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    int64_t *v = malloc(cap * sizeof *v);
    if (!v) return arwkv_set_error("out of memory");
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        long long x = strtoll(p, &end, 10);
        if (end == p || errno || x < 1 || x > (1LL << 30) || (*end && *end != ',')) {
            free(v);
            return arwkv_set_error("--lengths: expected positive integers separated by commas, got '%s'", s);
        }
        v[(*n)++] = x;
        if (!*end) break;
        p = end + 1;
    }
    *out = v;
    return 0;
}

static int task_kind(const char *name, const eval_task **t) {
    *t = NULL;
    if (!strcmp(name, "kv") || !strcmp(name, "kv_recall")) return TASK_KV;
    if (!strcmp(name, "passkey")) return TASK_PASSKEY;
    *t = eval_task_find(!strcmp(name, "lambada") ? "lambada_openai" : name);
    return *t ? TASK_BENCH : -1;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

// plain text: the windows of `arwkv perplexity`; words and bytes are prorated to the tokens
// scored (all but the first of each window), so that the per-word and per-byte rates stay honest
static int run_text_perplexity(const eval_args *a, const arwkv_model *m, const arwkv_tokenizer *tok,
                               int32_t ctx, eval_results *rs) {
    size_t len;
    char *text = file_read_all(a->data, &len);
    if (!text) return -1;
    int32_t *ids = NULL;
    size_t n = 0;
    double ppl;
    int64_t scored = 0;
    int rc = arwkv_tokenize(tok, text, len, &ids, &n, 1);
    if (rc) arwkv_wrap_error("%s", a->data);
    if (!rc) rc = arwkv_perplexity(m, ids, (int64_t)n, ctx, &ppl, &scored, 1);
    if (!rc) {
        double nll = log(ppl) * (double)scored, frac = (double)scored / (double)n;
        double words = (double)eval_count_words(text) * frac, bytes = (double)eval_count_bytes(text) * frac;
        rc = eval_results_add(rs, "perplexity", "token_perplexity", "none", ppl, NAN, scored, 0) ||
             eval_results_add(rs, "perplexity", "word_perplexity", "none", exp(nll / words), NAN, scored, 0) ||
             eval_results_add(rs, "perplexity", "byte_perplexity", "none", exp(nll / bytes), NAN, scored, 0) ||
             eval_results_add(rs, "perplexity", "bits_per_byte", "none", nll / (bytes * log(2.0)), NAN, scored, 0);
    }
    free(ids);
    free(text);
    return rc;
}

typedef struct {
    const eval_task *task;
    eval_docs test, pool;
    int32_t pool_is_test;
    int64_t *lengths;
    size_t nlengths;
} eval_plan;

static int run_model(const eval_args *a, const eval_plan *p, int kind, const char *dir, eval_results *rs) {
    arwkv_model *m = NULL;
    arwkv_tokenizer *tok = NULL;
    eval_backend b = {0};
    eval_doc_result *res = NULL;
    double t0 = time_now();
    eval_model_opts mo = {.max_length = (int32_t)a->max_length, .no_reuse = a->no_reuse};
    int rc = cli_load_model(dir, a->dtype, a->device, &m) || arwkv_tokenizer_load(&tok, dir) ||
             eval_model_backend_init(&b, m, tok, &mo);
    if (rc) goto done;
    if (kind == TASK_TEXT_PPL) {
        int32_t ctx = (int32_t)(a->ctx > 0 ? a->ctx : 512);
        if (ctx > b.max_length) ctx = b.max_length;
        rc = run_text_perplexity(a, m, tok, ctx, rs);
    } else if (kind == TASK_KV || kind == TASK_PASSKEY) {
        eval_retrieval_opts ro = {.seed = (uint32_t)a->seed, .trials = (int32_t)(a->limit > 0 ? a->limit : 50),
                                  .chat = a->chat ? tok : NULL, .show_progress = 1};
        if (kind == TASK_KV) {
            int32_t pairs[64];
            for (size_t i = 0; i < p->nlengths; i++) pairs[i] = (int32_t)p->lengths[i];
            rc = eval_kv_recall_run(&b, pairs, p->nlengths, &ro, rs);
        } else {
            rc = eval_passkey_run(&b, p->lengths, p->nlengths, &ro, rs);
        }
    } else {
        eval_opts o;
        eval_opts_default(&o);
        o.num_fewshot = (int32_t)a->shots;
        o.fewshot_seed = (uint32_t)a->seed;
        o.pool_is_eval_split = p->pool_is_test;
        o.limit = a->limit > 0 ? (size_t)a->limit : 0;
        o.batch_size = 4096;   // a whole chunk per call: the backend shares prefixes across it
        o.chunk_docs = 32;
        o.show_progress = 1;
        if (a->max_gen > 0) o.max_gen_toks = (int32_t)a->max_gen;
        res = calloc(p->test.n ? p->test.n : 1, sizeof *res);
        if (!res) {
            rc = arwkv_set_error("out of memory for %zu results", p->test.n);
            goto done;
        }
        const eval_doc *pool = p->pool_is_test ? p->test.docs : p->pool.docs;
        size_t npool = p->pool_is_test ? p->test.n : p->pool.n;
        rc = a->chat ? eval_run_chat(&b, tok, p->task, p->test.docs, p->test.n, pool, npool, &o, res)
                     : eval_run(&b, p->task, p->test.docs, p->test.n, pool, npool, &o, res);
        if (!rc) rc = eval_aggregate(p->task, p->test.docs, res, p->test.n, &o, rs);
        eval_doc_results_free(res, o.limit && o.limit < p->test.n ? o.limit : p->test.n);
    }
    if (!rc) {
        const eval_model_stats *st = eval_model_backend_stats(&b);
        fprintf(stderr, "%s: %.1f s; %lld requests, %lld tokens run, %lld reused, %lld generated\n", dir,
                time_now() - t0, (long long)st->requests, (long long)st->tokens_fed, (long long)st->tokens_reused,
                (long long)st->generated);
    }
done:
    if (rc) arwkv_wrap_error("%s", dir);
    free(res);
    if (b.ctx) eval_model_backend_free(&b);
    arwkv_tokenizer_free(tok);
    arwkv_model_free(m);
    return rc;
}

// column names: each directory's last component, the whole path when two would clash
static char **model_names(const cli_list *models) {
    char **names = calloc((size_t)models->n, sizeof *names);
    for (int i = 0; names && i < models->n; i++) {
        const char *d = models->items[i], *e = d + strlen(d);
        while (e > d + 1 && e[-1] == '/') e--;
        const char *s = e;
        while (s > d && s[-1] != '/') s--;
        names[i] = strndup(s, (size_t)(e - s));
    }
    for (int i = 0; names && i < models->n; i++)
        for (int j = 0; j < models->n; j++)
            if (i != j && names[i] && names[j] && !strcmp(names[i], names[j])) {
                free(names[i]);
                names[i] = strdup(models->items[i]);
                break;
            }
    return names;
}

static int write_json(const char *path, const eval_results *rs, const char *const *names, size_t n) {
    json_t *root = eval_results_json(rs, names, n);
    char *s = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    size_t len = s ? strlen(s) : 0;
    char *text = s ? malloc(len + 2) : NULL;
    if (text) {
        memcpy(text, s, len);
        text[len] = '\n';
    }
    free(s);
    if (!text) return arwkv_set_error("%s: could not build the JSON results", path);
    int rc = file_write_atomic(path, text, len + 1);
    free(text);
    return rc;
}

static int prepare(const eval_args *a, int kind, eval_plan *p) {
    if (kind == TASK_KV || kind == TASK_PASSKEY) {
        static const int64_t kv_def[] = {4, 16, 64}, pk_def[] = {1000, 4000, 16000};
        if (a->lengths) return parse_lengths(a->lengths, &p->lengths, &p->nlengths);
        p->nlengths = 3;
        p->lengths = malloc(sizeof kv_def);
        if (!p->lengths) return arwkv_set_error("out of memory");
        memcpy(p->lengths, kind == TASK_KV ? kv_def : pk_def, sizeof kv_def);
        return 0;
    }
    if (kind == TASK_TEXT_PPL) return 0;
    if (eval_docs_read(&p->test, p->task, a->data)) return -1;
    if (p->test.n == 0) return arwkv_set_error("%s: no documents", a->data);
    int32_t k = a->shots >= 0 ? (int32_t)a->shots : p->task->num_fewshot;
    if (a->fewshot_data) return eval_docs_read(&p->pool, p->task, a->fewshot_data);
    if (k > 0) {   // the harness's rule when the shot split is the evaluated one
        fprintf(stderr, "arwkv eval: no --fewshot-data: %d shots are drawn from %s itself, never the evaluated doc\n", k,
                a->data);
        p->pool_is_test = 1;
    }
    return 0;
}

// the command line's own errors: 2 after a message, else 0
static int check_args(int argc, char **argv, const cli_opt *opts, int n_opts, const eval_args *a) {
    if (cli_parse(argc, argv, opts, n_opts, k_usage)) return 2;
    if (cli_require(argv[0], "-m DIR", a->models.n ? a : NULL) || cli_require(argv[0], "--task", a->task)) return 2;
    const eval_task *t;
    int kind = task_kind(a->task, &t);
    if (kind < 0) {
        fprintf(stderr, "arwkv eval: unknown task '%s' (see 'arwkv eval --help')\n", a->task);
        return 2;
    }
    if ((kind == TASK_BENCH) && !a->data) {
        fprintf(stderr, "arwkv eval: --task %s needs --data FILE\n", a->task);
        return 2;
    }
    if (a->models.n > 64 || a->limit < 0 || a->shots < -1 || a->shots > 64 || a->seed < 0 || a->seed > UINT32_MAX ||
        a->max_length < 0 || a->ctx < 0 || a->max_length > (1 << 24) || a->max_gen < 0 || a->max_gen > (1 << 20)) {
        fprintf(stderr, "arwkv eval: need at most 64 models, --limit >= 0, 0 <= --shots <= 64, 0 <= --seed < 2^32\n");
        return 2;
    }
    return 0;
}

int cmd_eval(int argc, char **argv) {
    eval_args a = {.shots = -1, .seed = 1234};
    cli_opt opts[] = {
        {"model", 'm', OPT_LIST, &a.models, "model directory (repeat for side-by-side columns)"},
        {"task", 't', OPT_STR, &a.task, "benchmark (mmlu, arc_easy, arc_challenge, winogrande, hellaswag, lambada, gsm8k, mc), perplexity, kv or passkey"},
        {"data", 'd', OPT_STR, &a.data, "JSONL documents of the evaluated split; perplexity: a text file (or JSONL of {\"text\"})"},
        {"fewshot-data", 0, OPT_STR, &a.fewshot_data, "JSONL shot pool (default: the evaluated file, excluding the doc itself)"},
        {"limit", 'n', OPT_INT, &a.limit, "first N documents; kv/passkey: trials per length (default 50)"},
        {"shots", 'k', OPT_INT, &a.shots, "few-shot examples (default: the task's)"},
        {"seed", 0, OPT_INT, &a.seed, "few-shot sampler / probe seed (default 1234)"},
        {"chat", 0, OPT_FLAG, &a.chat, "prompts through the tokenizer's chat template"},
        {"json", 0, OPT_STR, &a.json, "write results as JSON (lm-evaluation-harness layout)"},
        {"lengths", 0, OPT_STR, &a.lengths, "kv: pair counts (default 4,16,64); passkey: filler characters (default 1000,4000,16000)"},
        {"ctx", 'c', OPT_INT, &a.ctx, "perplexity of a text file: window in tokens (default 512)"},
        {"max-gen", 0, OPT_INT, &a.max_gen, "generation tasks: at most N new tokens (default 256)"},
        {"max-length", 0, OPT_INT, &a.max_length, "model context for requests (default: max_position_embeddings)"},
        {"device", 0, OPT_STR, &a.device, "where weights and states live: cpu (default), cuda or cuda:N"},
        {"dtype", 0, OPT_STR, &a.dtype, "run weights and activations in f32, f16 or bf16"},
        {"no-reuse", 0, OPT_FLAG, &a.no_reuse, "run every request from an empty state (same scores, slower)"},
    };
    int usage_rc = check_args(argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), &a);
    if (usage_rc) {
        free(a.models.items);
        return usage_rc;
    }
    const eval_task *t;
    int kind = task_kind(a.task, &t);
    if (kind == TASK_BENCH && t->output == EVAL_OUT_ROLLING && !ends_with(a.data, ".jsonl")) kind = TASK_TEXT_PPL;
    eval_plan p = {.task = t};
    int rc = prepare(&a, kind, &p);
    if (!rc && p.nlengths > 64) rc = arwkv_set_error("--lengths: at most 64 values");
    eval_results *rs = calloc((size_t)a.models.n, sizeof *rs);
    char **names = model_names(&a.models);
    for (int i = 0; names && i < a.models.n; i++)
        if (!names[i]) rc = arwkv_set_error("out of memory");
    if (!rc && (!rs || !names)) rc = arwkv_set_error("out of memory");
    for (int i = 0; i < a.models.n && !rc; i++) rc = run_model(&a, &p, kind, a.models.items[i], &rs[i]);
    char *md = rc ? NULL : eval_results_markdown(rs, (const char *const *)names, (size_t)a.models.n);
    if (!rc && !md) rc = -1;
    if (!rc) fputs(md, stdout);
    if (!rc && a.json) rc = write_json(a.json, rs, (const char *const *)names, (size_t)a.models.n);
    free(md);
    for (int i = 0; rs && i < a.models.n; i++) eval_results_free(&rs[i]);
    free(rs);
    for (int i = 0; names && i < a.models.n; i++) free(names[i]);
    free(names);
    free(p.lengths);
    eval_docs_free(&p.test);
    eval_docs_free(&p.pool);
    free(a.models.items);
    return rc ? cli_fail() : 0;
}
