// Both model types against golden logits from the independent PyTorch reference
// (scripts/reference), plus the parity of the chunked, token-by-token and split forms.
#include <math.h>
#include <stdlib.h>

#include "arwkv.h"
#include "io/safetensors.h"
#include "test_util.h"

static const char *k_cases[] = {
    "qwen2_gqa1_untied_f32", "qwen2_gqa2_tied_f32", "qwen2_gqa7_untied_f32", "qwen2_gqa2_untied_bf16",
    "arwkv_nogate_f32",      "arwkv_gate_f32",      "arwkv_gate_groupnorm_f32", "arwkv_nogate_d192_f32",
    "arwkv_nogate_bf16",
};

static void check_case(const char *name) {
    char dir[256], golden[300];
    snprintf(dir, sizeof dir, "tests/data/golden/%s", name);
    snprintf(golden, sizeof golden, "%s/golden.safetensors", dir);
    arwkv_model *m;
    st_set g;
    if (arwkv_model_load(&m, dir, NULL) || safetensors_open(&g, golden)) {
        CHECK(0, "%s: %s", name, arwkv_last_error());
        return;
    }
    const arwkv_config *c = arwkv_model_config(m);
    const st_tensor *ids_t = safetensors_find(&g, "input_ids"), *ref_t = safetensors_find(&g, "logits");
    CHECK(ids_t && ref_t && ids_t->dtype == ARWKV_I32 && ref_t->dtype == ARWKV_F32, "%s: golden tensors", name);
    if (!ids_t || !ref_t) return;
    int T = (int)ids_t->numel, V = c->n_vocab;
    const int32_t *ids = ids_t->data;
    const float *ref = ref_t->data;
    float *full = malloc((size_t)T * V * sizeof(float)), *step = malloc((size_t)T * V * sizeof(float));
    arwkv_state *s;
    CHECK(arwkv_state_init(&s, m, T + 4) == 0);

    // 1. the whole sequence at once (token-parallel form)
    CHECK(arwkv_forward(m, s, ids, T, full, 1) == 0, "%s", arwkv_last_error());
    double e_full = rel_err(full, ref, (size_t)T * V);
    CHECK(e_full <= 1e-5, "%s: full forward rel err %.3g", name, e_full);

    // 2. one token at a time (KV-cache decode / recurrent form)
    arwkv_state_reset(s);
    for (int t = 0; t < T; t++) CHECK(arwkv_forward(m, s, ids + t, 1, step + (size_t)t * V, 1) == 0);
    double e_step = rel_err(step, full, (size_t)T * V);
    CHECK(e_step <= 1e-5, "%s: token-by-token vs full rel err %.3g", name, e_step);

    // 3. an uneven split: 3 tokens then the rest, continuing the state
    arwkv_state_reset(s);
    CHECK(arwkv_forward(m, s, ids, 3, step, 1) == 0);
    CHECK(arwkv_forward(m, s, ids + 3, T - 3, step + (size_t)3 * V, 1) == 0);
    double e_split = rel_err(step, full, (size_t)T * V);
    CHECK(e_split <= 1e-5, "%s: split vs full rel err %.3g", name, e_split);
    printf("%-26s full %.2e  step %.2e  split %.2e\n", name, e_full, e_step, e_split);

    arwkv_state_free(s);
    free(full);
    free(step);
    safetensors_close(&g);
    arwkv_model_free(m);
}

// f16/bf16 inference: weights converted and matrix-product inputs rounded; close to the fp32
// reference within the rounding of the type, and measurably not identical to it
static void check_dtype_mode(arwkv_dtype dt, double lo, double hi) {
    const char *dir = "tests/data/golden/arwkv_nogate_f32";
    arwkv_load_opts o = {.weight_dtype = dt, .all_f32 = 0, .act_dtype = dt};
    arwkv_model *m;
    st_set g;
    CHECK(arwkv_model_load(&m, dir, &o) == 0 && safetensors_open(&g, "tests/data/golden/arwkv_nogate_f32/golden.safetensors") == 0);
    const st_tensor *ids = safetensors_find(&g, "input_ids"), *ref = safetensors_find(&g, "logits");
    int T = (int)ids->numel, V = arwkv_model_config(m)->n_vocab;
    float *out = malloc((size_t)T * V * sizeof(float));
    arwkv_state *s;
    arwkv_state_init(&s, m, T);
    CHECK(arwkv_forward(m, s, ids->data, T, out, 1) == 0);
    double e = rel_err(out, ref->data, (size_t)T * V);
    printf("%s inference vs fp32 reference: rel err %.2e\n", arwkv_dtype_name(dt), e);
    CHECK(e > lo && e < hi, "%s mode rel err %.3g outside (%g, %g)", arwkv_dtype_name(dt), e, lo, hi);
    arwkv_state_free(s);
    free(out);
    safetensors_close(&g);
    arwkv_model_free(m);
}

int main(void) {
    for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; i++) check_case(k_cases[i]);
    check_dtype_mode(ARWKV_F16, 1e-5, 1e-2);
    check_dtype_mode(ARWKV_BF16, 1e-4, 5e-2);
    return test_summary();
}
