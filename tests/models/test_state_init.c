// Student state against the reference, state files (split runs, wrong-model rejection), and
// init-student against the reference's expected tensors.
#include <stdlib.h>
#include <unistd.h>

#include "models/model.h"
#include "test_util.h"

static const char *k_tmp = "/tmp/arwkv_test_state.bin";

static const float *golden_f32(const st_set *g, const char *name, size_t n) {
    const st_tensor *t = safetensors_find(g, name);
    CHECK(t && t->dtype == ARWKV_F32 && (size_t)t->numel == n, "golden tensor %s", name);
    return t && (size_t)t->numel == n ? t->data : NULL;
}

static void test_golden_state(void) {
    const char *dir = "tests/data/golden/arwkv_nogate_f32";
    arwkv_model *m;
    st_set g;
    CHECK(arwkv_model_load(&m, dir, NULL) == 0 && safetensors_open(&g, "tests/data/golden/arwkv_nogate_f32/golden.safetensors") == 0);
    const arwkv_config *c = &m->cfg;
    const st_tensor *ids = safetensors_find(&g, "input_ids");
    arwkv_state *s;
    arwkv_state_init(&s, m, 64);
    CHECK(arwkv_forward(m, s, ids->data, (int32_t)ids->numel, NULL, 0) == 0);
    size_t ns = (size_t)c->n_layer * c->n_embd, nw = (size_t)c->n_layer * c->n_head * c->head_dim * c->head_dim;
    const float *shift = golden_f32(&g, "state_shift", ns), *wkv = golden_f32(&g, "state_wkv", nw);
    if (shift && wkv) {
        double es = rel_err(s->shift, shift, ns), ew = rel_err(s->wkv, wkv, nw);
        printf("state vs reference: shift %.2e wkv %.2e\n", es, ew);
        CHECK(es <= 1e-5 && ew <= 1e-5, "shift %.3g wkv %.3g", es, ew);
    }
    arwkv_state_free(s);
    safetensors_close(&g);
    arwkv_model_free(m);
}

// tokens 0..k-1 in one state, saved; loaded into a fresh state, continued: same logits as one run
static void test_split(const char *dir, const char *other_dir) {
    arwkv_model *m, *other;
    CHECK(arwkv_model_load(&m, dir, NULL) == 0 && arwkv_model_load(&other, other_dir, NULL) == 0);
    int V = m->cfg.n_vocab, T = 12, k = 5;
    int32_t ids[12];
    for (int i = 0; i < T; i++) ids[i] = (i * 37 + 11) % V;
    float *ref = malloc((size_t)T * V * sizeof(float)), *got = malloc((size_t)T * V * sizeof(float));
    float *last = malloc((size_t)V * sizeof(float));
    arwkv_state *a, *b, *o;
    arwkv_state_init(&a, m, 32);
    arwkv_state_init(&b, m, 32);
    arwkv_state_init(&o, other, 32);
    CHECK(arwkv_forward(m, a, ids, T, ref, 1) == 0);
    arwkv_state_reset(a);
    CHECK(arwkv_forward(m, a, ids, k, got, 1) == 0);
    CHECK(arwkv_state_save(a, k_tmp, got + (size_t)(k - 1) * V) == 0, "%s", arwkv_last_error());
    int has = 0;
    CHECK(arwkv_state_load(b, k_tmp, last, &has) == 0, "%s", arwkv_last_error());
    CHECK(has == 1 && arwkv_state_pos(b) == k);
    // 5 tokens take the GEMV path and 12 the GEMM path: equal up to summation order
    CHECK(rel_err(last, ref + (size_t)(k - 1) * V, V) <= 1e-5, "saved logits rel err %.3g", rel_err(last, ref + (size_t)(k - 1) * V, V));
    CHECK(arwkv_forward(m, b, ids + k, T - k, got + (size_t)k * V, 1) == 0);
    double e = rel_err(got, ref, (size_t)T * V);
    printf("%s: saved/resumed vs one run rel err %.2e\n", dir, e);
    CHECK(e <= 1e-5, "%s: split rel err %.3g", dir, e);
    // a state for another model shape is refused with a clear error
    CHECK(arwkv_state_load(o, k_tmp, NULL, NULL) != 0);
    CHECK(strstr(arwkv_last_error(), "another shape") != NULL, "error: %s", arwkv_last_error());
    unlink(k_tmp);
    arwkv_state_free(a);
    arwkv_state_free(b);
    arwkv_state_free(o);
    free(ref);
    free(got);
    free(last);
    arwkv_model_free(m);
    arwkv_model_free(other);
}

static void compare_expected(const arwkv_model *s, const char *path) {
    st_set e;
    CHECK(safetensors_open(&e, path) == 0, "%s", arwkv_last_error());
    st_set got;
    CHECK(safetensors_open(&got, "/tmp/arwkv_test_student/model.safetensors") == 0, "%s", arwkv_last_error());
    double worst = 0;
    for (int i = 0; i < e.n_tensors; i++) {
        const st_tensor *want = &e.tensors[i], *have = safetensors_find(&got, want->name);
        CHECK(have && have->numel == want->numel, "tensor %s", want->name);
        if (!have || have->numel != want->numel) continue;
        float *a = malloc((size_t)want->numel * 4), *b = malloc((size_t)want->numel * 4);
        dtype_to_f32(a, have->data, have->dtype, (size_t)want->numel);
        dtype_to_f32(b, want->data, want->dtype, (size_t)want->numel);
        double err = rel_err(a, b, (size_t)want->numel);
        if (err > worst) worst = err;
        CHECK(err <= 1e-6, "%s: rel err %.3g", want->name, err);
        free(a);
        free(b);
    }
    printf("%s: %d tensors, worst rel err %.2e\n", path, e.n_tensors, worst);
    safetensors_close(&got);
    safetensors_close(&e);
}

static void test_init(int from_attention) {
    arwkv_model *t, *s;
    CHECK(arwkv_model_load(&t, "tests/data/golden/init_teacher_gqa2", NULL) == 0);
    CHECK(arwkv_student_init(&s, t, 1, from_attention, 7) == 0, "%s", arwkv_last_error());
    CHECK(arwkv_model_save(s, "/tmp/arwkv_test_student", ARWKV_F32) == 0, "%s", arwkv_last_error());
    compare_expected(s, from_attention ? "tests/data/golden/init_attention_expected.safetensors"
                                       : "tests/data/golden/init_paper_expected.safetensors");
    // copied parts equal the teacher's; the saved directory loads as a student
    size_t n = (size_t)t->cfg.n_vocab * t->cfg.n_embd;
    float *a = malloc(n * 4), *b = malloc(n * 4);
    dtype_to_f32(a, s->w.lm_head.data, s->w.lm_head.dt, n);
    dtype_to_f32(b, t->w.embed.data, t->w.embed.dt, n);
    CHECK(rel_err(a, b, n) == 0.0 && !s->cfg.tie_embeddings, "lm_head untied copy of the tied embedding");
    free(a);
    free(b);
    arwkv_model *back;
    CHECK(arwkv_model_load(&back, "/tmp/arwkv_test_student", NULL) == 0, "%s", arwkv_last_error());
    CHECK(back && back->cfg.arch == ARWKV_ARCH_RWKV_HYBRID && back->cfg.has_gate == 1);
    arwkv_model_free(back);
    arwkv_model_free(s);
    arwkv_model_free(t);
}

int main(void) {
    test_golden_state();
    test_split("tests/data/golden/arwkv_nogate_f32", "tests/data/golden/arwkv_gate_f32");
    test_split("tests/data/golden/qwen2_gqa2_tied_f32", "tests/data/golden/qwen2_gqa1_untied_f32");
    test_init(0);
    test_init(1);
    return test_summary();
}
