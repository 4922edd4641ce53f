// The public tokenizer of arwkv.h: arwkv_tokenizer and arwkv_token_stream are the internal types,
// so each function forwards to its tokenizer.h counterpart.
#include <stdlib.h>

#include "core/core.h"
#include "tokenizer/tokenizer.h"

int arwkv_tokenizer_load(arwkv_tokenizer **out, const char *path) { return tokenizer_load(out, path); }

void arwkv_tokenizer_free(arwkv_tokenizer *t) { tokenizer_free(t); }

int32_t arwkv_tokenizer_vocab_size(const arwkv_tokenizer *t) { return tokenizer_vocab_size(t); }

arwkv_special_tokens arwkv_tokenizer_special(const arwkv_tokenizer *t) {
    const tokenizer_special_ids *s = tokenizer_special(t);
    return (arwkv_special_tokens){s->bos, s->eos, s->pad, s->unk, s->endoftext, s->im_start, s->im_end};
}

int arwkv_tokenize(const arwkv_tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n,
                   int allow_special) {
    return tokenizer_encode(t, text, len, ids, n, allow_special);
}

int arwkv_detokenize(const arwkv_tokenizer *t, const int32_t *ids, size_t n, int skip_special, char **text,
                     size_t *len) {
    return tokenizer_decode_ex(t, ids, n, skip_special, text, len);
}

const char *arwkv_token_piece(const arwkv_tokenizer *t, int32_t id, size_t *len) {
    return tokenizer_token_bytes(t, id, len);
}

int arwkv_token_stream_init(arwkv_token_stream **out, const arwkv_tokenizer *t, int skip_special) {
    return tokenizer_stream_init(out, t, skip_special);
}

int arwkv_token_stream_push(arwkv_token_stream *s, int32_t id, const char **text, size_t *len) {
    return tokenizer_stream_push(s, id, text, len);
}

int arwkv_token_stream_flush(arwkv_token_stream *s, const char **text, size_t *len) {
    return tokenizer_stream_flush(s, text, len);
}

void arwkv_token_stream_free(arwkv_token_stream *s) { tokenizer_stream_free(s); }

int arwkv_chat_set_template(arwkv_tokenizer *t, const char *name) { return tokenizer_set_chat_template(t, name); }

// the public message type is separate from tokenizer_message, so the array is copied (a few entries)
int arwkv_chat_render(const arwkv_tokenizer *t, const arwkv_chat_msg *msgs, int32_t n, int add_generation_prompt,
                      char **out) {
    *out = NULL;
    if (n < 0) return arwkv_set_error("chat: %d messages", n);
    tokenizer_message *m = malloc(((size_t)n + 1) * sizeof *m);
    if (!m) return arwkv_set_error("chat: out of memory for %d messages", n);
    for (int32_t i = 0; i < n; i++) {
        if (!msgs[i].role || !msgs[i].content) {
            free(m);
            return arwkv_set_error("chat: message %d has no %s", i, msgs[i].role ? "content" : "role");
        }
        m[i] = (tokenizer_message){msgs[i].role, msgs[i].content};
    }
    size_t len;
    int rc = tokenizer_chat_render(t, m, (size_t)n, add_generation_prompt, out, &len);
    free(m);
    return rc;
}
