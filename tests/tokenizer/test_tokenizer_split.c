// The Qwen2 and Llama-3 split patterns are matched by hand on ASCII text (pretok.c) and by PCRE2
// otherwise. Here both run on the same strings and must cut them into the same pieces:
// every string of up to two characters from a set that probes each branch of the pattern
// (apostrophes and U+017F, newlines, ASCII and Unicode spaces, digits, marks, emoji), every
// two-byte ASCII string, and many random longer strings.
#include "tok_test.h"
#include "tokenizer/tok_internal.h"

typedef struct {
    size_t b[4096];
    size_t n;
} bounds;

static int collect(void *ctx, size_t a, size_t e) {
    bounds *b = ctx;
    if (b->n + 2 <= sizeof b->b / sizeof b->b[0]) {
        b->b[b->n++] = a;
        b->b[b->n++] = e;
    }
    return 0;
}

static char *with_pattern(const char *json, size_t len, const char *from, const char *to, size_t *out_len) {
    const char *at = strstr(json, from);
    if (!at) return NULL;
    size_t a = (size_t)(at - json), fl = strlen(from), tl = strlen(to);
    char *o = malloc(len - fl + tl + 1);
    memcpy(o, json, a);
    memcpy(o + a, to, tl);
    memcpy(o + a + tl, at + fl, len - a - fl + 1);
    *out_len = len - fl + tl;
    return o;
}

static size_t g_bad;

static void compare(const tokenizer *t, tok_work *w, const tok_step *fast, const char *s, size_t n) {
    tok_step slow = *fast;
    slow.fast = 0;
    bounds x = { .n = 0 }, y = { .n = 0 };
    int rx = tok_split(t, w, fast, SPLIT_ISOLATED, (const uint8_t *)s, n, collect, &x);
    int ry = tok_split(t, w, &slow, SPLIT_ISOLATED, (const uint8_t *)s, n, collect, &y);
    if (rx || ry || x.n != y.n || memcmp(x.b, y.b, x.n * sizeof x.b[0])) {
        if (g_bad++ < 5) {
            fprintf(stderr, "pattern %d: pieces differ on \"", fast->fast);
            for (size_t i = 0; i < n; i++) fprintf(stderr, (uint8_t)s[i] < 0x20 || (uint8_t)s[i] >= 0x7f ? "\\x%02x" : "%c", (uint8_t)s[i]);
            fprintf(stderr, "\"\n");
        }
    }
}

int main(void) {
    size_t len, l3_len;
    char *json = file_read_all(TOK_DATA "/tiny_pairs/tokenizer.json", &len);
    char *l3 = json ? with_pattern(json, len, "\\\\p{N}|", "\\\\p{N}{1,3}|", &l3_len) : NULL;
    tokenizer *t[2] = { NULL, NULL };
    CHECK(json && l3, "tiny_pairs and its Llama-3 variant");
    if (!l3) return test_summary();
    CHECK(!tokenizer_load_json(&t[0], json, len, NULL, 0, "qwen2") &&
              !tokenizer_load_json(&t[1], l3, l3_len, NULL, 0, "llama3"), "load: %s", arwkv_last_error());
    if (!t[0] || !t[1]) return test_summary();
    CHECK(t[0]->steps[0].kind == STEP_SPLIT && t[0]->steps[0].fast == 1 && t[1]->steps[0].fast == 3,
          "both patterns are recognised for the hand matcher");
    tok_work *w = tok_work_get(t[0]);

    static const char *alphabet[] = {
        "a", "Z", "s", "S", "e", "l", "L", "xyz", "'", "'s", "'S", "'ll", "'Re", "'ve", "'m", "'D", "'t",
        "'x", " ", "  ", "\t", "\n", "\r\n", "\r", "\v", "\f", "7", "42", "12345", "!", ".", "--", "#",
        "\"", "_", "\xc3\xa9", "\xc5\xbf", "\xc2\xa0", "\xc2\x85", "\xe3\x80\x80", "\xe2\x80\xa8",
        "\xd9\xa3", "\xc2\xb2", "\xf0\x9f\x98\x80", "\xcc\x81", "\xe4\xb8\xad", " '", "\xe1\xa0\x8e",
        "\xef\xbb\xbf", "\xe2\x80\x8b", "\xf0\x9d\x8b\x80", "\x00",
    };
    size_t na = sizeof alphabet / sizeof alphabet[0];
    char s[512];
    for (int k = 0; k < 2; k++) {
        const tok_step *st = &t[k]->steps[0];
        for (size_t i = 0; i < na; i++)   // all pairs (and singles) of alphabet entries
            for (size_t j = 0; j <= na; j++) {
                size_t a = strlen(alphabet[i]) + (i == na - 1), b = j < na ? strlen(alphabet[j]) + (j == na - 1) : 0;
                memcpy(s, alphabet[i], a);
                if (j < na) memcpy(s + a, alphabet[j], b);
                compare(t[k], w, st, s, a + b);
            }
        for (int x = 1; x < 128; x++)      // every ASCII pair and triple ending in a space
            for (int y = 1; y < 128; y++) {
                s[0] = (char)x, s[1] = (char)y, s[2] = ' ';
                compare(t[k], w, st, s, 2);
                compare(t[k], w, st, s, 3);
            }
        unsigned long long seed = 99 + (unsigned)k;
        for (int r = 0; r < 20000; r++) {   // random strings of up to 24 entries
            size_t n = 0;
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            int pieces = 1 + (int)((seed >> 33) % 24);
            for (int i = 0; i < pieces; i++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                size_t e = (seed >> 33) % na, el = strlen(alphabet[e]) + (e == na - 1);
                memcpy(s + n, alphabet[e], el);
                n += el;
            }
            compare(t[k], w, st, s, n);
        }
    }
    CHECK(g_bad == 0, "hand-matched pieces equal PCRE2's: %zu strings differ", g_bad);
    tok_work_put(t[0], w);
    tokenizer_free(t[0]);
    tokenizer_free(t[1]);
    free(json);
    free(l3);
    return test_summary();
}
