// arwkv make-model: a random model in the real Hugging Face layout, for tests and benchmarks.
#include "cli.h"

// src is a model/tokenizer directory, or a tokenizer.json file (copied alone)
static int copy_tokenizer(const char *src, const char *dir) {
    size_t n = strlen(src);
    if (n < 5 || strcmp(src + n - 5, ".json")) return arwkv_model_copy_tokenizer(src, dir);
    char *to = path_join(dir, "tokenizer.json");
    int rc = file_copy_atomic(src, to);
    free(to);
    return rc;
}

int cmd_make_model(int argc, char **argv) {
    const char *arch = "qwen2", *dtype = "bf16", *tok = NULL, *out = NULL;
    int64_t D = 0, L = 0, Hq = 0, Hkv = 0, F = 0, V = 0, seed = 0;
    int gate = 0, group_norm = 0, tied = 0;
    cli_opt opts[] = {
        {"arch", 0, OPT_STR, &arch, "qwen2 (teacher) or arwkv (student)"},
        {"hidden", 0, OPT_INT, &D, "hidden size D"},
        {"layers", 0, OPT_INT, &L, "number of layers"},
        {"heads", 0, OPT_INT, &Hq, "attention heads (qwen2)"},
        {"kv-heads", 0, OPT_INT, &Hkv, "key/value heads (qwen2; default: --heads)"},
        {"ffn", 0, OPT_INT, &F, "MLP size F"},
        {"vocab", 0, OPT_INT, &V, "vocabulary size (default 151936)"},
        {"dtype", 0, OPT_STR, &dtype, "bf16 (default), f16 or f32 weights"},
        {"tokenizer", 0, OPT_STR, &tok, "tokenizer.json or a directory with it, copied into the model"},
        {"tied", 0, OPT_FLAG, &tied, "tie lm_head to the embeddings"},
        {"gate", 0, OPT_FLAG, &gate, "student with the output gate"},
        {"group-norm", 0, OPT_FLAG, &group_norm, "student with GroupNorm after the scan"},
        {"seed", 0, OPT_INT, &seed, "random seed"},
        {"output", 'o', OPT_STR, &out, "output directory"},
    };
    if (cli_parse(argc, argv, opts, sizeof opts / sizeof opts[0], "--hidden D --layers L --ffn F [options] -o DIR"))
        return 2;
    if (cli_require(argv[0], "-o DIR", out) || cli_require(argv[0], "--hidden", D ? &D : NULL) ||
        cli_require(argv[0], "--layers", L ? &L : NULL) || cli_require(argv[0], "--ffn", F ? &F : NULL))
        return 2;
    arwkv_config c;
    arwkv_dtype dt;
    if (arwkv_dtype_parse(dtype, &dt) || dt > ARWKV_BF16) {
        fprintf(stderr, "arwkv make-model: --dtype must be f32, f16 or bf16\n");
        return 2;
    }
    int student = !strcmp(arch, "arwkv");
    if (!student && strcmp(arch, "qwen2")) {
        fprintf(stderr, "arwkv make-model: --arch must be qwen2 or arwkv, got '%s'\n", arch);
        return 2;
    }
    arwkv_config_defaults(&c, student ? ARWKV_ARCH_RWKV_HYBRID : ARWKV_ARCH_QWEN2);
    if (!V) V = 151936;
    if (D <= 0 || L <= 0 || F <= 0 || V <= 0 || D > 65536 || F > 1 << 20 || V > 1 << 24 || L > 1024) {
        fprintf(stderr, "arwkv make-model: sizes must be positive and sane\n");
        return 2;
    }
    c.n_embd = (int32_t)D, c.n_layer = (int32_t)L, c.n_ff = (int32_t)F, c.n_vocab = (int32_t)V;
    c.tie_embeddings = tied;
    c.torch_dtype = dt;
    if (student) {
        if (D % 64) {
            fprintf(stderr, "arwkv make-model: --hidden must be a multiple of the wkv head size 64\n");
            return 2;
        }
        c.n_head = c.n_kv_head = (int32_t)(D / 64);
        c.has_gate = gate, c.has_group_norm = group_norm;
    } else {
        if (!Hkv) Hkv = Hq;
        if (Hq <= 0 || D % Hq || Hq % Hkv || (D / Hq) % 2) {
            fprintf(stderr, "arwkv make-model: need --heads dividing --hidden into even head sizes, and --kv-heads dividing --heads\n");
            return 2;
        }
        c.n_head = (int32_t)Hq, c.n_kv_head = (int32_t)Hkv, c.head_dim = (int32_t)(D / Hq);
    }
    arwkv_model *m;
    if (arwkv_model_make_random(&m, &c, (uint64_t)seed)) return cli_fail();
    int rc = arwkv_model_save(m, out, dt);
    arwkv_model_free(m);
    if (rc || (tok && copy_tokenizer(tok, out))) return cli_fail();
    fprintf(stderr, "arwkv: wrote %s model (%.2fM parameters) to %s\n", arch, arwkv_config_param_count(&c) / 1e6, out);
    return 0;
}
