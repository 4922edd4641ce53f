// CUDA twins of the RWKV-7 time-mix kernels (kernels/train_ops.h, kernels/kernels.h wkv7_*):
// same signatures as the matching fields of struct backend, same semantics, every pointer device
// memory. Ops queue on the context's stream; forward ops overwrite their outputs, backward ops
// accumulate (+=) and skip NULL gradients. Weight gradients (sums over rows) are reduced in a
// fixed order, so repeated runs give identical bits.
#ifndef ARWKV_CUDA_RWKV_H
#define ARWKV_CUDA_RWKV_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- cuda_rwkv.cu ---------------------------------------------------------------------------
// out (M, B, T, D) = xn + (xprev - xn) * mix[m]; shift (B, D) is xprev of each row t = 0
void cuda_token_shift_forward(float *out, const float *xn, const float *shift, const float *mix, int M, int B, int T,
                              int D);
void cuda_token_shift_backward(float *dxn, float *dshift, float *dmix, const float *dout, const float *xn,
                               const float *shift, const float *mix, int M, int B, int T, int D);
// last (B, D) = xn (B, T, D) at t = T - 1
void cuda_shift_store(float *last, const float *xn, int B, int T, int D);
// out (T, R) = inp (T, C) @ P (C, R); dinp += dout @ P^T ; dP += inp^T @ dout (cuBLAS)
void cuda_xp_forward(float *out, const float *inp, const float *P, int T, int C, int R);
void cuda_xp_backward(float *dinp, float *dP, const float *dout, const float *inp, const float *P, int T, int C,
                      int R);
void cuda_tanh_forward(float *out, const float *inp, size_t n);
void cuda_tanh_backward(float *dinp, const float *dout, const float *out, size_t n);
// out (T, C) = sigmoid(inp + bias), bias (C) or NULL
void cuda_sigmoid_forward(float *out, const float *inp, const float *bias, int T, int C);
void cuda_sigmoid_backward(float *dinp, float *dbias, const float *dout, const float *out, int T, int C);
// wd (T, D) = exp(-exp(-0.5) * sigmoid(w0 + z))
void cuda_decay_forward(float *wd, const float *z, const float *w0, int T, int D);
void cuda_decay_backward(float *dz, float *dw0, const float *dwd, const float *z, const float *w0, int T, int D);
// out (T, D) = v + (v_first - v) * sigmoid(v0 + z)
void cuda_value_mix_forward(float *out, const float *v, const float *v_first, const float *z, const float *v0, int T,
                            int D);
void cuda_value_mix_backward(float *dv, float *dz, float *dv0, const float *dout, const float *v,
                             const float *v_first, const float *z, const float *v0, int T, int D);
// kk (T, H*N) = per head u / max(||u||, 1e-12), u = k * k_k
void cuda_kk_norm_forward(float *kk, const float *k, const float *k_k, int T, int H, int N);
void cuda_kk_norm_backward(float *dk, float *dk_k, const float *dkk, const float *k, const float *k_k, int T, int H,
                           int N);
// out (T, D) = k * (1 + (a - 1) * k_a)
void cuda_k_iclr_forward(float *out, const float *k, const float *a, const float *k_a, int T, int D);
void cuda_k_iclr_backward(float *dk, float *da, float *dk_a, const float *dout, const float *k, const float *a,
                          const float *k_a, int T, int D);
// alpha = -kk, beta = kk * a, all (n)
void cuda_wkv_ab_forward(float *alpha, float *beta, const float *kk, const float *a, size_t n);
void cuda_wkv_ab_backward(float *dkk, float *da, const float *dalpha, const float *dbeta, const float *kk,
                          const float *a, size_t n);
// o (T, H, N) += (sum_n r k r_k) * v per head
void cuda_bonus_forward(float *o, const float *r, const float *k, const float *v, const float *r_k, int T, int H,
                        int N);
void cuda_bonus_backward(float *dr, float *dk, float *dv, float *dr_k, const float *dout, const float *r,
                         const float *k, const float *v, const float *r_k, int T, int H, int N);
// per-head GroupNorm over N channels; saves mean, rstd (T, H)
void cuda_group_norm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                             const float *bias, float eps, int T, int H, int N);
void cuda_group_norm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                              const float *weight, const float *mean, const float *rstd, int T, int H, int N);
// out (n) = o * g
void cuda_gate_mul_forward(float *out, const float *o, const float *g, size_t n);
void cuda_gate_mul_backward(float *d_o, float *dg, const float *dout, const float *o, const float *g, size_t n);

// ---- cuda_wkv7.cu ---------------------------------------------------------------------------
// B sequences: r..beta, out (B, T, H, N); state (B, H, N, N) in place; ckpt (B, ceil(T/K), H, N, N)
// receives the state before tokens 0, K, 2K, ... when not NULL. N = 64 and 32 are the fast
// paths; other N work while the backward's N x N tile fits in shared memory (~200 on sm_90).
void cuda_wkv7_forward(float *out, float *state, float *ckpt, int K, const float *r, const float *wd, const float *k,
                       const float *v, const float *alpha, const float *beta, int B, int T, int H, int N);
// accumulates dr..dbeta (B, T, H, N) (NULL: skipped); dstate (B, H, N, N): on entry dL/dS after
// the last token (NULL: zero), on exit dL/dS before token 0; scratch: cuda_wkv7_scratch_floats
void cuda_wkv7_backward(float *dr, float *dwd, float *dk, float *dv, float *dalpha, float *dbeta, float *dstate,
                        float *scratch, const float *dout, const float *ckpt, int K, const float *r, const float *wd,
                        const float *k, const float *v, const float *alpha, const float *beta, int B, int T, int H,
                        int N);
size_t cuda_wkv7_scratch_floats(int K, int B, int H, int N);

#ifdef __cplusplus
}
#endif

#endif
