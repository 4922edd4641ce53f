// CPU dispatch: the kernel sources are compiled once per level (generic: plain C for any x86-64;
// avx2: AVX2 + FMA + F16C; avx512: AVX-512 F/BW/VL/DQ on top), with the level as a symbol suffix
// (kernels_level.h). The public kernel names defined here forward through the table of one level,
// chosen once, at the first kernel call: the best the CPU supports, or the one the environment
// variable ARWKV_CPU names (clamped to the best supported, with one warning line on stderr).
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/train_ops.h"

#if defined(KERNELS_X86_LEVELS)
#include <cpuid.h>
#endif

#define DISPATCH_SYM_(name, level) name##_##level
#define DISPATCH_SYM(name, level) DISPATCH_SYM_(name, level)

typedef struct {
#define KERNEL(name, params, args) void(*name) params;
#define KERNEL_RET(type, name, params, args) type(*name) params;
#include "kernels/kernels_list.h"
} kernels_table;

// each level's kernels (defined in its objects) and their table
#define KERNEL(name, params, args) void DISPATCH_SYM(name, generic) params;
#define KERNEL_RET(type, name, params, args) type DISPATCH_SYM(name, generic) params;
#include "kernels/kernels_list.h"
static const kernels_table table_generic = {
#define KERNEL(name, params, args) .name = DISPATCH_SYM(name, generic),
#define KERNEL_RET(type, name, params, args) .name = DISPATCH_SYM(name, generic),
#include "kernels/kernels_list.h"
};
#if defined(KERNELS_X86_LEVELS)
#define KERNEL(name, params, args) void DISPATCH_SYM(name, avx2) params;
#define KERNEL_RET(type, name, params, args) type DISPATCH_SYM(name, avx2) params;
#include "kernels/kernels_list.h"
static const kernels_table table_avx2 = {
#define KERNEL(name, params, args) .name = DISPATCH_SYM(name, avx2),
#define KERNEL_RET(type, name, params, args) .name = DISPATCH_SYM(name, avx2),
#include "kernels/kernels_list.h"
};
#define KERNEL(name, params, args) void DISPATCH_SYM(name, avx512) params;
#define KERNEL_RET(type, name, params, args) type DISPATCH_SYM(name, avx512) params;
#include "kernels/kernels_list.h"
static const kernels_table table_avx512 = {
#define KERNEL(name, params, args) .name = DISPATCH_SYM(name, avx512),
#define KERNEL_RET(type, name, params, args) .name = DISPATCH_SYM(name, avx512),
#include "kernels/kernels_list.h"
};
#endif

enum { LEVEL_GENERIC, LEVEL_AVX2, LEVEL_AVX512, LEVEL_COUNT };
static const char *const level_names[LEVEL_COUNT] = { "generic", "avx2", "avx512" };

// the highest level this CPU and operating system can run (and this build has)
static int cpu_best_level(void) {
#if defined(KERNELS_X86_LEVELS)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return LEVEL_GENERIC;
    int fma = c >> 12 & 1, osxsave = c >> 27 & 1, avx = c >> 28 & 1, f16c = c >> 29 & 1;
    if (!osxsave || !avx || !fma || !f16c) return LEVEL_GENERIC;
    // the OS must save the vector registers: XCR0 bits 1-2 (SSE, AVX), 5-7 (AVX-512 mask and upper halves)
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0x06) != 0x06) return LEVEL_GENERIC;
    if (__get_cpuid_max(0, NULL) < 7) return LEVEL_GENERIC;
    __cpuid_count(7, 0, a, b, c, d);
    if (!(b >> 5 & 1)) return LEVEL_GENERIC;   // AVX2
    int f = b >> 16 & 1, dq = b >> 17 & 1, bw = b >> 30 & 1, vl = b >> 31 & 1;
    if (f && dq && bw && vl && (lo & 0xe6) == 0xe6) return LEVEL_AVX512;
    return LEVEL_AVX2;
#else
    return LEVEL_GENERIC;
#endif
}

static int level_index(const char *name) {
    for (int i = 0; i < LEVEL_COUNT; i++)
        if (!strcmp(name, level_names[i])) return i;
    return -1;
}

static const kernels_table *g_table;
static int g_level;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void dispatch_init(void) {
    int best = cpu_best_level(), pick = best;
    const char *want = getenv("ARWKV_CPU");
    if (want && *want) {
        int i = level_index(want);
        if (i < 0)
            fprintf(stderr, "arwkv: ARWKV_CPU=%s is not a kernel level (generic, avx2, avx512); using %s\n", want,
                    level_names[best]);
        else if (i > best)
            fprintf(stderr, "arwkv: ARWKV_CPU=%s: this CPU lacks %s; using %s\n", want, want, level_names[best]);
        else pick = i;
    }
#if defined(KERNELS_X86_LEVELS)
    static const kernels_table *const tables[LEVEL_COUNT] = { &table_generic, &table_avx2, &table_avx512 };
    g_table = tables[pick];
#else
    g_table = &table_generic;
#endif
    g_level = pick;
}

static inline const kernels_table *kernels(void) {
    pthread_once(&g_once, dispatch_init);
    return g_table;
}

const char *kernels_cpu_level(void) {
    kernels();
    return level_names[g_level];
}

int kernels_cpu_supports(const char *level) {
    int i = level ? level_index(level) : -1;
    return i >= 0 && i <= cpu_best_level();
}

#define KERNEL(name, params, args) \
    void name params { kernels()->name args; }
#define KERNEL_RET(type, name, params, args) \
    type name params { return kernels()->name args; }
#include "kernels/kernels_list.h"
