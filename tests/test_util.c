#include "test_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

int g_test_pass, g_test_fail;

double rel_err(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= num)) num = d;   // NaN propagates
        if (fabs((double)b[i]) > den) den = fabs((double)b[i]);
    }
    return num / (den > 1e-30 ? den : 1e-30);
}

double rel_err_d(const double *a, const double *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        if (!(d <= num)) num = d;
        if (fabs(b[i]) > den) den = fabs(b[i]);
    }
    return num / (den > 1e-300 ? den : 1e-300);
}

int test_summary(void) {
    printf("%d passed, %d failed\n", g_test_pass, g_test_fail);
    return g_test_fail ? 1 : 0;
}

void fill_uniform(float *x, size_t n, float scale, unsigned long long *seed) {
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(*seed >> 11) / 9007199254740992.0;
        x[i] = (float)((2 * u - 1) * scale);
    }
}

int run_cmd(const char *cmd, char *buf, size_t cap) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = 0;
    char tmp[4096];
    size_t r;
    while ((r = fread(tmp, 1, sizeof tmp, p)) > 0) {
        if (buf && n + 1 < cap) {
            size_t k = r < cap - 1 - n ? r : cap - 1 - n;
            memcpy(buf + n, tmp, k);
            n += k;
        }
    }
    if (buf && cap) buf[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
