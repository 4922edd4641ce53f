#include <stdarg.h>

#include "core/core.h"

static _Thread_local char g_error[1024];

const char *arwkv_last_error(void) { return g_error[0] ? g_error : "unknown error"; }

int arwkv_set_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_error, sizeof g_error, fmt, ap);
    va_end(ap);
    return -1;
}

int arwkv_wrap_error(const char *fmt, ...) {
    char prefix[256], old[sizeof g_error - 256 - 4];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t n = strnlen(g_error, sizeof old - 1);
    memcpy(old, g_error, n);
    old[n] = 0;
    snprintf(g_error, sizeof g_error, "%s: %s", prefix, old);
    return -1;
}
