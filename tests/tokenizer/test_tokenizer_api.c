// The public tokenizer of arwkv.h on the real Qwen tokenizer: ids and chat renderings against the
// Hugging Face golden file, detokenization, pieces and streaming against each other, special ids,
// template overrides and the errors of bad input.
#include "tok_test.h"

// the golden cases' ids, round trips, and three ways of decoding that must agree
static void test_cases(const arwkv_tokenizer *t, json_t *golden) {
    size_t ci;
    json_t *c;
    int wrong = 0, bad_trip = 0, bad_stream = 0, bad_pieces = 0;
    json_array_foreach(json_object_get(golden, "cases"), ci, c) {
        json_t *jt = json_object_get(c, "text"), *jn = json_object_get(c, "normalized");
        size_t nw, n, len;
        int32_t *want = tt_json_ids(json_object_get(c, "ids"), &nw), *ids;
        if (arwkv_tokenize(t, json_string_value(jt), json_string_length(jt), &ids, &n, 1)) {
            CHECK(0, "%s: %s", json_string_value(json_object_get(c, "name")), arwkv_last_error());
            free(want);
            continue;
        }
        wrong += !tt_ids_equal(json_string_value(json_object_get(c, "name")), ids, n, want, nw);
        char *text;
        CHECK(!arwkv_detokenize(t, ids, n, 0, &text, &len), "%s", arwkv_last_error());
        json_t *jw = jn ? jn : jt;   // NFC changes some texts
        bad_trip += len != json_string_length(jw) || memcmp(text, json_string_value(jw), len);
        // the stream's output and the raw pieces, concatenated
        char *cat = malloc(len + 1), *pcat = malloc(len + 1);
        size_t k = 0, pk = 0, pl, sl;
        const char *s;
        arwkv_token_stream *st;
        CHECK(!arwkv_token_stream_init(&st, t, 0));
        for (size_t i = 0; i < n; i++) {
            CHECK(!arwkv_token_stream_push(st, ids[i], &s, &sl) && k + sl <= len);
            memcpy(cat + k, s, sl), k += sl;
            const char *p = arwkv_token_piece(t, ids[i], &pl);
            CHECK(p && pk + pl <= len);
            memcpy(pcat + pk, p, pl), pk += pl;
        }
        CHECK(!arwkv_token_stream_flush(st, &s, &sl) && k + sl <= len);
        memcpy(cat + k, s, sl), k += sl;
        arwkv_token_stream_free(st);
        bad_stream += k != len || memcmp(cat, text, len);
        bad_pieces += pk != len || memcmp(pcat, text, len);
        free(cat);
        free(pcat);
        free(text);
        free(ids);
        free(want);
    }
    CHECK(ci >= 40, "golden cases: %zu", ci);
    CHECK(!wrong && !bad_trip && !bad_stream && !bad_pieces,
          "of %zu cases: %d ids wrong, %d round trips, %d streams, %d piece sequences differ", ci, wrong, bad_trip,
          bad_stream, bad_pieces);
    printf("%zu golden texts: ids, round trip, stream and pieces agree\n", ci);
}

// rendering, then tokenizing with special tokens recognised, gives Hugging Face's chat ids
static void test_chats(const arwkv_tokenizer *t, json_t *golden) {
    size_t ci;
    json_t *c;
    json_array_foreach(json_object_get(golden, "chats"), ci, c) {
        json_t *jm = json_object_get(c, "messages");
        int32_t nm = (int32_t)json_array_size(jm);
        arwkv_chat_msg *m = calloc((size_t)nm + 1, sizeof *m);
        for (int32_t i = 0; i < nm; i++) {
            m[i].role = json_string_value(json_object_get(json_array_get(jm, i), "role"));
            m[i].content = json_string_value(json_object_get(json_array_get(jm, i), "content"));
        }
        int gen = json_is_true(json_object_get(c, "add_generation_prompt"));
        char *text = NULL;
        CHECK(!arwkv_chat_render(t, m, nm, gen, &text) && !strcmp(text, json_string_value(json_object_get(c, "text"))),
              "chat %zu: rendering", ci);
        int32_t *ids, *want;
        size_t n, nw;
        want = tt_json_ids(json_object_get(c, "ids"), &nw);
        char what[32];
        snprintf(what, sizeof what, "chat %zu", ci);
        CHECK(text && !arwkv_tokenize(t, text, strlen(text), &ids, &n, 1) && tt_ids_equal(what, ids, n, want, nw),
              "chat %zu: ids", ci);
        if (text) free(ids);
        free(want);
        free(text);
        free(m);
    }
    CHECK(ci >= 5, "golden chats: %zu", ci);
}

static void test_specials_and_errors(arwkv_tokenizer *t) {
    arwkv_special_tokens sp = arwkv_tokenizer_special(t);
    CHECK(arwkv_tokenizer_vocab_size(t) == 151669, "vocab size %d", arwkv_tokenizer_vocab_size(t));
    CHECK(sp.endoftext == 151643 && sp.im_start == 151644 && sp.im_end == 151645, "ChatML ids");
    CHECK(sp.eos == 151645 && sp.pad == 151643 && sp.bos == -1 && sp.unk == -1, "config ids");

    // skip_special drops <|im_start|> and <|im_end|>; 872 is "user"
    int32_t turn[] = {151644, 872, 151645};
    char *text;
    size_t len;
    CHECK(!arwkv_detokenize(t, turn, 3, 1, &text, &len) && len == 4 && !strcmp(text, "user"), "skip_special");
    free(text);
    CHECK(!arwkv_detokenize(t, turn, 3, 0, &text, &len) && !strcmp(text, "<|im_start|>user<|im_end|>"), "specials");
    free(text);
    int32_t *ids;
    size_t n;
    CHECK(!arwkv_tokenize(t, "<|im_end|>", 10, &ids, &n, 0) && n > 1, "special text as plain text");
    free(ids);
    CHECK(!arwkv_tokenize(t, "<|im_end|>", 10, &ids, &n, 1) && n == 1 && ids[0] == 151645, "special recognised");
    free(ids);

    CHECK(arwkv_token_piece(t, -1, &len) == NULL && arwkv_token_piece(t, 151669, &len) == NULL, "no piece");
    CHECK(arwkv_detokenize(t, (const int32_t[]){-3}, 1, 0, &text, &len) == -1, "negative id fails");
    CHECK(arwkv_tokenize(t, "ok \x80", 4, &ids, &n, 1) == -1 && strstr(arwkv_last_error(), "byte offset 3"),
          "invalid UTF-8: %s", arwkv_last_error());

    arwkv_chat_msg msgs[] = {{"user", "hi"}, {"assistant", "yo"}};
    CHECK(!arwkv_chat_set_template(t, "none") && !arwkv_chat_render(t, msgs, 2, 1, &text) && !strcmp(text, "hiyo"),
          "template none");
    free(text);
    CHECK(arwkv_chat_set_template(t, "jinja") == -1 && strstr(arwkv_last_error(), "jinja"), "unknown template");
    CHECK(!arwkv_chat_set_template(t, "auto"), "auto");
    arwkv_chat_msg bad[] = {{"user", NULL}};
    CHECK(arwkv_chat_render(t, bad, 1, 0, &text) == -1 && text == NULL && strstr(arwkv_last_error(), "content"),
          "a message without content: %s", arwkv_last_error());
    CHECK(arwkv_chat_render(t, msgs, -1, 0, &text) == -1, "negative message count");

    arwkv_tokenizer *none = NULL;
    CHECK(arwkv_tokenizer_load(&none, "/nonexistent/arwkv-model") == -1 && none == NULL &&
              strstr(arwkv_last_error(), "/nonexistent/arwkv-model"), "missing directory: %s", arwkv_last_error());
}

int main(void) {
    const char *qwen = tt_qwen_dir();
    if (!qwen) return 1;
    arwkv_tokenizer *t = NULL;
    json_t *golden = tt_load_json(TOK_DATA "/golden.json");
    CHECK(!arwkv_tokenizer_load(&t, qwen) && golden, "%s", arwkv_last_error());
    if (!t || !golden) return test_summary();
    test_cases(t, golden);
    test_chats(t, golden);
    test_specials_and_errors(t);
    arwkv_tokenizer_free(t);
    json_decref(golden);
    return test_summary();
}
