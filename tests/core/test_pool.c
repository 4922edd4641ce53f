// pool_for: every index runs exactly once, chunk bounds follow the grain, ith indexes per-thread
// scratch, and the serial fallbacks (one thread, one chunk, nesting, a second caller) hold.
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "core/pool.h"
#include "test_util.h"

enum { MAX_N = 100003 };

typedef struct {
    atomic_int *visits;       // per index
    int64_t n, grain;
    atomic_int calls, bad_bounds, bad_ith, bad_index;
    int64_t *partial;         // per thread: sum of the indices it ran, summed again at the end
} visit_ctx;

static void visit(void *p, int64_t i0, int64_t i1, int ith) {
    visit_ctx *c = p;
    atomic_fetch_add(&c->calls, 1);
    if (i0 % c->grain || (i1 != c->n && i1 % c->grain) || i0 >= i1) atomic_fetch_add(&c->bad_bounds, 1);
    if (ith < 0 || ith >= pool_threads()) {
        atomic_fetch_add(&c->bad_ith, 1);
        return;
    }
    if (ith != pool_thread_index()) atomic_fetch_add(&c->bad_index, 1);
    for (int64_t i = i0; i < i1; i++) {
        atomic_fetch_add_explicit(&c->visits[i], 1, memory_order_relaxed);
        c->partial[ith] += i;
    }
}

// runs one loop and checks it; returns the number of fn calls
static int check_loop(int64_t n, int64_t grain, atomic_int *visits, const char *what) {
    int nth = pool_threads();
    visit_ctx c = {.visits = visits, .n = n, .grain = grain < 1 ? 1 : grain};
    c.partial = calloc((size_t)nth, sizeof *c.partial);
    for (int64_t i = 0; i < n; i++) atomic_store(&visits[i], 0);
    pool_for(n, grain, visit, &c);
    int64_t wrong = 0, sum = 0;
    for (int64_t i = 0; i < n; i++) wrong += atomic_load(&visits[i]) != 1;
    for (int t = 0; t < nth; t++) sum += c.partial[t];
    CHECK(wrong == 0, "%s: n=%lld grain=%lld threads=%d: %lld indices not run exactly once", what, (long long)n,
          (long long)grain, nth, (long long)wrong);
    CHECK(sum == (n > 0 ? n * (n - 1) / 2 : 0), "%s: per-thread partial sums %lld", what, (long long)sum);
    CHECK(atomic_load(&c.bad_bounds) == 0, "%s: %d chunks with bounds off the grain", what, atomic_load(&c.bad_bounds));
    CHECK(atomic_load(&c.bad_ith) == 0 && atomic_load(&c.bad_index) == 0, "%s: ith out of range or != pool_thread_index",
          what);
    free(c.partial);
    return atomic_load(&c.calls);
}

static void test_counts_and_grains(atomic_int *visits) {
    static const int64_t ns[] = {0, 1, 2, 7, 64, 1000, 4097, MAX_N};
    static const int64_t grains[] = {0, 1, 3, 64, 5000};
    static const int threads[] = {1, 2, 3, 8};
    for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
        CHECK(pool_set_threads(threads[t]) == 0 && pool_threads() == threads[t], "set %d threads", threads[t]);
        for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
            for (size_t g = 0; g < sizeof grains / sizeof *grains; g++) {
                int calls = check_loop(ns[i], grains[g], visits, "grid");
                int64_t grain = grains[g] < 1 ? 1 : grains[g], blocks = ns[i] ? (ns[i] - 1) / grain + 1 : 0;
                if (ns[i] == 0) CHECK(calls == 0, "n == 0 called fn %d times", calls);
                else if (threads[t] == 1 || blocks == 1) CHECK(calls == 1, "serial case called fn %d times", calls);
                else
                    CHECK(calls > 1 && calls <= threads[t] * 4 && calls <= blocks,
                          "n=%lld grain=%lld: %d chunks for %d threads", (long long)ns[i], (long long)grain, calls,
                          threads[t]);
            }
    }
}

// many small loops back to back, as decode runs them: a lost wake-up or a chunk claimed twice
// would hang or miscount here
static void test_many_calls(atomic_int *visits) {
    pool_set_threads(2);
    int64_t n_bad = 0;
    for (int k = 0; k < 20000; k++) {
        int64_t n = 1 + (k * 37) % 300;
        visit_ctx c = {.visits = visits, .n = n, .grain = 1 + k % 5};
        int64_t partial[2] = {0, 0};
        c.partial = partial;
        for (int64_t i = 0; i < n; i++) atomic_store_explicit(&visits[i], 0, memory_order_relaxed);
        pool_for(n, c.grain, visit, &c);
        for (int64_t i = 0; i < n; i++) n_bad += atomic_load_explicit(&visits[i], memory_order_relaxed) != 1;
        n_bad += partial[0] + partial[1] != n * (n - 1) / 2;
    }
    CHECK(n_bad == 0, "20000 small loops: %lld wrong counts", (long long)n_bad);
}

typedef struct {
    atomic_int *visits;
    int64_t inner;
    atomic_int wrong_ith;
} nest_ctx;

static void nested_inner(void *p, int64_t i0, int64_t i1, int ith) {
    nest_ctx *c = p;
    if (ith != pool_thread_index()) atomic_fetch_add(&c->wrong_ith, 1);
    for (int64_t i = i0; i < i1; i++) atomic_fetch_add(&c->visits[i], 1);
}

typedef struct {
    nest_ctx *inner;
    int64_t stride;
} outer_ctx;

static void nested_outer(void *p, int64_t i0, int64_t i1, int ith) {
    outer_ctx *o = p;
    for (int64_t r = i0; r < i1; r++) {
        // the inner loop of row r over its own slice of the counters, run serially on this thread
        nest_ctx c = {.visits = o->inner->visits + r * o->stride, .inner = o->stride};
        pool_for(o->stride, 1, nested_inner, &c);
        if (atomic_load(&c.wrong_ith)) atomic_fetch_add(&o->inner->wrong_ith, 1);
    }
}

static void test_nested(atomic_int *visits) {
    pool_set_threads(2);
    enum { ROWS = 64, STRIDE = 100 };
    for (int i = 0; i < ROWS * STRIDE; i++) atomic_store(&visits[i], 0);
    nest_ctx all = {.visits = visits};
    outer_ctx o = {&all, STRIDE};
    pool_for(ROWS, 1, nested_outer, &o);
    int wrong = 0;
    for (int i = 0; i < ROWS * STRIDE; i++) wrong += atomic_load(&visits[i]) != 1;
    CHECK(wrong == 0, "nested loops: %d indices not run exactly once", wrong);
    CHECK(atomic_load(&all.wrong_ith) == 0, "nested loop ran with an ith other than its thread's");
}

static void set_threads_inside(void *p, int64_t i0, int64_t i1, int ith) {
    if (i0 == 0) *(int *)p = pool_set_threads(3);
}

static void test_set_threads(void) {
    setenv("OMP_NUM_THREADS", "2", 1);
    unsetenv("ARWKV_THREADS");
    CHECK(pool_set_threads(0) == 0 && pool_threads() == 2, "default from OMP_NUM_THREADS=2: %d", pool_threads());
    setenv("OMP_NUM_THREADS", "3,1", 1);
    CHECK(pool_set_threads(0) == 0 && pool_threads() == 3, "default from OMP_NUM_THREADS=3,1: %d", pool_threads());
    setenv("ARWKV_THREADS", "5", 1);
    CHECK(pool_set_threads(0) == 0 && pool_threads() == 5, "ARWKV_THREADS wins: %d", pool_threads());
    setenv("ARWKV_THREADS", "lots", 1);
    CHECK(pool_set_threads(0) == 0 && pool_threads() == 3, "a bad ARWKV_THREADS is ignored: %d", pool_threads());
    unsetenv("ARWKV_THREADS");
    CHECK(pool_set_threads(-1) == -1 && strstr(arwkv_last_error(), "-1"), "-1 threads: %s", arwkv_last_error());
    CHECK(pool_set_threads(POOL_MAX_THREADS + 1) == -1, "too many threads accepted");
    CHECK(arwkv_set_threads(1) == 0 && pool_threads() == 1, "arwkv_set_threads(1)");
    pool_set_threads(2);
    int rc = 0;
    pool_for(100, 1, set_threads_inside, &rc);
    CHECK(rc == -1 && pool_threads() == 2, "changing the count inside a loop must fail, got %d", rc);
}

typedef struct {
    atomic_int *visits;
    int64_t bad;
} caller_arg;

static void *second_caller(void *p) {
    caller_arg *a = p;
    for (int k = 0; k < 2000; k++) {
        visit_ctx c = {.visits = a->visits, .n = 256, .grain = 4};
        int64_t partial[POOL_MAX_THREADS] = {0};
        c.partial = partial;
        for (int i = 0; i < 256; i++) atomic_store(&a->visits[i], 0);
        pool_for(256, 4, visit, &c);
        for (int i = 0; i < 256; i++) a->bad += atomic_load(&a->visits[i]) != 1;
    }
    return NULL;
}

// two application threads share the pool: whichever finds it held runs its loop alone
static void test_two_callers(atomic_int *visits) {
    pool_set_threads(2);
    caller_arg a[2] = {{visits, 0}, {visits + 256, 0}};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, second_caller, &a[0]) == 0, "pthread_create");
    second_caller(&a[1]);
    pthread_join(t, NULL);
    CHECK(a[0].bad == 0 && a[1].bad == 0, "two callers: %lld + %lld wrong counts", (long long)a[0].bad,
          (long long)a[1].bad);
}

// a child of fork() has none of the parent's workers: its loops, and a change of the count (which
// stops the workers it believes it has), must still work
static void test_fork(atomic_int *visits) {
#ifdef __SANITIZE_THREAD__
    return;   // ThreadSanitizer cannot follow threads started after a threaded fork
#endif
    pool_set_threads(2);
    check_loop(1000, 1, visits, "before fork");
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);   // fail rather than hang
        int before = g_test_fail;
        check_loop(1000, 1, visits, "child after fork");
        CHECK(pool_set_threads(3) == 0, "child: set 3 threads");
        check_loop(1000, 1, visits, "child with 3 threads");
        _exit(g_test_fail != before);
    }
    int status = -1;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "fork/waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "loop in a forked child: status %d", status);
}

int main(void) {
    atomic_int *visits = malloc(MAX_N * sizeof *visits);
    test_counts_and_grains(visits);
    test_many_calls(visits);
    test_nested(visits);
    test_set_threads();
    test_two_callers(visits);
    test_fork(visits);
    CHECK(pool_thread_index() == 0, "the main thread's index outside loops");
    free(visits);
    return test_summary();
}
