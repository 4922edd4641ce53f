// arwkv sft: supervised fine-tuning, next-token cross-entropy on chat data. prepare-data on
// "messages" JSONL marks only the assistant tokens as targets, so this is `train` on such a file,
// usually at a longer --ctx than distillation (the authors went 2k -> 4k -> 8k -> 16k).
#include "train_cli.h"

int cmd_sft(int argc, char **argv) {
    return train_cli_next_token(argc, argv, 2048, "model directory to start from (a distilled student)",
                                "token file of chat data written by 'arwkv prepare-data'");
}
