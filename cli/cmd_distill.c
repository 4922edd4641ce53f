// arwkv distill: stage 1 (attention alignment) or stage 2 (word-level KD) of turning a Qwen2
// teacher into an ARWKV student. The output directory is a model directory the next stage loads.
#include "train/distill.h"
#include "train_cli.h"

int cmd_distill(int argc, char **argv) {
    trainer_opts o;
    trainer_opts_defaults(&o);
    o.lr = 1e-3;
    train_cli x;
    int64_t stage = 0;
    double temp = 1.0, ce_weight = 0.0;
    const char *teacher_dir = NULL;
    enum { EXTRA = 6 };
    cli_opt opts[TRAIN_CLI_N_OPTS + EXTRA] = {
        {"stage", 0, OPT_INT, &stage, "1: attention alignment, 2: word-level knowledge distillation"},
        {"teacher", 't', OPT_STR, &teacher_dir, "Qwen2 teacher model directory"},
        {"student", 's', OPT_STR, &o.model_dir, "student model directory (init-student, or the previous stage's --out)"},
        {"data", 0, OPT_STR, &o.data_path, "token file written by 'arwkv prepare-data'"},
        {"temperature", 0, OPT_FLOAT, &temp, "stage 2: softmax temperature of the KL (default 1)"},
        {"ce-weight", 0, OPT_FLOAT, &ce_weight, "stage 2: weight of the next-token CE added to the KL (default 0)"},
    };
    train_cli_opts(opts + EXTRA, &o, &x);
    opts[EXTRA + 5].help = "peak learning rate (default 1e-3)";
    char usage[1200];
    snprintf(usage, sizeof usage,
             "--stage 1|2 --teacher DIR --student DIR --data FILE --out DIR [--temperature T] [--ce-weight W] "
             "[--freeze mlp] %s", k_train_cli_usage);
    int rc = 2;
    distill d = {0};
    arwkv_model *teacher = NULL;
    const char *mlp = "*mlp*";
    const char **freeze = NULL;
    if (cli_parse(argc, argv, opts, sizeof opts / sizeof opts[0], usage)) goto done;
    if (cli_require(argv[0], "--stage 1|2", stage ? &stage : NULL) ||
        cli_require(argv[0], "--teacher DIR", teacher_dir) || cli_require(argv[0], "--student DIR", o.model_dir) ||
        cli_require(argv[0], "--data FILE", o.data_path) || train_cli_finish(argv[0], &o, &x))
        goto done;
    if (stage != 1 && stage != 2) {
        fprintf(stderr, "arwkv distill: --stage must be 1 or 2, got %lld\n", (long long)stage);
        goto done;
    }
    if (temp <= 0 || ce_weight < 0) {
        fprintf(stderr, "arwkv distill: --temperature must be positive and --ce-weight >= 0\n");
        goto done;
    }
    // "--freeze mlp" (the paper's ARWKV variant) names the MLP, not a tensor pattern
    freeze = malloc((size_t)(o.n_freeze + 1) * sizeof *freeze);
    int nf = 0;
    for (int i = 0; i < o.n_freeze; i++) freeze[nf++] = strcmp(o.freeze[i], "mlp") ? o.freeze[i] : mlp;
    o.freeze = freeze;
    o.n_freeze = nf;
    rc = 1;
    arwkv_load_opts lo = {.weight_dtype = -1, .device = o.device};   // the teacher runs where the student trains
    if (arwkv_model_load(&teacher, teacher_dir, &lo)) {
        rc = cli_fail();
        goto done;
    }
    d.stage = (int)stage;
    d.teacher = teacher;
    d.temperature = (float)temp;
    d.ce_weight = (float)ce_weight;
    trainer_hooks hk = distill_hooks(&d);
    o.hooks = &hk;
    rc = trainer_run(&o) ? cli_fail() : 0;
done:
    distill_free(&d);
    arwkv_model_free(teacher);
    free(freeze);
    train_cli_free(&x);
    return rc;
}
