// When and how the kernels fork. An OpenMP parallel region that runs on one thread (an `if`
// clause that is false, OMP_NUM_THREADS=1, a region nested in another) still builds a team, which
// libgomp allocates and frees on every entry. Kernels must not allocate, so below their size
// thresholds, or with one thread, they run serially without entering any region.
#ifndef ARWKV_KERNELS_PARALLEL_H
#define ARWKV_KERNELS_PARALLEL_H

#include <omp.h>
#include <stdbool.h>
#include <stdint.h>

// true when a kernel whose work is big_enough should open a parallel region
static inline bool kernels_fork(bool big_enough) {
    return big_enough && omp_get_max_threads() > 1 && !omp_in_parallel();
}

// Rows [0, n) in contiguous blocks, one per thread, when kernels_fork(big_enough); else in one
// call on this thread. fn(args..., lo, hi) processes rows [lo, hi); rows must be independent.
#define KERNELS_ROWS(big_enough, n, fn, ...)                                                  \
    do {                                                                                      \
        const int64_t rows_n_ = (n);                                                          \
        if (kernels_fork(big_enough)) {                                                       \
            _Pragma("omp parallel")                                                           \
            {                                                                                 \
                const int64_t nt_ = omp_get_num_threads(), id_ = omp_get_thread_num();       \
                fn(__VA_ARGS__, rows_n_ * id_ / nt_, rows_n_ * (id_ + 1) / nt_);              \
            }                                                                                 \
        } else                                                                                \
            fn(__VA_ARGS__, 0, rows_n_);                                                      \
    } while (0)

#endif
