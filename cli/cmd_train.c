// arwkv train: next-token training of a teacher or student on a token file from prepare-data.
#include "cli.h"
#include "train/trainer.h"

int cmd_train(int argc, char **argv) {
    trainer_opts o;
    trainer_opts_defaults(&o);
    const char *schedule = "constant";
    int64_t seed = 0, shuffle = 1;
    cli_list only = {0}, freeze = {0};
    cli_opt opts[] = {
        {"model", 'm', OPT_STR, &o.model_dir, "model directory to start from"},
        {"data", 0, OPT_STR, &o.data_path, "token file written by 'arwkv prepare-data'"},
        {"out", 'o', OPT_STR, &o.out_dir, "output directory (OUT/checkpoint is a model directory)"},
        {"steps", 0, OPT_INT, &o.steps, "optimiser steps (default 100)"},
        {"ctx", 'c', OPT_INT, &o.ctx, "tokens per sequence (default 512)"},
        {"batch", 'b', OPT_INT, &o.batch, "sequences per micro-batch (default 1)"},
        {"accum", 0, OPT_INT, &o.accum, "micro-batches per optimiser step (default 1)"},
        {"lr", 0, OPT_FLOAT, &o.lr, "peak learning rate (default 1e-4)"},
        {"warmup", 0, OPT_INT, &o.warmup, "linear warmup steps (default 0)"},
        {"schedule", 0, OPT_STR, &schedule, "constant or cosine after warmup (default constant)"},
        {"min-lr", 0, OPT_FLOAT, &o.min_lr, "final learning rate of the cosine schedule (default 0)"},
        {"seed", 0, OPT_INT, &seed, "data shuffle seed (default 0)"},
        {"shuffle", 0, OPT_INT, &shuffle, "1: seeded shuffle of windows, 0: in order (default 1)"},
        {"log", 0, OPT_STR, &o.log_path, "JSONL log, one line per optimiser step"},
        {"save-every", 0, OPT_INT, &o.save_every, "checkpoint every K steps (default: only at the end)"},
        {"resume", 0, OPT_FLAG, &o.resume, "continue from OUT/checkpoint when it exists"},
        {"freeze", 0, OPT_LIST, &freeze, "freeze tensors matching this pattern (fnmatch over HF names), repeatable"},
        {"train-only", 0, OPT_LIST, &only, "train only tensors matching this pattern, repeatable"},
        {"max-bad-steps", 0, OPT_INT, &o.max_bad, "stop after this many non-finite steps in a row (default 5)"},
    };
    const char *usage = "-m DIR --data FILE --out DIR [--steps N] [--ctx C] [--batch B] [--accum A] [--lr LR] "
                        "[--warmup W] [--schedule constant|cosine] [--min-lr X] [--seed S] [--shuffle 0|1] "
                        "[--log FILE] [--save-every K] [--resume] [--freeze PATTERN]... [--train-only PATTERN]...";
    int rc = 2;
    if (cli_parse(argc, argv, opts, sizeof opts / sizeof opts[0], usage)) goto done;
    if (cli_require(argv[0], "-m DIR", o.model_dir) || cli_require(argv[0], "--data FILE", o.data_path) ||
        cli_require(argv[0], "--out DIR", o.out_dir))
        goto done;
    if (strcmp(schedule, "constant") && strcmp(schedule, "cosine")) {
        fprintf(stderr, "arwkv train: --schedule must be constant or cosine, got '%s'\n", schedule);
        goto done;
    }
    if (o.steps < 1 || o.ctx < 1 || o.batch < 1 || o.accum < 1 || o.warmup < 0 || o.lr <= 0 || o.max_bad < 1 ||
        (shuffle != 0 && shuffle != 1)) {
        fprintf(stderr, "arwkv train: --steps, --ctx, --batch, --accum, --lr, --max-bad-steps must be positive, "
                        "--warmup >= 0, --shuffle 0 or 1\n");
        goto done;
    }
    o.schedule_cosine = !strcmp(schedule, "cosine");
    o.seed = (uint64_t)seed;
    o.shuffle = (int)shuffle;
    o.only = only.items;
    o.n_only = only.n;
    o.freeze = freeze.items;
    o.n_freeze = freeze.n;
    o.verbose = 1;
    rc = trainer_run(&o) ? cli_fail() : 0;
done:
    free(only.items);
    free(freeze.items);
    return rc;
}
