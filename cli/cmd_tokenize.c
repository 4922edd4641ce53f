// arwkv tokenize / detokenize: text <-> token ids with a model directory's tokenizer.
#include <stdlib.h>

#include "cli.h"

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *file = NULL;
    int no_special = 0;
    cli_opt opts[] = {
        {"model", 'm', OPT_STR, &model, "model directory (or tokenizer.json)"},
        {"file", 'f', OPT_STR, &file, "text file to encode (default: standard input)"},
        {"no-special", 0, OPT_FLAG, &no_special, "treat special-token text such as <|im_end|> as plain text"},
    };
    if (cli_parse(argc, argv, opts, sizeof opts / sizeof opts[0], "-m DIR [-f FILE] [--no-special]")) return 2;
    if (cli_require(argv[0], "-m DIR", model)) return 2;
    const char *name = file ? file : "<stdin>";
    arwkv_tokenizer *t;
    if (arwkv_tokenizer_load(&t, model)) return cli_fail();
    size_t len;
    char *text = file_read_all(file ? file : "/dev/stdin", &len);
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = text ? arwkv_tokenize(t, text, len, &ids, &n, !no_special) : -1;
    if (rc && text) arwkv_wrap_error("%s", name);
    free(text);
    arwkv_tokenizer_free(t);
    if (rc) return cli_fail();
    // the whole input's ids on one line, separated by single spaces
    char buf[1 << 16];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k + 16 > sizeof buf) {
            fwrite(buf, 1, k, stdout);
            k = 0;
        }
        k += (size_t)snprintf(buf + k, sizeof buf - k, i ? " %d" : "%d", ids[i]);
    }
    buf[k++] = '\n';
    fwrite(buf, 1, k, stdout);
    free(ids);
    if (fflush(stdout) || ferror(stdout)) {
        arwkv_set_error("writing the ids: output error");
        return cli_fail();
    }
    return 0;
}

int cmd_detokenize(int argc, char **argv) {
    const char *model = NULL, *file = NULL;
    int skip_special = 0;
    cli_opt opts[] = {
        {"model", 'm', OPT_STR, &model, "model directory (or tokenizer.json)"},
        {"file", 'f', OPT_STR, &file, "file of whitespace-separated ids (default: standard input)"},
        {"skip-special", 0, OPT_FLAG, &skip_special, "leave special tokens such as <|im_end|> out"},
    };
    if (cli_parse(argc, argv, opts, sizeof opts / sizeof opts[0], "-m DIR [-f IDS_FILE] [--skip-special]"))
        return 2;
    if (cli_require(argv[0], "-m DIR", model)) return 2;
    arwkv_tokenizer *t;
    if (arwkv_tokenizer_load(&t, model)) return cli_fail();
    int32_t *ids = NULL;
    size_t n = 0;
    if (cli_read_ids(file ? file : "-", &ids, &n)) {
        arwkv_tokenizer_free(t);
        return cli_fail();
    }
    // the library skips ids without a token (as decoding model output must); here they are
    // a mistake in the input
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        if (!arwkv_token_piece(t, ids[i], NULL))
            rc = arwkv_set_error("%s: id %zu: %d is not a token of %s (%d ids)", file ? file : "<stdin>", i,
                                 ids[i], model, arwkv_tokenizer_vocab_size(t));
    char *bytes = NULL;
    size_t len = 0;
    if (!rc) rc = arwkv_detokenize(t, ids, n, skip_special, &bytes, &len);
    arwkv_tokenizer_free(t);
    free(ids);
    if (rc) return cli_fail();
    fwrite(bytes, 1, len, stdout);
    free(bytes);
    if (fflush(stdout) || ferror(stdout)) {
        arwkv_set_error("writing the text: output error");
        return cli_fail();
    }
    return 0;
}
