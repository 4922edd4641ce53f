// Whole-model gradients of both model types against central finite differences of the loss:
// a tiny model (two layers; the student with gate and GroupNorm, T > the checkpoint interval),
// perturbed weights so that every path carries gradient, and a few parameters of every tensor.
#include <math.h>
#include <omp.h>

#include "test_util.h"
#include "train/train.h"

static double loss_at(train_model *tm, const int32_t *in, const int32_t *tg) {
    float loss;
    train_forward(tm, in, tg, 1.0f, &loss);
    double sum = 0;   // the per-row losses summed in double: the float mean would limit the difference
    for (int i = 0; i < tm->B * tm->T; i++) sum += tm->losses[i];
    return sum / tm->n_counted;
}

static void check_model(const char *label, arwkv_config *cfg, int B, int T) {
    arwkv_model *m = NULL;
    if (arwkv_model_make_random(&m, cfg, 7)) {
        CHECK(0, "%s: %s", label, arwkv_last_error());
        return;
    }
    train_model tm;
    if (train_model_init(&tm, m, B, T)) {
        CHECK(0, "%s: %s", label, arwkv_last_error());
        return;
    }
    unsigned long long seed = 99;
    float *noise = malloc(tm.n_params * sizeof(float));
    fill_uniform(noise, tm.n_params, 0.3f, &seed);
    for (int32_t i = 0; i < tm.n_tensors; i++) {
        train_tensor *t = &tm.tensors[i];
        float *p = tm.params + t->off;
        // matrices get noise on their scale; vectors around their init (norm weights stay near 1)
        float s = t->decay ? 0.3f : 1.0f;
        for (size_t j = 0; j < t->n; j++) p[j] += s * noise[t->off + j];
    }
    int BT = B * T, V = cfg->n_vocab;
    int32_t *in = malloc(BT * sizeof(int32_t)), *tg = malloc(BT * sizeof(int32_t));
    for (int i = 0; i < BT; i++) {
        in[i] = (i * 37 + 11) % V;
        tg[i] = i % 7 == 3 ? -1 : (i * 53 + 5) % V;   // some ignored targets
    }
    float loss;
    train_zero_grads(&tm);
    train_forward(&tm, in, tg, 1.0f, &loss);
    train_backward(&tm);
    tm.a.keep_vfirst = 1;   // the reference is the gradient with v_first detached
    double worst = 0;
    const char *worst_name = "";
    int n_checked = 0;
    for (int32_t i = 0; i < tm.n_tensors; i++) {
        train_tensor *t = &tm.tensors[i];
        const float *g = tm.grads + t->off;
        double gmax = 0;
        size_t jmax = 0;
        for (size_t j = 0; j < t->n; j++)
            if (fabs(g[j]) > gmax) gmax = fabs(g[j]), jmax = j;
        // layer 0's value-mix LoRA is unused (v_first is layer 0's own v): its gradient must be 0
        if (strstr(t->name, "layers.0.") && (strstr(t->name, ".v0") || strstr(t->name, ".v1") || strstr(t->name, ".v2"))) {
            CHECK(gmax == 0, "%s: %s has gradient %g", label, t->name, gmax);
            continue;
        }
        CHECK(gmax > 0, "%s: %s has no gradient", label, t->name);
        double rms = 0;   // the step follows the tensor's scale: small embeddings are far from linear
        for (size_t j = 0; j < t->n; j++) rms += (double)tm.params[t->off + j] * tm.params[t->off + j];
        rms = sqrt(rms / t->n);
        size_t picks[4] = {jmax, (size_t)(noise[t->off] * 1e6) % t->n, t->n / 2, t->n - 1};
        for (int k = 0; k < 4; k++) {
            float *p = tm.params + t->off + picks[k];
            float orig = *p, h = (float)fmax(1e-2 * rms, 3e-3);
            // fourth-order central difference: the truncation error of the plain one is too large here
            double f[4];
            const float steps[4] = {-2 * h, -h, h, 2 * h};
            for (int q = 0; q < 4; q++) {
                *p = orig + steps[q];
                f[q] = loss_at(&tm, in, tg);
            }
            *p = orig;
            double fd = (8 * (f[2] - f[1]) - (f[3] - f[0])) / (12.0 * h), an = g[picks[k]];
            double e = fabs(fd - an) / fmax(gmax, 3e-3);   // floor: fp32 noise of the loss
            if (e > worst) worst = e, worst_name = t->name;
            n_checked++;
            CHECK(e < 2e-2, "%s: %s[%zu]: analytic %.6e, finite difference %.6e (err %.2e of max %.2e)", label,
                  t->name, picks[k], an, fd, e, gmax);
        }
    }
    printf("%s: %d parameters of %d tensors, worst error %.2e (%s), loss %.4f\n", label, n_checked, tm.n_tensors,
           worst, worst_name, loss);
    tm.a.keep_vfirst = 0;
    // the gradient scale multiplies every gradient
    float *g1 = malloc(tm.n_params * sizeof(float));
    memcpy(g1, tm.grads, tm.n_params * sizeof(float));
    train_zero_grads(&tm);
    train_forward(&tm, in, tg, 0.25f, &loss);
    train_backward(&tm);
    for (size_t j = 0; j < tm.n_params; j++) g1[j] *= 0.25f;
    CHECK(rel_err(tm.grads, g1, tm.n_params) < 1e-6, "%s: grad_scale", label);
    free(g1);
    free(noise);
    free(in);
    free(tg);
    train_model_free(&tm);
    arwkv_model_free(m);
}

int main(void) {
    omp_set_num_threads(1);   // tiny models: thread start-up would dominate on a shared machine
    arwkv_config s;
    arwkv_config_defaults(&s, ARWKV_ARCH_RWKV_HYBRID);
    s.n_embd = 128;
    s.n_head = s.n_kv_head = 2;
    s.head_dim = 64;
    s.n_layer = 2;
    s.n_ff = 32;
    s.n_vocab = 23;
    s.has_gate = 1;
    s.has_group_norm = 1;
    s.lora_w = 8;
    s.lora_a = 8;
    s.lora_v = 4;
    s.lora_g = 16;
    s.max_pos = 64;
    check_model("student", &s, 2, 20);
    arwkv_config q;
    arwkv_config_defaults(&q, ARWKV_ARCH_QWEN2);
    q.n_embd = 32;
    q.n_head = 4;
    q.n_kv_head = 2;
    q.head_dim = 8;
    q.n_layer = 2;
    q.n_ff = 24;
    q.n_vocab = 29;
    q.tie_embeddings = 1;
    q.max_pos = 64;
    check_model("teacher", &q, 2, 9);
    return test_summary();
}
