// Distillation stages against float64 PyTorch references (tests/data/golden/stage1_alignment,
// stage2_kl, dpo): stage-1 teacher captures, student outputs, losses per layer and step, grad norms;
// stage-2 KL losses and grad norms; the KL and DPO losses with their gradients; which tensors each
// stage may change.
#include <fnmatch.h>
#include <math.h>

#include "golden_util.h"
#include "kernels/train_ops.h"
#include "test_util.h"
#include "train/distill.h"

#define G "tests/data/golden/"

static double rel1(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-12); }

// compares tensors before/after: every changed one must match `may_change`, and at least one must change
static void check_changed(const char *label, const train_model *tm, const float *before, const char *may_change,
                          int expect_match) {
    int changed = 0, wrong = 0;
    for (int32_t i = 0; i < tm->n_tensors; i++) {
        const train_tensor *t = &tm->tensors[i];
        int diff = memcmp(before + t->off, tm->params + t->off, t->n * sizeof(float)) != 0;
        int match = fnmatch(may_change, t->name, 0) == 0;
        changed += diff;
        if (diff && match != expect_match) {
            wrong++;
            fprintf(stderr, "%s: %s changed\n", label, t->name);
        }
    }
    CHECK(changed > 0 && wrong == 0, "%s: %d tensors changed, %d of them should not have", label, changed, wrong);
}

static void test_stage1(const arwkv_model *teacher) {
    arwkv_load_opts lo = {.weight_dtype = -1, .all_f32 = 1};
    arwkv_model *m = NULL;
    golden g;
    if (arwkv_model_load(&m, G "stage1_alignment/student", &lo) || golden_open(&g, G "stage1_alignment/golden.safetensors")) {
        CHECK(0, "stage 1: load: %s", arwkv_last_error());
        return;
    }
    size_t nb, nl, nll, nn, nh, ny, nys;
    const int32_t *bt = golden_find(&g, "batches", "I32", &nb);
    const double *losses = golden_find(&g, "losses", "F64", &nl), *ll = golden_find(&g, "layer_losses", "F64", &nll);
    const double *norms = golden_find(&g, "grad_norms", "F64", &nn);
    const float *th = golden_find(&g, "step0_teacher_h", "F32", &nh), *ty = golden_find(&g, "step0_teacher_y", "F32", &ny);
    const float *sy = golden_find(&g, "step0_student_y", "F32", &nys);
    int B = 2, T = 16, L = m->cfg.n_layer, D = m->cfg.n_embd, steps = (int)nl;
    CHECK(bt && losses && ll && norms && th && ty && sy && nb == (size_t)steps * B * T && nll == (size_t)steps * L,
          "stage 1: golden tensors");
    train_model tm;
    adamw opt;
    distill d = {.stage = 1, .teacher = teacher, .temperature = 1};
    trainer_opts o;
    trainer_opts_defaults(&o);
    trainer_hooks hk = distill_hooks(&d);
    if (train_model_init(&tm, m, B, T) || adamw_init(&opt, &tm) || hk.setup(hk.ctx, &tm, &o)) {
        CHECK(0, "stage 1: init: %s", arwkv_last_error());
        return;
    }
    float *before = malloc(tm.n_params * sizeof(float)), *ys = malloc((size_t)B * T * D * sizeof(float));
    memcpy(before, tm.params, tm.n_params * sizeof(float));
    double worst_loss = 0, worst_layer = 0, worst_norm = 0, t0 = time_now();
    for (int s = 0; s < steps; s++) {
        double loss;
        train_zero_grads(&tm);
        int rc = distill_align_batch(&d, &tm, bt + (size_t)s * B * T, 1.0f, &loss);
        CHECK(rc == 0, "stage 1 step %d: %s", s, arwkv_last_error());
        double gn = train_grad_norm(&tm);
        worst_loss = fmax(worst_loss, rel1(loss, losses[s]));
        worst_norm = fmax(worst_norm, rel1(gn, norms[s]));
        for (int l = 0; l < L; l++) worst_layer = fmax(worst_layer, rel1(d.layer_loss[l], ll[s * L + l]));
        if (s == 0) {
            // the first sequence's captures and the student's outputs on them, every layer
            double eh = 0, ey = 0, es = 0;
            for (int l = 0; l < L; l++) {
                const float *h = d.h + (size_t)l * B * T * D, *y = d.y + (size_t)l * B * T * D;
                eh = fmax(eh, rel_err(h, th + (size_t)l * T * D, (size_t)T * D));
                ey = fmax(ey, rel_err(y, ty + (size_t)l * T * D, (size_t)T * D));
                train_time_mix_forward(&tm, l, h, ys);
                es = fmax(es, rel_err(ys, sy + (size_t)l * T * D, (size_t)T * D));
            }
            printf("stage 1 step 0: teacher h %.2e, teacher y %.2e, student y %.2e\n", eh, ey, es);
            CHECK(eh < 1e-5 && ey < 1e-4 && es < 1e-4, "stage 1 captures: h %.3e y %.3e student %.3e", eh, ey, es);
        }
        adamw_step(&opt, &tm, 1e-3f, gn);
    }
    printf("stage 1: %d steps in %.2f s, max rel err: loss %.2e, layer losses %.2e, grad norm %.2e (final loss %.5f)\n",
           steps, time_now() - t0, worst_loss, worst_layer, worst_norm, losses[steps - 1]);
    CHECK(worst_loss < 1e-4 && worst_layer < 1e-4 && worst_norm < 1e-4, "stage 1 vs golden: %.3e %.3e %.3e",
          worst_loss, worst_layer, worst_norm);
    check_changed("stage 1 trainable set", &tm, before, "*time_mixer*", 1);
    free(before);
    free(ys);
    distill_free(&d);
    adamw_free(&opt);
    train_model_free(&tm);
    arwkv_model_free(m);
    golden_close(&g);
}

// steps of stage 2 on the golden batches; compares with the golden when given, checks frozen MLPs when freeze_mlp
static void run_stage2(const arwkv_model *teacher, const golden *g, int steps, int freeze_mlp) {
    arwkv_load_opts lo = {.weight_dtype = -1, .all_f32 = 1};
    arwkv_model *m = NULL;
    if (arwkv_model_load(&m, G "stage1_alignment/student", &lo)) {
        CHECK(0, "stage 2: load: %s", arwkv_last_error());
        return;
    }
    size_t nb, nl, nn;
    const int32_t *bt = golden_find(g, "batches", "I32", &nb);
    const double *losses = golden_find(g, "losses", "F64", &nl), *norms = golden_find(g, "grad_norms", "F64", &nn);
    int B = 2, T = 16;
    CHECK(bt && losses && norms && nb == nl * B * T, "stage 2: golden tensors");
    train_model tm;
    adamw opt;
    distill d = {.stage = 2, .teacher = teacher, .temperature = 1};
    trainer_opts o;
    trainer_opts_defaults(&o);
    const char *mlp = "*mlp*";
    trainer_hooks hk = distill_hooks(&d);
    if (train_model_init(&tm, m, B, T) || adamw_init(&opt, &tm) || hk.setup(hk.ctx, &tm, &o)) {
        CHECK(0, "stage 2: init: %s", arwkv_last_error());
        return;
    }
    if (freeze_mlp) train_model_set_trainable(&tm, NULL, 0, &mlp, 1);
    float *before = malloc(tm.n_params * sizeof(float));
    memcpy(before, tm.params, tm.n_params * sizeof(float));
    int32_t *tg = calloc((size_t)B * T, sizeof *tg);   // every position counts
    double worst_loss = 0, worst_norm = 0, t0 = time_now();
    for (int s = 0; s < steps; s++) {
        double loss, kl, ce;
        train_zero_grads(&tm);
        int rc = distill_kd_batch(&d, &tm, bt + (size_t)s * B * T, tg, 1.0f, &loss, &kl, &ce);
        CHECK(rc == 0, "stage 2 step %d: %s", s, arwkv_last_error());
        double gn = train_grad_norm(&tm);
        worst_loss = fmax(worst_loss, rel1(loss, losses[s]));
        worst_norm = fmax(worst_norm, rel1(gn, norms[s]));
        adamw_step(&opt, &tm, 1e-3f, gn);
    }
    if (freeze_mlp) {
        check_changed("stage 2 --freeze mlp", &tm, before, "*mlp*", 0);
    } else {
        printf("stage 2: %d steps in %.2f s, max rel err: loss %.2e, grad norm %.2e (final loss %.5f)\n", steps,
               time_now() - t0, worst_loss, worst_norm, losses[steps - 1]);
        CHECK(worst_loss < 1e-4 && worst_norm < 1e-4, "stage 2 vs golden: %.3e %.3e", worst_loss, worst_norm);
    }
    free(before);
    free(tg);
    distill_free(&d);
    adamw_free(&opt);
    train_model_free(&tm);
    arwkv_model_free(m);
}

static void test_kl_check(void) {
    golden g;
    if (golden_open(&g, G "stage2_kl/kl_check.safetensors")) {
        CHECK(0, "kl_check: open");
        return;
    }
    size_t nt, ns, nm, nl, ng;
    const float *tl = golden_find(&g, "teacher_logits", "F32", &nt), *sl = golden_find(&g, "student_logits", "F32", &ns);
    const int32_t *mask = golden_find(&g, "mask", "I32", &nm);
    const double *loss = golden_find(&g, "loss", "F64", &nl), *grad = golden_find(&g, "grad_student_logits", "F64", &ng);
    CHECK(tl && sl && mask && loss && grad, "kl_check tensors");
    int P = (int)nm, Vs = (int)(ns / nm), Vt = (int)(nt / nm);
    float *losses = malloc(P * sizeof(float)), *dl = calloc(ns, sizeof(float));
    uint8_t *mk = malloc(P);
    for (int i = 0; i < P; i++) mk[i] = mask[i] != 0;
    int n = kl_div_forward(losses, sl, tl, mk, 1.0f, P, Vs, Vt);
    kl_div_backward(dl, sl, tl, mk, 1.0f, 1.0f / n, P, Vs, Vt);
    double sum = 0, eg = 0, gmax = 0;
    for (int i = 0; i < P; i++) sum += losses[i];
    for (size_t i = 0; i < ns; i++) {
        eg = fmax(eg, fabs(dl[i] - grad[i]));
        gmax = fmax(gmax, fabs(grad[i]));
    }
    double el = rel1(sum / n, loss[0]);
    eg /= gmax;
    printf("kl_check: %d of %d positions, teacher vocab %d cut to %d: loss rel err %.2e, gradient %.2e\n", n, P, Vt, Vs,
           el, eg);
    CHECK(el < 1e-4 && eg < 1e-4, "kl_check: loss %.3e gradient %.3e", el, eg);
    free(losses);
    free(dl);
    free(mk);
    golden_close(&g);
}

static void test_dpo(void) {
    golden g;
    if (golden_open(&g, G "dpo/dpo.safetensors")) {
        CHECK(0, "dpo: open");
        return;
    }
    size_t n, k;
    const double *pc = golden_find(&g, "policy_chosen_logps", "F64", &n), *pr = golden_find(&g, "policy_rejected_logps", "F64", &k);
    const double *rc = golden_find(&g, "ref_chosen_logps", "F64", &k), *rr = golden_find(&g, "ref_rejected_logps", "F64", &k);
    const double *loss = golden_find(&g, "loss", "F64", &k), *gcg = golden_find(&g, "grad_policy_chosen_logps", "F64", &k);
    const double *grg = golden_find(&g, "grad_policy_rejected_logps", "F64", &k);
    const double *crw = golden_find(&g, "chosen_rewards", "F64", &k), *rrw = golden_find(&g, "rejected_rewards", "F64", &k);
    const double *acc = golden_find(&g, "reward_accuracy", "F64", &k), *mar = golden_find(&g, "reward_margin", "F64", &k);
    CHECK(pc && pr && rc && rr && loss && gcg && grg && crw && rrw && acc && mar, "dpo tensors");
    double gc[64], gr[64], a, mg, cr, rj, ecr = 0, err = 0;
    double l = dpo_loss(pc, pr, rc, rr, (int)n, 0.1, gc, gr, &a, &mg, &cr, &rj);
    for (size_t i = 0; i < n; i++) {
        ecr += crw[i] / n;
        err += rrw[i] / n;
    }
    double eg = fmax(rel_err_d(gc, gcg, n), rel_err_d(gr, grg, n));
    printf("dpo: loss %.6f (rel err %.2e), gradients %.2e, accuracy %.3f, margin %.5f\n", l, rel1(l, loss[0]), eg, a, mg);
    CHECK(rel1(l, loss[0]) < 1e-9 && eg < 1e-9, "dpo loss %.3e gradient %.3e", rel1(l, loss[0]), eg);
    CHECK(fabs(a - acc[0]) < 1e-12 && rel1(mg, mar[0]) < 1e-9, "dpo accuracy %g vs %g, margin %g vs %g", a, acc[0], mg, mar[0]);
    CHECK(rel1(cr, ecr) < 1e-9 && rel1(rj, err) < 1e-9, "dpo mean rewards");
    // summed sequence log-probs and their gradient, as dpo_batch computes them (cross-entropy ops)
    size_t nl, nlab, nmask, nsl, nsg;
    const float *lg = golden_find(&g, "seq_logits", "F32", &nl);
    const int32_t *lab = golden_find(&g, "seq_labels", "I32", &nlab), *mk = golden_find(&g, "seq_mask", "I32", &nmask);
    const double *slp = golden_find(&g, "seq_logps", "F64", &nsl), *sg = golden_find(&g, "seq_grad_logits", "F64", &nsg);
    CHECK(lg && lab && mk && slp && sg, "dpo sequence tensors");
    int Bs = (int)nsl, Ts = (int)(nlab / nsl), V = (int)(nl / nlab);
    int32_t *tg = malloc(nlab * sizeof *tg);
    float *nll = malloc(nlab * sizeof(float)), *dl = calloc(nl, sizeof(float));
    for (size_t i = 0; i < nlab; i++) tg[i] = mk[i] ? lab[i] : -1;
    crossentropy_forward(nll, lg, tg, (int)nlab, V);
    crossentropy_backward(dl, lg, tg, -1.0f, (int)nlab, V);
    double elp = 0, egl = 0, gmax = 0;
    for (int b = 0; b < Bs; b++) {
        double s = 0;
        for (int t = 0; t < Ts; t++) s -= nll[b * Ts + t];
        elp = fmax(elp, rel1(s, slp[b]));
    }
    for (size_t i = 0; i < nl; i++) {
        egl = fmax(egl, fabs(dl[i] - sg[i]));
        gmax = fmax(gmax, fabs(sg[i]));
    }
    egl /= gmax;
    printf("dpo sequence log-probs: rel err %.2e, gradient %.2e\n", elp, egl);
    CHECK(elp < 1e-5 && egl < 1e-5, "dpo sequence log-probs %.3e gradient %.3e", elp, egl);
    free(tg);
    free(nll);
    free(dl);
    golden_close(&g);
}

int main(void) {
    arwkv_model *teacher = NULL;
    if (arwkv_model_load(&teacher, G "init_teacher_gqa2", NULL)) {
        CHECK(0, "teacher: %s", arwkv_last_error());
        return test_summary();
    }
    test_stage1(teacher);
    golden g;
    if (golden_open(&g, G "stage2_kl/golden.safetensors") == 0) {
        run_stage2(teacher, &g, 5, 0);
        run_stage2(teacher, &g, 2, 1);
        golden_close(&g);
    } else {
        CHECK(0, "stage 2 golden");
    }
    test_kl_check();
    test_dpo();
    arwkv_model_free(teacher);
    return test_summary();
}
