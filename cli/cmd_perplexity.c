// arwkv perplexity: score a token-id file (or a text file through the model's tokenizer).
#include "cli.h"

int cmd_perplexity(int argc, char **argv) {
    const char *model = NULL, *text = NULL, *ids_path = NULL, *dtype = NULL, *device = NULL;
    int64_t ctx = 512;
    cli_opt opts[] = {
        {"model", 'm', OPT_STR, &model, "model directory"},
        {"file", 'f', OPT_STR, &text, "text file to score (tokenized with the model's tokenizer)"},
        {"ids", 0, OPT_STR, &ids_path, "file of whitespace-separated token ids"},
        {"ctx", 'c', OPT_INT, &ctx, "window length in tokens (default 512)"},
        {"device", 0, OPT_STR, &device, "where weights and states live: cpu (default), cuda or cuda:N"},
        {"dtype", 0, OPT_STR, &dtype, "run weights and activations in f32, f16 or bf16 (default: file weights, fp32 activations)"},
    };
    if (cli_parse(argc, argv, opts, sizeof opts / sizeof opts[0], "-m DIR (-f TEXT_FILE | --ids IDS_FILE) [-c CTX]"))
        return 2;
    if (cli_require(argv[0], "-m DIR", model)) return 2;
    if (!text == !ids_path) {
        fprintf(stderr, "arwkv perplexity: give exactly one of -f TEXT_FILE and --ids IDS_FILE\n");
        return 2;
    }
    if (ctx < 2 || ctx > 1 << 24) {
        fprintf(stderr, "arwkv perplexity: -c must be at least 2\n");
        return 2;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    if (text ? cli_tokenize_file(model, text, &ids, &n) : cli_read_ids(ids_path, &ids, &n)) return cli_fail();
    arwkv_model *m;
    if (cli_load_model(model, dtype, device, &m)) {
        free(ids);
        return cli_fail();
    }
    double ppl;
    int64_t scored;
    int rc = arwkv_perplexity(m, ids, (int64_t)n, (int32_t)ctx, &ppl, &scored, 1);
    arwkv_model_free(m);
    free(ids);
    if (rc) return cli_fail();
    printf("perplexity: %.6g (%lld tokens)\n", ppl, (long long)scored);
    return 0;
}
