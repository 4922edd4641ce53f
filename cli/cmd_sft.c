// arwkv sft: supervised fine-tuning, next-token cross-entropy on chat data. prepare-data on
// "messages" JSONL marks only the assistant tokens as targets, so this is `train` on such a file,
// usually at a longer --ctx than distillation (the authors went 2k -> 4k -> 8k -> 16k).
#include "train_cli.h"

int cmd_sft(int argc, char **argv) {
    trainer_opts o;
    trainer_opts_defaults(&o);
    o.ctx = 2048;
    train_cli x;
    cli_opt opts[TRAIN_CLI_N_OPTS + 2] = {
        {"model", 'm', OPT_STR, &o.model_dir, "model directory to start from (a distilled student)"},
        {"data", 0, OPT_STR, &o.data_path, "token file of chat data written by 'arwkv prepare-data'"},
    };
    train_cli_opts(opts + 2, &o, &x);
    opts[4].help = "tokens per sequence (default 2048)";
    char usage[1024];
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
