#include <math.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"

double time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t hash_fnv1a(const void *data, size_t n, uint64_t h) {
    const uint8_t *p = data;
    if (h == 0) h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

void fmt_bytes(char *buf, size_t n, double bytes) {
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 4) bytes /= 1024.0, u++;
    snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

void progress_init(progress *p, const char *label, const char *unit, int64_t total) {
    p->label = label;
    p->unit = unit;
    p->total = total;
    p->done = 0;
    p->t0 = p->last = time_now();
    p->tty = isatty(STDERR_FILENO);
}

static void fmt_eta(char *buf, size_t n, double s) {
    if (s < 0 || s > 1e7) snprintf(buf, n, "?");
    else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

void progress_update(progress *p, int64_t done, const char *extra) {
    double now = time_now();
    p->done = done;
    bool final = p->total > 0 && done >= p->total;
    // TTY: redraw at most 10 times a second; logs: a line every 10 s
    if (!final && now - p->last < (p->tty ? 0.1 : 10.0)) return;
    p->last = now;
    double rate = done / (now - p->t0 + 1e-9);
    char eta[32];
    fmt_eta(eta, sizeof eta, p->total > 0 && rate > 0 ? (p->total - done) / rate : -1);
    fprintf(stderr, "%s%s %lld/%lld %s, %.1f %s/s, ETA %s%s%s%s", p->tty ? "\r\033[K" : "", p->label,
            (long long)done, (long long)p->total, p->unit, rate, p->unit, eta, extra ? ", " : "",
            extra ? extra : "", p->tty ? "" : "\n");
    fflush(stderr);
}

void progress_end(progress *p) {
    if (p->tty) fputc('\n', stderr);
}

void rng_seed(rng *r, uint64_t seed) {
    r->state = 0;
    r->inc = (seed << 1) | 1u;
    rng_u32(r);
    r->state += 0x853c49e6748fea9bull ^ seed;
    rng_u32(r);
}

uint32_t rng_u32(rng *r) {
    uint64_t old = r->state;
    r->state = old * 6364136223846793005ull + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27), rot = (uint32_t)(old >> 59);
    return (xorshifted >> rot) | (xorshifted << ((32 - rot) & 31));
}

double rng_uniform(rng *r) {
    uint64_t hi = rng_u32(r), lo = rng_u32(r);
    return (double)((hi << 21) ^ lo) / 9007199254740992.0;   // 53 random bits
}

double rng_normal(rng *r) {
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void rng_epoch_order(int64_t *order, int64_t n, int shuffle, uint64_t seed, int64_t epoch) {
    for (int64_t i = 0; i < n; i++) order[i] = i;
    if (!shuffle) return;
    rng g;
    rng_seed(&g, seed * 0x9E3779B97F4A7C15ull + (uint64_t)epoch);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(rng_uniform(&g) * (double)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}
