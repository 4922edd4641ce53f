// Per-op time table of training; see profile.h.
#include "core/profile.h"

#include <time.h>

#include "core/core.h"

typedef struct {
    double wall, cpu, flops;
    long calls;
} prof_slot;

static prof_slot slots[PROF_N];
static int enabled = -1;

static const char *const names[PROF_N] = {
    [PROF_FORWARD] = "forward (all)",     [PROF_MATMUL_FWD] = "  matmul",  [PROF_LORA_FWD] = "  lora x@P",
    [PROF_WKV_FWD] = "  wkv7 scan",       [PROF_ATTN_FWD] = "  attention", [PROF_LOSS] = "cross-entropy",
    [PROF_BACKWARD] = "backward (all)",   [PROF_MATMUL_BWD] = "  matmul",  [PROF_LORA_BWD] = "  lora x@P",
    [PROF_WKV_BWD] = "  wkv7 scan",       [PROF_ATTN_BWD] = "  attention", [PROF_OPTIM] = "grad norm + AdamW",
};

int prof_enabled(void) {
    if (enabled < 0) {
        const char *e = getenv("ARWKV_PROFILE");
        enabled = e && *e && strcmp(e, "0");
    }
    return enabled;
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void prof_reset(void) { memset(slots, 0, sizeof slots); }

prof_mark prof_begin(void) {
    if (!prof_enabled()) return (prof_mark){0, 0};
    return (prof_mark){time_now(), cpu_now()};
}

void prof_end(prof_op op, prof_mark m, double flops) {
    if (!prof_enabled()) return;
    prof_slot *s = &slots[op];
    s->wall += time_now() - m.wall;
    s->cpu += cpu_now() - m.cpu;
    s->flops += flops;
    s->calls++;
}

static void print_row(FILE *fp, const char *name, const prof_slot *s, double total) {
    fprintf(fp, "  %-22s %9.3f %9.3f %6.1f%%", name, s->wall, s->cpu, total > 0 ? 100.0 * s->wall / total : 0.0);
    if (s->flops > 0 && s->wall > 0) fprintf(fp, " %8.1f", s->flops / s->wall * 1e-9);
    fputc('\n', fp);
}

// the part of a whole (forward, backward) not covered by the ops listed under it
static prof_slot rest_of(prof_op whole, prof_op first, prof_op last) {
    prof_slot r = slots[whole];
    r.flops = 0;
    for (prof_op i = first; i <= last; i++) r.wall -= slots[i].wall, r.cpu -= slots[i].cpu;
    return r;
}

void prof_print(FILE *fp, double tokens) {
    if (!prof_enabled()) return;
    double total = slots[PROF_FORWARD].wall + slots[PROF_LOSS].wall + slots[PROF_BACKWARD].wall +
                   slots[PROF_OPTIM].wall;
    fprintf(fp, "profile: %.0f tokens, %.1f tokens/s over the profiled ops\n", tokens,
            total > 0 ? tokens / total : 0.0);
    fprintf(fp, "  %-22s %9s %9s %7s %8s\n", "op", "wall s", "cpu s", "share", "GFLOP/s");
    for (prof_op op = 0; op < PROF_N; op++) {
        if (slots[op].calls) print_row(fp, names[op], &slots[op], total);
        if (op == PROF_ATTN_FWD && slots[PROF_FORWARD].calls) {
            prof_slot r = rest_of(PROF_FORWARD, PROF_MATMUL_FWD, PROF_ATTN_FWD);
            print_row(fp, "  other (elementwise)", &r, total);
        }
        if (op == PROF_ATTN_BWD && slots[PROF_BACKWARD].calls) {
            prof_slot r = rest_of(PROF_BACKWARD, PROF_MATMUL_BWD, PROF_ATTN_BWD);
            print_row(fp, "  other (elementwise)", &r, total);
        }
    }
    prof_slot mm = slots[PROF_MATMUL_FWD];
    mm.wall += slots[PROF_MATMUL_BWD].wall, mm.cpu += slots[PROF_MATMUL_BWD].cpu;
    mm.flops += slots[PROF_MATMUL_BWD].flops;
    print_row(fp, "matmul fwd + bwd", &mm, total);
}
