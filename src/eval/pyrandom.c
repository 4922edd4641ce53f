// MT19937 (Matsumoto & Nishimura) with CPython's seeding and Lib/random.py's sampling rules.
#include <math.h>
#include <stdlib.h>

#include "core/core.h"
#include "eval/pyrandom.h"

#define MT_N 624
#define MT_M 397

static void mt_init(pyrandom *r, uint32_t s) {
    r->mt[0] = s;
    for (uint32_t i = 1; i < MT_N; i++)
        r->mt[i] = 1812433253u * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + i;
    r->idx = MT_N;
}

// init_by_array with a one-word key, which is what random.seed(int) uses for ints below 2^32
void pyrandom_seed(pyrandom *r, uint32_t seed) {
    uint32_t *mt = r->mt;
    mt_init(r, 19650218u);
    uint32_t i = 1;
    for (int k = MT_N; k > 0; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + seed;   // + key[j] + j, j = 0
        if (++i >= MT_N) { mt[0] = mt[MT_N - 1]; i = 1; }
    }
    for (int k = MT_N - 1; k > 0; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) - i;
        if (++i >= MT_N) { mt[0] = mt[MT_N - 1]; i = 1; }
    }
    mt[0] = 0x80000000u;
    r->idx = MT_N;
}

static uint32_t mt_mix(uint32_t hi, uint32_t lo, uint32_t far) {
    uint32_t y = (hi & 0x80000000u) | (lo & 0x7fffffffu);
    return far ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
}

void pyrandom_twist(pyrandom *r) {
    uint32_t *mt = r->mt;
    int i = 0;
    for (; i < MT_N - MT_M; i++) mt[i] = mt_mix(mt[i], mt[i + 1], mt[i + MT_M]);
    for (; i < MT_N - 1; i++) mt[i] = mt_mix(mt[i], mt[i + 1], mt[i + MT_M - MT_N]);
    mt[MT_N - 1] = mt_mix(mt[MT_N - 1], mt[0], mt[MT_M - 1]);
    r->idx = 0;
}

uint32_t pyrandom_getrandbits(pyrandom *r, int k) {
    if (k <= 0) return 0;   // CPython returns 0 without consuming a word
    return pyrandom_u32(r) >> (32 - k);
}

uint32_t pyrandom_randbelow(pyrandom *r, uint32_t n) {
    int k = 0;
    for (uint32_t v = n; v; v >>= 1) k++;   // n.bit_length(), not (n-1)'s: n = 1 still draws
    uint32_t x = pyrandom_getrandbits(r, k);
    while (x >= n) x = pyrandom_getrandbits(r, k);
    return x;
}

int64_t pyrandom_randint(pyrandom *r, int64_t a, int64_t b) {
    return a + (int64_t)pyrandom_randbelow(r, (uint32_t)(b - a + 1));
}

// Open-addressing set of drawn indices for the selection method; sized for k, not n.
static int set_insert(size_t *slots, size_t mask, size_t v) {
    size_t h = (v * 0x9e3779b97f4a7c15ull) & mask;
    while (slots[h] != SIZE_MAX) {
        if (slots[h] == v) return 0;
        h = (h + 1) & mask;
    }
    slots[h] = v;
    return 1;
}

int pyrandom_sample(pyrandom *r, size_t n, size_t k, size_t *out) {
    if (k > n) return arwkv_set_error("random sample: %zu items requested from a population of %zu", k, n);
    if (n > UINT32_MAX) return arwkv_set_error("random sample: population of %zu exceeds 2^32-1", n);
    // CPython picks the method by comparing the pool list's size with a k-element set's size
    size_t setsize = 21;
    if (k > 5) setsize += (size_t)pow(4.0, ceil(log((double)(k * 3)) / log(4.0)));
    if (n <= setsize) {
        size_t *pool = malloc((n ? n : 1) * sizeof *pool);
        if (!pool) return arwkv_set_error("random sample: out of memory for %zu items", n);
        for (size_t i = 0; i < n; i++) pool[i] = i;
        for (size_t i = 0; i < k; i++) {
            size_t j = pyrandom_randbelow(r, (uint32_t)(n - i));
            out[i] = pool[j];
            pool[j] = pool[n - i - 1];   // the unselected tail item fills the hole
        }
        free(pool);
        return 0;
    }
    size_t cap = 16;
    while (cap < 2 * k) cap <<= 1;
    size_t *slots = malloc(cap * sizeof *slots);
    if (!slots) return arwkv_set_error("random sample: out of memory for %zu items", k);
    for (size_t i = 0; i < cap; i++) slots[i] = SIZE_MAX;
    for (size_t i = 0; i < k; i++) {
        size_t j = pyrandom_randbelow(r, (uint32_t)n);
        while (!set_insert(slots, cap - 1, j)) j = pyrandom_randbelow(r, (uint32_t)n);
        out[i] = j;
    }
    free(slots);
    return 0;
}
