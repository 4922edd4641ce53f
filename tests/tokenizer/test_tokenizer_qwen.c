// The real Qwen tokenizer (fetched by scripts/fetch_tokenizer.sh) against golden ids from
// Hugging Face's own implementation (tests/data/tokenizer/golden.json): the corpus (prose,
// code, CJK, Arabic/Hindi, emoji, NFC cases, whitespace, special tokens, 10k-character words),
// round trips, offsets, streaming decode, concurrency, and the ChatML template.
#include "tok_test.h"

static tokenizer *g_tok;

static bool valid_utf8(const char *s, size_t n) {
    utf8proc_int32_t cp;
    for (size_t i = 0; i < n;) {
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) return false;
        i += (size_t)k;
    }
    return true;
}

static void test_case(const char *name, const char *text, size_t len, json_t *want_ids,
                      json_t *normalized) {
    size_t nw, n;
    int32_t *want = tt_json_ids(want_ids, &nw), *ids = NULL;
    uint32_t *st = NULL, *en = NULL;
    if (tokenizer_encode_offsets(g_tok, text, len, &ids, &st, &en, &n, 1)) {
        CHECK(0, "%s: %s", name, arwkv_last_error());
        free(want);
        return;
    }
    CHECK(tt_ids_equal(name, ids, n, want, nw), "%s: ids equal Hugging Face's", name);

    // round trip: decode(encode(x)) == NFC(x) as Hugging Face normalizes (golden "normalized",
    // present where it differs from x)
    char *back;
    size_t blen;
    const char *nfc = normalized ? json_string_value(normalized) : text;
    size_t nlen = normalized ? json_string_length(normalized) : len;
    CHECK(!tokenizer_decode(g_tok, ids, n, &back, &blen) && blen == nlen && !memcmp(back, nfc, nlen),
          "%s: decode(encode(x)) == NFC(x)", name);
    bool is_nfc = !normalized;

    // offsets tile the text; where normalization changed nothing each token is its own bytes
    bool ok = n == 0 || (st[0] == 0 && en[n - 1] == len);
    for (size_t i = 0; ok && i < n; i++) {
        ok = st[i] <= en[i] && en[i] <= len && (i == 0 || st[i] >= st[i - 1]);
        if (ok && is_nfc) {
            size_t tl;
            const char *tb = tokenizer_token_bytes(g_tok, ids[i], &tl);
            ok = i == 0 || st[i] == en[i - 1];
            ok = ok && tb && tl == en[i] - st[i] && !memcmp(tb, text + st[i], tl);
        }
    }
    CHECK(ok, "%s: offsets", name);

    // streaming decode: same bytes in total, and every piece whole UTF-8 characters
    tokenizer_stream *s;
    char *cat = malloc(blen + 8);
    size_t k = 0;
    bool pieces_ok = !tokenizer_stream_init(&s, g_tok, 0);
    for (size_t i = 0; pieces_ok && i < n; i++) {
        const char *p;
        size_t pl;
        pieces_ok = !tokenizer_stream_push(s, ids[i], &p, &pl) && k + pl <= blen && valid_utf8(p, pl);
        if (pieces_ok) memcpy(cat + k, p, pl);
        k += pl;
    }
    const char *p;
    size_t pl;
    pieces_ok = pieces_ok && !tokenizer_stream_flush(s, &p, &pl) && pl == 0;
    CHECK(pieces_ok && k == blen && !memcmp(cat, back, blen), "%s: streamed decode", name);
    tokenizer_stream_free(s);
    free(cat);
    free(back);
    free(ids);
    free(st);
    free(en);
    free(want);
}

static void test_corpus(json_t *golden) {
    json_t *cases = json_object_get(golden, "cases");
    CHECK(json_array_size(cases) >= 40, "golden has the corpus (%zu cases)", json_array_size(cases));
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        json_t *text = json_object_get(c, "text");
        test_case(json_string_value(json_object_get(c, "name")), json_string_value(text),
                  json_string_length(text), json_object_get(c, "ids"), json_object_get(c, "normalized"));
    }
}

// Many threads encode the corpus at once; each result must still match.
static void test_concurrent(json_t *golden) {
    json_t *cases = json_object_get(golden, "cases");
    int n = (int)json_array_size(cases), bad = 0;
#pragma omp parallel for schedule(dynamic) num_threads(4) reduction(+ : bad)
    for (int r = 0; r < 4 * n; r++) {
        json_t *c = json_array_get(cases, (size_t)(r % n));
        json_t *text = json_object_get(c, "text");
        size_t nw, ng;
        int32_t *want = tt_json_ids(json_object_get(c, "ids"), &nw), *got;
        if (tokenizer_encode(g_tok, json_string_value(text), json_string_length(text), &got, &ng, 1)) bad++;
        else {
            bad += !(ng == nw && !memcmp(got, want, ng * sizeof *got));
            free(got);
        }
        free(want);
    }
    CHECK(bad == 0, "concurrent encodes: %d wrong", bad);
}

static void test_specials(void) {
    const tokenizer_special_ids *sp = tokenizer_special(g_tok);
    CHECK(tokenizer_vocab_size(g_tok) == 151669, "vocab size %d", tokenizer_vocab_size(g_tok));
    CHECK(sp->endoftext == 151643 && sp->im_start == 151644 && sp->im_end == 151645, "ChatML ids");
    CHECK(sp->eos == 151645 && sp->pad == 151643 && sp->bos == -1 && sp->unk == -1, "config ids");
    CHECK(tokenizer_chat_template(g_tok) == TOKENIZER_TEMPLATE_CHATML, "the file's template is ChatML-shaped");
    CHECK(tokenizer_is_special(g_tok, 151645) && !tokenizer_is_special(g_tok, 151667), "<think> is not special");

    const char *text = "<|im_start|>user\nhi<|im_end|><|endoftext|>";
    int32_t *ids;
    size_t n;
    char *back;
    size_t bl;
    CHECK(!tokenizer_encode(g_tok, text, strlen(text), &ids, &n, 0), "encode without specials");
    bool plain = true;
    for (size_t i = 0; i < n; i++) plain = plain && ids[i] < 151643;
    CHECK(plain && n > 10 && !tokenizer_decode(g_tok, ids, n, &back, &bl) && bl == strlen(text) &&
              !memcmp(back, text, bl), "special-token text as plain text round-trips");
    free(back);
    free(ids);
    CHECK(!tokenizer_encode(g_tok, "a<think>b", 9, &ids, &n, 0) && n == 3 && ids[1] == 151667,
          "non-special added tokens are recognised without allow_special");
    free(ids);
    CHECK(tokenizer_encode(g_tok, "ok so far \x80", 11, &ids, &n, 1) == -1 &&
              strstr(arwkv_last_error(), "byte offset 10"), "invalid UTF-8 names the offset");
}

// Long runs of one character class stress the regex engine's stack and the BPE heap.
static void test_large(void) {
    size_t len = 1 << 20;
    char *buf = malloc(len + 1);
    const char fills[] = { ' ', 'a', '7', '\n' };
    for (int f = 0; f < 4; f++) {
        memset(buf, fills[f], len);
        int32_t *ids;
        size_t n;
        char *back;
        size_t bl;
        double t0 = time_now();
        int rc = tokenizer_encode(g_tok, buf, len, &ids, &n, 1);
        CHECK(!rc && !tokenizer_decode(g_tok, ids, n, &back, &bl) && bl == len && !memcmp(back, buf, len),
              "1 MiB of '%c' round-trips (%s)", fills[f], rc ? arwkv_last_error() : "ok");
        CHECK(time_now() - t0 < 10, "1 MiB of '%c' in %.1f s", fills[f], time_now() - t0);
        if (!rc) {
            free(ids);
            free(back);
        }
    }
    free(buf);
}

static void test_chats(json_t *golden) {
    json_t *chats = json_object_get(golden, "chats");
    CHECK(json_array_size(chats) >= 5, "golden has chats");
    size_t ci;
    json_t *c;
    json_array_foreach(chats, ci, c) {
        json_t *jm = json_object_get(c, "messages");
        size_t nm = json_array_size(jm);
        tokenizer_message *m = calloc(nm + 1, sizeof *m);
        for (size_t i = 0; i < nm; i++) {
            m[i].role = json_string_value(json_object_get(json_array_get(jm, i), "role"));
            m[i].content = json_string_value(json_object_get(json_array_get(jm, i), "content"));
        }
        int gen = json_is_true(json_object_get(c, "add_generation_prompt"));
        const char *want_text = json_string_value(json_object_get(c, "text"));
        char *text;
        size_t len;
        CHECK(!tokenizer_chat_render(g_tok, m, nm, gen, &text, &len) && len == strlen(want_text) &&
                  !strcmp(text, want_text), "chat %zu: text equals transformers.js's rendering", ci);
        int32_t *ids;
        uint8_t *mask;
        size_t n, nw;
        int32_t *want = tt_json_ids(json_object_get(c, "ids"), &nw);
        char what[32];
        snprintf(what, sizeof what, "chat %zu", ci);
        CHECK(!tokenizer_chat_encode(g_tok, m, nm, gen, &ids, &mask, &n) && tt_ids_equal(what, ids, n, want, nw),
              "chat %zu: ids", ci);
        // each masked run decodes to an assistant content + <|im_end|>, possibly with the end of
        // "<|im_start|>assistant\n" in front when a token spans that boundary
        size_t run = 0, a = 0;
        bool ok = true;
        for (size_t i = 0; i < n && ok;) {
            if (!mask[i]) {
                i++;
                continue;
            }
            size_t j = i;
            while (j < n && mask[j]) j++;
            while (a < nm && strcmp(m[a].role, "assistant")) a++;
            char *dec;
            size_t dl;
            ok = a < nm && !tokenizer_decode(g_tok, ids + i, j - i, &dec, &dl);
            if (ok) {
                char want_end[4096];
                snprintf(want_end, sizeof want_end, "%s<|im_end|>", m[a].content);
                const char *hdr = "<|im_start|>assistant\n";
                size_t nl = 0;   // the text went through NFC: compare with the normalized content
                char *nfc = tt_nfc(want_end, strlen(want_end), &nl);
                size_t lead = dl >= nl ? dl - nl : 0;
                ok = nfc && dl >= nl && !memcmp(dec + lead, nfc, nl) && lead <= strlen(hdr) &&
                     !memcmp(dec, hdr + strlen(hdr) - lead, lead);
                free(nfc);
                free(dec);
            }
            run++;
            a++;
            i = j;
        }
        size_t n_asst = 0;
        for (size_t i = 0; i < nm; i++) n_asst += !strcmp(m[i].role, "assistant");
        CHECK(ok && run == n_asst, "chat %zu: mask covers exactly the assistant turns (%zu runs)", ci, run);
        free(text);
        free(ids);
        free(mask);
        free(want);
        free(m);
    }
}

int main(void) {
    const char *dir = tt_qwen_dir();
    if (!dir) return 1;
    double t0 = time_now();
    if (tokenizer_load(&g_tok, dir)) {
        fprintf(stderr, "FAIL: %s\n", arwkv_last_error());
        return 1;
    }
    printf("loaded %s in %.0f ms\n", dir, (time_now() - t0) * 1e3);
    json_t *golden = tt_load_json(TOK_DATA "/golden.json");
    CHECK(golden != NULL, "golden.json");
    if (golden) {
        test_corpus(golden);
        test_concurrent(golden);
        test_chats(golden);
    }
    test_specials();
    test_large();
    json_decref(golden);
    tokenizer_free(g_tok);
    return test_summary();
}
