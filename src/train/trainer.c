// The training loop behind `arwkv train`, `distill`, `sft` and `dpo`: data, accumulation, AdamW,
// schedule, non-finite step skipping, JSONL log, progress, checkpoints with exact resume and the
// final model directory. A stage plugs in its loss through trainer_hooks.
#include "train/trainer.h"

#include <dirent.h>
#include <math.h>
#include <unistd.h>

#include "train/checkpoint.h"
#include "train/data.h"
#include "core/profile.h"

void trainer_opts_defaults(trainer_opts *o) {
    memset(o, 0, sizeof *o);
    o->steps = 100;
    o->ctx = 512;
    o->batch = 1;
    o->accum = 1;
    o->lr = 1e-4;
    o->schedule_cosine = 0;
    o->shuffle = 1;
    o->max_bad = 5;
}

static int log_step(FILE *fp, int64_t step, double loss, double lr, double gn, int64_t tokens, double tps,
                    const trainer_hooks *hk) {
    if (!fp) return 0;
    char extra[1024] = "";
    if (hk && hk->log_fields) hk->log_fields(hk->ctx, extra, sizeof extra);
    fprintf(fp, "{\"step\": %lld, \"loss\": %.6f, \"lr\": %.6g, \"grad_norm\": %.6f, \"tokens\": %lld, "
                "\"tokens_per_s\": %.1f%s}\n",
            (long long)step, loss, lr, gn, (long long)tokens, tps, extra);
    return fflush(fp);
}

// the default micro-batch: next-token cross-entropy
static int next_token_batch(void *ctx, train_model *tm, int64_t index, const int32_t *in, const int32_t *tg,
                            float grad_scale, double *loss) {
    (void)ctx, (void)index;
    float l;
    if (train_forward(tm, in, tg, grad_scale, &l) || train_backward(tm)) return -1;
    *loss = l;
    return 0;
}

// OUT/checkpoint minus the optimiser state becomes OUT itself: the hand-off to the next stage
static int export_final(const char *out_dir) {
    char *ckpt = path_join(out_dir, "checkpoint");
    DIR *d = opendir(ckpt);
    int rc = d ? 0 : arwkv_set_error("%s: cannot open", ckpt);
    for (struct dirent *e; !rc && (e = readdir(d));) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "optimizer.safetensors") ||
            !strcmp(e->d_name, "trainer_state.json"))
            continue;
        char *src = path_join(ckpt, e->d_name), *dst = path_join(out_dir, e->d_name);
        rc = file_copy_atomic(src, dst);
        free(src);
        free(dst);
    }
    if (d) closedir(d);
    free(ckpt);
    return rc;
}

int trainer_run(const trainer_opts *o) {
    const char *name = o->name ? o->name : "train";
    const trainer_hooks *hk = o->hooks;
    int own_data = hk && hk->own_data;
    int64_t rows = (int64_t)o->batch * (hk && hk->rows_per_item > 0 ? hk->rows_per_item : 1);
    if (o->ctx < 1 || o->batch < 1 || o->accum < 1 || o->steps < 0)
        return arwkv_set_error("%s: --ctx, --batch and --accum must be positive", name);
    char *ckpt = path_join(o->out_dir, "checkpoint");
    int resuming = o->resume && file_exists(ckpt);
    train_state st = {0, 0, 0, 0, o->seed, 0};
    arwkv_load_opts lo = {.weight_dtype = -1};   // converted to fp32 parameters by train_model_init
    const backend *be = backend_get(o->device);
    if (!be) return -1;
    arwkv_model *m = NULL;
    train_model tm = {0};
    adamw opt = {0};
    data_reader dr = {0};
    FILE *log = NULL;
    int32_t *in = NULL, *tg = NULL;
    int rc = dir_ensure(o->out_dir);
    if (!rc && resuming) rc = checkpoint_load_state(ckpt, &st);
    if (!rc) rc = arwkv_model_load(&m, resuming ? ckpt : o->model_dir, &lo);
    if (!rc) rc = train_model_init_on(&tm, m, be, (int32_t)rows, (int32_t)o->ctx);
    if (!rc) rc = adamw_init(&opt, &tm);
    if (!rc && resuming) rc = checkpoint_load_optimizer(ckpt, &opt, tm.n_params);
    if (!rc && !own_data) rc = data_reader_open(&dr, o->data_path, (int32_t)o->ctx, o->shuffle, st.seed);
    if (!rc && !own_data && dr.vocab > m->cfg.n_vocab)
        rc = arwkv_set_error("%s: token vocabulary %d is larger than the model's (%d)", o->data_path, dr.vocab,
                             m->cfg.n_vocab);
    if (rc) goto done;
    opt.lr = (float)o->lr;
    opt.t = st.adam_t;
    dr.pos = st.data_pos;
    int64_t n_train = train_model_set_trainable(&tm, o->only, o->n_only, o->freeze, o->n_freeze);
    if (n_train == 0) {
        rc = arwkv_set_error("%s: the --train-only / --freeze patterns leave no tensor to train", name);
        goto done;
    }
    if (hk && hk->setup && (rc = hk->setup(hk->ctx, &tm, o))) goto done;
    if (o->log_path && !(log = fopen(o->log_path, resuming ? "a" : "w"))) {
        rc = arwkv_set_error("%s: cannot open for writing", o->log_path);
        goto done;
    }
    if (o->verbose) {
        train_model_print_sizes(&tm, stderr);
        fprintf(stderr, "%s: %lld of %zu parameters trainable, %lld windows of %lld tokens%s\n", name,
                (long long)n_train, tm.n_params, (long long)(own_data ? 0 : dr.n_windows), (long long)o->ctx,
                resuming ? ", resuming" : "");
    }
    size_t BT = (size_t)rows * o->ctx;
    int (*micro)(void *, train_model *, int64_t, const int32_t *, const int32_t *, float, double *) =
        hk && hk->micro_batch ? hk->micro_batch : next_token_batch;
    in = malloc(BT * sizeof *in);
    tg = malloc(BT * sizeof *tg);
    progress pr;
    progress_init(&pr, name, "steps", o->steps);
    int64_t bad_run = 0;
    int64_t first_step = st.step;
    for (; st.step < o->steps; st.step++) {
        double t0 = time_now(), loss_sum = 0;
        prof_mark pm = prof_begin();
        train_zero_grads(&tm);
        prof_end(PROF_OPTIM, pm, 0);
        if (hk && hk->step_begin) hk->step_begin(hk->ctx);
        for (int64_t a = 0; a < o->accum; a++) {
            double loss;
            if (!own_data) data_reader_next(&dr, (int32_t)o->batch, in, tg);
            if ((rc = micro(hk ? hk->ctx : NULL, &tm, st.step * o->accum + a, own_data ? NULL : in,
                            own_data ? NULL : tg, 1.0f / (float)o->accum, &loss)))
                goto done;
            loss_sum += loss;
        }
        st.data_pos = dr.pos;
        st.tokens += (int64_t)BT * o->accum;
        pm = prof_begin();
        double loss = loss_sum / (double)o->accum, gn = train_grad_norm(&tm);
        float lr = train_lr_at(st.step, o->warmup, o->steps, (float)o->lr, (float)o->min_lr, o->schedule_cosine);
        if (!isfinite(loss) || !isfinite(gn)) {
            st.skipped++;
            if (++bad_run >= o->max_bad) {
                rc = arwkv_set_error("%s: step %lld: %lld steps in a row had a non-finite loss or gradient "
                                     "(lower --lr?); stopping",
                                     name, (long long)st.step, (long long)bad_run);
                goto done;
            }
            fprintf(stderr, "arwkv %s: step %lld: non-finite loss or gradient, step skipped\n", name,
                    (long long)st.step);
        } else {
            bad_run = 0;
            adamw_step(&opt, &tm, lr, gn);
        }
        prof_end(PROF_OPTIM, pm, 0);
        st.adam_t = opt.t;
        double dt = time_now() - t0;
        log_step(log, st.step + 1, loss, lr, gn, st.tokens, dt > 0 ? (double)BT * o->accum / dt : 0, hk);
        char extra[96];
        snprintf(extra, sizeof extra, "loss %.4f lr %.3g", loss, lr);
        progress_update(&pr, st.step + 1, extra);
        int last = st.step + 1 == o->steps;
        if (last || (o->save_every > 0 && (st.step + 1) % o->save_every == 0)) {
            train_state save = st;
            save.step = st.step + 1;
            if ((rc = checkpoint_save(o->out_dir, o->model_dir, &tm, &opt, &save))) goto done;
        }
    }
    progress_end(&pr);
    prof_print(stderr, (double)BT * o->accum * (o->steps - first_step));
    rc = export_final(o->out_dir);
    if (o->verbose && st.skipped) fprintf(stderr, "%s: %lld steps skipped\n", name, (long long)st.skipped);
done:
    if (log) fclose(log);
    free(in);
    free(tg);
    data_reader_close(&dr);
    adamw_free(&opt);
    train_model_free(&tm);
    arwkv_model_free(m);
    free(ckpt);
    return rc;
}
