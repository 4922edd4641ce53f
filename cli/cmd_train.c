// arwkv train: next-token training of a teacher or student on a token file from prepare-data; also
// the option table every training command shares.
#include "train_cli.h"

const char *const k_train_cli_usage =
    "[--steps N] [--ctx C] [--batch B] [--accum A] [--lr LR] [--warmup W] [--schedule constant|cosine] "
    "[--min-lr X] [--seed S] [--shuffle 0|1] [--log FILE] [--save-every K] [--resume] [--freeze PATTERN]... "
    "[--train-only PATTERN]... [--device cpu|cuda[:N]]";

void train_cli_opts(cli_opt *opts, trainer_opts *o, train_cli *x) {
    memset(x, 0, sizeof *x);
    x->schedule = "constant";
    x->shuffle = 1;
    cli_opt common[TRAIN_CLI_N_OPTS] = {
        {"out", 'o', OPT_STR, &o->out_dir, "output directory: the final model, and OUT/checkpoint for --resume"},
        {"steps", 0, OPT_INT, &o->steps, "optimiser steps (default 100)"},
        {"ctx", 'c', OPT_INT, &o->ctx, "tokens per sequence (default 512)"},
        {"batch", 'b', OPT_INT, &o->batch, "sequences (DPO: pairs) per micro-batch (default 1)"},
        {"accum", 0, OPT_INT, &o->accum, "micro-batches per optimiser step (default 1)"},
        {"lr", 0, OPT_FLOAT, &o->lr, "peak learning rate (default 1e-4)"},
        {"warmup", 0, OPT_INT, &o->warmup, "linear warmup steps (default 0)"},
        {"schedule", 0, OPT_STR, &x->schedule, "constant or cosine after warmup (default constant)"},
        {"min-lr", 0, OPT_FLOAT, &o->min_lr, "final learning rate of the cosine schedule (default 0)"},
        {"seed", 0, OPT_INT, &x->seed, "data shuffle seed (default 0)"},
        {"shuffle", 0, OPT_INT, &x->shuffle, "1: seeded shuffle of the data, 0: in order (default 1)"},
        {"log", 0, OPT_STR, &o->log_path, "JSONL log, one line per optimiser step"},
        {"save-every", 0, OPT_INT, &o->save_every, "checkpoint every K steps (default: only at the end)"},
        {"resume", 0, OPT_FLAG, &o->resume, "continue from OUT/checkpoint when it exists"},
        {"freeze", 0, OPT_LIST, &x->freeze, "freeze tensors matching this pattern (fnmatch over HF names), repeatable"},
        {"train-only", 0, OPT_LIST, &x->only, "train only tensors matching this pattern, repeatable"},
        {"max-bad-steps", 0, OPT_INT, &o->max_bad, "stop after this many non-finite steps in a row (default 5)"},
        {"device", 0, OPT_STR, &o->device, "where training runs: cpu (default), cuda or cuda:N"},
    };
    memcpy(opts, common, sizeof common);
}

int train_cli_finish(const char *cmd, trainer_opts *o, train_cli *x) {
    if (cli_require(cmd, "--out DIR", o->out_dir)) return -1;
    if (strcmp(x->schedule, "constant") && strcmp(x->schedule, "cosine")) {
        fprintf(stderr, "arwkv %s: --schedule must be constant or cosine, got '%s'\n", cmd, x->schedule);
        return -1;
    }
    if (o->steps < 1 || o->ctx < 1 || o->batch < 1 || o->accum < 1 || o->warmup < 0 || o->lr <= 0 || o->max_bad < 1 ||
        (x->shuffle != 0 && x->shuffle != 1)) {
        fprintf(stderr, "arwkv %s: --steps, --ctx, --batch, --accum, --lr, --max-bad-steps must be positive, "
                        "--warmup >= 0, --shuffle 0 or 1\n", cmd);
        return -1;
    }
    o->name = cmd;
    o->schedule_cosine = !strcmp(x->schedule, "cosine");
    o->seed = (uint64_t)x->seed;
    o->shuffle = (int)x->shuffle;
    o->only = x->only.items;
    o->n_only = x->only.n;
    o->freeze = x->freeze.items;
    o->n_freeze = x->freeze.n;
    o->verbose = 1;
    return 0;
}

void train_cli_free(train_cli *x) {
    free(x->only.items);
    free(x->freeze.items);
}

int train_cli_next_token(int argc, char **argv, int32_t ctx, const char *model_help, const char *data_help) {
    trainer_opts o;
    trainer_opts_defaults(&o);
    if (ctx > 0) o.ctx = ctx;
    train_cli x;
    cli_opt opts[TRAIN_CLI_N_OPTS + 2] = {
        {"model", 'm', OPT_STR, &o.model_dir, model_help},
        {"data", 0, OPT_STR, &o.data_path, data_help},
    };
    train_cli_opts(opts + 2, &o, &x);
    char usage[1024], ctx_help[64];
    if (ctx > 0) {   // the default shown must be the one in force
        snprintf(ctx_help, sizeof ctx_help, "tokens per sequence (default %d)", ctx);
        for (int i = 2; i < TRAIN_CLI_N_OPTS + 2; i++)
            if (!strcmp(opts[i].name, "ctx")) opts[i].help = ctx_help;
    }
    snprintf(usage, sizeof usage, "-m DIR --data FILE --out DIR %s", k_train_cli_usage);
    int rc = 2;
    if (cli_parse(argc, argv, opts, sizeof opts / sizeof opts[0], usage)) goto done;
    if (cli_require(argv[0], "-m DIR", o.model_dir) || cli_require(argv[0], "--data FILE", o.data_path) ||
        train_cli_finish(argv[0], &o, &x))
        goto done;
    rc = trainer_run(&o) ? cli_fail() : 0;
done:
    train_cli_free(&x);
    return rc;
}

int cmd_train(int argc, char **argv) {
    return train_cli_next_token(argc, argv, 0, "model directory to start from", "token file written by 'arwkv prepare-data'");
}
