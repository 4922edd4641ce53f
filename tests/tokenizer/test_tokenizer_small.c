// scripts/make_small_tokenizer.py: the cut-down Qwen tokenizer loads, keeps the special tokens
// right after the 256 + M kept entries, round-trips, and is consistent BPE: wherever the full
// tokenizer's ids all come from the first M merges, the small one gives the same ids.
#include <unistd.h>

#include "tok_test.h"

enum { M = 4000 };

int main(void) {
    const char *qwen = tt_qwen_dir();
    if (!qwen) return 1;
    char dir[] = "/tmp/arwkv_small_tok_XXXXXX", cmd[8192], out[4096];
    CHECK(mkdtemp(dir) != NULL, "temp dir");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 scripts/make_small_tokenizer.py '%s' '%s' --merges %d 2>&1", qwen,
             dir, M);
    int rc = run_cmd(cmd, out, sizeof out);
    CHECK(rc == 0, "make_small_tokenizer.py: %s", out);
    tokenizer *small = NULL, *full = NULL;
    CHECK(!tokenizer_load(&small, dir), "small tokenizer loads: %s", arwkv_last_error());
    CHECK(!tokenizer_load(&full, qwen), "full tokenizer loads: %s", arwkv_last_error());
    json_t *golden = tt_load_json(TOK_DATA "/golden.json");
    if (!small || !full || !golden) return test_summary();

    const tokenizer_special_ids *sp = tokenizer_special(small);
    CHECK(tokenizer_vocab_size(small) == 256 + M + 3, "vocab size %d", tokenizer_vocab_size(small));
    CHECK(sp->endoftext == 256 + M && sp->im_start == 256 + M + 1 && sp->im_end == 256 + M + 2, "special ids");
    CHECK(sp->eos == sp->im_end && sp->pad == sp->endoftext, "config special tokens");
    for (int32_t id = 0; id < 256 + M; id++) {   // kept entries keep their ids and bytes
        size_t a, b;
        const char *x = tokenizer_token_bytes(small, id, &a), *y = tokenizer_token_bytes(full, id, &b);
        if (!x || !y || a != b || memcmp(x, y, a)) {
            CHECK(0, "token %d differs from the full tokenizer's", id);
            break;
        }
    }

    size_t ci, same_words = 0, bad_words = 0;
    json_t *c;
    json_array_foreach(json_object_get(golden, "cases"), ci, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        json_t *jt = json_object_get(c, "text"), *jn = json_object_get(c, "normalized");
        const char *text = json_string_value(jt);
        size_t len = json_string_length(jt);
        int32_t *ids;
        size_t n, bl;
        char *back;
        bool ok = !tokenizer_encode(small, text, len, &ids, &n, 1) && !tokenizer_decode(small, ids, n, &back, &bl);
        const char *want = jn ? json_string_value(jn) : text;
        size_t wl = jn ? json_string_length(jn) : len;
        CHECK(ok && bl == wl && !memcmp(back, want, wl), "%s: round trip with the small tokenizer", name);
        if (ok) {
            free(ids);
            free(back);
        }
        // word by word: consistent BPE
        for (size_t a = 0; a < len;) {
            size_t e = a;
            while (e < len && text[e] != ' ' && text[e] != '\n') e++;
            e += e < len;
            int32_t *fi, *si;
            size_t fn, sn;
            if (!tokenizer_encode(full, text + a, e - a, &fi, &fn, 1)) {
                bool low = true;
                for (size_t i = 0; i < fn; i++) low = low && fi[i] < 256 + M;
                if (low && !tokenizer_encode(small, text + a, e - a, &si, &sn, 1)) {
                    if (sn == fn && !memcmp(si, fi, fn * sizeof *fi)) same_words++;
                    else bad_words++;
                    free(si);
                }
                free(fi);
            }
            a = e;
        }
    }
    printf("consistent BPE on %zu words\n", same_words);
    CHECK(bad_words == 0 && same_words > 1000, "small BPE agrees with full BPE on %zu words, differs on %zu",
          same_words, bad_words);
    json_decref(golden);
    tokenizer_free(small);
    tokenizer_free(full);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    run_cmd(cmd, NULL, 0);
    return test_summary();
}
