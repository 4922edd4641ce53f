// Passkey prompts against CPython running the Landmark Attention generate_prompt() with
// random.Random(seed) (and the llama.cpp layout with the same draws), compared by full text or by
// length + CRC-32; then the digit-run scoring.
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "test_util.h"

static uint32_t crc32_ieee(const char *s, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= (unsigned char)s[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

int main(void) {
    pyrandom r;
    pyrandom_seed(&r, 42);
    eval_passkey p;
    CHECK(eval_passkey_landmark(&r, 200, &p) == 0, "landmark 200");
    const char *want =
        "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. I will quiz "
        "you about the important information there.\n"
        "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. The grass is "
        "green. The sky is blue. The sun is yellow. Here we go. There\n"
        "The pass key is 7297. Remember it. 7297 is the pass key.\n"
        "The grass is green. The sky is blue. \n"
        "What is the pass key? The pass key is";
    CHECK(p.prompt && !strcmp(p.prompt, want), "landmark prompt:\n%s", p.prompt ? p.prompt : "(null)");
    CHECK(p.key == 7297 && p.prefix_chars == 163, "key %d prefix %zu", p.key, p.prefix_chars);
    eval_passkey_free(&p);
    // the same stream continues: a 10000-character budget
    CHECK(eval_passkey_landmark(&r, 10000, &p) == 0, "landmark 10000");
    size_t n = p.prompt ? strlen(p.prompt) : 0;
    CHECK(n == 10247 && p.key == 48599 && p.prefix_chars == 409, "len %zu key %d prefix %zu", n, p.key, p.prefix_chars);
    CHECK(p.prompt && crc32_ieee(p.prompt, n) == 1522687164u, "landmark 10000 text differs from Python's");
    eval_passkey_free(&p);

    pyrandom_seed(&r, 7);
    CHECK(eval_passkey_llamacpp(&r, 250, &p) == 0, "llama.cpp layout");
    n = p.prompt ? strlen(p.prompt) : 0;
    CHECK(p.prefix_chars == 82 && p.key == 9887 && n == 22743, "pos %zu key %d len %zu", p.prefix_chars, p.key, n);
    CHECK(p.prompt && crc32_ieee(p.prompt, n) == 2284980807u, "llama.cpp prompt text");
    eval_passkey_free(&p);

    CHECK(eval_passkey_score(" 7297.", 7297) == 1, "plain");
    CHECK(eval_passkey_score("The pass key is 7297. Remember", 7297) == 1, "first run");
    CHECK(eval_passkey_score(" 72970", 7297) == 0, "longer run");
    CHECK(eval_passkey_score(" 729", 7297) == 0, "shorter run");
    CHECK(eval_passkey_score(" 12 then 7297", 7297) == 0, "only the first run counts");
    CHECK(eval_passkey_score(" 007297", 7297) == 1, "int() ignores leading zeros");
    CHECK(eval_passkey_score("no digits", 7297) == 0, "no digits");
    CHECK(eval_passkey_score("", 1) == 0, "empty");
    CHECK(eval_passkey_score("99999999999999999999999", 7297) == 0, "huge run");
    return test_summary();
}
