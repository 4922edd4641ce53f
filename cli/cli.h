// The arwkv program: one file per subcommand over the library; this header holds the shared bits.
#ifndef ARWKV_CLI_H
#define ARWKV_CLI_H

#include "core/core.h"

typedef enum { OPT_STR, OPT_INT, OPT_FLOAT, OPT_FLAG, OPT_LIST } opt_type;

// One command-line option; dst is char **, int64_t *, double *, int * (flag) or cli_list * (repeatable).
typedef struct {
    const char *name;    // long name without dashes, e.g. "temp"
    char short_name;     // 0 if none
    opt_type type;
    void *dst;
    const char *help;
} cli_opt;

typedef struct {
    const char **items;
    int n;
} cli_list;

// Parses argv[1..]; on a bad flag or value prints "arwkv <cmd>: ..." plus usage and returns -1.
int cli_parse(int argc, char **argv, const cli_opt *opts, int n_opts, const char *usage);
// Checks that a required option was given; prints the error and returns -1 if not.
int cli_require(const char *cmd, const char *flag, const void *value_set);
// Prints "arwkv: <last library error>" and returns 1 (the exit code of a failed command).
int cli_fail(void);
// Reads whitespace-separated token ids from a file ("-" for stdin).
int cli_read_ids(const char *path, int32_t **ids, size_t *n);

// Reads a text file and encodes it with the tokenizer of a model directory (special tokens recognised).
int cli_tokenize_file(const char *model_dir, const char *path, int32_t **ids, size_t *n);

// Loads a model; dtype NULL keeps the file's weights and fp32 activations, "f32"/"f16"/"bf16"
// converts the weights and rounds the matrix-product inputs to that type.
int cli_load_model(const char *dir, const char *dtype, const char *device, arwkv_model **m);

int cmd_convert(int argc, char **argv);
int cmd_make_model(int argc, char **argv);
int cmd_init_student(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_distill(int argc, char **argv);
int cmd_sft(int argc, char **argv);
int cmd_dpo(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_prepare_data(int argc, char **argv);

#endif
