// libFuzzer target for the tokenizer. The first byte picks what the rest is:
//   0 mod 4: a tokenizer.json (scanner, jansson parts, tables); an accepted one encodes a few texts
//   1 mod 4: text for a fixed small tokenizer with every added-token option: encode must accept
//            it exactly when it is valid UTF-8, offsets must ascend, and decode and streamed
//            decode must agree
//   2, 3:    text split by the Qwen2 pattern's hand matcher and by PCRE2: same pieces
#include <stdlib.h>

#include "tokenizer/tok_internal.h"

static const char k_tiny[] =
    "{\"added_tokens\": ["
    "{\"id\": 12, \"content\": \"<|im_end|>\", \"special\": true},"
    "{\"id\": 13, \"content\": \"<m>\", \"special\": true, \"lstrip\": true},"
    "{\"id\": 14, \"content\": \"<s>\", \"special\": true, \"rstrip\": true},"
    "{\"id\": 15, \"content\": \"[w]\", \"single_word\": true, \"normalized\": false},"
    "{\"id\": 16, \"content\": \"e\\u0301\", \"normalized\": true}],"
    "\"normalizer\": {\"type\": \"NFC\"},"
    "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": "
    "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|"
    "\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"}, \"behavior\": \"Isolated\"},"
    "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}]},"
    "\"decoder\": {\"type\": \"ByteLevel\"},"
    "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"\\u0120\": 3, \"\\u0120a\": 4, "
    "\"c\": 5, \"abc\": 6, \"\\u00c3\": 7, \"\\u00a9\": 8, \"\\u00c3\\u00a9\": 9, \"\\u010a\": 10, \"\\u010a\\u010a\": 11},"
    "\"merges\": [\"a b\", \"\\u0120 a\", \"ab c\", \"\\u00c3 \\u00a9\", \"\\u010a \\u010a\"]}}";

static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz_tokenizer: %s (%s)\n", what, arwkv_last_error());
        abort();
    }
}

static bool valid_utf8(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t k = c < 0x80 ? 0 : c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2 : c >= 0xF0 && c <= 0xF4 ? 3 : 9;
        if (k == 9 || i + k >= n + (k == 0)) return false;
        if (k >= 1) {
            uint8_t d = s[i + 1];
            if ((c == 0xE0 && d < 0xA0) || (c == 0xED && d > 0x9F) || (c == 0xF0 && d < 0x90) ||
                (c == 0xF4 && d > 0x8F))
                return false;
            for (size_t j = 1; j <= k; j++)
                if ((s[i + j] & 0xC0) != 0x80) return false;
        }
        i += k + 1;
    }
    return true;
}

static void encode_checked(const tokenizer *t, const uint8_t *s, size_t n) {
    int32_t *ids;
    uint32_t *st, *en;
    size_t m;
    int rc = tokenizer_encode_offsets(t, (const char *)s, n, &ids, &st, &en, &m, 1);
    check((rc == 0) == valid_utf8(s, n), "encode accepts exactly valid UTF-8");
    if (rc) return;
    for (size_t i = 0; i < m; i++) {
        check(st[i] <= en[i] && en[i] <= n, "offsets within the text");
        check(i == 0 || st[i] >= st[i - 1], "offsets ascend");
    }
    char *back;
    size_t bl;
    check(!tokenizer_decode(t, ids, m, &back, &bl), "decode");
    tokenizer_stream *ts;
    check(!tokenizer_stream_init(&ts, t, 0), "stream init");
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        const char *p;
        size_t pl;
        check(!tokenizer_stream_push(ts, ids[i], &p, &pl), "stream push");
        check(k + pl <= bl && !memcmp(back + k, p, pl), "streamed bytes equal decoded bytes");
        k += pl;
    }
    const char *p;
    size_t pl;
    check(!tokenizer_stream_flush(ts, &p, &pl) && k + pl == bl && !memcmp(back + k, p, pl), "stream flush");
    tokenizer_stream_free(ts);
    free(back);
    free(ids);
    free(st);
    free(en);
}

typedef struct {
    size_t b[2 * 4096], n;
} bounds;

static int collect(void *ctx, size_t a, size_t e) {
    bounds *b = ctx;
    check(b->n + 2 <= sizeof b->b / sizeof b->b[0], "too many pieces");
    b->b[b->n++] = a;
    b->b[b->n++] = e;
    return 0;
}

static void split_checked(const tokenizer *t, const uint8_t *s, size_t n) {
    if (!valid_utf8(s, n) || n > 4096) return;
    static bounds x, y;
    tok_step slow = t->steps[0];
    check(slow.fast == 1, "the Qwen2 pattern is matched by hand");
    slow.fast = 0;
    tok_work *w = tok_work_get(t);
    x.n = y.n = 0;
    check(!tok_split(t, w, &t->steps[0], SPLIT_ISOLATED, s, n, collect, &x), "hand split");
    check(!tok_split(t, w, &slow, SPLIT_ISOLATED, s, n, collect, &y), "PCRE2 split");
    check(x.n == y.n && !memcmp(x.b, y.b, x.n * sizeof x.b[0]), "hand split == PCRE2 split");
    tok_work_put(t, w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static tokenizer *tiny;
    if (!tiny) check(!tokenizer_load_json(&tiny, k_tiny, sizeof k_tiny - 1, NULL, 0, "tiny"), "tiny loads");
    if (size == 0) return 0;
    if (data[0] & 2) {
        split_checked(tiny, data + 1, size - 1);
        return 0;
    }
    if (data[0] & 1) {
        encode_checked(tiny, data + 1, size - 1);
        return 0;
    }
    tokenizer *t;
    if (tokenizer_load_json(&t, (const char *)data + 1, size - 1, NULL, 0, "fuzz.json")) {
        check(strstr(arwkv_last_error(), "fuzz.json") || strstr(arwkv_last_error(), "memory"),
              "error names the file");
        return 0;
    }
    static const char *texts[] = { "ab abc\n\n", "<|im_end|> x", "caf\xc3\xa9 e\xcc\x81 ", "" };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        encode_checked(t, (const uint8_t *)texts[i], strlen(texts[i]));
    tokenizer_free(t);
    return 0;
}
