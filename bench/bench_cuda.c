// CUDA throughput at Qwen2.5 shapes with random weights: decode and prefill of teacher and student,
// next-token training, stage-1 and stage-2 distillation steps, with MFU against the GPU's bf16
// dense peak. bench_cuda [0.5b|7b] [steps]
#include <stdlib.h>

#include "train/distill.h"

#ifdef ARWKV_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "cuda/cuda_ops.h"

static void shape(arwkv_config *c, const char *which) {
    arwkv_config_defaults(c, ARWKV_ARCH_QWEN2);
    if (!strcmp(which, "7b")) c->n_embd = 3584, c->n_layer = 28, c->n_head = 28, c->n_kv_head = 4, c->n_ff = 18944,
                              c->n_vocab = 152064;
    else c->n_embd = 896, c->n_layer = 24, c->n_head = 14, c->n_kv_head = 2, c->n_ff = 4864, c->n_vocab = 151936;
    c->head_dim = c->n_embd / c->n_head;
}

static double now(void) { return time_now(); }

static void inference(const char *label, arwkv_model *m, float *logits) {
    enum { PRE = 512, DEC = 64 };
    int32_t ids[PRE + DEC];
    for (int i = 0; i < PRE + DEC; i++) ids[i] = (i * 7919) % m->cfg.n_vocab;
    arwkv_state *s;
    if (arwkv_state_init(&s, m, PRE + DEC + 8)) {
        printf("%s: %s\n", label, arwkv_last_error());
        return;
    }
    arwkv_forward(m, s, ids, PRE, logits, 0);   // warm-up
    arwkv_state_reset(s);
    double t0 = now();
    arwkv_forward(m, s, ids, PRE, logits, 0);
    double t1 = now();
    for (int i = 0; i < DEC; i++) arwkv_forward(m, s, ids + PRE + i, 1, logits, 0);
    double t2 = now();
    printf("%-8s prefill %d: %8.0f tok/s   decode: %7.1f tok/s\n", label, PRE, PRE / (t1 - t0), DEC / (t2 - t1));
    arwkv_state_free(s);
}

static int64_t count_params(const arwkv_config *c, int time_mix_only) {
    if (!time_mix_only) return arwkv_config_param_count(c);
    int64_t D = c->n_embd;
    return (int64_t)c->n_layer * (4 * D * D + 2 * D * (c->lora_w + c->lora_a + c->lora_v + c->lora_g));
}

int main(int argc, char **argv) {
    const char *which = argc > 1 ? argv[1] : "0.5b";
    int steps = argc > 2 ? atoi(argv[2]) : 5;
    const backend *be = backend_get("cuda");
    if (!be) {
        printf("bench_cuda: skipped: %s\n", arwkv_last_error());
        return 0;
    }
    struct cudaDeviceProp prop;
    cudaGetDeviceProperties(&prop, 0);
    double peak = strstr(prop.name, "H200") || strstr(prop.name, "H100") ? 989.4e12 : strstr(prop.name, "A100") ? 312e12 : 0;
    printf("device: %s (%.0f GiB), bf16 dense peak %.0f TFLOP/s%s\n", prop.name, prop.totalGlobalMem / 1073741824.0,
           peak / 1e12, peak ? "" : " (unknown: no MFU)");
    arwkv_config tc;
    shape(&tc, which);
    printf("shape %s: D %d, L %d, heads %d/%d, F %d, V %d\n", which, tc.n_embd, tc.n_layer, tc.n_head, tc.n_kv_head,
           tc.n_ff, tc.n_vocab);
    double t0 = now();
    arwkv_model *teacher = NULL, *student = NULL;
    if (arwkv_model_make_random(&teacher, &tc, 1) || arwkv_student_init(&student, teacher, 1, 0, 2)) {
        printf("bench_cuda: %s\n", arwkv_last_error());
        return 1;
    }
    printf("random models on the host: %.1f s\n", now() - t0);
    cuda_set_tf32(1);
    int B = 4, T = 512, BT = B * T;
    // training first (the models are still host models to copy from)
    const char *what[3] = {"train (CE)", "distill stage 1", "distill stage 2"};
    arwkv_model *tdev = teacher;
    for (int kind = 0; kind < 3; kind++) {
        train_model tm;
        adamw opt;
        distill d = {0};
        if (kind == 1 && model_set_device(tdev, "cuda")) {
            printf("%s\n", arwkv_last_error());
            break;
        }
        if (train_model_init_on(&tm, student, be, B, T) || adamw_init(&opt, &tm) ||
            (kind && distill_init(&d, kind, tdev, tm.m, B, T))) {
            printf("%-16s: %s\n", what[kind], arwkv_last_error());
            continue;
        }
        if (kind == 1)
            for (int32_t i = 0; i < tm.n_tensors; i++) tm.tensors[i].trainable = strstr(tm.tensors[i].name, "time_mix") != 0;
        int32_t *in = malloc(BT * sizeof(int32_t)), *tg = malloc(BT * sizeof(int32_t));
        for (int i = 0; i < BT; i++) in[i] = (i * 7919) % tc.n_vocab, tg[i] = (i * 104729) % tc.n_vocab;
        double ts = 0;
        for (int s = 0; s <= steps; s++) {
            if (s == 1) prof_reset();
            double a = now(), loss = 0;
            float l;
            train_zero_grads(&tm);
            int rc = kind == 0 ? train_forward(&tm, in, tg, 1, &l) || train_backward(&tm)
                     : kind == 1 ? distill_align_batch(&d, &tm, in, 1, &loss)
                                 : distill_kd_batch(&d, &tm, in, tg, 1, &loss, NULL, NULL);
            adamw_step(&opt, &tm, 1e-4f, train_grad_norm(&tm));
            be->sync();
            if (rc || cuda_has_failed()) {
                printf("%-16s: failed: %s\n", what[kind], arwkv_last_error());
                break;
            }
            if (s) ts += now() - a;   // step 0 warms up
        }
        double tps = steps * BT / ts;
        // FLOPs per token: 6N for what trains (forward + backward); stage 1 adds the teacher's 2N
        // forward and trains only the time-mix blocks; stage 2 adds the teacher's forward
        double n_all = (double)count_params(&tc, 0), n_tm = (double)count_params(&tc, 1);
        double flops = kind == 0 ? 6 * n_all : kind == 1 ? 2 * n_all + 6 * n_tm : 8 * n_all;
        printf("%-16s batch %d x %d: %8.0f tok/s  %6.1f TFLOP/s  MFU %.1f%%\n", what[kind], B, T, tps,
               tps * flops / 1e12, peak ? 100 * tps * flops / peak : 0);
        prof_print(stdout, (double)steps * BT);
        free(in);
        free(tg);
        if (kind) distill_free(&d);
        adamw_free(&opt);
        train_model_free(&tm);
    }
    float *logits = malloc((size_t)tc.n_vocab * sizeof(float));
    if (model_set_device(student, "cuda") == 0) inference("student", student, logits);
    if (tdev->be == be) inference("teacher", tdev, logits);
    free(logits);
    arwkv_model_free(student);
    arwkv_model_free(teacher);
    return 0;
}
#else
int main(void) {
    printf("bench_cuda: skipped: built without the CUDA backend\n");
    return 0;
}
#endif
