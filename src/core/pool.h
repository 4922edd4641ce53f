// Persistent worker threads for data-parallel loops.
//
// pool_for cuts [0, n) into chunks that the caller and the workers claim from one atomic counter,
// and returns once every chunk is done. A thread the OS has descheduled (another process busy on
// its core) therefore holds back at most the chunk it is running: the others take its share,
// where a fork/join team would wait for it to arrive at the barrier. Idle workers spin briefly,
// then sleep on a futex, so they leave a busy machine's cores to others between loops.
#ifndef ARWKV_POOL_H
#define ARWKV_POOL_H

#include <stdint.h>

enum { POOL_MAX_THREADS = 1024 };

// Runs [i0, i1) of the loop on the thread with index ith (0 <= ith < pool_threads()); ith is
// stable for the thread, so fn may use it to index per-thread scratch of the call.
typedef void (*pool_fn)(void *ctx, int64_t i0, int64_t i1, int ith);

// 1..POOL_MAX_THREADS threads (the caller counts as one), or 0 for the default: ARWKV_THREADS,
// else the first number of OMP_NUM_THREADS, else the CPUs this process may run on. Also sets
// OpenMP's thread count so that loops still using OpenMP follow it. Must not be called from
// inside a loop; -1 with the error set on a bad count.
int pool_set_threads(int n);
int pool_threads(void);

// fn over [0, n) in chunks whose bounds are multiples of grain (the last one ends at n); grain is
// the least work worth handing to another thread. Runs serially, as one call fn(ctx, 0, n, ith),
// when one chunk suffices, with one thread, when nested inside another pool_for, or while
// another thread's loop holds the pool. Does nothing when n <= 0.
void pool_for(int64_t n, int64_t grain, pool_fn fn, void *ctx);

// Index of the calling thread: its ith inside fn, 0 on any thread that is not a worker.
int pool_thread_index(void);

// How long an idle thread polls before it sleeps, in microseconds (default 50): longer trades
// CPU time taken from other processes for a faster start of the next loop.
void pool_set_spin_us(int us);

#endif
