// arwkv bench --device: on an accelerator, decode and prefill of teacher and student, then
// next-token training and the two distillation stages at the bench shapes, with the model FLOP
// utilisation against the device's dense bf16 peak.
#include "bench.h"
#include "train/distill.h"

// prefill of n_prefill tokens, then n_decode single tokens
static int infer(const char *dir, const char *device, int n_prefill, int n_decode) {
    arwkv_load_opts lo = {.weight_dtype = -1, .device = device};
    arwkv_model *m;
    if (arwkv_model_load(&m, dir, &lo)) return -1;
    const arwkv_config *c = arwkv_model_config(m);
    int32_t *ids = malloc((size_t)(n_prefill + n_decode) * sizeof(int32_t));
    float *logits = malloc((size_t)c->n_vocab * sizeof(float));
    arwkv_state *s = NULL;
    int rc = !ids || !logits ? arwkv_set_error("bench: out of memory") : arwkv_state_init(&s, m, n_prefill + n_decode + 1);
    for (int i = 0; i < n_prefill + n_decode && rc == 0; i++) ids[i] = (int32_t)((i * 7919) % c->n_vocab);
    double t0 = 0, t1 = 0, t2 = 0;
    if (rc == 0) rc = arwkv_forward(m, s, ids, n_prefill, logits, 0);   // warm-up
    if (rc == 0) {
        arwkv_state_reset(s);
        t0 = time_now();
        rc = arwkv_forward(m, s, ids, n_prefill, logits, 0);
        t1 = time_now();
    }
    for (int i = 0; i < n_decode && rc == 0; i++) rc = arwkv_forward(m, s, ids + n_prefill + i, 1, logits, 0);
    t2 = time_now();
    if (rc == 0)
        printf("%-14s prefill %d: %8.0f tok/s   decode %7.1f tok/s\n", c->arch == ARWKV_ARCH_QWEN2 ? "teacher" : "student",
               n_prefill, n_prefill / (t1 - t0), n_decode / (t2 - t1));
    arwkv_state_free(s);
    free(ids);
    free(logits);
    arwkv_model_free(m);
    return rc;
}

// multiply-adds per token of the time-mix blocks (what stage 1 trains)
static double time_mix_params(const arwkv_config *c) {
    double D = c->n_embd;
    return c->n_layer * (4 * D * D + 2 * D * (c->lora_w + c->lora_a + c->lora_v + (c->has_gate ? c->lora_g : 0)));
}

static const char *const k_what[3] = {"train (CE)", "distill stage 1", "distill stage 2"};

// kind 0: next-token training of the student; 1, 2: that distillation stage from the teacher
static int train_rate(int kind, const arwkv_model *student, const arwkv_model *teacher, const backend *be, int B,
                      int T, int steps, double peak) {
    train_model tm;
    adamw opt;
    distill d = {0};
    const arwkv_config *sc = arwkv_model_config(student), *tc = arwkv_model_config(teacher);
    int BT = B * T, rc = train_model_init_on(&tm, student, be, B, T);
    if (rc) return -1;
    rc = adamw_init(&opt, &tm) || (kind && distill_init(&d, kind, teacher, tm.m, B, T));
    if (kind == 1)
        for (int32_t i = 0; i < tm.n_tensors; i++) tm.tensors[i].trainable = strstr(tm.tensors[i].name, "time_mix") != 0;
    int32_t *in = malloc((size_t)BT * sizeof(int32_t)), *tg = malloc((size_t)BT * sizeof(int32_t));
    if (!rc && (!in || !tg)) rc = arwkv_set_error("bench: out of memory");
    for (int i = 0; i < BT && !rc; i++) in[i] = (i * 7919) % sc->n_vocab, tg[i] = (i * 104729) % sc->n_vocab;
    double secs = 0;
    for (int s = 0; s <= steps && !rc; s++) {   // step 0 warms up
        double t0 = time_now(), loss = 0;
        float l;
        train_zero_grads(&tm);
        rc = kind == 0   ? train_forward(&tm, in, tg, 1, &l) || train_backward(&tm)
             : kind == 1 ? distill_align_batch(&d, &tm, in, 1, &loss)
                         : distill_kd_batch(&d, &tm, in, tg, 1, &loss, NULL, NULL);
        if (!rc) adamw_step(&opt, &tm, 1e-5f, train_grad_norm(&tm));
        be->sync();
        rc = rc || be->status();
        if (s) secs += time_now() - t0;
    }
    if (!rc) {
        // FLOPs per token: 6 per trained parameter (forward and backward), 2 per teacher parameter
        // (its forward); stage 1 runs only the time-mix blocks of the student
        double ns = (double)arwkv_config_param_count(sc), nt = (double)arwkv_config_param_count(tc);
        double flops = kind == 0 ? 6 * ns : kind == 1 ? 2 * nt + 6 * time_mix_params(sc) : 2 * nt + 6 * ns;
        double tps = steps * (double)BT / secs;
        printf("%-16s batch %d x %d: %8.0f tok/s  %6.1f TFLOP/s", k_what[kind], B, T, tps, tps * flops / 1e12);
        if (peak > 0) printf("  MFU %.1f%%", 100 * tps * flops / peak);
        printf("\n");
    }
    free(in);
    free(tg);
    if (kind) distill_free(&d);
    adamw_free(&opt);
    train_model_free(&tm);
    return rc;
}

int bench_device_check(const char *device) { return backend_get(device) ? 0 : -1; }

int bench_device(const char *device, const char *teacher_dir, const char *student_dir, int n_prefill, int n_decode,
                 int batch, int ctx, int steps) {
    const backend *be = backend_get(device);
    if (!be) return -1;
    char desc[128];
    double peak;
    be->describe(desc, sizeof desc, &peak);
    printf("device: %s", desc);
    if (peak > 0) printf(", dense bf16 peak %.0f TFLOP/s", peak / 1e12);
    printf("\n");
    if (infer(teacher_dir, device, n_prefill, n_decode) || infer(student_dir, device, n_prefill, n_decode)) return -1;
    // training keeps fp32 master weights; its fp32 products may use the fast units
    be->set_fast_math(1);
    arwkv_load_opts host = {.weight_dtype = -1}, dev = {.weight_dtype = -1, .device = device};
    arwkv_model *student = NULL, *teacher = NULL;
    int rc = arwkv_model_load(&student, student_dir, &host) || arwkv_model_load(&teacher, teacher_dir, &dev);
    for (int kind = 0; kind < 3 && !rc; kind++) rc = train_rate(kind, student, teacher, be, batch, ctx, steps, peak);
    be->set_fast_math(0);
    arwkv_model_free(student);
    arwkv_model_free(teacher);
    return rc;
}
