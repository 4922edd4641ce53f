// arwkv: command dispatch.
#include "cli.h"

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} command;

static const command k_commands[] = {
    {"make-model", cmd_make_model, "write a random model in the Hugging Face layout"},
    {"convert", cmd_convert, "rewrite a model directory with its matrices in another dtype"},
    {"init-student", cmd_init_student, "build an ARWKV student from a Qwen2 teacher"},
    {"tokenize", cmd_tokenize, "print the token ids of a text"},
    {"detokenize", cmd_detokenize, "turn token ids back into bytes"},
    {"perplexity", cmd_perplexity, "score a text or token-id file"},
    {"generate", cmd_generate, "generate text from a prompt"},
    {"prepare-data", cmd_prepare_data, "tokenize text / JSONL files into a token file for training"},
    {"train", cmd_train, "next-token training of a teacher or student"},
    {"distill", cmd_distill, "stage 1 (attention alignment) or stage 2 (KL distillation) of a student"},
    {"sft", cmd_sft, "supervised fine-tuning on chat data (loss on assistant tokens)"},
    {"dpo", cmd_dpo, "direct preference optimisation against a frozen reference"},
    {"eval", cmd_eval, "benchmarks side by side: multiple choice, generation, perplexity, recall"},
    {"bench", cmd_bench, "decode and prefill throughput against the memory-bandwidth bound"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: arwkv <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof k_commands / sizeof k_commands[0]; i++)
        fprintf(f, "  %-14s %s\n", k_commands[i].name, k_commands[i].help);
    fprintf(f, "\n'arwkv <command> --help' lists a command's options.\n");
}

// ARWKV_THREADS, when set, must be a count: a typo should not quietly run on every CPU
static int threads_from_env(void) {
    const char *v = getenv("ARWKV_THREADS");
    if (v) {
        char *end;
        long n = strtol(v, &end, 10);
        if (end == v || *end || n < 1 || n > 1024) {
            fprintf(stderr, "arwkv: ARWKV_THREADS must be 1 to 1024, got '%s'\n", v);
            return -1;
        }
    }
    return arwkv_set_threads(0);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (threads_from_env()) return 2;
    for (size_t i = 0; i < sizeof k_commands / sizeof k_commands[0]; i++)
        if (!strcmp(argv[1], k_commands[i].name)) return k_commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "arwkv: unknown command '%s' (see 'arwkv --help')\n", argv[1]);
    return 2;
}
