// Training against the float64 PyTorch reference (tests/data/golden/train_next_token): 10 AdamW steps
// of next-token cross-entropy for the student and the teacher, losses, grad norms and final weights.
#include <math.h>
#include <omp.h>

#include "golden_util.h"
#include "test_util.h"
#include "train/train.h"

static const float *find_param(train_model *tm, const char *name, size_t *n) {
    for (int32_t i = 0; i < tm->n_tensors; i++)
        if (!strcmp(tm->tensors[i].name, name)) {
            *n = tm->tensors[i].n;
            return tm->params + tm->tensors[i].off;
        }
    return NULL;
}

static void run_golden(const char *label, const char *model_dir, const char *golden_path) {
    arwkv_load_opts lo = {.weight_dtype = -1, .all_f32 = 1};
    arwkv_model *m = NULL;
    golden g;
    if (arwkv_model_load(&m, model_dir, &lo) || golden_open(&g, golden_path)) {
        CHECK(0, "%s: load: %s", label, arwkv_last_error());
        return;
    }
    size_t nb, nl, nn;
    const int32_t *bt = golden_find(&g, "batches", "I32", &nb);
    const double *ref_loss = golden_find(&g, "losses", "F64", &nl), *ref_norm = golden_find(&g, "grad_norms", "F64", &nn);
    CHECK(bt && ref_loss && ref_norm && nl == nn, "%s: golden tensors", label);
    if (!bt || !ref_loss || !ref_norm) return;
    // run.json: B = 2 sequences of T + 1 = 17 tokens per step
    int steps = (int)nl, B = 2, T = 16;
    CHECK(nb == (size_t)steps * B * (T + 1), "%s: batches hold %zu ids", label, nb);
    train_model tm;
    adamw opt;
    if (train_model_init(&tm, m, B, T) || adamw_init(&opt, &tm)) {
        CHECK(0, "%s: init: %s", label, arwkv_last_error());
        return;
    }
    int32_t *in = malloc((size_t)B * T * sizeof(int32_t)), *tg = malloc((size_t)B * T * sizeof(int32_t));
    double worst_loss = 0, worst_norm = 0;
    double t0 = time_now();
    for (int s = 0; s < steps; s++) {
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                const int32_t *row = bt + ((size_t)s * B + b) * (T + 1);
                in[b * T + t] = row[t];
                tg[b * T + t] = row[t + 1];
            }
        float loss;
        train_zero_grads(&tm);
        train_forward(&tm, in, tg, 1.0f, &loss);
        train_backward(&tm);
        double gn = train_grad_norm(&tm);
        double el = fabs(loss - ref_loss[s]) / fabs(ref_loss[s]), en = fabs(gn - ref_norm[s]) / fabs(ref_norm[s]);
        worst_loss = fmax(worst_loss, el);
        worst_norm = fmax(worst_norm, en);
        CHECK(el < 1e-4, "%s step %d: loss %.7f vs %.7f (rel %.2e)", label, s, loss, ref_loss[s], el);
        CHECK(en < 1e-3, "%s step %d: grad norm %.7f vs %.7f (rel %.2e)", label, s, gn, ref_norm[s], en);
        adamw_step(&opt, &tm, 1e-3f, gn);
    }
    double worst_w = 0;
    int n_final = 0;
    for (int32_t i = 0; i < tm.n_tensors; i++) {
        char key[200];
        snprintf(key, sizeof key, "final.%s", tm.tensors[i].name);
        size_t n = 0, np = 0;
        const float *ref = golden_find(&g, key, "F32", &n), *p = find_param(&tm, tm.tensors[i].name, &np);
        if (!ref) continue;
        CHECK(n == np, "%s: %s has %zu values, reference %zu", label, key, np, n);
        double e = rel_err(p, ref, n);
        worst_w = fmax(worst_w, e);
        n_final++;
        CHECK(e < 1e-3, "%s: %s after %d steps: rel err %.2e", label, key, steps, e);
    }
    CHECK(n_final > 0, "%s: no final tensors compared", label);
    printf("%s: %d steps in %.2f s; max rel err: loss %.2e, grad norm %.2e, %d final tensors %.2e\n", label, steps,
           time_now() - t0, worst_loss, worst_norm, n_final, worst_w);
    free(in);
    free(tg);
    adamw_free(&opt);
    train_model_free(&tm);
    golden_close(&g);
    arwkv_model_free(m);
}

int main(void) {
    omp_set_num_threads(1);   // tiny models: thread start-up would dominate on a shared machine
    run_golden("student", "tests/data/golden/arwkv_nogate_f32", "tests/data/golden/train_next_token/student.safetensors");
    run_golden("teacher", "tests/data/golden/qwen2_gqa2_tied_f32",
               "tests/data/golden/train_next_token/teacher.safetensors");
    return test_summary();
}
