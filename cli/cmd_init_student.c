// arwkv init-student: an ARWKV student from a Qwen2 teacher directory.
#include "cli.h"

int cmd_init_student(int argc, char **argv) {
    const char *teacher = NULL, *out = NULL, *init = "paper", *dtype = NULL;
    int gate = 0;
    int64_t seed = 0;
    cli_opt opts[] = {
        {"teacher", 0, OPT_STR, &teacher, "Qwen2 teacher model directory"},
        {"output", 'o', OPT_STR, &out, "output directory for the student"},
        {"gate", 0, OPT_FLAG, &gate, "add the output gate (wkv_has_gate)"},
        {"init", 0, OPT_STR, &init, "paper (fresh r/k/v/o, default) or attention (r/k/v/o from q/k/v/o)"},
        {"dtype", 0, OPT_STR, &dtype, "f32, f16 or bf16 for the saved matrices (default: the teacher's)"},
        {"seed", 0, OPT_INT, &seed, "random seed"},
    };
    if (cli_parse(argc, argv, opts, sizeof opts / sizeof opts[0], "--teacher DIR -o DIR [options]")) return 2;
    if (cli_require(argv[0], "--teacher", teacher) || cli_require(argv[0], "-o DIR", out)) return 2;
    int from_attention = !strcmp(init, "attention");
    if (!from_attention && strcmp(init, "paper")) {
        fprintf(stderr, "arwkv init-student: --init must be paper or attention, got '%s'\n", init);
        return 2;
    }
    arwkv_model *t, *s;
    if (arwkv_model_load(&t, teacher, NULL)) return cli_fail();
    arwkv_dtype dt = arwkv_model_config(t)->torch_dtype;
    if (dtype && (arwkv_dtype_parse(dtype, &dt) || dt > ARWKV_BF16)) {
        arwkv_model_free(t);
        fprintf(stderr, "arwkv init-student: --dtype must be f32, f16 or bf16\n");
        return 2;
    }
    int rc = arwkv_student_init(&s, t, gate, from_attention, (uint64_t)seed);
    if (rc == 0) {
        rc = arwkv_model_save(s, out, dt);
        arwkv_model_free(s);
    }
    arwkv_model_free(t);
    if (rc) return cli_fail();
    // the tokenizer travels with the model so that every command can load the student directory
    if (arwkv_model_copy_tokenizer(teacher, out)) return cli_fail();
    fprintf(stderr, "arwkv: wrote student (%s init%s) to %s\n", init, gate ? ", gate" : "", out);
    return 0;
}
