// Scoring token sequences: summed negative log-likelihood and windowed perplexity.
#include <math.h>

#include "kernels/kernels.h"
#include "models/model.h"

int arwkv_sequence_nll(const arwkv_model *m, arwkv_state *s, const int32_t *ids, int32_t n, double *sum, float *nll) {
    int V = m->cfg.n_vocab, chunk = s->chunk;
    for (int32_t i = 0; i < n; i++)   // targets are never fed forward, so check them here
        if (ids[i] < 0 || ids[i] >= V)
            return arwkv_set_error("token id %d at position %d is outside the vocabulary (size %d)", ids[i], i, V);
    float *logits = malloc((size_t)chunk * V * sizeof(float));
    if (!logits) return arwkv_set_error("out of memory for %d x %d logits", chunk, V);
    arwkv_state_reset(s);
    double total = 0.0;
    int rc = 0;
    for (int32_t t0 = 0; t0 < n - 1 && rc == 0; t0 += chunk) {
        int T = n - 1 - t0 < chunk ? n - 1 - t0 : chunk;   // inputs t0..t0+T-1 predict t0+1..t0+T
        rc = arwkv_forward(m, s, ids + t0, T, logits, 1);
        for (int t = 0; t < T && rc == 0; t++) {
            double l = cross_entropy_forward(logits + (size_t)t * V, ids + t0 + t + 1, 1, V);
            total += l;
            if (nll) nll[t0 + t] = (float)l;
        }
    }
    free(logits);
    *sum = total;
    return rc;
}

int arwkv_perplexity(const arwkv_model *m, const int32_t *ids, int64_t n, int32_t ctx, double *ppl, int64_t *n_scored,
                     int show_progress) {
    if (ctx < 2) return arwkv_set_error("context length %d is too short to score (need 2 or more)", ctx);
    arwkv_state *s;
    if (arwkv_state_init(&s, m, ctx)) return -1;
    progress p;
    progress_init(&p, "perplexity", "tokens", n);
    double total = 0.0;
    int64_t count = 0;
    int rc = 0;
    for (int64_t w0 = 0; w0 < n && rc == 0; w0 += ctx) {
        int32_t len = (int32_t)(n - w0 < ctx ? n - w0 : ctx);
        if (len < 2) break;
        double sum = 0.0;
        rc = arwkv_sequence_nll(m, s, ids + w0, len, &sum, NULL);
        total += sum;
        count += len - 1;
        if (show_progress && rc == 0) {
            char extra[64];
            snprintf(extra, sizeof extra, "ppl %.4f", exp(total / (double)count));
            progress_update(&p, w0 + len, extra);
        }
    }
    if (show_progress) progress_end(&p);
    arwkv_state_free(s);
    if (rc) return -1;
    if (count == 0) return arwkv_set_error("nothing to score: need at least 2 tokens");
    *ppl = exp(total / (double)count);
    *n_scored = count;
    return 0;
}
