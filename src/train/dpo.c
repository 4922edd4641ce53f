// DPO (docs/distillation.md, stage 3): preference pairs, summed response log-probs of the policy (the
// training engine) and of a frozen reference (the inference API, computed once per pair), and the
// sigmoid loss of TRL with label smoothing 0.
#include <jansson.h>
#include <math.h>

#include "io/json_util.h"
#include "kernels/train_ops.h"
#include "tokenizer/tokenizer.h"
#include "train/distill.h"

// log sigmoid(z) without overflow
static double log_sigmoid(double z) { return z >= 0 ? -log1p(exp(-z)) : z - log1p(exp(z)); }

double dpo_loss(const double *pc, const double *pr, const double *rc, const double *rr, int n, double beta,
                double *gc, double *gr, double *accuracy, double *margin, double *chosen_reward,
                double *rejected_reward) {
    double loss = 0, acc = 0, mar = 0, crw = 0, rrw = 0;
    for (int i = 0; i < n; i++) {
        double cr = beta * (pc[i] - rc[i]), rj = beta * (pr[i] - rr[i]), z = cr - rj;
        loss -= log_sigmoid(z);
        // d/dz of -log sigmoid(z) = -sigmoid(-z)
        double g = -1.0 / (1.0 + exp(z)) * beta / n;
        if (gc) gc[i] = g;
        if (gr) gr[i] = -g;
        acc += cr > rj;
        mar += z;
        crw += cr;
        rrw += rj;
    }
    double k = n ? 1.0 / n : 0;
    if (accuracy) *accuracy = acc * k;
    if (margin) *margin = mar * k;
    if (chosen_reward) *chosen_reward = crw * k;
    if (rejected_reward) *rejected_reward = rrw * k;
    return loss * k;
}

// ---- reading pairs ---------------------------------------------------------------------------
static int encode_text(const tokenizer *tk, const char *s, int32_t **ids, size_t *n) {
    return tokenizer_encode(tk, s, strlen(s), ids, n, 0);
}

static int messages_of(const json_t *arr, tokenizer_message *out, size_t *n, const char *path, size_t line) {
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *m = json_array_get(arr, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        const char *content = json_string_value(json_object_get(m, "content"));
        if (!role || !content)
            return arwkv_set_error("%s:%zu: message %zu needs string \"role\" and \"content\"", path, line, i);
        out[(*n)++] = (tokenizer_message){role, content};
    }
    return 0;
}

// one side of a pair: prompt then response, as ids with the prompt length
static int encode_side(const tokenizer *tk, const json_t *prompt, const json_t *resp, dpo_seq *out, const char *path,
                       size_t line) {
    int32_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    int rc = 0;
    if (json_is_string(resp)) {
        if (!json_is_string(prompt)) return arwkv_set_error("%s:%zu: a string response needs a string \"prompt\"", path, line);
        rc = encode_text(tk, json_string_value(prompt), &a, &na);
        if (!rc) rc = encode_text(tk, json_string_value(resp), &b, &nb);
    } else if (json_is_array(resp)) {
        size_t np = prompt && json_is_array(prompt) ? json_array_size(prompt) : 0, nm = 0;
        tokenizer_message *msgs = calloc(np + json_array_size(resp) + 1, sizeof *msgs);
        uint8_t *mask = NULL;
        if (prompt && !json_is_array(prompt)) rc = arwkv_set_error("%s:%zu: with message lists, \"prompt\" must be one too", path, line);
        if (!rc && np) rc = messages_of(prompt, msgs, &nm, path, line);
        size_t n_prompt_msgs = nm;
        if (!rc) rc = messages_of(resp, msgs, &nm, path, line);
        // the prompt part: the rendered prompt messages (their length is where the response starts)
        if (!rc && n_prompt_msgs) rc = tokenizer_chat_encode(tk, msgs, n_prompt_msgs, 0, &a, &mask, &na);
        free(mask);
        mask = NULL;
        if (!rc) rc = tokenizer_chat_encode(tk, msgs, nm, 0, &b, &mask, &nb);
        free(mask);
        free(msgs);
        if (!rc && (nb < na || memcmp(a, b, na * sizeof *a)))
            rc = arwkv_set_error("%s:%zu: the rendered prompt is not a prefix of the rendered conversation", path, line);
        if (!rc) {   // b holds the whole conversation: keep it, its first na tokens are the prompt
            out->ids = b;
            out->n = (int32_t)nb;
            out->n_prompt = (int32_t)na;
            free(a);
            if (nb == na) return arwkv_set_error("%s:%zu: empty response", path, line);
            return 0;
        }
    } else {
        rc = arwkv_set_error("%s:%zu: \"chosen\" and \"rejected\" must be strings or message lists", path, line);
    }
    if (!rc && nb == 0) rc = arwkv_set_error("%s:%zu: empty response", path, line);
    if (!rc) {
        out->ids = malloc((na + nb) * sizeof *out->ids);
        if (!out->ids) rc = arwkv_set_error("dpo: out of memory");
    }
    if (!rc) {
        memcpy(out->ids, a, na * sizeof *a);
        memcpy(out->ids + na, b, nb * sizeof *b);
        out->n = (int32_t)(na + nb);
        out->n_prompt = (int32_t)na;
    }
    free(a);
    free(b);
    return rc;
}

typedef struct {
    const tokenizer *tk;
    const char *path;
    dpo_pair *ps;
    size_t n, cap;
} pairs_ctx;

static int add_pair_line(void *ctx, json_t *obj, size_t line) {
    pairs_ctx *c = ctx;
    if (c->n == c->cap) {
        size_t cap = c->cap * 2 + 64;
        dpo_pair *q = realloc(c->ps, cap * sizeof *q);
        if (!q) return arwkv_set_error("dpo: out of memory for %zu pairs", cap);
        c->ps = q;
        c->cap = cap;
    }
    dpo_pair *p = &c->ps[c->n++];
    memset(p, 0, sizeof *p);
    const json_t *pr = json_object_get(obj, "prompt");
    if (encode_side(c->tk, pr, json_object_get(obj, "chosen"), &p->chosen, c->path, line)) return -1;
    return encode_side(c->tk, pr, json_object_get(obj, "rejected"), &p->rejected, c->path, line);
}

int dpo_read_pairs(const char *model_dir, const char *path, dpo_pair **pairs, int64_t *n_pairs) {
    size_t len;
    char *data = file_read_all(path, &len);
    if (!data) return arwkv_set_error("%s: cannot read", path);
    tokenizer *tk = NULL;
    pairs_ctx c = {NULL, path, NULL, 0, 0};
    int rc = tokenizer_load(&tk, model_dir);
    c.tk = tk;
    if (!rc) rc = jsonl_for_each(path, data, len, add_pair_line, &c);
    if (!rc && c.n == 0) rc = arwkv_set_error("%s: no preference pairs", path);
    tokenizer_free(tk);
    free(data);
    if (rc) {
        dpo_free_pairs(c.ps, (int64_t)c.n);
        return -1;
    }
    *pairs = c.ps;
    *n_pairs = (int64_t)c.n;
    return 0;
}

void dpo_free_pairs(dpo_pair *pairs, int64_t n) {
    for (int64_t i = 0; pairs && i < n; i++) {
        free(pairs[i].chosen.ids);
        free(pairs[i].rejected.ids);
    }
    free(pairs);
}

// ---- training --------------------------------------------------------------------------------
int dpo_init(dpo *d, const arwkv_model *ref, const dpo_pair *pairs, int64_t n_pairs, float beta, int32_t P,
             int32_t T, int shuffle, uint64_t seed) {
    memset(d, 0, sizeof *d);
    d->ref = ref;
    d->pairs = pairs;
    d->n_pairs = n_pairs;
    d->beta = beta;
    d->P = P;
    d->T = T;
    d->shuffle = shuffle;
    d->seed = seed;
    d->order_epoch = -1;
    int32_t V = arwkv_model_config(ref)->n_vocab, R = 2 * P;
    if (arwkv_state_init(&d->rs, ref, T + 1)) return -1;
    d->order = malloc((size_t)n_pairs * sizeof *d->order);
    d->ref_logp = malloc((size_t)n_pairs * 2 * sizeof *d->ref_logp);
    d->in = malloc((size_t)R * T * sizeof *d->in);
    d->tg = malloc((size_t)R * T * sizeof *d->tg);
    d->nll = malloc((size_t)R * T * sizeof *d->nll);
    d->dlogits = malloc((size_t)R * T * V * sizeof *d->dlogits);
    d->pol = malloc((size_t)R * 8 * sizeof *d->pol);
    if (!d->order || !d->ref_logp || !d->in || !d->tg || !d->nll || !d->dlogits || !d->pol) {
        dpo_free(d);
        return arwkv_set_error("dpo: out of memory for %d pairs of %d tokens", P, T);
    }
    d->refb = d->pol + R;
    d->pc = d->pol + 2 * R;
    d->pr = d->pc + P;
    d->rc = d->pr + P;
    d->rr = d->rc + P;
    d->gc = d->rr + P;
    d->gr = d->gc + P;
    for (int64_t i = 0; i < 2 * n_pairs; i++) d->ref_logp[i] = NAN;
    return 0;
}

void dpo_free(dpo *d) {
    arwkv_state_free(d->rs);
    free(d->order);
    free(d->ref_logp);
    free(d->in);
    free(d->tg);
    free(d->nll);
    free(d->dlogits);
    free(d->pol);
    memset(d, 0, sizeof *d);
}

// pair k of the whole run: epoch k / n in a seeded order
static int64_t pair_at(dpo *d, int64_t k) {
    int64_t n = d->n_pairs, epoch = k / n;
    if (epoch != d->order_epoch) {
        rng_epoch_order(d->order, n, d->shuffle, d->seed, epoch);
        d->order_epoch = epoch;
    }
    return d->order[k % n];
}

// row of T inputs / targets for one sequence (cut to T + 1 tokens); targets only on response tokens
static void fill_row(const dpo_seq *s, int32_t T, int32_t pad, int32_t *in, int32_t *tg) {
    int32_t n = s->n < T + 1 ? s->n : T + 1;
    for (int32_t t = 0; t < T; t++) {
        in[t] = t < n ? s->ids[t] : pad;
        tg[t] = t + 1 < n && t + 1 >= s->n_prompt ? s->ids[t + 1] : -1;
    }
}

// the reference's summed response log-prob of one sequence, over the same (cut) tokens
static int ref_logp(dpo *d, const dpo_seq *s, double *out) {
    int32_t n = s->n < d->T + 1 ? s->n : d->T + 1;
    double sum;
    if (arwkv_sequence_nll(d->ref, d->rs, s->ids, n, &sum, d->nll)) return -1;
    double lp = 0;
    for (int32_t i = s->n_prompt > 1 ? s->n_prompt : 1; i < n; i++) lp -= d->nll[i - 1];
    *out = lp;
    return 0;
}

int dpo_batch(dpo *d, train_model *tm, int64_t index, float grad_scale, double *loss) {
    int32_t P = d->P, T = d->T, R = 2 * P, V = tm->m->cfg.n_vocab;
    if (tm->B != R || tm->T != T) return arwkv_set_error("dpo: batch %d x %d, expected %d x %d", tm->B, tm->T, R, T);
    // the sequence log-probs are summed on the host from the logits
    if (!tm->m->be->host) return arwkv_set_error("dpo: runs on the CPU only (--device %s)", tm->m->be->name);
    int32_t pad = tm->m->cfg.eos_id >= 0 && tm->m->cfg.eos_id < V ? tm->m->cfg.eos_id : 0;
    for (int32_t i = 0; i < P; i++) {
        int64_t k = pair_at(d, index * P + i);
        const dpo_pair *pp = &d->pairs[k];
        const dpo_seq *side[2] = {&pp->chosen, &pp->rejected};
        for (int j = 0; j < 2; j++) {
            fill_row(side[j], T, pad, d->in + (size_t)(2 * i + j) * T, d->tg + (size_t)(2 * i + j) * T);
            double *r = &d->ref_logp[2 * k + j];
            if (isnan(*r) && ref_logp(d, side[j], r)) return -1;
            d->refb[2 * i + j] = *r;
        }
    }
    if (train_forward_logits(tm, d->in)) return -1;
    crossentropy_forward(d->nll, tm->logits, d->tg, R * T, V);
    for (int32_t r = 0; r < R; r++) {
        double lp = 0;
        for (int32_t t = 0; t < T; t++) lp -= d->nll[r * T + t];
        d->pol[r] = lp;
    }
    for (int32_t i = 0; i < P; i++) {
        d->pc[i] = d->pol[2 * i];
        d->pr[i] = d->pol[2 * i + 1];
        d->rc[i] = d->refb[2 * i];
        d->rr[i] = d->refb[2 * i + 1];
    }
    double acc, mar, crw, rrw;
    *loss = dpo_loss(d->pc, d->pr, d->rc, d->rr, P, d->beta, d->gc, d->gr, &acc, &mar, &crw, &rrw);
    // d logp / d logits = onehot - softmax = -(the cross-entropy gradient), row by row
    memset(d->dlogits, 0, (size_t)R * T * V * sizeof(float));
    for (int32_t r = 0; r < R; r++) {
        double g = r % 2 ? d->gr[r / 2] : d->gc[r / 2];
        crossentropy_backward(d->dlogits + (size_t)r * T * V, tm->logits + (size_t)r * T * V, d->tg + (size_t)r * T,
                              (float)(-g * grad_scale), T, V);
    }
    memcpy(tm->logits, d->dlogits, (size_t)R * T * V * sizeof(float));
    if (train_backward(tm)) return -1;
    d->step_loss += *loss;
    d->step_acc += acc;
    d->step_margin += mar;
    d->step_rc += crw;
    d->step_rr += rrw;
    d->step_micro++;
    return 0;
}

static int hook_micro(void *ctx, train_model *tm, int64_t index, const int32_t *in, const int32_t *tg,
                      float grad_scale, double *loss) {
    (void)in, (void)tg;
    return dpo_batch(ctx, tm, index, grad_scale, loss);
}

static void hook_step_begin(void *ctx) {
    dpo *d = ctx;
    d->step_loss = d->step_acc = d->step_margin = d->step_rc = d->step_rr = 0;
    d->step_micro = 0;
}

static void hook_log(void *ctx, char *buf, size_t cap) {
    dpo *d = ctx;
    double k = d->step_micro ? 1.0 / (double)d->step_micro : 0;
    snprintf(buf, cap,
             ", \"rewards_chosen\": %.6f, \"rewards_rejected\": %.6f, \"rewards_accuracy\": %.4f, "
             "\"rewards_margin\": %.6f",
             d->step_rc * k, d->step_rr * k, d->step_acc * k, d->step_margin * k);
}

trainer_hooks dpo_hooks(dpo *d) {
    return (trainer_hooks){.ctx = d, .rows_per_item = 2, .own_data = 1, .micro_batch = hook_micro,
                           .step_begin = hook_step_begin, .log_fields = hook_log};
}
