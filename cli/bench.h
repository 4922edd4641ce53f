// The benchmark's accelerator part (bench_device.c), called by arwkv bench --device.
#ifndef ARWKV_CLI_BENCH_H
#define ARWKV_CLI_BENCH_H

#include "cli.h"

// 0 when the device exists (else -1 and the error)
int bench_device_check(const char *device);
// decode and prefill of both models, then training and distillation steps of batch x ctx tokens
int bench_device(const char *device, const char *teacher_dir, const char *student_dir, int n_prefill, int n_decode,
                 int batch, int ctx, int steps);

#endif
