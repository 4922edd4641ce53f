// Few-shot prompts: description + shots + doc_to_text, with the harness's first_n and default
// (random.Random(seed).sample) samplers.
#include <stdlib.h>

#include "eval/eval.h"
#include "eval/eval_text.h"

char *eval_doc_description(const eval_task *t, const eval_doc *doc) {
    if (!t->per_subject || !doc->subject) return eval_strdup("");
    // the harness's subject is the config name with '_' read as ' '
    char *subj = eval_py_replace(doc->subject, "_", " ");
    eval_buf s = {0};
    int rc = !subj || eval_buf_printf(&s, "The following are multiple choice questions (with answers) about %s.\n\n", subj);
    free(subj);
    if (rc) return eval_buf_free(&s), NULL;
    return eval_buf_take(&s);
}

// doc_to_text as a shot shows it: the gold partial context for multiple-input tasks
static const char *shot_text(const eval_task *t, const eval_doc *d) {
    return t->multiple_input ? d->choices[d->gold] : d->text;
}

static const char *shot_target(const eval_task *t, const eval_doc *d) {
    if (t->output == EVAL_OUT_MULTIPLE_CHOICE && !t->multiple_input) return d->choices[d->gold];
    return d->target ? d->target : "";
}

static int group_add(eval_fewshot *f, size_t g, size_t idx) {
    size_t n = f->group_n[g];
    if ((n & (n - 1)) == 0) {   // grow at powers of two
        size_t *p = realloc(f->group_idx[g], (n ? 2 * n : 1) * sizeof *p);
        if (!p) return arwkv_set_error("few-shot: out of memory");
        f->group_idx[g] = p;
    }
    f->group_idx[g][f->group_n[g]++] = idx;
    return 0;
}

static int group_of(const eval_fewshot *f, const char *subject, size_t *g) {
    for (size_t i = 0; i < f->n_groups; i++)
        if (!f->group_subject[i] || (subject && !strcmp(f->group_subject[i], subject))) {
            *g = i;
            return 1;
        }
    return 0;
}

int eval_fewshot_init(eval_fewshot *f, const eval_task *t, const eval_doc *pool, size_t npool,
                      int32_t k, int32_t pool_is_eval_split, eval_sampler sampler, uint32_t seed) {
    memset(f, 0, sizeof *f);
    f->task = t;
    f->pool = pool;
    f->npool = npool;
    f->k = k;
    f->pool_is_eval_split = pool_is_eval_split;
    f->sampler = sampler;
    if (k <= 0) return 0;
    if (t->output == EVAL_OUT_ROLLING) return arwkv_set_error("task '%s' takes no shots (asked for %d)", t->name, k);
    if (!pool || npool == 0) return arwkv_set_error("task '%s': %d shots asked for but the shot pool is empty", t->name, k);
    // at most one group per pool doc; per-subject groups by first appearance
    size_t cap = t->per_subject ? npool : 1;
    f->group_subject = calloc(cap, sizeof *f->group_subject);
    f->group_idx = calloc(cap, sizeof *f->group_idx);
    f->group_n = calloc(cap, sizeof *f->group_n);
    f->draw = calloc((size_t)k + 1, sizeof *f->draw);
    if (!f->group_subject || !f->group_idx || !f->group_n || !f->draw) goto oom;
    if (!t->per_subject) f->n_groups = 1;
    for (size_t i = 0; i < npool; i++) {
        size_t g = 0;
        if (t->per_subject) {
            const char *s = pool[i].subject ? pool[i].subject : "";
            if (!group_of(f, s, &g)) {
                g = f->n_groups;
                if (!(f->group_subject[g] = eval_strdup(s))) goto fail;
                f->n_groups++;
            }
        }
        if (group_add(f, g, i)) goto fail;
    }
    f->group_rng = calloc(f->n_groups, sizeof *f->group_rng);
    if (!f->group_rng) goto oom;
    for (size_t g = 0; g < f->n_groups; g++) pyrandom_seed(&f->group_rng[g], seed);
    return 0;
oom:
    arwkv_set_error("few-shot: out of memory");
fail:
    eval_fewshot_free(f);
    return -1;
}

void eval_fewshot_free(eval_fewshot *f) {
    for (size_t g = 0; g < f->n_groups; g++) {
        free(f->group_subject ? f->group_subject[g] : NULL);
        free(f->group_idx ? f->group_idx[g] : NULL);
    }
    free(f->group_subject);
    free(f->group_idx);
    free(f->group_n);
    free(f->group_rng);
    free(f->draw);
    memset(f, 0, sizeof *f);
}

static int append_shots(eval_fewshot *f, const eval_doc *doc, eval_buf *s) {
    const eval_task *t = f->task;
    size_t g;
    if (!group_of(f, doc->subject, &g))
        return arwkv_set_error("task '%s': no shot documents for subject '%s'", t->name, doc->subject ? doc->subject : "");
    size_t n = f->group_n[g], want = (size_t)f->k + (f->pool_is_eval_split ? 1 : 0);
    if (want > n)
        return arwkv_set_error("task '%s': %zu shots needed but the pool%s%s has %zu documents", t->name, want,
                               t->per_subject ? " of subject " : "", t->per_subject ? f->group_subject[g] : "", n);
    if (f->sampler == EVAL_SAMPLER_FIRST_N) {
        for (size_t i = 0; i < want; i++) f->draw[i] = i;
    } else if (pyrandom_sample(&f->group_rng[g], n, want, f->draw)) {
        return -1;
    }
    // the harness drops every drawn shot equal to the evaluated doc, then keeps k
    int32_t used = 0;
    for (size_t i = 0; i < want && used < f->k; i++) {
        const eval_doc *shot = &f->pool[f->group_idx[g][f->draw[i]]];
        if (shot->raw && doc->raw && json_equal(shot->raw, doc->raw)) continue;
        const char *target = shot_target(t, shot);
        if (eval_buf_puts(s, shot_text(t, shot))) return -1;
        if (target[0] && (eval_buf_puts(s, " ") || eval_buf_puts(s, target) || eval_buf_puts(s, "\n\n"))) return -1;
        used++;
    }
    return 0;
}

int eval_fewshot_context(eval_fewshot *f, const eval_doc *doc, char **out) {
    *out = NULL;
    eval_buf s = {0};
    char *desc = eval_doc_description(f->task, doc);
    if (!desc || eval_buf_puts(&s, desc)) goto fail;
    if (f->k > 0 && append_shots(f, doc, &s)) goto fail;
    if (!f->task->multiple_input && eval_buf_puts(&s, doc->text ? doc->text : "")) goto fail;
    free(desc);
    *out = eval_buf_take(&s);
    return *out ? 0 : -1;
fail:
    free(desc);
    eval_buf_free(&s);
    return -1;
}
