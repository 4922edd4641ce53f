// The CUDA backend against the CPU one at the model level: golden logits of both model types
// (full, token by token), and 10-step trajectories of next-token training, stage 1 and stage 2
// on tiny random models. Skipped (exit 77) without a CUDA device.
#include <math.h>
#include <stdlib.h>

#include "golden_util.h"
#include "test_util.h"
#include "train/distill.h"

#define G "tests/data/golden/"

static double rel(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-12); }

static void check_logits(const char *name, double tol) {
    char dir[256], golden_path[300];
    snprintf(dir, sizeof dir, G "%s", name);
    snprintf(golden_path, sizeof golden_path, "%s/golden.safetensors", dir);
    arwkv_load_opts lo = {.weight_dtype = -1, .device = "cuda"};
    arwkv_model *m = NULL;
    golden g;
    if (arwkv_model_load(&m, dir, &lo) || golden_open(&g, golden_path)) {
        CHECK(0, "%s: %s", name, arwkv_last_error());
        return;
    }
    size_t T = 0, n = 0;
    const int32_t *ids = golden_find(&g, "input_ids", "I32", &T);
    const float *ref = golden_find(&g, "logits", "F32", &n);
    int V = m->cfg.n_vocab;
    CHECK(ids && ref && n == T * (size_t)V, "%s: golden tensors", name);
    if (!ids || !ref || n != T * (size_t)V) return;
    float *full = malloc(n * sizeof(float)), *step = malloc(n * sizeof(float));
    arwkv_state *s;
    CHECK(arwkv_state_init(&s, m, (int32_t)T + 4) == 0, "%s", arwkv_last_error());
    CHECK(arwkv_forward(m, s, ids, (int32_t)T, full, 1) == 0, "%s", arwkv_last_error());
    arwkv_state_reset(s);
    for (size_t t = 0; t < T; t++) CHECK(arwkv_forward(m, s, ids + t, 1, step + t * V, 1) == 0);
    double e_full = rel_err(full, ref, n), e_step = rel_err(step, ref, n);
    printf("%-26s cuda full %.2e  step %.2e  (tol %.0e)\n", name, e_full, e_step, tol);
    CHECK(e_full <= tol && e_step <= tol, "%s: cuda logits rel err %.3g / %.3g", name, e_full, e_step);
    arwkv_state_free(s);
    free(full);
    free(step);
    golden_close(&g);
    arwkv_model_free(m);
}

static arwkv_model *tiny(arwkv_arch arch, uint64_t seed) {
    arwkv_config c;
    arwkv_config_defaults(&c, arch);
    c.n_embd = 128;
    c.n_layer = 2;
    c.n_ff = 256;
    c.n_vocab = 512;
    c.n_head = arch == ARWKV_ARCH_QWEN2 ? 4 : 2;
    c.n_kv_head = arch == ARWKV_ARCH_QWEN2 ? 2 : 2;
    c.head_dim = arch == ARWKV_ARCH_QWEN2 ? 32 : 64;
    arwkv_model *m = NULL;
    if (arwkv_model_make_random(&m, &c, seed)) CHECK(0, "make_random: %s", arwkv_last_error());
    return m;
}

// step s's batch: random tokens, next-token targets within each sequence of T
static void fill_batch(int32_t *in, int32_t *tg, int n, int T, int s) {
    rng r;
    rng_seed(&r, 1000 + (uint64_t)s);
    for (int i = 0; i < n; i++) in[i] = (int32_t)(rng_u32(&r) % 512);
    for (int i = 0; i < n; i++) tg[i] = i % T == T - 1 ? -1 : in[i + 1];
}

// kind 0: next-token training of m; 1, 2: distillation stage of student m from teacher t
static void trajectory(const char *label, const arwkv_model *m, const arwkv_model *t, int kind, const char *device,
                       double *losses, float **params, size_t *n_params) {
    enum { B = 2, T = 24, STEPS = 10 };
    train_model tm;
    adamw opt;
    const backend *be = backend_get(device);
    distill d = {0};
    arwkv_model *tdev = NULL;
    if (train_model_init_on(&tm, m, be, B, T) || adamw_init(&opt, &tm)) {
        CHECK(0, "%s: init: %s", label, arwkv_last_error());
        return;
    }
    if (kind) {
        // the teacher on the same device: a trainable copy serves as a model there
        static train_model teach;
        if (train_model_init_on(&teach, t, be, 1, 1)) CHECK(0, "%s: teacher: %s", label, arwkv_last_error());
        tdev = teach.m;
        if (distill_init(&d, kind, tdev, tm.m, B, T)) CHECK(0, "%s: distill: %s", label, arwkv_last_error());
        if (kind == 1)
            for (int32_t i = 0; i < tm.n_tensors; i++) tm.tensors[i].trainable = strstr(tm.tensors[i].name, "time_mix") != 0;
        opt.lr = 1e-3f;
        for (int s = 0; s < STEPS; s++) {
            int32_t in[B * T], tg[B * T];
            fill_batch(in, tg, B * T, T, s);
            train_zero_grads(&tm);
            double loss = 0;
            int rc = kind == 1 ? distill_align_batch(&d, &tm, in, 1.0f, &loss)
                               : distill_kd_batch(&d, &tm, in, tg, 1.0f, &loss, NULL, NULL);
            CHECK(rc == 0, "%s: %s", label, arwkv_last_error());
            adamw_step(&opt, &tm, opt.lr, train_grad_norm(&tm));
            losses[s] = loss;
        }
        distill_free(&d);
        train_model_free(&teach);
    } else {
        opt.lr = 1e-3f;
        for (int s = 0; s < STEPS; s++) {
            int32_t in[B * T], tg[B * T];
            fill_batch(in, tg, B * T, T, s);
            train_zero_grads(&tm);
            float l;
            CHECK(train_forward(&tm, in, tg, 1.0f, &l) == 0 && train_backward(&tm) == 0, "%s", arwkv_last_error());
            adamw_step(&opt, &tm, opt.lr, train_grad_norm(&tm));
            losses[s] = l;
        }
    }
    *n_params = tm.n_params;
    *params = malloc(tm.n_params * sizeof(float));
    be->download(*params, tm.params, tm.n_params * sizeof(float));
    adamw_free(&opt);
    train_model_free(&tm);
}

static void check_trajectory(const char *label, const arwkv_model *m, const arwkv_model *t, int kind) {
    double lc[10], lg[10];
    float *pc = NULL, *pg = NULL;
    size_t nc = 0, ng = 0;
    trajectory(label, m, t, kind, "cpu", lc, &pc, &nc);
    trajectory(label, m, t, kind, "cuda", lg, &pg, &ng);
    double worst = 0;
    for (int s = 0; s < 10; s++) worst = fmax(worst, rel(lg[s], lc[s]));
    double ep = pc && pg && nc == ng ? rel_err(pg, pc, nc) : 1;
    printf("%-26s losses max rel %.2e (step 0 %.6f / %.6f)  final params rel %.2e\n", label, worst, lc[0], lg[0], ep);
    // the losses are the trajectory; the weights get a looser bound because AdamW's m / sqrt(v)
    // turns rounding-level differences of near-zero gradients into full-size steps
    CHECK(worst <= 1e-4 && ep <= 1e-3, "%s: cuda trajectory off: losses %.3g params %.3g", label, worst, ep);
    free(pc);
    free(pg);
}

int main(void) {
    if (!backend_get("cuda")) {
        printf("skipped: %s\n", arwkv_last_error());
        return 77;
    }
    const char *f32[] = {"qwen2_gqa1_untied_f32", "qwen2_gqa2_tied_f32", "qwen2_gqa7_untied_f32", "arwkv_nogate_f32",
                         "arwkv_gate_f32", "arwkv_gate_groupnorm_f32", "arwkv_nogate_d192_f32"};
    for (size_t i = 0; i < sizeof f32 / sizeof f32[0]; i++) check_logits(f32[i], 1e-5);
    check_logits("qwen2_gqa2_untied_bf16", 2e-2);
    check_logits("arwkv_nogate_bf16", 2e-2);

    arwkv_model *teacher = tiny(ARWKV_ARCH_QWEN2, 1), *student = NULL;
    if (teacher && arwkv_student_init(&student, teacher, 1, 0, 2)) CHECK(0, "student: %s", arwkv_last_error());
    if (teacher && student) {
        check_trajectory("train teacher (CE)", teacher, NULL, 0);
        check_trajectory("train student (CE)", student, NULL, 0);
        check_trajectory("distill stage 1", student, teacher, 1);
        check_trajectory("distill stage 2", student, teacher, 2);
    }
    arwkv_model_free(student);
    arwkv_model_free(teacher);
    return test_summary();
}
