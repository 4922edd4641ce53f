// arwkv convert: rewrite a model directory with its matrices in another dtype.
#include "cli.h"

int cmd_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *dtype = NULL;
    cli_opt opts[] = {
        {"model", 'm', OPT_STR, &in, "model directory to read"},
        {"output", 'o', OPT_STR, &out, "model directory to write"},
        {"dtype", 0, OPT_STR, &dtype, "f32, f16 or bf16 for the matrices (vectors stay f32)"},
    };
    if (cli_parse(argc, argv, opts, sizeof opts / sizeof opts[0], "-m DIR -o DIR --dtype f32|f16|bf16")) return 2;
    if (cli_require(argv[0], "-m DIR", in) || cli_require(argv[0], "-o DIR", out) ||
        cli_require(argv[0], "--dtype", dtype))
        return 2;
    arwkv_dtype dt;
    if (arwkv_dtype_parse(dtype, &dt) || dt > ARWKV_BF16) {
        fprintf(stderr, "arwkv convert: --dtype must be f32, f16 or bf16\n");
        return 2;
    }
    arwkv_model *m;
    if (arwkv_model_load(&m, in, NULL)) return cli_fail();
    int rc = arwkv_model_save(m, out, dt);
    arwkv_model_free(m);
    if (rc || arwkv_model_copy_tokenizer(in, out)) return cli_fail();
    return 0;
}
