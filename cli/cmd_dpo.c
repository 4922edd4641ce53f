// arwkv dpo: direct preference optimisation of a model against a frozen reference (usually the
// same starting model: the distilled or SFT'd student).
#include "train/distill.h"
#include "train_cli.h"

int cmd_dpo(int argc, char **argv) {
    trainer_opts o;
    trainer_opts_defaults(&o);
    o.lr = 5e-6;
    train_cli x;
    const char *ref_dir = NULL;
    double beta = 0.1;
    enum { EXTRA = 4 };
    cli_opt opts[TRAIN_CLI_N_OPTS + EXTRA] = {
        {"model", 'm', OPT_STR, &o.model_dir, "policy model directory to start from"},
        {"ref", 0, OPT_STR, &ref_dir, "frozen reference model directory (default: the -m model)"},
        {"data", 0, OPT_STR, &o.data_path, "preference JSONL: prompt, chosen, rejected (strings or message lists)"},
        {"beta", 0, OPT_FLOAT, &beta, "DPO temperature beta (default 0.1)"},
    };
    train_cli_opts(opts + EXTRA, &o, &x);
    opts[EXTRA + 5].help = "peak learning rate (default 5e-6)";
    char usage[1200];
    snprintf(usage, sizeof usage, "-m DIR [--ref DIR] --data PREFS.jsonl --out DIR [--beta B] %s", k_train_cli_usage);
    int rc = 2;
    dpo d = {0};
    dpo_pair *pairs = NULL;
    int64_t n_pairs = 0;
    arwkv_model *ref = NULL;
    if (cli_parse(argc, argv, opts, sizeof opts / sizeof opts[0], usage)) goto done;
    if (cli_require(argv[0], "-m DIR", o.model_dir) || cli_require(argv[0], "--data FILE", o.data_path) ||
        train_cli_finish(argv[0], &o, &x))
        goto done;
    if (beta <= 0) {
        fprintf(stderr, "arwkv dpo: --beta must be positive\n");
        goto done;
    }
    if (!ref_dir) ref_dir = o.model_dir;
    if (dpo_read_pairs(o.model_dir, o.data_path, &pairs, &n_pairs) || arwkv_model_load(&ref, ref_dir, NULL) ||
        dpo_init(&d, ref, pairs, n_pairs, (float)beta, (int32_t)o.batch, (int32_t)o.ctx, o.shuffle, o.seed)) {
        rc = cli_fail();
        goto done;
    }
    fprintf(stderr, "dpo: %lld preference pairs\n", (long long)n_pairs);
    trainer_hooks hk = dpo_hooks(&d);
    o.hooks = &hk;
    rc = trainer_run(&o) ? cli_fail() : 0;
done:
    dpo_free(&d);
    dpo_free_pairs(pairs, n_pairs);
    arwkv_model_free(ref);
    train_cli_free(&x);
    return rc;
}
