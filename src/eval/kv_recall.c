// Synthetic key-value recall prompts: the format the demo's training data also uses.
#include <stdlib.h>

#include "eval/eval_model.h"
#include "eval/eval_text.h"

enum { KV_MAX_PAIRS = 10000 };

int kv_recall_make(uint64_t seed, int n_pairs, char **prompt, int *answer) {
    *prompt = NULL;
    *answer = 0;
    if (seed > UINT32_MAX) return arwkv_set_error("kv recall: seed %llu must be below 2^32", (unsigned long long)seed);
    if (n_pairs < 1 || n_pairs > KV_MAX_PAIRS)
        return arwkv_set_error("kv recall: %d pairs, expected 1..%d", n_pairs, KV_MAX_PAIRS);
    pyrandom r;
    pyrandom_seed(&r, (uint32_t)seed);
    char(*keys)[5] = malloc((size_t)n_pairs * sizeof *keys);
    int *vals = malloc((size_t)n_pairs * sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return arwkv_set_error("kv recall: out of memory for %d pairs", n_pairs);
    }
    for (int i = 0; i < n_pairs; i++) {
        int dup;
        do {   // random.choice(ascii_lowercase) four times; a repeated key is drawn again
            for (int j = 0; j < 4; j++) keys[i][j] = (char)('a' + pyrandom_randbelow(&r, 26));
            keys[i][4] = 0;
            dup = 0;
            for (int k = 0; k < i && !dup; k++) dup = !memcmp(keys[k], keys[i], 4);
        } while (dup);
        vals[i] = (int)pyrandom_randint(&r, 0, 999);
    }
    int q = (int)pyrandom_randbelow(&r, (uint32_t)n_pairs);
    eval_buf s = {0};
    int rc = eval_buf_puts(&s, "Remember: ");
    for (int i = 0; i < n_pairs && !rc; i++) rc = eval_buf_printf(&s, "%s%s=%d", i ? ", " : "", keys[i], vals[i]);
    if (!rc) rc = eval_buf_printf(&s, ". Question: %s? Answer:", keys[q]);
    *answer = vals[q];
    free(keys);
    free(vals);
    if (rc) {
        eval_buf_free(&s);
        return -1;
    }
    *prompt = eval_buf_take(&s);
    return *prompt ? 0 : -1;
}
