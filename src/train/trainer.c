// The next-token training loop behind `arwkv train`: data, accumulation, AdamW, schedule,
// non-finite step skipping, JSONL log, progress and checkpoints with exact resume.
#include "train/trainer.h"

#include <math.h>
#include <unistd.h>

#include "train/checkpoint.h"
#include "train/data.h"

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

static int log_step(FILE *fp, int64_t step, double loss, double lr, double gn, int64_t tokens, double tps) {
    if (!fp) return 0;
    fprintf(fp, "{\"step\": %lld, \"loss\": %.6f, \"lr\": %.6g, \"grad_norm\": %.6f, \"tokens\": %lld, "
                "\"tokens_per_s\": %.1f}\n",
            (long long)step, loss, lr, gn, (long long)tokens, tps);
    return fflush(fp);
}

int trainer_run(const trainer_opts *o) {
    if (o->ctx < 1 || o->batch < 1 || o->accum < 1 || o->steps < 0)
        return arwkv_set_error("train: --ctx, --batch and --accum must be positive");
    char *ckpt = path_join(o->out_dir, "checkpoint");
    int resuming = o->resume && file_exists(ckpt);
    train_state st = {0, 0, 0, 0, o->seed, 0};
    arwkv_load_opts lo = {.weight_dtype = -1, .all_f32 = 1};
    arwkv_model *m = NULL;
    train_model tm = {0};
    adamw opt = {0};
    data_reader dr = {0};
    FILE *log = NULL;
    int32_t *in = NULL, *tg = NULL;
    int rc = dir_ensure(o->out_dir);
    if (!rc && resuming) rc = checkpoint_load_state(ckpt, &st);
    if (!rc) rc = arwkv_model_load(&m, resuming ? ckpt : o->model_dir, &lo);
    if (!rc) rc = train_model_init(&tm, m, (int32_t)o->batch, (int32_t)o->ctx);
    if (!rc) rc = adamw_init(&opt, &tm);
    if (!rc && resuming) rc = checkpoint_load_optimizer(ckpt, &opt, tm.n_params);
    if (!rc) rc = data_reader_open(&dr, o->data_path, (int32_t)o->ctx, o->shuffle, st.seed);
    if (!rc && dr.vocab > m->cfg.n_vocab)
        rc = arwkv_set_error("%s: token vocabulary %d is larger than the model's (%d)", o->data_path, dr.vocab,
                             m->cfg.n_vocab);
    if (rc) goto done;
    opt.lr = (float)o->lr;
    opt.t = st.adam_t;
    dr.pos = st.data_pos;
    int64_t n_train = train_model_set_trainable(&tm, o->only, o->n_only, o->freeze, o->n_freeze);
    if (n_train == 0) {
        rc = arwkv_set_error("train: the --train-only / --freeze patterns leave no tensor to train");
        goto done;
    }
    if (o->log_path && !(log = fopen(o->log_path, resuming ? "a" : "w"))) {
        rc = arwkv_set_error("%s: cannot open for writing", o->log_path);
        goto done;
    }
    if (o->verbose) {
        train_model_print_sizes(&tm, stderr);
        fprintf(stderr, "train: %lld of %zu parameters trainable, %lld windows of %lld tokens%s\n",
                (long long)n_train, tm.n_params, (long long)dr.n_windows, (long long)o->ctx,
                resuming ? ", resuming" : "");
    }
    size_t BT = (size_t)o->batch * o->ctx;
    in = malloc(BT * sizeof *in);
    tg = malloc(BT * sizeof *tg);
    progress pr;
    progress_init(&pr, "train", "steps", o->steps);
    int64_t bad_run = 0;
    for (; st.step < o->steps; st.step++) {
        double t0 = time_now(), loss_sum = 0;
        train_zero_grads(&tm);
        for (int64_t a = 0; a < o->accum; a++) {
            float loss;
            data_reader_next(&dr, (int32_t)o->batch, in, tg);
            train_forward(&tm, in, tg, 1.0f / (float)o->accum, &loss);
            train_backward(&tm);
            loss_sum += loss;
        }
        st.data_pos = dr.pos;
        st.tokens += (int64_t)BT * o->accum;
        double loss = loss_sum / (double)o->accum, gn = train_grad_norm(&tm);
        float lr = train_lr_at(st.step, o->warmup, o->steps, (float)o->lr, (float)o->min_lr, o->schedule_cosine);
        if (!isfinite(loss) || !isfinite(gn)) {
            st.skipped++;
            if (++bad_run >= o->max_bad) {
                rc = arwkv_set_error("train: step %lld: %lld steps in a row had a non-finite loss or gradient "
                                     "(lower --lr?); stopping",
                                     (long long)st.step, (long long)bad_run);
                goto done;
            }
            fprintf(stderr, "arwkv train: step %lld: non-finite loss or gradient, step skipped\n",
                    (long long)st.step);
        } else {
            bad_run = 0;
            adamw_step(&opt, &tm, lr, gn);
        }
        st.adam_t = opt.t;
        double dt = time_now() - t0;
        log_step(log, st.step + 1, loss, lr, gn, st.tokens, dt > 0 ? (double)BT * o->accum / dt : 0);
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
    if (o->verbose && st.skipped) fprintf(stderr, "train: %lld steps skipped\n", (long long)st.skipped);
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
