// Chat templates: Qwen2.5-Instruct's ChatML built in, chosen when tokenizer_config.json's
// template is ChatML-shaped. Other templates are refused rather than guessed at.
#include <stdlib.h>

#include "tokenizer/tok_internal.h"

static const char default_system[] =
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

tokenizer_template tokenizer_chat_template(const tokenizer *t) { return t->template_kind; }

int tokenizer_set_chat_template(tokenizer *t, const char *name) {
    if (!strcmp(name, "chatml")) t->template_kind = TOKENIZER_TEMPLATE_CHATML;
    else if (!strcmp(name, "none")) t->template_kind = TOKENIZER_TEMPLATE_NONE;
    else if (!strcmp(name, "auto")) t->template_kind = t->file_template;
    else return arwkv_set_error("unknown chat template '%s' (chatml, none, auto)", name);
    return 0;
}

typedef struct {
    char *s;
    size_t n, cap;
    uint32_t (*spans)[2];      // assistant content + closing <|im_end|>, in rendered bytes
    size_t n_spans, spans_cap;
} render_buf;

static int put(render_buf *b, const char *s) {
    size_t n = strlen(s);
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (b->n + n + 1 > cap) cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) return arwkv_set_error("chat: out of memory");
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n + 1);
    b->n += n;
    return 0;
}

static int span(render_buf *b, size_t start, size_t end) {
    if (b->n_spans == b->spans_cap) {
        size_t cap = b->spans_cap ? b->spans_cap * 2 : 16;
        void *ns = realloc(b->spans, cap * sizeof *b->spans);
        if (!ns) return arwkv_set_error("chat: out of memory");
        b->spans = ns;
        b->spans_cap = cap;
    }
    b->spans[b->n_spans][0] = (uint32_t)start;
    b->spans[b->n_spans][1] = (uint32_t)end;
    b->n_spans++;
    return 0;
}

static bool is_role(const tokenizer_message *m, const char *role) { return !strcmp(m->role, role); }

// Qwen2.5-Instruct's template without tool definitions: a default system message when the
// first is not a system one; runs of "tool" messages become one user turn of tool responses.
static int render_chatml(const tokenizer_message *m, size_t n, int gen, render_buf *b) {
    if (n == 0 || !is_role(&m[0], "system")) {
        if (put(b, "<|im_start|>system\n") || put(b, default_system) || put(b, "<|im_end|>\n")) return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (is_role(&m[i], "system") || is_role(&m[i], "user") || is_role(&m[i], "assistant")) {
            if (put(b, "<|im_start|>") || put(b, m[i].role) || put(b, "\n")) return -1;
            size_t start = b->n;
            if (put(b, m[i].content) || put(b, "<|im_end|>")) return -1;
            if (is_role(&m[i], "assistant") && span(b, start, b->n)) return -1;
            if (put(b, "\n")) return -1;
        } else if (is_role(&m[i], "tool")) {
            if (i == 0 || !is_role(&m[i - 1], "tool"))
                if (put(b, "<|im_start|>user")) return -1;
            if (put(b, "\n<tool_response>\n") || put(b, m[i].content) || put(b, "\n</tool_response>"))
                return -1;
            if ((i + 1 == n || !is_role(&m[i + 1], "tool")) && put(b, "<|im_end|>\n")) return -1;
        } else {
            return arwkv_set_error("chat: message %zu: role '%s' is not one of system, user, "
                                   "assistant, tool", i, m[i].role);
        }
    }
    return gen ? put(b, "<|im_start|>assistant\n") : 0;
}

static int render(const tokenizer *t, const tokenizer_message *m, size_t n, int gen, render_buf *b) {
    for (size_t i = 0; i < n; i++)
        if (!m[i].role || !m[i].content)
            return arwkv_set_error("chat: message %zu has no %s", i, m[i].role ? "content" : "role");
    if (put(b, "")) return -1;
    switch (t->template_kind) {
    case TOKENIZER_TEMPLATE_CHATML:
        return render_chatml(m, n, gen, b);
    case TOKENIZER_TEMPLATE_NONE:
        for (size_t i = 0; i < n; i++) {
            size_t start = b->n;
            if (put(b, m[i].content)) return -1;
            if (is_role(&m[i], "assistant") && span(b, start, b->n)) return -1;
        }
        return 0;
    case TOKENIZER_TEMPLATE_MISSING:
        return arwkv_set_error("%s: tokenizer_config.json has no chat_template; choose one "
                               "explicitly (chatml or none)", t->name);
    default:
        return arwkv_set_error("%s: tokenizer_config.json's chat_template is not ChatML (no "
                               "<|im_start|>/<|im_end|>); only ChatML can be rendered: choose "
                               "chatml or none explicitly", t->name);
    }
}

int tokenizer_chat_render(const tokenizer *t, const tokenizer_message *msgs, size_t n_msgs,
                          int add_generation_prompt, char **text, size_t *len) {
    render_buf b = { 0 };
    *text = NULL;
    *len = 0;
    int rc = render(t, msgs, n_msgs, add_generation_prompt, &b);
    free(b.spans);
    if (rc) {
        free(b.s);
        return -1;
    }
    *text = b.s;
    *len = b.n;
    return 0;
}

int tokenizer_chat_encode(const tokenizer *t, const tokenizer_message *msgs, size_t n_msgs,
                          int add_generation_prompt, int32_t **ids, uint8_t **mask, size_t *n) {
    render_buf b = { 0 };
    uint32_t *starts = NULL, *ends = NULL;
    *ids = NULL;
    *mask = NULL;
    *n = 0;
    int rc = render(t, msgs, n_msgs, add_generation_prompt, &b);
    if (!rc && tokenizer_encode_offsets(t, b.s, b.n, ids, &starts, &ends, n, 1))
        rc = arwkv_wrap_error("chat: rendered text");
    if (!rc && !(*mask = calloc(*n + 1, 1))) rc = arwkv_set_error("chat: out of memory");
    // spans and tokens both ascend: one merge-like pass marks every token overlapping a span
    for (size_t i = 0, k = 0; !rc && i < *n; i++) {
        while (k < b.n_spans && b.spans[k][1] <= starts[i]) k++;
        if (k < b.n_spans && b.spans[k][0] < ends[i]) (*mask)[i] = 1;
    }
    free(starts);
    free(ends);
    free(b.s);
    free(b.spans);
    if (rc) {
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}
