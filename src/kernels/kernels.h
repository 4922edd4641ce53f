// CPU kernels: plain functions over raw pointers with explicit shapes (row-major).
// Forward ops overwrite their outputs; backward ops accumulate (+=) into gradients.
// Threading (OpenMP) is inside the kernels, split over rows, never in the innermost loop.
#ifndef ARWKV_KERNELS_H
#define ARWKV_KERNELS_H

#include "core/core.h"

// ---- CPU dispatch (dispatch.c) --------------------------------------------------------------
// Every kernel runs the code of one CPU level, chosen once at the first kernel call: the best of
// "generic" (plain C), "avx2" (AVX2 + FMA + F16C) and "avx512" (AVX-512 F/BW/VL/DQ) that the CPU
// supports, or the level named by the environment variable ARWKV_CPU (a level the CPU lacks, or
// an unknown name, gets one warning line on stderr and the best supported level instead).
// Name of the level in use.
const char *kernels_cpu_level(void);
// 1 if this CPU (and build) can run the named level, else 0
int kernels_cpu_supports(const char *level);

// ---- matrix products (matmul.c) ------------------------------------------------------------
// out (T, OC) = inp (T, C) @ w^T (OC, C) [+ bias (OC)]; w is F32, BF16 or F16, bias F32 or NULL.
// Accumulation in fp32; activations are never rounded. T == 1 is the decode (GEMV) path.
void matmul_forward(float *out, const float *inp, const void *w, arwkv_dtype wt, const float *bias,
                    int T, int C, int OC);
// accumulates: dinp (T, C) += dout (T, OC) @ w (OC, C) ; dw (OC, C) += dout^T @ inp ;
// dbias (OC) += sum_t dout. w is F32 (training keeps fp32 master weights). Any of dinp/dw/dbias may be NULL.
void matmul_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                     const float *w, int T, int C, int OC);
// Sustained multi-threaded read bandwidth of this machine in bytes/s: fills buf (n >= 1024
// floats, else 0 is returned) and sums it; pass a buffer well beyond the last-level cache to
// measure DRAM.
double memory_read_bandwidth(float *buf, size_t n);

// ---- elementwise and normalisation (ops.c) --------------------------------------------------
// out (T, C) = inp / sqrt(mean(inp^2) + eps) * weight (C); rstd (T) saved for backward if not NULL
void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, float eps, int T, int C);
// out (T, C) = rows ids of table (V, C) in dtype dt, converted to fp32
void embedding_forward(float *out, const int32_t *ids, const void *table, arwkv_dtype dt, int T, int C, int V);
// rotate-half RoPE in place on x (T, H, hd) at positions pos0 .. pos0+T-1
void rope_forward(float *x, int pos0, float theta, int T, int H, int hd);
// the same rotation by dir * angle: dir 1 is rope_forward, dir -1 its transpose (rope_backward)
void rope_rotate(float *x, int pos0, float theta, int T, int H, int hd, int dir);
// out (T, F) = silu(gate) * up, gate/up (T, F)
void swiglu_forward(float *out, const float *gate, const float *up, int T, int F);
// causal GQA attention for T new queries at positions pos0.. over a cache of pos0+T keys.
// q (T, Hq, hd); kc, vc (Hkv, max_ctx, hd) already hold keys/values for positions < pos0+T;
// out (T, Hq, hd); scratch: (Hq * (pos0+T)) floats per thread, omp_get_max_threads() of them
void attention_forward(float *out, const float *q, const float *kc, const float *vc, float *scratch,
                       int pos0, int T, int Hq, int Hkv, int hd, int max_ctx);
// in-place softmax of each row of x (T, V)
void softmax_forward(float *x, int T, int V);
// returns sum over t of -log softmax(logits[t])[targets[t]] for targets >= 0 (others ignored)
double cross_entropy_forward(const float *logits, const int32_t *targets, int T, int V);

// ---- RWKV-7 WKV scan (wkv7.c) ---------------------------------------------------------------
// Per head h with state S (N x N, row i = value channel, column j = key channel), per token t:
//   sa = S alpha_t ; S = S diag(wd_t) + sa beta_t^T + v_t k_t^T ; out_t = S r_t
// r, wd, k, v, alpha, beta, out: (T, H, N); state (H, N, N) updated in place.
// ckpt, if not NULL, receives the state before token 0, K, 2K, ... : (ceil(T/K), H, N, N).
void wkv7_forward(float *out, float *state, float *ckpt, int K, const float *r, const float *wd,
                  const float *k, const float *v, const float *alpha, const float *beta,
                  int T, int H, int N);
// Accumulates dr, dwd, dk, dv, dalpha, dbeta (T, H, N) from dout (T, H, N), recomputing states
// inside each K-token chunk from ckpt. dstate (H, N, N): on entry dL/dS after the last token (or
// NULL for zero); on exit, if not NULL, dL/dS before token 0. Allocates its workspace on each
// call (leaves the gradients untouched and sets the error if it cannot): wkv7_backward_batch
// takes a planned one instead.
void wkv7_backward(float *dr, float *dwd, float *dk, float *dv, float *dalpha, float *dbeta,
                   float *dstate, const float *dout, const float *ckpt, int K, const float *r,
                   const float *wd, const float *k, const float *v, const float *alpha,
                   const float *beta, int T, int H, int N);
// B sequences at once, threads over the B*H (sequence, head) pairs; each pair's result is
// bit-identical to the single-sequence functions. r..beta, out: (B, T, H, N); state (B, H, N, N)
// in place; ckpt (B, ceil(T/K), H, N, N) or NULL.
void wkv7_forward_batch(float *out, float *state, float *ckpt, int K, const float *r, const float *wd,
                        const float *k, const float *v, const float *alpha, const float *beta,
                        int B, int T, int H, int N);
// dr..dbeta, dout: (B, T, H, N); dstate (B, H, N, N) or NULL as in wkv7_backward; ckpt as written
// by wkv7_forward_batch with the same K; scratch: wkv7_scratch_floats(K, B, H, N) floats.
void wkv7_backward_batch(float *dr, float *dwd, float *dk, float *dv, float *dalpha, float *dbeta,
                         float *dstate, float *scratch, const float *dout, const float *ckpt, int K,
                         const float *r, const float *wd, const float *k, const float *v,
                         const float *alpha, const float *beta, int B, int T, int H, int N);
// workspace of wkv7_backward_batch: one per thread, for the omp_get_max_threads() in effect when
// the backward runs (size it again if that changes)
size_t wkv7_scratch_floats(int K, int B, int H, int N);

#endif
