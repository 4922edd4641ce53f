// Minimal test harness: CHECK records failures, test_summary() prints "N passed, N failed".
#ifndef ARWKV_TEST_UTIL_H
#define ARWKV_TEST_UTIL_H

#include <stdio.h>
#include <stddef.h>

extern int g_test_pass, g_test_fail;

#define CHECK(cond, ...)                                                            \
    do {                                                                            \
        if (cond) g_test_pass++;                                                    \
        else {                                                                      \
            g_test_fail++;                                                          \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);          \
            fprintf(stderr, "" __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                    \
        }                                                                           \
    } while (0)

// max |a-b| / max(max |b|, tiny): the relative error reported by every numeric test
double rel_err(const float *a, const float *b, size_t n);
double rel_err_d(const double *a, const double *b, size_t n);
int test_summary(void);   // prints the summary line, returns the exit code
// fills x with uniform values in [-scale, scale] from a small deterministic generator
void fill_uniform(float *x, size_t n, float scale, unsigned long long *seed);
// runs a shell command, returns its exit status; output (stdout+stderr) into buf when given
int run_cmd(const char *cmd, char *buf, size_t cap);

#endif
