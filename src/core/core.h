// Shared plumbing: errors, dtype conversion, arenas, files, time, progress.
#ifndef ARWKV_CORE_H
#define ARWKV_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arwkv.h"

// ---- errors: set one line, return -1 --------------------------------------------------------
int arwkv_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// prefix the current error with "context: " (e.g. a file name) and return -1
int arwkv_wrap_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// ---- dtypes ---------------------------------------------------------------------------------
int arwkv_dtype_parse(const char *name, arwkv_dtype *out);   // "F32"/"f32"/"float32"/"bf16"...

static inline float bf16_to_f32(uint16_t h) {
    union { uint32_t u; float f; } v = { (uint32_t)h << 16 };
    return v.f;
}
static inline uint16_t f32_to_bf16(float f) {   // round to nearest even, NaN stays NaN
    union { float f; uint32_t u; } v = { f };
    if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x40);
    return (uint16_t)((v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16);
}
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
// out[i] = (float)in[i] for n elements of a floating dtype
void dtype_to_f32(float *out, const void *in, arwkv_dtype dt, size_t n);
void dtype_from_f32(void *out, const float *in, arwkv_dtype dt, size_t n);

// ---- arenas: one aligned block, bump allocation, sized up front ------------------------------
typedef struct {
    const char *name;
    uint8_t *base;
    size_t size, used;
    size_t dirty;   // high-water mark: bytes above it are still zero from the allocation
} arena;
int arena_init(arena *a, const char *name, size_t size);
void *arena_alloc(arena *a, size_t bytes);   // 64-byte aligned, zeroed; NULL + error if full
void arena_reset(arena *a);
void arena_free(arena *a);
size_t arena_align(size_t bytes);            // bytes rounded up as arena_alloc rounds them

// ---- files ----------------------------------------------------------------------------------
char *file_read_all(const char *path, size_t *len);   // malloc'd, NUL-terminated
bool file_exists(const char *path);
char *path_join(const char *dir, const char *name);   // malloc'd
int dir_ensure(const char *path);                      // mkdir -p

// Atomic write: everything goes to "<path>.tmp.<pid>", then fsync + rename on commit.
typedef struct {
    FILE *fp;
    char *path, *tmp;
} atomic_file;
int atomic_file_open(atomic_file *af, const char *path);
int atomic_file_commit(atomic_file *af);
void atomic_file_abort(atomic_file *af);
int file_write_atomic(const char *path, const void *data, size_t n);
int file_copy_atomic(const char *src, const char *dst);

// ---- time and progress ----------------------------------------------------------------------
double time_now(void);   // seconds, monotonic

// A progress line with rate and ETA, redrawn in place on a TTY; plain log lines otherwise.
typedef struct {
    const char *label, *unit;
    int64_t total, done;
    double t0, last;
    bool tty;
} progress;
void progress_init(progress *p, const char *label, const char *unit, int64_t total);
void progress_update(progress *p, int64_t done, const char *extra);
void progress_end(progress *p);

// ---- random numbers: PCG32, reproducible across machines; the whole state is the struct -------
typedef struct {
    uint64_t state, inc;
} rng;
void rng_seed(rng *r, uint64_t seed);
uint32_t rng_u32(rng *r);
double rng_uniform(rng *r);   // [0, 1)
double rng_normal(rng *r);    // N(0, 1), Box-Muller without a cached second value
// order[0..n) = the order of one epoch: identity, or (shuffle) a Fisher-Yates permutation drawn
// from (seed, epoch), so any epoch can be rebuilt on resume
void rng_epoch_order(int64_t *order, int64_t n, int shuffle, uint64_t seed, int64_t epoch);

// ---- small helpers --------------------------------------------------------------------------
uint64_t hash_fnv1a(const void *data, size_t n, uint64_t h);   // h = 0 starts a new hash
static inline size_t align_up(size_t x, size_t a) { return (x + a - 1) / a * a; }
void fmt_bytes(char *buf, size_t n, double bytes);             // "12.4 MiB"

#endif
