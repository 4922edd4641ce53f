// CPython-compatible `random.Random`: the same MT19937 stream, seeding and sampling algorithms,
// so that few-shot draws and bootstrap resamples match lm-evaluation-harness run under CPython.
#ifndef ARWKV_PYRANDOM_H
#define ARWKV_PYRANDOM_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t mt[624];
    int32_t idx;   // next word of mt to hand out; 624 = regenerate first
} pyrandom;

// random.seed(seed) for a non-negative int below 2^32: init_by_array with the key {seed}.
void pyrandom_seed(pyrandom *r, uint32_t seed);
void pyrandom_twist(pyrandom *r);   // regenerates the 624-word state

// the next raw 32-bit word of the stream (genrand_uint32); inline because the bootstrap draws
// hundreds of millions of them
static inline uint32_t pyrandom_u32(pyrandom *r) {
    if (r->idx >= 624) pyrandom_twist(r);
    uint32_t y = r->mt[r->idx++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}
// random.getrandbits(k), 0 <= k <= 32: the next word shifted right by 32 - k
uint32_t pyrandom_getrandbits(pyrandom *r, int k);
// random._randbelow(n), n >= 1: getrandbits(n.bit_length()) redrawn until below n
uint32_t pyrandom_randbelow(pyrandom *r, uint32_t n);
// random.randint(a, b) = a + randbelow(b - a + 1); needs 1 <= b - a + 1 < 2^32
int64_t pyrandom_randint(pyrandom *r, int64_t a, int64_t b);
// random.random(): 53-bit float in [0, 1) from two words
static inline double pyrandom_random(pyrandom *r) {
    uint32_t a = pyrandom_u32(r) >> 5, b = pyrandom_u32(r) >> 6;
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}
// random.sample(range(n), k) as indices into out[0..k); k <= n < 2^32. Returns 0, or -1 with
// an error when k > n ("Sample larger than population") or memory runs out.
int pyrandom_sample(pyrandom *r, size_t n, size_t k, size_t *out);

#endif
