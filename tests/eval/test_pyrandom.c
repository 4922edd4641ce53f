// pyrandom against numbers printed by CPython 3.11 (/usr/bin/python3), e.g.
//   python3 -c "import random; r=random.Random(1234); print([r.getrandbits(32) for _ in range(8)])"
#include <string.h>

#include "eval/pyrandom.h"
#include "test_util.h"

static void check_words(uint32_t seed, const uint32_t *want, size_t n, size_t skip) {
    pyrandom r;
    pyrandom_seed(&r, seed);
    for (size_t i = 0; i < skip; i++) pyrandom_u32(&r);
    for (size_t i = 0; i < n; i++) CHECK(pyrandom_u32(&r) == want[i], "seed %u word %zu", seed, skip + i);
}

static void check_sample(pyrandom *r, size_t n, size_t k, const size_t *want, const char *what) {
    size_t got[64];
    CHECK(pyrandom_sample(r, n, k, got) == 0, "%s", what);
    int same = 1;
    for (size_t i = 0; i < k; i++) same &= got[i] == want[i];
    CHECK(same, "%s: sample(range(%zu), %zu) differs from CPython", what, n, k);
}

int main(void) {
    // random.Random(seed).getrandbits(32): seeding through init_by_array
    static const uint32_t w1234[] = {4150886329u, 3342196574u, 1892932127u, 501869158u,
                                     32175636u, 389311301u, 3912611952u, 4048155970u};
    check_words(1234, w1234, 8, 0);
    static const uint32_t w1234_620[] = {517429860u, 2337422115u, 2576574856u, 152069139u, 3715477445u,
                                         938706668u, 2293463937u, 2452807372u, 2549343243u, 1586589367u};
    check_words(1234, w1234_620, 10, 620);   // across the first regeneration of the state
    static const uint32_t w0[] = {3626764237u, 1654615998u, 3255389356u};
    check_words(0, w0, 3, 0);
    static const uint32_t wmax[] = {2728839433u, 2661025012u, 872737089u};
    check_words(4294967295u, wmax, 3, 0);
    static const uint32_t w2_31[] = {1345521952u, 474246232u};
    check_words(2147483651u, w2_31, 2, 0);

    pyrandom r;
    // after 8 words: getrandbits(1, 5, 17, 31, 32)
    pyrandom_seed(&r, 1234);
    for (int i = 0; i < 8; i++) pyrandom_u32(&r);
    static const int bits[] = {1, 5, 17, 31, 32};
    static const uint32_t bits_want[] = {1, 25, 76313, 75003370, 2884343186u};
    for (int i = 0; i < 5; i++) CHECK(pyrandom_getrandbits(&r, bits[i]) == bits_want[i], "getrandbits(%d)", bits[i]);

    // _randbelow(n) for n = 1 (still draws one bit), powers of two and a large n
    pyrandom_seed(&r, 1234);
    static const uint32_t below_n[] = {1, 2, 3, 7, 100, 1000, 7473, 50000, 2147483653u};
    static const uint32_t below_want[] = {0, 0, 0, 0, 74, 35, 5501, 45422, 360511942};
    for (int i = 0; i < 9; i++) CHECK(pyrandom_randbelow(&r, below_n[i]) == below_want[i], "randbelow(%u)", below_n[i]);

    // sample: pool method (n <= 21, and n <= 21 + 4^ceil(log4(3k)) for k > 5), set method otherwise
    pyrandom_seed(&r, 1234);
    check_sample(&r, 10, 5, (const size_t[]){7, 1, 0, 9, 4}, "pool n=10");
    check_sample(&r, 21, 6, (const size_t[]){1, 2, 3, 11, 7, 0}, "pool n=21 k=6");
    check_sample(&r, 22, 5, (const size_t[]){0, 11, 20, 19, 15}, "set n=22 k=5");
    check_sample(&r, 7473, 5, (const size_t[]){5044, 3797, 1216, 747, 1499}, "set n=7473");
    check_sample(&r, 7473, 6, (const size_t[]){5844, 937, 6925, 119, 4121, 3987}, "set n=7473 k=6");
    check_sample(&r, 100, 30,
                 (const size_t[]){31, 8, 85, 69, 59, 98, 76, 86, 11, 65, 74, 5, 34, 71, 94, 82, 38, 61, 45, 87,
                                  99, 25, 58, 67, 2, 90, 9, 0, 42, 18},
                 "pool n=100 k=30 (setsize 277)");
    pyrandom_seed(&r, 1234);
    check_sample(&r, 300, 30,
                 (const size_t[]){225, 59, 3, 46, 298, 17, 42, 50, 181, 121, 8, 15, 177, 247, 237, 76, 93, 58,
                                  7, 257, 249, 127, 33, 277, 238, 35, 45, 263, 296, 23},
                 "set n=300 k=30");
    pyrandom_seed(&r, 7);
    check_sample(&r, 21, 21, (const size_t[]){10, 4, 12, 1, 2, 3, 5, 9, 0, 8, 15, 18, 17, 6, 20, 13, 11, 14, 16, 19, 7},
                 "full permutation");
    check_sample(&r, 22, 6, (const size_t[]){18, 3, 7, 21, 1, 12}, "pool n=22 k=6 (setsize 85)");
    size_t dummy[4];
    CHECK(pyrandom_sample(&r, 5, 0, dummy) == 0, "k = 0");
    CHECK(pyrandom_sample(&r, 3, 4, dummy) == -1, "k > n is an error");

    // randint and random()
    pyrandom_seed(&r, 99);
    static const int64_t ri[] = {26476, 24954, 13113, 39285, 11718};
    for (int i = 0; i < 5; i++) CHECK(pyrandom_randint(&r, 1, 50000) == ri[i], "randint(1, 50000) #%d", i);
    static const int64_t ri2[] = {29, 31, 17};
    for (int i = 0; i < 3; i++) CHECK(pyrandom_randint(&r, 0, 100) == ri2[i], "randint(0, 100) #%d", i);
    pyrandom_seed(&r, 5);
    static const double rr[] = {0.6229016948897019, 0.7417869892607294, 0.7951935655656966};
    for (int i = 0; i < 3; i++) CHECK(pyrandom_random(&r) == rr[i], "random() #%d", i);
    return test_summary();
}
