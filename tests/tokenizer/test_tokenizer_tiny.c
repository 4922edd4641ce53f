// Tokenizer on small hand-made tokenizer.json files: ids against Hugging Face's (golden, from
// scripts/golden/tokenizer_golden.mjs) and against hand-worked BPE, both merge encodings,
// added-token lstrip/rstrip/single_word/normalized, offsets, streaming decode, config and
// chat-template selection, and the errors for unsupported features.
#include "tok_test.h"

// ids of the tiny tokenizers: byte b is id b; then merges (by rank) and added tokens
enum {
    HE = 256, LL, HELL, HELLO, SP_W, OR, SP_WOR, LD, SP_WORLD, AA, BC, AB, AAAA, SP2, NL2, E_ACUTE,
    SP_HELLO, SP4, EOT, MASK, SEP, BOTH, W, E_ADDED, LONG, LO, N_IDS
};

static tokenizer *load_dir(const char *name) {
    char path[256];
    snprintf(path, sizeof path, TOK_DATA "/%s", name);
    tokenizer *t = NULL;
    if (tokenizer_load(&t, path)) fprintf(stderr, "load %s: %s\n", path, arwkv_last_error());
    CHECK(t != NULL, "%s loads", name);
    return t;
}

static bool enc_is(const tokenizer *t, const char *text, int allow_special, const int32_t *want,
                   size_t nw) {
    int32_t *ids;
    size_t n;
    if (tokenizer_encode(t, text, strlen(text), &ids, &n, allow_special)) {
        fprintf(stderr, "encode '%s': %s\n", text, arwkv_last_error());
        return false;
    }
    char what[128];
    snprintf(what, sizeof what, "'%.60s'", text);
    bool ok = tt_ids_equal(what, ids, n, want, nw);
    free(ids);
    return ok;
}
#define ENC_IS(t, text, special, ...)                                                           \
    do {                                                                                        \
        const int32_t want_[] = {__VA_ARGS__};                                                  \
        CHECK(enc_is(t, text, special, want_, sizeof want_ / sizeof want_[0]), "%s", text);     \
    } while (0)

static void test_golden(void) {
    json_t *g = tt_load_json(TOK_DATA "/tiny_golden.json");
    CHECK(g != NULL, "tiny_golden.json");
    if (!g) return;
    const char *name;
    json_t *list;
    json_object_foreach(g, name, list) {
        tokenizer *t = load_dir(name);
        if (!t) continue;
        size_t i;
        json_t *e;
        int bad = 0;
        json_array_foreach(list, i, e) {
            const char *text = json_string_value(json_object_get(e, "text"));
            size_t nw, n;
            int32_t *want = tt_json_ids(json_object_get(e, "ids"), &nw), *ids = NULL;
            char what[160];
            snprintf(what, sizeof what, "%s '%.60s'", name, text);
            int rc = tokenizer_encode(t, text, json_string_length(json_object_get(e, "text")), &ids, &n, 1);
            if (rc || !tt_ids_equal(what, ids, n, want, nw)) bad++;
            free(ids);
            free(want);
        }
        CHECK(bad == 0, "%s: %d of %zu golden texts differ from Hugging Face", name, bad, json_array_size(list));
        tokenizer_free(t);
    }
    json_decref(g);
}

// Expected ids worked out by hand from the merge ranks in tokenizer_golden.mjs.
static void test_hand_bpe(void) {
    tokenizer *pairs = load_dir("tiny_pairs"), *strings = load_dir("tiny_strings");
    if (!pairs || !strings) return;
    CHECK(tokenizer_vocab_size(pairs) == N_IDS, "vocab size %d", tokenizer_vocab_size(pairs));
    const tokenizer *both[] = { pairs, strings };
    for (int k = 0; k < 2; k++) {
        const tokenizer *t = both[k];
        ENC_IS(t, "hello world", 1, HELLO, SP_WORLD);   // Ġ w o r l d: Ġw, or, Ġwor, ld, Ġworld
        ENC_IS(t, "helloworld", 1, HELLO, 'w', OR, LD);
        ENC_IS(t, "aaa", 1, AA, 'a');                   // equal ranks: leftmost pair first
        ENC_IS(t, "aaaa", 1, AAAA);
        ENC_IS(t, "aaaaa", 1, AAAA, 'a');
        ENC_IS(t, "abc", 1, 'a', BC);                   // "b c" ranks before "a b"
        ENC_IS(t, "ab", 1, AB);
        ENC_IS(t, "    x", 1, SP2, ' ', ' ', 'x');   // "   " + " x": ĠĠ|Ġ (ĠĠĠĠ needs four), Ġ|x
        ENC_IS(t, "x <mask> y", 1, 'x', MASK, ' ', 'y');     // lstrip takes the space before
        ENC_IS(t, "x <mask> y", 0, 'x', ' ', '<', 'm', 'a', 's', 'k', '>', ' ', 'y');   // as text
        ENC_IS(t, "a <sep>  b", 1, 'a', ' ', SEP, 'b');      // rstrip takes the spaces after
        ENC_IS(t, "p  <both>  q", 1, 'p', BOTH, 'q');
        ENC_IS(t, "<mask><mask>  <sep><sep>", 1, MASK, MASK, SP2, SEP, SEP);
        ENC_IS(t, "[W] x[W]", 1, W, ' ', 'x', '[', 'W', ']');   // single_word: not inside a word
        ENC_IS(t, "[W] x[W]", 0, W, ' ', 'x', '[', 'W', ']');   // not special: always recognised
        ENC_IS(t, "<long> <lo", 1, LONG, ' ', LO);               // leftmost-longest
        ENC_IS(t, "e\xcc\x81 \xc3\xa9", 1, E_ADDED, ' ', E_ADDED);   // normalized token, NFC text
        ENC_IS(t, "\xc3\xa9", 0, E_ADDED);
        int32_t *ids;
        size_t n;
        CHECK(!tokenizer_encode(t, "", 0, &ids, &n, 1) && n == 0 && ids, "empty text, empty ids");
        free(ids);
    }
    // both merge encodings build the same table: same ids on every golden text
    json_t *g = tt_load_json(TOK_DATA "/tiny_golden.json");
    size_t i;
    json_t *e;
    int diff = 0;
    json_array_foreach(json_object_get(g, "tiny_pairs"), i, e) {
        const char *text = json_string_value(json_object_get(e, "text"));
        int32_t *a, *b;
        size_t na, nb;
        tokenizer_encode(pairs, text, strlen(text), &a, &na, 1);
        tokenizer_encode(strings, text, strlen(text), &b, &nb, 1);
        diff += !(na == nb && !memcmp(a, b, na * sizeof *a));
        free(a);
        free(b);
    }
    CHECK(diff == 0, "\"a b\" and [a, b] merges differ on %d texts", diff);
    json_decref(g);
    tokenizer_free(pairs);
    tokenizer_free(strings);
}

static void test_gpt2_style(void) {
    tokenizer *t = load_dir("tiny_gpt2");   // ByteLevel(add_prefix_space, use_regex), no normalizer
    if (!t) return;
    ENC_IS(t, "hello", 1, SP_HELLO);
    ENC_IS(t, " hello", 1, SP_HELLO);
    ENC_IS(t, "hello world hello", 1, SP_HELLO, SP_WORLD, SP_HELLO);
    ENC_IS(t, "aaa", 1, ' ', AA, 'a');
    ENC_IS(t, "\xc3\xa9", 1, ' ', E_ACUTE);    // no normalizer: é is text, the Ã© merge applies
    int32_t *ids;
    uint32_t *st, *en;
    size_t n;
    CHECK(!tokenizer_encode_offsets(t, "hello", 5, &ids, &st, &en, &n, 1) && n == 1 && st[0] == 0 &&
              en[0] == 5, "the prefix space has no width");
    free(ids);
    free(st);
    free(en);
    tokenizer_free(t);
}

// Hugging Face numbers added tokens itself (from the count of vocab entries), fuses runs of
// unknown bytes into one unk, and with ignore_merges takes a whole piece found in the vocab.
static void test_hf_rules(void) {
    tokenizer *t = load_dir("tiny_unk");   // 'q' and 'Q' removed: 273 vocab entries, <unk> = 501
    if (t) {
        CHECK(tokenizer_token_id(t, "<|endoftext|>", 13) == 273, "added ids follow the vocab count");
        ENC_IS(t, "aqQqb", 1, 'a', 501, 'b');
        ENC_IS(t, "qhello", 1, 501, HELLO);
        tokenizer_free(t);
    }
    t = load_dir("tiny_ignore_merges");    // "xyz": 500, which no merge builds
    if (t) {
        ENC_IS(t, "xyz xyzxyz", 1, 500, ' ', 'x', 'y', 'z', 'x', 'y', 'z');
        CHECK(tokenizer_token_id(t, "<|endoftext|>", 13) == 275, "added ids follow the vocab count");
        tokenizer_free(t);
    }
}

static void test_offsets(void) {
    tokenizer *t = load_dir("tiny_pairs");
    if (!t) return;
    struct { const char *text; uint32_t want[8][2]; size_t n; } cases[] = {
        { "x  \t<mask>  y", { { 0, 1 }, { 1, 10 }, { 10, 11 }, { 11, 12 }, { 12, 13 } }, 5 },
        { "hello world", { { 0, 5 }, { 5, 11 } }, 2 },
        // a + U+0308 becomes U+00E4 (2 bytes, 2 tokens): both cover the changed stretch
        { "xa\xcc\x88y", { { 0, 1 }, { 1, 4 }, { 1, 4 }, { 4, 5 } }, 4 },
        { "a <sep>  b", { { 0, 1 }, { 1, 2 }, { 2, 9 }, { 9, 10 } }, 4 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int32_t *ids;
        uint32_t *st, *en;
        size_t n;
        int rc = tokenizer_encode_offsets(t, cases[c].text, strlen(cases[c].text), &ids, &st, &en, &n, 1);
        bool ok = !rc && n == cases[c].n;
        for (size_t i = 0; ok && i < n; i++) ok = st[i] == cases[c].want[i][0] && en[i] == cases[c].want[i][1];
        CHECK(ok, "offsets of '%s'", cases[c].text);
        if (!rc) {
            free(ids);
            free(st);
            free(en);
        }
    }
    tokenizer_free(t);
}

static bool push_is(tokenizer_stream *s, int32_t id, const char *want, size_t wn) {
    const char *text;
    size_t len;
    if (tokenizer_stream_push(s, id, &text, &len)) return false;
    return len == wn && !memcmp(text, want, wn);
}

static void test_stream(void) {
    tokenizer *t = load_dir("tiny_pairs");
    if (!t) return;
    tokenizer_stream *s;
    CHECK(!tokenizer_stream_init(&s, t, 0), "stream init");
    CHECK(push_is(s, 0xC3, "", 0) && push_is(s, 0xA9, "\xc3\xa9", 2), "é split over two tokens");
    CHECK(push_is(s, 0xF0, "", 0) && push_is(s, 0x9F, "", 0) && push_is(s, 0x98, "", 0) &&
              push_is(s, 0x80, "\xf0\x9f\x98\x80", 4), "4-byte emoji over four tokens");
    CHECK(push_is(s, 0xC3, "", 0) && push_is(s, HELLO, "\xc3hello", 6), "invalid sequence passes through");
    CHECK(push_is(s, 0xE0, "", 0) && push_is(s, 0x80, "\xe0\x80", 2), "E0 80 can never be valid: emitted");
    CHECK(push_is(s, 0xE4, "", 0) && push_is(s, 0xB8, "", 0) && push_is(s, SP_WORLD, "\xe4\xb8 world", 8),
          "an interrupted 3-byte sequence is emitted when the next token breaks it");
    CHECK(push_is(s, EOT, "<|endoftext|>", 13), "special token text");
    CHECK(push_is(s, N_IDS + 5, "", 0), "an id beyond the vocabulary adds nothing");
    const char *text;
    size_t len;
    CHECK(tokenizer_stream_push(s, -1, &text, &len) == -1, "negative id fails");
    CHECK(push_is(s, 0xF0, "", 0) && push_is(s, 0x9F, "", 0), "pending");
    CHECK(!tokenizer_stream_flush(s, &text, &len) && len == 2 && !memcmp(text, "\xf0\x9f", 2), "flush");
    tokenizer_stream_free(s);
    CHECK(!tokenizer_stream_init(&s, t, 1), "stream init");
    CHECK(push_is(s, EOT, "", 0) && push_is(s, HELLO, "hello", 5), "skip_special");
    tokenizer_stream_free(s);

    int32_t ids[] = { HELLO, EOT, 0xC3, 0xA9, N_IDS + 100 };
    char *out;
    CHECK(!tokenizer_decode(t, ids, 5, &out, &len) && len == 20 && !memcmp(out, "hello<|endoftext|>\xc3\xa9", 20),
          "decode");
    free(out);
    CHECK(!tokenizer_decode_ex(t, ids, 5, 1, &out, &len) && len == 7 && !strcmp(out, "hello\xc3\xa9"),
          "decode skipping specials");
    free(out);
    ids[1] = -3;
    CHECK(tokenizer_decode(t, ids, 5, &out, &len) == -1 && strstr(arwkv_last_error(), "-3"), "negative id");
    size_t bl;
    const char *b = tokenizer_token_bytes(t, SP_WORLD, &bl);
    CHECK(b && bl == 6 && !memcmp(b, " world", 6), "token bytes");
    CHECK(tokenizer_token_bytes(t, N_IDS, &bl) == NULL, "no bytes beyond the vocab");
    CHECK(tokenizer_token_id(t, " world", 6) == SP_WORLD && tokenizer_token_id(t, "<sep>", 5) == SEP &&
              tokenizer_token_id(t, "zz", 2) == -1, "token ids by text");
    CHECK(tokenizer_is_special(t, MASK) && !tokenizer_is_special(t, W) && !tokenizer_is_special(t, HELLO),
          "special flags");
    CHECK(tokenizer_special(t)->endoftext == EOT && tokenizer_special(t)->im_start == -1, "special ids");
    tokenizer_free(t);
}

static void test_invalid_utf8(void) {
    tokenizer *t = load_dir("tiny_pairs");
    if (!t) return;
    const char *bad[] = { "abc\xff", "ab\xc3", "a\xed\xa0\x80", "\xc0\xaf", "ok\xf4\x90\x80\x80" };
    size_t at[] = { 3, 2, 1, 0, 2 };
    for (size_t i = 0; i < 5; i++) {
        int32_t *ids;
        size_t n;
        char want[64];
        snprintf(want, sizeof want, "byte offset %zu", at[i]);
        CHECK(tokenizer_encode(t, bad[i], strlen(bad[i]), &ids, &n, 1) == -1 &&
                  strstr(arwkv_last_error(), want), "invalid UTF-8 %zu: %s", i, arwkv_last_error());
    }
    tokenizer_free(t);
}

// ---- in-memory tokenizer.json variants ---------------------------------------------------------
static const char *k_model = "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"\\u0120\": 3}, "
                             "\"merges\": [\"a b\"]}";
static const char *k_pre = "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": true}";
static const char *k_dec = "\"decoder\": {\"type\": \"ByteLevel\"}";

static int load_parts(tokenizer **t, const char *model, const char *pre, const char *dec,
                      const char *extra, const char *config) {
    char json[4096];
    snprintf(json, sizeof json, "{%s, %s, %s%s%s}", model, pre, dec, extra ? ", " : "", extra ? extra : "");
    return tokenizer_load_json(t, json, strlen(json), config, config ? strlen(config) : 0, "t.json");
}

static void expect_error(const char *what, int rc, tokenizer *t, const char *needle) {
    CHECK(rc == -1 && strstr(arwkv_last_error(), needle), "%s: want an error naming '%s', got: %s", what,
          needle, rc ? arwkv_last_error() : "success");
    tokenizer_free(t);
}

static void test_errors(void) {
    tokenizer *t = NULL;
    CHECK(!load_parts(&t, k_model, k_pre, k_dec, NULL, NULL), "minimal tokenizer: %s", arwkv_last_error());
    if (t) {
        ENC_IS(t, "ab ab", 1, 2, 3, 2);   // the missing byte chars are dropped, as in Hugging Face
        tokenizer_free(t);
    }
    t = NULL;
    expect_error("model type", load_parts(&t, "\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}", k_pre, k_dec, NULL, NULL), t, "WordPiece");
    t = NULL;
    expect_error("normalizer", load_parts(&t, k_model, k_pre, k_dec, "\"normalizer\": {\"type\": \"Lowercase\"}", NULL), t, "Lowercase");
    t = NULL;
    expect_error("pre-tokenizer", load_parts(&t, k_model, "\"pre_tokenizer\": {\"type\": \"Whitespace\"}", k_dec, NULL, NULL), t, "Whitespace");
    t = NULL;
    expect_error("decoder", load_parts(&t, k_model, k_pre, "\"decoder\": {\"type\": \"Metaspace\"}", NULL, NULL), t, "Metaspace");
    t = NULL;
    expect_error("split behavior", load_parts(&t, k_model,
        "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": \"a\"}, \"behavior\": \"MergedWithPrevious\"}, {\"type\": \"ByteLevel\", \"use_regex\": false}]}",
        k_dec, NULL, NULL), t, "MergedWithPrevious");
    t = NULL;
    expect_error("bad regex", load_parts(&t, k_model,
        "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(a\"}, \"behavior\": \"Isolated\"}, {\"type\": \"ByteLevel\", \"use_regex\": false}]}",
        k_dec, NULL, NULL), t, "regex");
    t = NULL;
    expect_error("ByteLevel not last", load_parts(&t, k_model,
        "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"ByteLevel\", \"use_regex\": false}, {\"type\": \"Split\", \"pattern\": {\"String\": \" \"}, \"behavior\": \"Isolated\"}]}",
        k_dec, NULL, NULL), t, "ByteLevel must be the last");
    t = NULL;
    expect_error("merge token", load_parts(&t, "\"model\": {\"vocab\": {\"a\": 0, \"ab\": 1}, \"merges\": [\"a zz\"]}", k_pre, k_dec, NULL, NULL), t, "merges[0]: 'zz'");
    t = NULL;
    expect_error("merge form", load_parts(&t, "\"model\": {\"vocab\": {\"a\": 0}, \"merges\": [\"a\"]}", k_pre, k_dec, NULL, NULL), t, "exactly one space");
    t = NULL;
    expect_error("byte_fallback", load_parts(&t, "\"model\": {\"vocab\": {}, \"merges\": [], \"byte_fallback\": true}", k_pre, k_dec, NULL, NULL), t, "byte_fallback");
    t = NULL;
    expect_error("duplicate id", load_parts(&t, "\"model\": {\"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}", k_pre, k_dec, NULL, NULL), t, "id 0 is used twice");
    t = NULL;
    expect_error("json syntax", load_parts(&t, "\"model\": {\"vocab\": {\"a\": 0,}, \"merges\": []}", k_pre, k_dec, NULL, NULL), t, "t.json: byte");
    t = NULL;
    expect_error("missing vocab", load_parts(&t, "\"model\": {\"merges\": []}", k_pre, k_dec, NULL, NULL), t, "model.vocab");
    t = NULL;
    expect_error("config eos", load_parts(&t, k_model, k_pre, k_dec, NULL, "{\"eos_token\": \"<nope>\"}"), t, "eos_token '<nope>'");
    t = NULL;
    const char *trunc = "{\"model\": {\"vocab\": {\"a\": 0";
    expect_error("truncated", tokenizer_load_json(&t, trunc, strlen(trunc), NULL, 0, "t.json"), t, "t.json");
}

static void test_config_and_chat(void) {
    const char *added = "\"added_tokens\": [{\"id\": 4, \"content\": \"<|im_start|>\", \"special\": true}, "
                        "{\"id\": 5, \"content\": \"<|im_end|>\", \"special\": true}, "
                        "{\"id\": 6, \"content\": \"<|endoftext|>\", \"special\": true}]";
    tokenizer *t = NULL;
    CHECK(!load_parts(&t, k_model, k_pre, k_dec, added,
                      "{\"bos_token\": null, \"eos_token\": {\"__type\": \"AddedToken\", \"content\": \"<|im_end|>\"}, "
                      "\"pad_token\": \"<|endoftext|>\", \"chat_template\": \"{% for m in messages %}<|im_start|>{{ m.role }}\\n"
                      "{{ m.content }}<|im_end|>\\n{% endfor %}\"}"), "load with config: %s", arwkv_last_error());
    if (!t) return;
    const tokenizer_special_ids *sp = tokenizer_special(t);
    CHECK(sp->bos == -1 && sp->eos == 5 && sp->pad == 6 && sp->im_start == 4 && sp->im_end == 5 &&
              sp->endoftext == 6, "special ids from the config");
    CHECK(tokenizer_chat_template(t) == TOKENIZER_TEMPLATE_CHATML, "ChatML-shaped template is recognised");
    tokenizer_message msgs[] = { { "user", "ab" }, { "assistant", "b a" } };
    char *text;
    size_t len;
    CHECK(!tokenizer_chat_render(t, msgs, 2, 1, &text, &len) &&
              !strcmp(text, "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                            "assistant.<|im_end|>\n<|im_start|>user\nab<|im_end|>\n<|im_start|>assistant\nb "
                            "a<|im_end|>\n<|im_start|>assistant\n"), "ChatML render");
    free(text);
    int32_t *ids;
    uint8_t *mask;
    size_t n;
    CHECK(!tokenizer_chat_encode(t, msgs + 1, 1, 0, &ids, &mask, &n), "chat encode");
    // system block, then <|im_start|> "a" "b" (assistant: letters only, rest dropped) "\n" dropped ...
    size_t n_masked = 0;
    for (size_t i = 0; i < n; i++) n_masked += mask[i];
    CHECK(n > 3 && mask[n - 1] == 1 && ids[n - 1] == 5 && n_masked == 4, "mask: 'b', ' a'... and <|im_end|>");
    free(ids);
    free(mask);

    CHECK(!tokenizer_set_chat_template(t, "none") && !tokenizer_chat_render(t, msgs, 2, 1, &text, &len) &&
              !strcmp(text, "abb a"), "template none concatenates");
    free(text);
    CHECK(tokenizer_set_chat_template(t, "jinja") == -1 && strstr(arwkv_last_error(), "jinja"), "unknown override");
    CHECK(!tokenizer_set_chat_template(t, "auto") && tokenizer_chat_template(t) == TOKENIZER_TEMPLATE_CHATML, "auto");
    tokenizer_free(t);

    t = NULL;
    CHECK(!load_parts(&t, k_model, k_pre, k_dec, added, "{\"chat_template\": \"{{ bos_token }}[INST] {{ m }}\"}"), "load");
    if (t) {
        CHECK(tokenizer_chat_template(t) == TOKENIZER_TEMPLATE_UNKNOWN, "non-ChatML template");
        CHECK(tokenizer_chat_render(t, msgs, 2, 1, &text, &len) == -1 && strstr(arwkv_last_error(), "not ChatML"),
              "unknown template refuses to render: %s", arwkv_last_error());
        CHECK(!tokenizer_set_chat_template(t, "chatml") && !tokenizer_chat_render(t, msgs, 2, 0, &text, &len),
              "explicit chatml override");
        free(text);
        tokenizer_free(t);
    }
    t = NULL;
    CHECK(!load_parts(&t, k_model, k_pre, k_dec, NULL, NULL), "load");
    if (t) {
        CHECK(tokenizer_chat_template(t) == TOKENIZER_TEMPLATE_MISSING &&
                  tokenizer_chat_render(t, msgs, 2, 1, &text, &len) == -1 &&
                  strstr(arwkv_last_error(), "no chat_template"), "missing template");
        tokenizer_message bad[] = { { "narrator", "x" } };
        tokenizer_set_chat_template(t, "chatml");
        CHECK(tokenizer_chat_render(t, bad, 1, 0, &text, &len) == -1 && strstr(arwkv_last_error(), "narrator"),
              "unknown role");
        tokenizer_free(t);
    }
}

int main(void) {
    test_golden();
    test_hand_bpe();
    test_gpt2_style();
    test_hf_rules();
    test_offsets();
    test_stream();
    test_invalid_utf8();
    test_errors();
    test_config_and_chat();
    return test_summary();
}
