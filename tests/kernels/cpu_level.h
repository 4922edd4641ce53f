// The kernel tests run once per CPU level (ctest sets ARWKV_CPU): a level this CPU cannot run is
// skipped rather than silently tested at a lower level.
#ifndef ARWKV_TEST_CPU_LEVEL_H
#define ARWKV_TEST_CPU_LEVEL_H

#include <stdio.h>
#include <stdlib.h>

#include "kernels/kernels.h"

// 77 (ctest's skip status) after printing why, if ARWKV_CPU names a level this CPU lacks; else 0
static inline int cpu_level_skip(void) {
    const char *want = getenv("ARWKV_CPU");
    if (want && *want && !kernels_cpu_supports(want)) {
        printf("skipped: CPU lacks %s\n", want);
        return 77;
    }
    printf("kernel level: %s\n", kernels_cpu_level());
    return 0;
}

#endif
