// arwkv prepare-data: tokenize text / JSONL files into one token file for `arwkv train`.
#include "cli.h"
#include "train/data.h"

int cmd_prepare_data(int argc, char **argv) {
    const char *model = NULL, *out = NULL;
    cli_list inputs = {0};
    cli_opt opts[] = {
        {"model", 'm', OPT_STR, &model, "model directory (its tokenizer is used)"},
        {"input", 'i', OPT_LIST, &inputs, "input file, repeatable: plain text (one document), or .jsonl with "
                                          "\"text\" or chat \"messages\" per line"},
        {"out", 'o', OPT_STR, &out, "token file to write"},
    };
    if (cli_parse(argc, argv, opts, sizeof opts / sizeof opts[0], "-m DIR -i IN [-i IN]... -o OUT.bin")) return 2;
    if (cli_require(argv[0], "-m DIR", model) || cli_require(argv[0], "-i IN", inputs.items) ||
        cli_require(argv[0], "-o OUT", out)) {
        free(inputs.items);
        return 2;
    }
    int64_t n_tokens = 0, n_docs = 0;
    int rc = data_prepare(model, inputs.items, inputs.n, out, &n_tokens, &n_docs);
    free(inputs.items);
    if (rc) return cli_fail();
    printf("%s: %lld tokens, %lld documents\n", out, (long long)n_tokens, (long long)n_docs);
    return 0;
}
