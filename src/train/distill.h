// Distillation of a Qwen2 teacher into an ARWKV student (docs/distillation.md): stage 1 attention
// alignment, stage 2 word-level KD, and DPO. Each stage is a trainer_hooks for the shared loop.
#ifndef ARWKV_TRAIN_DISTILL_H
#define ARWKV_TRAIN_DISTILL_H

#include "train/trainer.h"

// ---- stages 1 and 2 ----------------------------------------------------------------------------
typedef struct {
    int stage;                 // 1 or 2
    const arwkv_model *teacher;
    float temperature;         // stage 2 (default 1)
    float ce_weight;           // stage 2: weight of the next-token CE added to the KL (default 0)
    arwkv_state *ts;           // the teacher's state, one sequence at a time
    const backend *be;         // of both models: every buffer below but host* lives there
    int32_t B, T, L, D, Vs, Vt;
    float *cap_h, *cap_y;      // stage 1: one sequence's capture (L, T, D) each
    float *h, *y, *ys, *dy;    // stage 1: (L, B*T, D) teacher h and y; (B*T, D) student y and dy
    float *tlogits, *dlogits;  // stage 2: teacher (B*T, Vt), student gradient (B*T, Vs)
    float *losses, *ce;        // per-position KL (stage 2) or alignment loss (stage 1), and CE, (B*T)
    uint8_t *mask;             // stage 2: (B*T) counted positions
    int32_t *tg;               // stage 2: (B*T) next-token targets, -1 where not counted
    float *host;               // host staging of per-position losses (B*T)
    int32_t *host_ids;
    uint8_t *host_mask;
    double *layer_loss;        // stage 1: per-layer loss of the last micro-batch (L)
    double *step_layer, step_kl, step_ce;   // sums over the current optimiser step's micro-batches
    int64_t step_micro;
} distill;

// Checks that teacher and student fit together (same width and depth for stage 1, student vocab <=
// teacher vocab) and sizes the buffers for batches of B x T.
int distill_init(distill *d, int stage, const arwkv_model *teacher, const arwkv_model *student, int32_t B,
                 int32_t T);
void distill_free(distill *d);
// Stage 1 on inputs (B, T): teacher forward with capture, every layer's time-mix block aligned;
// loss = mean over layers of mean over (b, t) of ||y_T - y_S||_2 / sqrt(D). Per-layer losses in
// d->layer_loss. Accumulates grad_scale * d loss / d params.
int distill_align_batch(distill *d, train_model *tm, const int32_t *in, float grad_scale, double *loss);
// Stage 2 on inputs (B, T) and targets (tg < 0: position not counted): mean KL(p_T || p_S) over the
// counted positions, plus ce_weight * the mean next-token CE. *kl and *ce may be NULL.
int distill_kd_batch(distill *d, train_model *tm, const int32_t *in, const int32_t *tg, float grad_scale,
                     double *loss, double *kl, double *ce);
// The hooks of a stage for trainer_run, ctx = d with only stage, teacher, temperature and ce_weight
// set: their setup runs distill_init on the trainer's model (distill_free it after the run). Stage 1 trains only "*time_mixer*" tensors (within any
// --train-only / --freeze choice): nothing else gets a gradient, and weight decay must not touch it.
trainer_hooks distill_hooks(distill *d);

// ---- DPO (dpo.c) -------------------------------------------------------------------------------
// The sigmoid DPO loss over n pairs of summed sequence log-probs (policy pc, pr; reference rc, rr):
// loss = mean of -log sigmoid(beta ((pc - rc) - (pr - rr))); d loss / d pc and d pr into gc, gr
// (may be NULL); mean reward accuracy and margin (rewards are beta (p - ref)).
double dpo_loss(const double *pc, const double *pr, const double *rc, const double *rr, int n, double beta,
                double *gc, double *gr, double *accuracy, double *margin, double *chosen_reward,
                double *rejected_reward);

typedef struct {
    int32_t *ids;              // prompt + response tokens
    int32_t n, n_prompt;       // response tokens are ids[n_prompt..n)
} dpo_seq;

typedef struct {
    dpo_seq chosen, rejected;
} dpo_pair;

// Reads preference JSONL: {"prompt": str, "chosen": str, "rejected": str} (prompt and response
// tokenized separately and concatenated), or the messages form where "chosen" / "rejected" are
// message lists (with an optional "prompt" message list before them) rendered by the chat template.
int dpo_read_pairs(const char *model_dir, const char *path, dpo_pair **pairs, int64_t *n_pairs);
void dpo_free_pairs(dpo_pair *pairs, int64_t n);

typedef struct {
    const arwkv_model *ref;
    arwkv_state *rs;
    float beta;
    const dpo_pair *pairs;
    int64_t n_pairs;
    int shuffle;
    uint64_t seed;
    int64_t *order, order_epoch;
    double *ref_logp;          // cached reference log-probs, 2 per pair (NAN until computed)
    int32_t P, T;              // pairs per micro-batch, tokens per sequence
    int32_t *in, *tg;          // (2P, T): row 2i chosen, 2i+1 rejected
    float *nll, *dlogits;
    double *pol, *refb, *gc, *gr, *pc, *pr, *rc, *rr;
    double step_loss, step_acc, step_margin, step_rc, step_rr;
    int64_t step_micro;
} dpo;

int dpo_init(dpo *d, const arwkv_model *ref, const dpo_pair *pairs, int64_t n_pairs, float beta, int32_t P,
             int32_t T, int shuffle, uint64_t seed);
void dpo_free(dpo *d);
// One micro-batch of P pairs (pair selection by `index`, a seeded shuffle per epoch): policy
// forward on tm (B = 2P), reference log-probs, loss and gradients.
int dpo_batch(dpo *d, train_model *tm, int64_t index, float grad_scale, double *loss);
trainer_hooks dpo_hooks(dpo *d);

#endif
