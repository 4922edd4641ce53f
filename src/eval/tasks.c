// Task table and JSONL readers: each record becomes an eval_doc exactly as the harness's YAML
// (doc_to_text / doc_to_target / doc_to_choice / process_docs) would present it.
#include <stdlib.h>

#include "eval/eval.h"
#include "eval/eval_text.h"
#include "io/json_util.h"

static const char *const gsm8k_until[] = {"Question:", "</s>", "<|im_end|>", NULL};

static const eval_task g_tasks[] = {
    {"mmlu", EVAL_TASK_MMLU, EVAL_OUT_MULTIPLE_CHOICE, 0, 1, EVAL_SAMPLER_FIRST_N, 0, 0, "test", "dev", NULL},
    {"arc_easy", EVAL_TASK_ARC, EVAL_OUT_MULTIPLE_CHOICE, 0, 0, EVAL_SAMPLER_DEFAULT, 0, 1, "test", "train", NULL},
    {"arc_challenge", EVAL_TASK_ARC, EVAL_OUT_MULTIPLE_CHOICE, 0, 0, EVAL_SAMPLER_DEFAULT, 0, 1, "test", "train", NULL},
    {"winogrande", EVAL_TASK_WINOGRANDE, EVAL_OUT_MULTIPLE_CHOICE, 1, 0, EVAL_SAMPLER_DEFAULT, 0, 0, "validation", "train", NULL},
    {"hellaswag", EVAL_TASK_HELLASWAG, EVAL_OUT_MULTIPLE_CHOICE, 0, 0, EVAL_SAMPLER_DEFAULT, 0, 1, "validation", "train", NULL},
    {"lambada_openai", EVAL_TASK_LAMBADA, EVAL_OUT_LOGLIKELIHOOD, 0, 0, EVAL_SAMPLER_DEFAULT, 0, 0, "test", "test", NULL},
    {"gsm8k", EVAL_TASK_GSM8K, EVAL_OUT_GENERATE, 0, 0, EVAL_SAMPLER_DEFAULT, 5, 0, "test", "train", gsm8k_until},
    {"mc", EVAL_TASK_MC, EVAL_OUT_MULTIPLE_CHOICE, 0, 0, EVAL_SAMPLER_DEFAULT, 0, 1, "test", "train", NULL},
    {"perplexity", EVAL_TASK_PERPLEXITY, EVAL_OUT_ROLLING, 0, 0, EVAL_SAMPLER_DEFAULT, 0, 0, "test", "train", NULL},
};

const eval_task *eval_task_find(const char *name) {
    size_t n = sizeof g_tasks / sizeof g_tasks[0];
    for (size_t i = 0; i < n; i++)
        if (!strcmp(g_tasks[i].name, name)) return &g_tasks[i];
    arwkv_set_error("unknown task '%s' (known: mmlu, arc_easy, arc_challenge, winogrande, hellaswag, "
                    "lambada_openai, gsm8k, mc, perplexity)", name);
    return NULL;
}

// lm_eval/tasks/mmlu/_generate_configs.py SUBJECTS
static const char *const g_mmlu[][2] = {
    {"abstract_algebra", "stem"}, {"anatomy", "stem"}, {"astronomy", "stem"},
    {"business_ethics", "other"}, {"clinical_knowledge", "other"}, {"college_biology", "stem"},
    {"college_chemistry", "stem"}, {"college_computer_science", "stem"}, {"college_mathematics", "stem"},
    {"college_medicine", "other"}, {"college_physics", "stem"}, {"computer_security", "stem"},
    {"conceptual_physics", "stem"}, {"econometrics", "social_sciences"}, {"electrical_engineering", "stem"},
    {"elementary_mathematics", "stem"}, {"formal_logic", "humanities"}, {"global_facts", "other"},
    {"high_school_biology", "stem"}, {"high_school_chemistry", "stem"},
    {"high_school_computer_science", "stem"}, {"high_school_european_history", "humanities"},
    {"high_school_geography", "social_sciences"}, {"high_school_government_and_politics", "social_sciences"},
    {"high_school_macroeconomics", "social_sciences"}, {"high_school_mathematics", "stem"},
    {"high_school_microeconomics", "social_sciences"}, {"high_school_physics", "stem"},
    {"high_school_psychology", "social_sciences"}, {"high_school_statistics", "stem"},
    {"high_school_us_history", "humanities"}, {"high_school_world_history", "humanities"},
    {"human_aging", "other"}, {"human_sexuality", "social_sciences"}, {"international_law", "humanities"},
    {"jurisprudence", "humanities"}, {"logical_fallacies", "humanities"}, {"machine_learning", "stem"},
    {"management", "other"}, {"marketing", "other"}, {"medical_genetics", "other"},
    {"miscellaneous", "other"}, {"moral_disputes", "humanities"}, {"moral_scenarios", "humanities"},
    {"nutrition", "other"}, {"philosophy", "humanities"}, {"prehistory", "humanities"},
    {"professional_accounting", "other"}, {"professional_law", "humanities"},
    {"professional_medicine", "other"}, {"professional_psychology", "social_sciences"},
    {"public_relations", "social_sciences"}, {"security_studies", "social_sciences"},
    {"sociology", "social_sciences"}, {"us_foreign_policy", "social_sciences"}, {"virology", "other"},
    {"world_religions", "humanities"},
};

const char *eval_mmlu_category(const char *subject) {
    for (size_t i = 0; i < sizeof g_mmlu / sizeof g_mmlu[0]; i++)
        if (!strcmp(g_mmlu[i][0], subject)) return g_mmlu[i][1];
    return NULL;
}

char *eval_hellaswag_preprocess(const char *text) {
    char *a = eval_py_strip(text), *b = NULL, *c = NULL;
    if (!a || !(b = eval_py_replace(a, " [title]", ". "))) goto done;
    // re.sub(r"\[.*?\]", "", b): from each '[' the nearest ']' on the same line closes the span;
    // a '[' with no such ']' stays
    eval_buf out = {0};
    size_t n = strlen(b), i = 0;
    while (i < n) {
        if (b[i] == '[') {
            size_t j = i + 1;
            while (j < n && b[j] != ']' && b[j] != '\n') j++;
            if (j < n && b[j] == ']') {
                i = j + 1;
                continue;
            }
        }
        if (eval_buf_append(&out, b + i, 1)) {
            eval_buf_free(&out);
            goto done;
        }
        i++;
    }
    char *d = eval_buf_take(&out);
    if (d) {
        c = eval_py_replace(d, "  ", " ");
        free(d);
    }
done:
    free(a);
    free(b);
    return c;
}

// ---- field helpers ---------------------------------------------------------------------------

static const char *get_str(const json_t *rec, const char *where, const char *key) {
    return json_get_str(rec, where, key, 1);
}

// A string array field (or the given array value); n_out counts it.
static int get_str_array(const json_t *arr, const char *where, const char *key, char ***out, int32_t *n_out) {
    if (!json_is_array(arr))
        return arwkv_set_error("%s: field '%s' must be an array of strings, found %s", where, key,
                               arr ? json_type_label(arr) : "nothing");
    size_t n = json_array_size(arr);
    if (n == 0 || n > EVAL_MAX_CHOICES)
        return arwkv_set_error("%s: field '%s' has %zu entries, expected 1..%d", where, key, n, EVAL_MAX_CHOICES);
    char **v = calloc(n, sizeof *v);
    if (!v) return arwkv_set_error("%s: out of memory", where);
    *out = v;
    *n_out = (int32_t)n;
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_array_get(arr, i);
        if (!json_is_string(s))
            return arwkv_set_error("%s: field '%s'[%zu] must be a string, found %s", where, key, i, json_type_label(s));
        if (!(v[i] = eval_strdup(json_string_value(s)))) return -1;
    }
    return 0;
}

// The gold index from an integer, a digit string, a label from labels, or a letter A..Z.
static int parse_answer(const json_t *v, const char *where, const char *key, const json_t *labels, int32_t n, int32_t *gold) {
    int64_t g = -1;
    if (json_is_integer(v)) {
        g = json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        for (size_t i = 0; labels && i < json_array_size(labels); i++)
            if (json_is_string(json_array_get(labels, i)) && !strcmp(json_string_value(json_array_get(labels, i)), s)) g = (int64_t)i;
        if (labels) {
            if (g < 0) return arwkv_set_error("%s: field '%s' = \"%s\" names no choice label", where, key, s);
        } else if (s[0] >= '0' && s[0] <= '9') {
            char *end;
            g = strtoll(s, &end, 10);
            if (*end) g = -1;
        } else if (s[0] >= 'A' && s[0] <= 'Z' && !s[1]) {
            g = s[0] - 'A';
        }
        if (g < 0) return arwkv_set_error("%s: field '%s' = \"%s\" names no choice", where, key, s);
    } else {
        return arwkv_set_error("%s: field '%s' must be an integer or a string, found %s", where, key,
                               v ? json_type_label(v) : "nothing");
    }
    if (g < 0 || g >= n) return arwkv_set_error("%s: field '%s' = %lld is out of range for %d choices", where, key, (long long)g, n);
    *gold = (int32_t)g;
    return 0;
}

// ---- per-task preprocessing --------------------------------------------------------------------

static int doc_mc(eval_doc *d, json_t *rec, const char *where, int arc) {
    const char *qkey = json_field_present(rec, "question") ? "question" : "context";
    if (!json_field_present(rec, qkey)) return arwkv_set_error("%s: expected a \"question\" or \"context\" field", where);
    const char *q = get_str(rec, where, qkey);
    if (!q) return -1;
    const json_t *ch = json_object_get(rec, "choices"), *labels = NULL;
    if (json_is_object(ch)) {   // ARC: {"text": [...], "label": [...]}
        labels = json_object_get(ch, "label");
        ch = json_object_get(ch, "text");
    }
    if (get_str_array(ch, where, "choices", &d->choices, &d->n_choices)) return -1;
    const char *akey = json_field_present(rec, "answerKey") ? "answerKey" : "answer";
    if (parse_answer(json_object_get(rec, akey), where, akey, labels, d->n_choices, &d->gold)) return -1;
    eval_buf s = {0};
    if (arc ? eval_buf_printf(&s, "Question: %s\nAnswer:", q) : eval_buf_puts(&s, q)) return -1;
    d->text = eval_buf_take(&s);
    return d->text ? 0 : -1;
}

static int doc_mmlu(eval_doc *d, json_t *rec, const char *where) {
    const char *q = get_str(rec, where, "question"), *subj = get_str(rec, where, "subject");
    if (!q || !subj) return -1;
    char **opts = NULL;
    int32_t n = 0;
    int rc = get_str_array(json_object_get(rec, "choices"), where, "choices", &opts, &n);
    if (!rc && n != 4) rc = arwkv_set_error("%s: field 'choices' has %d entries, MMLU needs 4", where, n);
    char *qs = rc ? NULL : eval_py_strip(q);
    eval_buf s = {0};
    if (!rc && (!qs || eval_buf_printf(&s, "%s\nA. %s\nB. %s\nC. %s\nD. %s\nAnswer:", qs, opts[0], opts[1], opts[2], opts[3])))
        rc = -1;
    free(qs);
    for (int32_t i = 0; i < n; i++) free(opts[i]);
    free(opts);
    if (rc) return eval_buf_free(&s), -1;
    d->text = eval_buf_take(&s);
    if (!d->text || !(d->subject = eval_strdup(subj))) return -1;
    static const char *const letters[4] = {"A", "B", "C", "D"};
    if (!(d->choices = calloc(4, sizeof *d->choices))) return arwkv_set_error("%s: out of memory", where);
    d->n_choices = 4;
    for (int i = 0; i < 4; i++)
        if (!(d->choices[i] = eval_strdup(letters[i]))) return -1;
    return parse_answer(json_object_get(rec, "answer"), where, "answer", NULL, 4, &d->gold);
}

static int doc_winogrande(eval_doc *d, json_t *rec, const char *where) {
    const char *sent = get_str(rec, where, "sentence"), *o1 = get_str(rec, where, "option1"),
               *o2 = get_str(rec, where, "option2"), *ans = get_str(rec, where, "answer");
    if (!sent || !o1 || !o2 || !ans) return -1;
    const char *blank = strchr(sent, '_');
    if (!blank) return arwkv_set_error("%s: field 'sentence' has no '_' blank", where);
    if (strcmp(ans, "1") && strcmp(ans, "2")) return arwkv_set_error("%s: field 'answer' = \"%s\", expected \"1\" or \"2\"", where, ans);
    d->gold = ans[0] == '1' ? 0 : 1;
    size_t pre = (size_t)(blank - sent);
    if (!(d->choices = calloc(2, sizeof *d->choices))) return arwkv_set_error("%s: out of memory", where);
    d->n_choices = 2;
    const char *opt[2] = {o1, o2};
    for (int i = 0; i < 2; i++) {
        eval_buf s = {0};
        if (eval_buf_append(&s, sent, pre) || eval_buf_puts(&s, opt[i])) return eval_buf_free(&s), -1;
        if (!(d->choices[i] = eval_buf_take(&s))) return -1;
    }
    d->target = eval_py_strip(blank + 1);
    return d->target ? 0 : -1;
}

static int doc_hellaswag(eval_doc *d, json_t *rec, const char *where) {
    const char *act = get_str(rec, where, "activity_label"), *ca = get_str(rec, where, "ctx_a"),
               *cb = get_str(rec, where, "ctx_b");
    if (!act || !ca || !cb) return -1;
    if (get_str_array(json_object_get(rec, "endings"), where, "endings", &d->choices, &d->n_choices)) return -1;
    for (int32_t i = 0; i < d->n_choices; i++) {
        char *p = eval_hellaswag_preprocess(d->choices[i]);
        if (!p) return -1;
        free(d->choices[i]);
        d->choices[i] = p;
    }
    if (parse_answer(json_object_get(rec, "label"), where, "label", NULL, d->n_choices, &d->gold)) return -1;
    char *cap = eval_py_capitalize(cb);
    eval_buf s = {0};
    int rc = !cap || eval_buf_printf(&s, "%s: %s %s", act, ca, cap);
    free(cap);
    char *raw = rc ? NULL : eval_buf_take(&s);
    eval_buf_free(&s);
    if (!raw) return -1;
    d->text = eval_hellaswag_preprocess(raw);
    free(raw);
    return d->text ? 0 : -1;
}

static int doc_lambada(eval_doc *d, json_t *rec, const char *where) {
    const char *text = get_str(rec, where, "text");
    if (!text) return -1;
    // text.split(" "): " " + the last piece is the target, the other pieces re-joined the context
    const char *last = strrchr(text, ' ');
    eval_buf s = {0};
    if (last) {
        d->text = eval_strndup(text, (size_t)(last - text));
        d->target = eval_strdup(last);
    } else if (!eval_buf_printf(&s, " %s", text)) {
        d->text = eval_strdup("");
        d->target = eval_buf_take(&s);
    }
    return d->text && d->target ? 0 : -1;
}

static int doc_gsm8k(eval_doc *d, json_t *rec, const char *where) {
    const char *q = get_str(rec, where, "question"), *a = get_str(rec, where, "answer");
    if (!q || !a) return -1;
    eval_buf s = {0};
    if (eval_buf_printf(&s, "Question: %s\nAnswer:", q)) return -1;
    d->text = eval_buf_take(&s);
    d->target = eval_strdup(a);
    return d->text && d->target ? 0 : -1;
}

int eval_doc_from_json(eval_doc *d, const eval_task *t, json_t *rec, const char *where) {
    memset(d, 0, sizeof *d);
    d->gold = -1;
    if (!json_is_object(rec)) return arwkv_set_error("%s: expected a JSON object, found %s", where, json_type_label(rec));
    d->raw = json_incref(rec);
    int rc;
    switch (t->kind) {
    case EVAL_TASK_MC: rc = doc_mc(d, rec, where, 0); break;
    case EVAL_TASK_ARC: rc = doc_mc(d, rec, where, 1); break;
    case EVAL_TASK_MMLU: rc = doc_mmlu(d, rec, where); break;
    case EVAL_TASK_WINOGRANDE: rc = doc_winogrande(d, rec, where); break;
    case EVAL_TASK_HELLASWAG: rc = doc_hellaswag(d, rec, where); break;
    case EVAL_TASK_LAMBADA: rc = doc_lambada(d, rec, where); break;
    case EVAL_TASK_GSM8K: rc = doc_gsm8k(d, rec, where); break;
    case EVAL_TASK_PERPLEXITY: {
        const char *text = get_str(rec, where, "text");
        rc = text && (d->target = eval_strdup(text)) ? 0 : -1;
        break;
    }
    default: rc = arwkv_set_error("%s: task '%s' has no reader", where, t->name);
    }
    if (rc) eval_doc_free(d);
    return rc;
}

void eval_doc_free(eval_doc *d) {
    free(d->text);
    free(d->target);
    for (int32_t i = 0; d->choices && i < d->n_choices; i++) free(d->choices[i]);
    free(d->choices);
    free(d->subject);
    if (d->raw) json_decref(d->raw);
    memset(d, 0, sizeof *d);
}

void eval_docs_free(eval_docs *docs) {
    for (size_t i = 0; i < docs->n; i++) eval_doc_free(&docs->docs[i]);
    free(docs->docs);
    docs->docs = NULL;
    docs->n = 0;
}

typedef struct {
    eval_docs *out;
    const eval_task *t;
    const char *path;
    size_t cap;
} docs_ctx;

static int add_doc_line(void *ctx, json_t *rec, size_t line) {
    docs_ctx *c = ctx;
    char where[512];
    snprintf(where, sizeof where, "%s:%zu", c->path, line);
    if (c->out->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        eval_doc *nd = realloc(c->out->docs, cap * sizeof *nd);
        if (!nd) return arwkv_set_error("%s: out of memory", where);
        c->out->docs = nd;
        c->cap = cap;
    }
    if (eval_doc_from_json(&c->out->docs[c->out->n], c->t, rec, where)) return -1;
    c->out->n++;
    return 0;
}

int eval_docs_read(eval_docs *out, const eval_task *t, const char *path) {
    size_t len;
    char *data = file_read_all(path, &len);
    if (!data) return arwkv_wrap_error("%s", path);
    docs_ctx c = {out, t, path, out->n};
    int rc = jsonl_for_each(path, data, len, add_doc_line, &c);
    free(data);
    return rc;
}
