// Benchmark evaluation compatible with lm-evaluation-harness v0.4.7 (docs/evaluation.md).
//
// The model is reached only through eval_backend callbacks, so everything here (data readers,
// prompts, few-shot sampling, request building, answer extraction, metrics, tables) runs and is
// tested without weights. A typical run, as `arwkv eval` wires it:
//
//     const eval_task *t = eval_task_find("arc_easy");
//     eval_docs test = {0}, train = {0};
//     eval_docs_read(&test, t, "arc_easy/test.jsonl");
//     eval_docs_read(&train, t, "arc_easy/train.jsonl");        // shot pool, when shots are asked for
//     eval_opts o; eval_opts_default(&o);
//     eval_doc_result *res = calloc(test.n, sizeof *res);
//     eval_run(&backend, t, test.docs, test.n, train.docs, train.n, &o, res);
//     eval_results rs = {0};
//     eval_aggregate(t, test.docs, res, test.n, &o, &rs);
//     char *md = eval_results_markdown(&rs, (const char *[]){"student"}, 1);
//
// All functions return 0 / -1 (arwkv_last_error() names the file, line and field) unless noted;
// returned strings are malloc'd and owned by the caller.
#ifndef ARWKV_EVAL_H
#define ARWKV_EVAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "eval/pyrandom.h"

#define EVAL_MAX_CHOICES 32

// ---- the model side: callbacks ---------------------------------------------------------------

// One log-likelihood request: score cont given ctx. The model input is ctx followed by all of
// cont but its last token; ll sums log-softmax at the cont tokens. nctx >= 1 and ncont >= 1 always
// hold (the empty context has already become the prefix token).
typedef struct {
    const int32_t *ctx;
    size_t nctx;
    const int32_t *cont;
    size_t ncont;
} eval_ll_request;

typedef struct {
    double ll;           // sum of log-probabilities of the continuation tokens
    int32_t is_greedy;   // 1 when every continuation token is its position's argmax
} eval_ll_result;

typedef struct {
    void *ctx;
    // text -> token ids with no special tokens added, like Hugging Face encode(text,
    // add_special_tokens=False), which still turns added-token text such as "<|im_end|>" into its
    // id. *ids is malloc'd (the caller frees it); an empty text gives n = 0.
    int (*encode)(void *ctx, const char *text, size_t len, int32_t **ids, size_t *n);
    // Scores n independent requests; out[i] answers reqs[i]. The backend may evaluate them in any
    // order or together (shared prefixes, padding); the driver hands over up to batch_size at a time.
    int (*loglikelihood)(void *ctx, const eval_ll_request *reqs, size_t n, eval_ll_result *out);
    // Greedy decoding after ids[0..n): at most max_tokens tokens, stopping at EOS. *text is the
    // malloc'd decoded continuation without special tokens. The backend may stop as soon as one of
    // until[0..nuntil) appears in the text; the driver cuts at those strings either way.
    // May be NULL when no generation task is run.
    int (*generate)(void *ctx, const int32_t *ids, size_t n, int32_t max_tokens,
                    const char *const *until, size_t nuntil, char **text);
    int32_t prefix_token;   // context of an empty-context request: BOS, else EOS
    int32_t max_length;     // max_position_embeddings, else 2048
    const char *eos_text;   // EOS decoded with special tokens ("<|endoftext|>"); added to `until`; may be NULL
} eval_backend;

// ---- tasks and documents ---------------------------------------------------------------------

typedef enum { EVAL_OUT_MULTIPLE_CHOICE, EVAL_OUT_LOGLIKELIHOOD, EVAL_OUT_GENERATE, EVAL_OUT_ROLLING } eval_output;
typedef enum { EVAL_SAMPLER_DEFAULT, EVAL_SAMPLER_FIRST_N } eval_sampler;

typedef enum {
    EVAL_TASK_MC,            // generic multiple choice: {question|context, choices, answer}
    EVAL_TASK_MMLU,          // {question, subject, choices[4], answer}
    EVAL_TASK_ARC,           // {question, choices: {text, label}, answerKey} or the generic form
    EVAL_TASK_WINOGRANDE,    // {sentence, option1, option2, answer: "1"|"2"}
    EVAL_TASK_HELLASWAG,     // {activity_label, ctx_a, ctx_b, endings, label}
    EVAL_TASK_LAMBADA,       // {text}
    EVAL_TASK_GSM8K,         // {question, answer}
    EVAL_TASK_PERPLEXITY,    // {text}: rolling log-likelihood of whole documents
} eval_task_kind;

typedef struct {
    const char *name;            // "mmlu", "arc_easy", "arc_challenge", "winogrande", "hellaswag",
                                 // "lambada_openai", "gsm8k", "mc", "perplexity"
    eval_task_kind kind;
    eval_output output;
    int32_t multiple_input;      // WinoGrande: choices are partial contexts, one shared continuation
    int32_t per_subject;         // MMLU: description and shot pool follow the doc's subject
    eval_sampler sampler;
    int32_t num_fewshot;         // the YAML default, used when eval_opts.num_fewshot < 0
    int32_t report_acc_norm;     // acc_norm is one of the task's reported metrics
    const char *eval_split;      // the split the harness evaluates ("test", "validation")
    const char *fewshot_split;   // where shots come from ("dev", "train")
    const char *const *until;    // generation stop strings, NULL-terminated; NULL otherwise
} eval_task;

// NULL (and an error listing the known names) for an unknown name
const eval_task *eval_task_find(const char *name);

// One document after the task's preprocessing (process_docs / doc_to_* of the harness YAML).
typedef struct {
    char *text;          // doc_to_text: the prompt after the shots. NULL for multiple-input tasks
    char *target;        // LOGLIKELIHOOD: scored continuation (" word"); GENERATE: reference answer;
                         // ROLLING: the document; multiple-input: shared continuation without the
                         // delimiter. NULL for plain multiple choice (its target is choices[gold])
    char **choices;      // multiple choice: continuation texts without the delimiter;
                         // multiple-input: the partial contexts
    int32_t n_choices;
    int32_t gold;        // index into choices; -1 when not multiple choice
    char *subject;       // MMLU subject as in the data ("college_biology"), else NULL
    json_t *raw;         // the record as read: a shot equal to the evaluated doc is dropped
} eval_doc;

typedef struct {
    eval_doc *docs;
    size_t n;
} eval_docs;

// Reads a JSONL file (one record per line, blank lines skipped) and preprocesses each record for
// task t. Errors name "path:line". Appends to out, which starts zeroed.
int eval_docs_read(eval_docs *out, const eval_task *t, const char *path);
// Preprocesses one record; `where` labels errors ("file.jsonl:12"). d takes a reference to rec.
int eval_doc_from_json(eval_doc *d, const eval_task *t, json_t *rec, const char *where);
void eval_doc_free(eval_doc *d);
void eval_docs_free(eval_docs *docs);

// HellaSwag's preprocess(): strip, " [title]" -> ". ", drop each shortest "[...]" span on one
// line, then "  " -> " " in one pass.
char *eval_hellaswag_preprocess(const char *text);
// MMLU category of a subject ("stem", "humanities", "social_sciences", "other"); NULL if unknown
const char *eval_mmlu_category(const char *subject);

// ---- few-shot prompts ------------------------------------------------------------------------

// Shot selection state of one task: the pool and the task's random.Random(seed) (one per subject
// for per-subject tasks, since the harness runs each MMLU subject as its own task).
typedef struct {
    const eval_task *task;
    const eval_doc *pool;
    size_t npool;
    int32_t k;                  // shots per prompt
    int32_t pool_is_eval_split; // draw k+1 and drop the evaluated doc (fewshot_split == test_split)
    eval_sampler sampler;
    size_t n_groups;            // 1, or the number of distinct subjects in the pool
    char **group_subject;       // per-subject: each group's subject
    size_t **group_idx;         // pool indices of each group, in pool order
    size_t *group_n;
    pyrandom *group_rng;
    size_t *draw;               // scratch for k+1 indices
} eval_fewshot;

// sampler: the task's (EVAL_SAMPLER_FIRST_N for MMLU) unless the caller overrides it.
int eval_fewshot_init(eval_fewshot *f, const eval_task *t, const eval_doc *pool, size_t npool,
                      int32_t k, int32_t pool_is_eval_split, eval_sampler sampler, uint32_t seed);
void eval_fewshot_free(eval_fewshot *f);
// description + shots + doc_to_text (multiple-input: description + shots). Call once per
// evaluated doc in dataset order: the default sampler draws from the task's stream. One shot is
// doc_to_text + " " + target + "\n\n" (nothing after doc_to_text when the target is empty).
int eval_fewshot_context(eval_fewshot *f, const eval_doc *doc, char **out);
// the task description for doc: MMLU's "The following are multiple choice questions (with
// answers) about {subject}.\n\n", else ""
char *eval_doc_description(const eval_task *t, const eval_doc *doc);

// ---- log-likelihood requests -----------------------------------------------------------------

// A (context, continuation) pair encoded as the harness does: trailing whitespace of ctx moves to
// the front of cont, cont tokens = tok(ctx + cont)[len(tok(ctx)):], an empty ctx becomes the prefix
// token and cont is encoded alone.
typedef struct {
    int32_t *toks;    // nctx context tokens then ncont continuation tokens (owned)
    size_t nctx, ncont;
} eval_ll_pair;

int eval_encode_pair(const eval_backend *b, const char *ctx, const char *cont, eval_ll_pair *out);
void eval_ll_pair_free(eval_ll_pair *p);
// The request the model sees: the last max_length + 1 tokens of ctx + cont (the final one is never
// an input). Errors when the continuation alone exceeds max_length or either part is empty.
int eval_ll_request_view(const eval_ll_pair *p, int32_t max_length, eval_ll_request *req);

// Rolling windows of a document of ntok tokens for perplexity: window w scores tokens
// [cont_start, cont_start + ncont) given either the prefix token (use_prefix) or tokens
// [ctx_start, ctx_start + nctx). Each window's input is at most max_length tokens.
typedef struct {
    size_t ctx_start, nctx, cont_start, ncont;
    int32_t use_prefix;
} eval_window;
int eval_rolling_windows(size_t ntok, int32_t max_length, eval_window **out, size_t *n);

// ---- generation: stop strings and GSM8K answers ----------------------------------------------

// Cuts text (in place) at the first occurrence of each non-empty stop string, in order.
void eval_cut_at_stops(char *text, const char *const *until, size_t nuntil);
// The two GSM8K filters; *out is malloc'd and "[invalid]" when nothing matches.
// strict-match: group 1 of the first match of `#### (\-?[0-9\.\,]+)`, stripped
int eval_gsm8k_strict(const char *response, char **out);
// flexible-extract: first non-empty group of the last match of `(-?[$0-9.,]{2,})|(-?[0-9]+)`, stripped
int eval_gsm8k_flexible(const char *response, char **out);
// exact_match normalisation: delete `,`, `\$`, `(?s).*#### `, `\.$` (each regex everywhere, in
// that order), then lowercase
int eval_gsm8k_normalize(const char *s, char **out);
// 1 when the normalised strings are equal, 0 when not, -1 on error
int eval_gsm8k_exact_match(const char *prediction, const char *reference);

// ---- scoring ---------------------------------------------------------------------------------

typedef enum { EVAL_ORDER_DATASET, EVAL_ORDER_LONGEST_FIRST } eval_order;

typedef struct {
    int32_t num_fewshot;        // < 0: the task's default
    uint32_t fewshot_seed;      // 1234
    eval_sampler sampler;       // shot sampler; the task's own when sampler_override is 0
    int32_t sampler_override;
    int32_t pool_is_eval_split; // the pool passed to eval_run is the evaluated split itself
    int32_t batch_size;         // log-likelihood requests per backend call (>= 1)
    eval_order order;           // request order inside a chunk; results do not depend on it
    size_t chunk_docs;          // documents whose requests are built at once (bounds memory)
    int32_t max_gen_toks;       // 256
    size_t limit;               // evaluate the first `limit` docs; 0 = all
    int64_t bootstrap_iters;    // perplexity stderr resamples (100000); 0 = none
    int32_t show_progress;
} eval_opts;

void eval_opts_default(eval_opts *o);
int32_t eval_opts_shots(const eval_opts *o, const eval_task *t);   // the shot count in effect

// Per-document outcome. Fields not used by the task's output type stay zero / NULL.
typedef struct {
    int32_t n_lls;
    double ll[EVAL_MAX_CHOICES];        // one per choice (LOGLIKELIHOOD / ROLLING: ll[0])
    int32_t is_greedy[EVAL_MAX_CHOICES];
    int32_t pred, pred_norm;            // argmax ll, argmax ll / characters of the choice (for
                                        // multiple-input tasks: of the partial context); ties to the first
    double acc, acc_norm;               // LOGLIKELIHOOD: acc = is_greedy
    int64_t words, bytes;               // ROLLING: counts of the document
    char *response;                     // GENERATE: the generation cut at the stop strings
    char *strict, *flexible;            // GENERATE (GSM8K): extracted answers
    double em_strict, em_flexible;
} eval_doc_result;

// acc / acc_norm of one multiple-choice doc from its lls (numpy argmax: NaN wins, ties to the first)
void eval_mc_score(const double *lls, const char *const *choices, int32_t n, int32_t gold, eval_doc_result *r);
// Fills out[d0..d1) of a log-likelihood or multiple-choice task from res, the results of the docs'
// requests in order (one per doc, or one per choice).
void eval_collect_ll_results(const eval_task *t, const eval_doc *docs, size_t d0, size_t d1, const eval_ll_result *res,
                             eval_doc_result *out);

// Runs task t over the first n = min(ndocs, o->limit or ndocs) docs through the backend, filling
// out[0..n). pool holds the shot documents (may be NULL when no shots are asked for). Prompts are
// built in dataset order, so the default sampler draws as the harness does whatever the batching.
int eval_run(const eval_backend *b, const eval_task *t, const eval_doc *docs, size_t ndocs,
             const eval_doc *pool, size_t npool, const eval_opts *o, eval_doc_result *out);
void eval_doc_results_free(eval_doc_result *r, size_t n);
// Sum of the rolling-window log-likelihoods of one text (loglikelihood_rolling).
int eval_rolling_loglikelihood(const eval_backend *b, const char *text, int32_t batch_size, double *ll);

// ---- metrics and results ---------------------------------------------------------------------

double eval_mean(const double *x, size_t n);                 // sum / n, summed left to right
double eval_sample_stddev(const double *x, size_t n);        // Bessel-corrected
double eval_mean_stderr(const double *x, size_t n);          // NAN when n < 2
double eval_perplexity(const double *lls, size_t n);         // exp(-mean(lls))
// weighted forms: ll sums over word / byte counts
double eval_word_perplexity(const double *ll, const int64_t *words, size_t n);
double eval_byte_perplexity(const double *ll, const int64_t *bytes, size_t n);
double eval_bits_per_byte(const double *ll, const int64_t *bytes, size_t n);
int64_t eval_count_words(const char *s);   // len(re.split(r"\s+", s)): 1 + whitespace runs
int64_t eval_count_bytes(const char *s);   // UTF-8 length
// The harness's bootstrap: iters / min(1000, iters) chunks, chunk i drawing with
// random.Random(i).choices(xs, k=n); stderr = sample std of f over all resamples. Chunks run on
// OpenMP threads, so f must be thread-safe; the result does not depend on the thread count.
int eval_bootstrap_stderr(double (*f)(const double *, size_t), const double *xs, size_t n,
                          int64_t iters, double *out);
// groups: size-weighted mean and pooled stderr of subtasks
double eval_weighted_mean(const double *values, const int64_t *sizes, size_t n);
double eval_pooled_stderr(const double *stderrs, const int64_t *sizes, size_t n);

typedef struct {
    char *task;            // "arc_easy", "mmlu", "mmlu_stem", "mmlu_anatomy"
    char *metric;          // "acc", "acc_norm", "exact_match", "perplexity", ...
    char *filter;          // "none", "strict-match", "flexible-extract"
    double value, stderr;  // stderr NAN when not available ("N/A")
    int64_t n;             // documents
    int32_t num_fewshot;
} eval_result;

typedef struct {
    eval_result *items;
    size_t n, cap;
} eval_results;

int eval_results_add(eval_results *rs, const char *task, const char *metric, const char *filter,
                     double value, double stderr, int64_t n, int32_t num_fewshot);
void eval_results_free(eval_results *rs);
// Adds the task's metrics (and MMLU's category / group rows) for the per-doc outcomes.
int eval_aggregate(const eval_task *t, const eval_doc *docs, const eval_doc_result *res, size_t n,
                   const eval_opts *o, eval_results *rs);
// Markdown table, one row per (task, filter, metric) in first-seen order, one column per model:
// "| Task | Filter | n-shot | Metric | name1 | name2 |", cells "0.4567 ± 0.0123". NULL on error.
char *eval_results_markdown(const eval_results *models, const char *const *names, size_t nmodels);
// The harness's results layout for one model: {"results": {task: {"alias", "metric,filter",
// "metric_stderr,filter"}}, "n-shot": {task: k}, "n-samples": {task: {"original", "effective"}}}.
// When several models are given: {name: <that object>, ...}. NULL on error.
json_t *eval_results_json(const eval_results *models, const char *const *names, size_t nmodels);

// ---- passkey retrieval -----------------------------------------------------------------------

typedef struct {
    char *prompt;
    int32_t key;            // K, uniform in 1..50000
    size_t prefix_chars;    // Landmark: filler characters before the key line; llama.cpp: copies
} eval_passkey;

// Landmark Attention format with a filler budget of n_garbage characters: p = randint(0, n) is
// drawn first, then K = randint(1, 50000), both from rng (random.Random semantics).
int eval_passkey_landmark(pyrandom *rng, size_t n_garbage, eval_passkey *out);
// llama.cpp format: n_junk copies of " " + filler, the key line before copy randint(0, n_junk-1)
int eval_passkey_llamacpp(pyrandom *rng, int32_t n_junk, eval_passkey *out);
void eval_passkey_free(eval_passkey *p);
// 1 when the first run of ASCII digits in output equals key, else 0
int eval_passkey_score(const char *output, int32_t key);

#endif
