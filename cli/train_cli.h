// The options every training command (train, distill, sft, dpo) shares, kept in one table.
#ifndef ARWKV_TRAIN_CLI_H
#define ARWKV_TRAIN_CLI_H

#include "cli.h"
#include "train/trainer.h"

enum { TRAIN_CLI_N_OPTS = 18 };

typedef struct {
    const char *schedule;
    int64_t seed, shuffle;
    cli_list only, freeze;
} train_cli;

// Fills opts[0..TRAIN_CLI_N_OPTS) with the common flags bound to o and x (o from trainer_opts_defaults).
void train_cli_opts(cli_opt *opts, trainer_opts *o, train_cli *x);
// The usage text of the common flags.
extern const char *const k_train_cli_usage;
// Validates the parsed values and moves them into o; prints "arwkv <cmd>: ..." and returns -1 when bad.
int train_cli_finish(const char *cmd, trainer_opts *o, train_cli *x);
void train_cli_free(train_cli *x);
// A whole next-token training command (train, sft): -m, --data and the common flags. ctx > 0 sets the
// default context length.
int train_cli_next_token(int argc, char **argv, int32_t ctx, const char *model_help, const char *data_help);

#endif
