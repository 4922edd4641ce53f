// State copy, snapshot/restore and rewind through the public API only: continuing from a copied,
// restored or rewound prefix gives the logits of the uninterrupted run, and the refusals
// (another model's shape, a cache too short, a student going back) are clear errors.
#include <stdlib.h>
#include <string.h>

#include "arwkv.h"
#include "test_util.h"

enum { T = 40, K = 17, NOISE = 9 };

typedef struct {
    const arwkv_model *m;
    int32_t V;
    int32_t ids[T], noise[NOISE];
} fixture;

// the rest of the sequence, ids[K..T), fed into s; its (T - K, V) logits into out
static int feed_rest(const fixture *f, arwkv_state *s, float *out) {
    return arwkv_forward(f->m, s, f->ids + K, T - K, out, 1);
}

static void check_same(const char *dir, const char *what, const float *got, const float *ref, size_t n) {
    double e = rel_err(got, ref, n);
    printf("%s: %s vs the uninterrupted run: rel err %.2e\n", dir, what, e);
    CHECK(e <= 1e-6, "%s: %s rel err %.3g", dir, what, e);
}

// floats a snapshot at pos must hold, from the config alone
static size_t expected_floats(const arwkv_config *c, int32_t pos) {
    if (c->arch == ARWKV_ARCH_QWEN2) return 2 * (size_t)c->n_layer * c->n_kv_head * (size_t)pos * c->head_dim;
    return (size_t)c->n_layer * c->n_embd + (size_t)c->n_layer * c->n_head * c->head_dim * c->head_dim;
}

static void test_model(const char *dir, const char *other_dir) {
    arwkv_model *m = NULL, *other = NULL;
    CHECK(arwkv_model_load(&m, dir, NULL) == 0 && arwkv_model_load(&other, other_dir, NULL) == 0, "%s",
          arwkv_last_error());
    if (!m || !other) return;
    const arwkv_config *c = arwkv_model_config(m);
    int teacher = c->arch == ARWKV_ARCH_QWEN2;
    fixture f = {.m = m, .V = c->n_vocab};
    for (int i = 0; i < T; i++) f.ids[i] = (i * 37 + 11) % f.V;
    for (int i = 0; i < NOISE; i++) f.noise[i] = (i * 53 + 5) % f.V;
    size_t n = (size_t)(T - K) * f.V;
    float *ref = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float)), *whole = malloc((size_t)T * f.V * 4);

    // the uninterrupted run, in the same pieces (prefix, rest), and in one call
    arwkv_state *r, *a, *b, *cp, *small, *o;
    CHECK(!arwkv_state_init(&r, m, 64) && !arwkv_state_init(&a, m, 64) && !arwkv_state_init(&b, m, 48) &&
          !arwkv_state_init(&cp, m, 80) && !arwkv_state_init(&small, m, K - 1) && !arwkv_state_init(&o, other, 64));
    CHECK(!arwkv_forward(m, r, f.ids, K, NULL, 0) && !feed_rest(&f, r, ref));
    CHECK(!arwkv_forward(m, b, f.ids, T, whole, 1));
    // one call runs other matrix-product paths than two: equal up to summation order
    double ew = rel_err(whole + (size_t)K * f.V, ref, n);
    printf("%s: two pieces vs one call: rel err %.2e\n", dir, ew);
    CHECK(ew <= 1e-5, "%s: pieces vs whole rel err %.3g", dir, ew);

    // snapshot after the prefix; the source then moves on, so the snapshot must be its own copy
    arwkv_snapshot *sn = NULL;
    CHECK(!arwkv_forward(m, a, f.ids, K, NULL, 0) && !arwkv_state_snapshot(a, &sn), "%s", arwkv_last_error());
    if (!sn) return;
    CHECK(arwkv_snapshot_pos(sn) == K);
    CHECK(arwkv_snapshot_bytes(sn) == expected_floats(c, K) * sizeof(float), "%s: snapshot of %zu bytes", dir,
          arwkv_snapshot_bytes(sn));
    CHECK(!arwkv_forward(m, cp, f.noise, NOISE, NULL, 0) && !arwkv_state_copy(cp, a), "%s", arwkv_last_error());
    CHECK(!arwkv_forward(m, a, f.noise, NOISE, NULL, 0));
    CHECK(!arwkv_state_restore(a, sn) && arwkv_state_pos(a) == K, "%s", arwkv_last_error());
    CHECK(!feed_rest(&f, a, got));
    check_same(dir, "restored into the source", got, ref, n);
    // a state of another cache length, dirty beforehand
    CHECK(!arwkv_state_restore(b, sn) && arwkv_state_pos(b) == K, "%s", arwkv_last_error());
    CHECK(!feed_rest(&f, b, got));
    check_same(dir, "restored into another state", got, ref, n);
    CHECK(arwkv_state_pos(cp) == K && !feed_rest(&f, cp, got));
    check_same(dir, "copied", got, ref, n);

    // rewinding: a teacher's cache keeps its prefix, a student only goes back to 0
    CHECK(arwkv_state_rewind(a, T + 1) != 0 && strstr(arwkv_last_error(), "outside"), "%s", arwkv_last_error());
    if (teacher) {
        CHECK(!arwkv_state_rewind(a, K) && arwkv_state_pos(a) == K && !feed_rest(&f, a, got));
        check_same(dir, "rewound", got, ref, n);
    } else {
        CHECK(arwkv_state_rewind(a, K) != 0 && strstr(arwkv_last_error(), "cannot go back"), "%s",
              arwkv_last_error());
        CHECK(arwkv_state_pos(a) == T, "a refused rewind leaves the state");
    }
    CHECK(!arwkv_state_rewind(a, 0) && arwkv_state_pos(a) == 0);
    CHECK(!arwkv_forward(m, a, f.ids, K, NULL, 0) && !feed_rest(&f, a, got));
    check_same(dir, "rewound to 0", got, ref, n);

    // refusals leave the target as it was
    CHECK(arwkv_state_restore(o, sn) != 0 && strstr(arwkv_last_error(), "another shape"), "%s", arwkv_last_error());
    CHECK(arwkv_state_copy(o, a) != 0 && strstr(arwkv_last_error(), "another shape"), "%s", arwkv_last_error());
    CHECK(arwkv_state_pos(o) == 0);
    if (teacher) {
        CHECK(arwkv_state_restore(small, sn) != 0 && strstr(arwkv_last_error(), "do not fit"), "%s",
              arwkv_last_error());
        CHECK(arwkv_state_copy(small, r) != 0 && strstr(arwkv_last_error(), "do not fit"), "%s", arwkv_last_error());
        CHECK(arwkv_state_pos(small) == 0);
        // an empty cache snapshots to nothing and restores to position 0
        arwkv_snapshot *empty = NULL;
        CHECK(!arwkv_state_snapshot(small, &empty) && arwkv_snapshot_bytes(empty) == 0);
        CHECK(!arwkv_state_restore(a, empty) && arwkv_state_pos(a) == 0);
        arwkv_snapshot_free(empty);
    } else {   // the student's state does not grow with the position
        CHECK(!arwkv_state_restore(small, sn) && arwkv_state_pos(small) == K, "%s", arwkv_last_error());
    }

    arwkv_snapshot_free(sn);
    arwkv_state_free(r);
    arwkv_state_free(a);
    arwkv_state_free(b);
    arwkv_state_free(cp);
    arwkv_state_free(small);
    arwkv_state_free(o);
    free(ref);
    free(got);
    free(whole);
    arwkv_model_free(m);
    arwkv_model_free(other);
}

int main(void) {
    test_model("tests/data/golden/arwkv_nogate_f32", "tests/data/golden/qwen2_gqa2_tied_f32");
    test_model("tests/data/golden/arwkv_gate_f32", "tests/data/golden/arwkv_nogate_f32");
    test_model("tests/data/golden/qwen2_gqa2_tied_f32", "tests/data/golden/qwen2_gqa1_untied_f32");
    test_model("tests/data/golden/qwen2_gqa7_untied_f32", "tests/data/golden/arwkv_nogate_f32");
    return test_summary();
}
