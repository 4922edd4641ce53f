// Decoding allocates nothing: after a prefill and two warm-up tokens, 16 more single-token
// arwkv_forward calls of a teacher and of a student (random tiny models, public API only) must not
// call the heap allocator. The allocator is interposed in this executable and counts calls on all
// threads (malloc, calloc, realloc, aligned_alloc, posix_memalign, memalign, and free of a
// non-NULL pointer); the first counted call's stack is printed for the diagnosis.
#include <errno.h>
#include <execinfo.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "arwkv.h"
#include "test_util.h"

#if defined(__SANITIZE_ADDRESS__)
#define ALLOC_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ALLOC_UNDER_ASAN 1
#endif
#endif

#if !defined(ALLOC_UNDER_ASAN)

// glibc's allocator under its internal names: the interposed functions forward to them
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
extern void __libc_free(void *p);

enum { MAX_FRAMES = 24 };
static atomic_int g_counting;
static atomic_long g_calls;
static void *g_frames[MAX_FRAMES];
static int g_nframes;

static void count_call(void) {
    if (!atomic_load_explicit(&g_counting, memory_order_relaxed)) return;
    // backtrace() allocates nothing once warmed up (main calls it before counting)
    if (atomic_fetch_add(&g_calls, 1) == 0) g_nframes = backtrace(g_frames, MAX_FRAMES);
}

void *malloc(size_t n) {
    count_call();
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size) {
    count_call();
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n) {
    count_call();
    return __libc_realloc(p, n);
}

void *aligned_alloc(size_t align, size_t n) {
    count_call();
    return __libc_memalign(align, n);
}

void *memalign(size_t align, size_t n) {
    count_call();
    return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n) {
    count_call();
    void *p = __libc_memalign(align, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

void free(void *p) {
    if (p) count_call();
    __libc_free(p);
}

// prefill 8 tokens, decode 2 (warm-up), then counts the allocator calls of 16 decode steps
static void check_decode(const char *what, const arwkv_config *cfg) {
    arwkv_model *m = NULL;
    arwkv_state *s = NULL;
    if (arwkv_model_make_random(&m, cfg, 11) || arwkv_state_init(&s, m, 64)) {
        CHECK(0, "%s: cannot build the model or its state: %s", what, arwkv_last_error());
        arwkv_model_free(m);
        return;
    }
    const int V = cfg->n_vocab;
    float *logits = malloc((size_t)V * sizeof(float));
    int32_t ids[8];
    for (int i = 0; i < 8; i++) ids[i] = (i * 37 + 5) % V;
    int rc = arwkv_forward(m, s, ids, 8, logits, 0);
    for (int i = 0; i < 2; i++) {
        int32_t id = (i * 53 + 1) % V;
        rc |= arwkv_forward(m, s, &id, 1, logits, 0);
    }
    atomic_store(&g_calls, 0);
    atomic_store(&g_counting, 1);
    for (int i = 0; i < 16; i++) {
        int32_t id = (i * 29 + 3) % V;
        rc |= arwkv_forward(m, s, &id, 1, logits, 0);
    }
    atomic_store(&g_counting, 0);
    long calls = atomic_load(&g_calls);
    CHECK(rc == 0, "%s: arwkv_forward failed: %s", what, arwkv_last_error());
    CHECK(calls == 0, "%s: %ld allocator calls in 16 decode steps", what, calls);
    printf("%s: %ld allocator calls in 16 decode steps (after 8 prefill + 2 warm-up tokens)\n", what, calls);
    if (calls) {
        fprintf(stderr, "%s: stack of the first allocator call (resolve with addr2line -f -e on this file):\n", what);
        backtrace_symbols_fd(g_frames, g_nframes, 2);
    }
    free(logits);
    arwkv_state_free(s);
    arwkv_model_free(m);
}

int main(void) {
    void *warm[4];
    backtrace(warm, 4);   // loads the unwinder now, so that backtrace() inside malloc allocates nothing

    arwkv_config t;
    arwkv_config_defaults(&t, ARWKV_ARCH_QWEN2);
    t.n_embd = 128, t.n_layer = 2, t.n_head = 4, t.n_kv_head = 2, t.head_dim = 32, t.n_ff = 256, t.n_vocab = 512;
    t.max_pos = 64;
    check_decode("teacher", &t);

    arwkv_config s;
    arwkv_config_defaults(&s, ARWKV_ARCH_RWKV_HYBRID);
    s.n_embd = 128, s.n_layer = 2, s.n_head = s.n_kv_head = 2, s.head_dim = 64, s.n_ff = 256, s.n_vocab = 512;
    s.has_gate = 1;   // the gate's LoRA products run too
    s.max_pos = 64;
    check_decode("student", &s);
    return test_summary();
}

#else

int main(void) {
    printf("skipped: AddressSanitizer owns the allocator, which this test replaces\n");
    return 77;
}

#endif
