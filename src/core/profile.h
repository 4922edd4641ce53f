// Per-op time table of training (ARWKV_PROFILE=1): wall and process CPU time, and for the matrix
// products their rate, accumulated over every forward/backward/optimiser step of the process.
// Calls come from the thread that drives training (kernels thread inside), so no locking.
#ifndef ARWKV_CORE_PROFILE_H
#define ARWKV_CORE_PROFILE_H

#include <stdio.h>

typedef enum {
    PROF_FORWARD,       // whole forward, to the logits
    PROF_MATMUL_FWD,
    PROF_LORA_FWD,      // the low-rank x @ P products of the student
    PROF_WKV_FWD,
    PROF_ATTN_FWD,
    PROF_LOSS,          // cross-entropy over the vocabulary (forward and gradient)
    PROF_BACKWARD,      // whole backward
    PROF_MATMUL_BWD,
    PROF_LORA_BWD,
    PROF_WKV_BWD,
    PROF_ATTN_BWD,
    PROF_OPTIM,         // zeroing, gradient norm, AdamW
    PROF_N
} prof_op;

typedef struct {
    double wall, cpu;
} prof_mark;

// 1 when ARWKV_PROFILE is set to a value other than 0 (read once)
int prof_enabled(void);
prof_mark prof_begin(void);
// adds the time since m (and flops) to op; no-op when profiling is off
void prof_end(prof_op op, prof_mark m, double flops);
void prof_reset(void);   // zeroes the table
// the table, with tokens/s over `tokens` processed tokens; nothing when profiling is off
void prof_print(FILE *fp, double tokens);

#endif
