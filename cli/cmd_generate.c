// arwkv generate: stream a continuation of a prompt; the state can be saved and resumed.
#include "cli.h"

typedef struct {
    const char *model, *prompt, *state_in, *state_out, *chat, *dtype, *device;
    int64_t n, top_k, seed;
    double temp, top_p;
} gen_args;

static int encode_prompt(const arwkv_tokenizer *tk, const gen_args *a, int32_t **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    if (!a->prompt) return 0;
    if (!a->chat) return arwkv_tokenize(tk, a->prompt, strlen(a->prompt), ids, n, 1);
    // the rendered template's markup is special-token text
    arwkv_chat_msg msg = {.role = "user", .content = a->prompt};
    char *text;
    if (arwkv_chat_render(tk, &msg, 1, 1, &text)) return -1;
    int rc = arwkv_tokenize(tk, text, strlen(text), ids, n, 1);
    free(text);
    return rc;
}

static int run(const gen_args *a, arwkv_model *m, arwkv_tokenizer *tk) {
    const arwkv_config *c = arwkv_model_config(m);
    int32_t *ids = NULL;
    size_t n_prompt = 0;
    if (encode_prompt(tk, a, &ids, &n_prompt)) return -1;
    arwkv_state *s = NULL;
    arwkv_sampler *sp = NULL;
    arwkv_token_stream *ts = NULL;
    float *logits = malloc((size_t)c->n_vocab * sizeof(float));
    int rc = -1, have_logits = 0;
    if (arwkv_state_init(&s, m, a->state_in ? c->max_pos : (int32_t)(n_prompt + (size_t)a->n + 1)) ||
        arwkv_sampler_init(&sp, c->n_vocab, (float)a->temp, (int32_t)a->top_k, (float)a->top_p, (uint64_t)a->seed) ||
        arwkv_token_stream_init(&ts, tk, 1))
        goto done;
    if (a->state_in && arwkv_state_load(s, a->state_in, logits, &have_logits)) goto done;
    if (n_prompt) {
        if (arwkv_forward(m, s, ids, (int32_t)n_prompt, logits, 0)) goto done;
        have_logits = 1;
    }
    if (!have_logits) {
        arwkv_set_error("nothing to continue from: give a prompt (-p) or a state saved after one");
        goto done;
    }
    if (a->state_out && arwkv_state_save(s, a->state_out, logits)) goto done;
    arwkv_special_tokens sp_ids = arwkv_tokenizer_special(tk);
    for (int64_t i = 0; i < a->n; i++) {
        int32_t tok = arwkv_sampler_sample(sp, logits);
        if (tok == c->eos_id || tok == sp_ids.eos || tok == sp_ids.im_end || tok == sp_ids.endoftext) break;
        const char *text;
        size_t len;
        if (arwkv_token_stream_push(ts, tok, &text, &len)) goto done;
        fwrite(text, 1, len, stdout);
        fflush(stdout);
        if (i + 1 < a->n && arwkv_forward(m, s, &tok, 1, logits, 0)) goto done;
    }
    const char *text;
    size_t len;
    if (arwkv_token_stream_flush(ts, &text, &len)) goto done;
    fwrite(text, 1, len, stdout);
    putchar('\n');
    rc = 0;
done:
    arwkv_token_stream_free(ts);
    arwkv_sampler_free(sp);
    arwkv_state_free(s);
    free(logits);
    free(ids);
    return rc;
}

int cmd_generate(int argc, char **argv) {
    gen_args a = {.n = 64, .temp = 0.0, .top_p = 1.0, .top_k = 0, .seed = 0};
    cli_opt opts[] = {
        {"model", 'm', OPT_STR, &a.model, "model directory"},
        {"prompt", 'p', OPT_STR, &a.prompt, "prompt text"},
        {"n-predict", 'n', OPT_INT, &a.n, "tokens to generate (default 64)"},
        {"temp", 0, OPT_FLOAT, &a.temp, "temperature; 0 is greedy (default)"},
        {"top-p", 0, OPT_FLOAT, &a.top_p, "nucleus sampling mass (default 1)"},
        {"top-k", 0, OPT_INT, &a.top_k, "keep the k most likely tokens (default 0: all)"},
        {"seed", 0, OPT_INT, &a.seed, "sampling seed"},
        {"chat", 0, OPT_STR, &a.chat, "wrap the prompt as a user message with this template: chatml, none or auto"},
        {"device", 0, OPT_STR, &a.device, "where weights and states live: cpu (default), cuda or cuda:N"},
        {"dtype", 0, OPT_STR, &a.dtype, "run weights and activations in f32, f16 or bf16 (default: file weights, fp32 activations)"},
        {"state-in", 0, OPT_STR, &a.state_in, "continue from a saved state"},
        {"state-out", 0, OPT_STR, &a.state_out, "save the state after the prompt"},
    };
    if (cli_parse(argc, argv, opts, sizeof opts / sizeof opts[0], "-m DIR -p PROMPT [options]")) return 2;
    if (cli_require(argv[0], "-m DIR", a.model)) return 2;
    if (!a.prompt && !a.state_in) {
        fprintf(stderr, "arwkv generate: give a prompt (-p) or --state-in FILE\n");
        return 2;
    }
    if (a.n < 0 || a.temp < 0 || !(a.top_p > 0 && a.top_p <= 1) || a.top_k < 0) {
        fprintf(stderr, "arwkv generate: need -n >= 0, --temp >= 0, 0 < --top-p <= 1, --top-k >= 0\n");
        return 2;
    }
    arwkv_model *m = NULL;
    arwkv_tokenizer *tk = NULL;
    int rc = cli_load_model(a.model, a.dtype, a.device, &m) || arwkv_tokenizer_load(&tk, a.model) ||
             (a.chat && arwkv_chat_set_template(tk, a.chat)) || run(&a, m, tk);
    arwkv_tokenizer_free(tk);
    arwkv_model_free(m);
    return rc ? cli_fail() : 0;
}
