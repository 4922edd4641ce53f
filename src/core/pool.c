// Persistent worker pool: chunks claimed through one atomic word, spin-then-futex waits.
//
// The loop being run is published as one 64-bit word, generation << 32 | chunks << 16 | next.
// A thread claims chunk `next` by a compare-and-swap that also checks the generation, so a
// worker that wakes late cannot take a chunk of a later loop. Only a thread holding a chunk reads
// the loop's fields (fn, ctx, n, grain): the caller rewrites them only after every chunk is done.
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/core.h"
#include "core/pool.h"

enum { CHUNKS_PER_THREAD = 4, MAX_CHUNKS = 0xffff };
#define PREEMPTED_GAP 50e-6   // seconds between two polls (each well under 5 us) that mean a preemption
#define NO_SPIN_TIME 0.1      // seconds without spinning after a preemption was seen

static struct {
    _Atomic uint64_t work;       // generation << 32 | chunks << 16 | next chunk
    atomic_uint gen;             // the generation alone: the word idle workers sleep on
    atomic_uint done;            // chunks finished in the current generation
    atomic_int sleepers;         // workers asleep (or about to be) on gen
    atomic_int caller_asleep;    // the caller is asleep (or about to be) on done
    atomic_int stop;
    atomic_int nth;              // threads, the caller included; 0 until first use
    atomic_int spin_us;
    _Atomic double no_spin_until;  // time_now() before which idle threads sleep at once
    atomic_flag busy;            // held by the thread running a loop (or changing the count)
    pool_fn fn;                  // the current loop, stable while any of its chunks is undone
    void *ctx;
    int64_t n, grain, blocks;
    pthread_t *workers;
    int n_workers;
    unsigned start_gen;          // the generation when the workers were started
} P = {.spin_us = 50, .busy = ATOMIC_FLAG_INIT};

static _Thread_local int tl_ith;
static pthread_once_t g_default_once = PTHREAD_ONCE_INIT;

static void futex_wait(atomic_uint *w, unsigned v) {
    syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}
static void futex_wake(atomic_uint *w, int n) {
    syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

// a count from an environment variable, or 0 when unset or not 1..POOL_MAX_THREADS
static int env_threads(const char *name) {
    const char *v = getenv(name);
    if (!v) return 0;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    // OMP_NUM_THREADS may list counts per nesting level ("4,2"): the first is the outer one
    if (errno || end == v || (*end && *end != ',') || x < 1 || x > POOL_MAX_THREADS) return 0;
    return (int)x;
}

static int default_threads(void) {
    int n = env_threads("ARWKV_THREADS");
    if (!n) n = env_threads("OMP_NUM_THREADS");
    if (!n) {
        cpu_set_t set;
        n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : (int)sysconf(_SC_NPROCESSORS_ONLN);
    }
    return n < 1 ? 1 : n > POOL_MAX_THREADS ? POOL_MAX_THREADS : n;
}

static void init_default(void) {
    int expected = 0;
    atomic_compare_exchange_strong(&P.nth, &expected, default_threads());
}

// Polls until *word != old for up to spin_us, then sleeps on it; *asleep tells wakers to call
// futex_wake. Returns the new value. A gap between two polls far longer than a poll means the OS
// ran something else on this core meanwhile. On such a busy machine spinning only spends the
// share of the core that the next loop needs, and a sleeper is woken promptly, so every thread
// stops spinning for a while.
static unsigned wait_change(atomic_uint *word, unsigned old, atomic_int *asleep) {
    unsigned v;
    double t = time_now(), t_end = t + 1e-6 * atomic_load_explicit(&P.spin_us, memory_order_relaxed);
    if (t < atomic_load_explicit(&P.no_spin_until, memory_order_relaxed)) t_end = t;
    for (int i = 1;; i++) {
        if ((v = atomic_load_explicit(word, memory_order_acquire)) != old) return v;
        if (!(i & 63)) {
            double now = time_now();
            if (now - t > PREEMPTED_GAP) atomic_store_explicit(&P.no_spin_until, now + NO_SPIN_TIME, memory_order_relaxed);
            if (now > t_end || now - t > PREEMPTED_GAP) break;
            t = now;
        }
        cpu_relax();
    }
    // seq_cst pairs with the waker's store then load of *asleep: one of the two sees the other
    atomic_fetch_add(asleep, 1);
    while ((v = atomic_load(word)) == old) futex_wait(word, old);
    atomic_fetch_sub(asleep, 1);
    return v;
}

static void run_chunk(int64_t c, int64_t chunks, int ith) {
    int64_t q = P.blocks / chunks, r = P.blocks % chunks;
    int64_t b0 = q * c + r * c / chunks, b1 = q * (c + 1) + r * (c + 1) / chunks;
    int64_t i1 = b1 * P.grain;
    P.fn(P.ctx, b0 * P.grain, i1 < P.n ? i1 : P.n, ith);
}

// claims and runs chunks of generation g until none is left
static void run_chunks(unsigned g, int ith) {
    uint64_t w = atomic_load_explicit(&P.work, memory_order_acquire);
    for (;;) {
        unsigned chunks = (unsigned)(w >> 16) & 0xffff, next = (unsigned)w & 0xffff;
        if ((unsigned)(w >> 32) != g || next >= chunks) return;
        if (!atomic_compare_exchange_weak_explicit(&P.work, &w, w + 1, memory_order_acquire, memory_order_acquire))
            continue;
        run_chunk(next, chunks, ith);
        if (atomic_fetch_add(&P.done, 1) + 1 == chunks && atomic_load(&P.caller_asleep)) futex_wake(&P.done, 1);
        w = atomic_load_explicit(&P.work, memory_order_acquire);
    }
}

static void *worker_main(void *arg) {
    tl_ith = (int)(intptr_t)arg;
    unsigned seen = P.start_gen;
    for (;;) {
        seen = wait_change(&P.gen, seen, &P.sleepers);
        if (atomic_load(&P.stop)) return NULL;
        run_chunks(seen, tl_ith);
    }
}

// publishes a new generation (of work or of stop) and wakes the sleepers
static unsigned publish(uint64_t low) {
    unsigned g = atomic_load_explicit(&P.gen, memory_order_relaxed) + 1;
    atomic_store_explicit(&P.work, (uint64_t)g << 32 | low, memory_order_release);
    atomic_store(&P.gen, g);
    if (atomic_load(&P.sleepers)) futex_wake(&P.gen, INT_MAX);
    return g;
}

static void stop_workers(void) {
    if (!P.n_workers) return;
    atomic_store(&P.stop, 1);
    publish(0);
    for (int i = 0; i < P.n_workers; i++) pthread_join(P.workers[i], NULL);
    free(P.workers);
    P.workers = NULL;
    P.n_workers = 0;
    atomic_store(&P.stop, 0);
}

// A child of fork() has only the thread that forked: it starts workers of its own when it needs
// them (the parent's array stays allocated there, unreachable but small).
static void after_fork_child(void) {
    P.workers = NULL;
    P.n_workers = 0;
    atomic_store(&P.sleepers, 0);
    atomic_store(&P.caller_asleep, 0);
    atomic_flag_clear(&P.busy);
}

static void register_atfork(void) { pthread_atfork(NULL, NULL, after_fork_child); }

// starts nth - 1 workers; where the system refuses one, the pool runs with those it has
static void start_workers(int nth) {
    static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
    pthread_once(&atfork_once, register_atfork);
    P.workers = malloc((size_t)(nth - 1) * sizeof *P.workers);
    if (!P.workers) {
        atomic_store(&P.nth, 1);
        return;
    }
    P.start_gen = atomic_load(&P.gen);
    while (P.n_workers < nth - 1 &&
           !pthread_create(&P.workers[P.n_workers], NULL, worker_main, (void *)(intptr_t)(P.n_workers + 1)))
        P.n_workers++;
    if (!P.n_workers) {
        free(P.workers);
        P.workers = NULL;
    }
    atomic_store(&P.nth, P.n_workers + 1);
}

int pool_set_threads(int n) {
    if (n < 0 || n > POOL_MAX_THREADS) return arwkv_set_error("threads: expected 1 to %d, got %d", POOL_MAX_THREADS, n);
    if (atomic_flag_test_and_set(&P.busy)) return arwkv_set_error("threads: cannot change the count while a parallel loop runs");
    pthread_once(&g_default_once, init_default);
    if (!n) n = default_threads();
    if (n != atomic_load(&P.nth)) {
        stop_workers();
        atomic_store(&P.nth, n);
    }
    omp_set_num_threads(n);
    atomic_flag_clear(&P.busy);
    return 0;
}

int arwkv_set_threads(int32_t n) { return pool_set_threads(n); }

int pool_threads(void) {
    pthread_once(&g_default_once, init_default);
    return atomic_load(&P.nth);
}

int pool_thread_index(void) { return tl_ith; }

void pool_set_spin_us(int us) { atomic_store(&P.spin_us, us < 0 ? 0 : us); }

void pool_for(int64_t n, int64_t grain, pool_fn fn, void *ctx) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    int64_t blocks = (n - 1) / grain + 1, nth = pool_threads();
    int64_t chunks = nth * CHUNKS_PER_THREAD;
    if (chunks > blocks) chunks = blocks;
    if (chunks > MAX_CHUNKS) chunks = MAX_CHUNKS;
    if (nth == 1 || chunks <= 1 || atomic_flag_test_and_set(&P.busy)) {
        fn(ctx, 0, n, tl_ith);
        return;
    }
    if (!P.n_workers) start_workers((int)nth);
    if (!P.n_workers) {
        atomic_flag_clear(&P.busy);
        fn(ctx, 0, n, tl_ith);
        return;
    }
    P.fn = fn, P.ctx = ctx, P.n = n, P.grain = grain, P.blocks = blocks;
    atomic_store_explicit(&P.done, 0, memory_order_relaxed);
    unsigned g = publish((uint64_t)chunks << 16);
    run_chunks(g, 0);
    // the caller also waits spin-then-sleep: a worker descheduled mid-chunk may take a timeslice
    unsigned d;
    while ((d = atomic_load_explicit(&P.done, memory_order_acquire)) != chunks) wait_change(&P.done, d, &P.caller_asleep);
    atomic_flag_clear(&P.busy);
}
