// Training kernels: the backward passes of every model op, plus the training-only forwards
// (full-sequence attention, losses, the RWKV-7 time-mix pieces around the WKV scan).
// Same conventions as kernels.h: raw fp32 pointers, row-major, explicit shapes; forward ops
// overwrite their outputs; backward ops ACCUMULATE (+=) into gradients. Any gradient pointer of
// a backward op may be NULL when that gradient is not wanted (frozen weights, detached inputs).
// "T rows" means any number of token rows: pass B*T for a batch of sequences.
#ifndef ARWKV_TRAIN_OPS_H
#define ARWKV_TRAIN_OPS_H

#include <stddef.h>
#include <stdint.h>

// ---- teacher / shared (train_ops.c) ---------------------------------------------------------
// backward of rmsnorm_forward: inp (T, C), weight (C), rstd (T) as saved by the forward
void rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                      const float *weight, const float *rstd, int T, int C);
// dtable (V, C) row ids[t] += dout (T, C) row t; ids outside [0, V) are skipped
void embedding_backward(float *dtable, const float *dout, const int32_t *ids, int T, int C, int V);
// backward of out (T, F) = silu(gate) * up
void swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                     const float *up, int T, int F);
// dx (T, H, hd) in place: the inverse rotation of rope_forward at positions pos0.. turns the
// gradient w.r.t. the rotated x into the gradient w.r.t. x (in place, not accumulated)
void rope_backward(float *dx, int pos0, float theta, int T, int H, int hd);

// losses[i] (N) = -log softmax(logits[i])[targets[i]], 0 where targets[i] < 0 (ignored);
// logits (N, V). Returns the number of counted (non-ignored) rows.
int crossentropy_forward(float *losses, const float *logits, const int32_t *targets, int N, int V);
// dlogits (N, V) += scale * (softmax(logits) - onehot(target)) on counted rows
void crossentropy_backward(float *dlogits, const float *logits, const int32_t *targets,
                           float scale, int N, int V);
// fused: losses as crossentropy_forward, then logits (N, V) is OVERWRITTEN with
// scale * (softmax - onehot) (zeros on ignored rows); saves a second (N, V) buffer
int crossentropy_fused(float *losses, float *logits, const int32_t *targets, float scale, int N, int V);

// Distillation loss per row, with p = softmax(teacher[:Vs] / tau), q = softmax(student / tau):
//   losses[i] (N) = tau^2 * KL(p || q) = tau^2 * sum_v p (log p - log q)
// The tau^2 factor (Hinton et al.) keeps the gradient scale independent of tau; at tau = 1 it is
// the plain KL. A teacher vocab Vt > Vs is cut to the first Vs logits before the softmax.
// mask (N) of 0/1 bytes or NULL (all rows count); masked-out rows get loss 0.
// Returns the number of counted rows.
int kl_div_forward(float *losses, const float *student, const float *teacher, const uint8_t *mask,
                   float tau, int N, int Vs, int Vt);
// dstudent (N, Vs) += scale * tau * (q - p) on counted rows (= scale * d losses[i] / d student)
void kl_div_backward(float *dstudent, const float *student, const float *teacher,
                     const uint8_t *mask, float tau, float scale, int N, int Vs, int Vt);

// ---- full-sequence causal GQA attention (train_ops_attn.c) ----------------------------------
// q (B, T, Hq, hd), k, v (B, T, Hkv, hd), out (B, T, Hq, hd); query head h reads kv head
// h / (Hq / Hkv); scale 1/sqrt(hd); att (B, Hq, T, T) receives the probabilities (zeros above
// the diagonal) for the backward. RoPE is applied by the caller beforehand.
void attention_train_forward(float *out, float *att, const float *q, const float *k, const float *v,
                             int B, int T, int Hq, int Hkv, int hd);
// accumulates dq (B, T, Hq, hd), dk, dv (B, T, Hkv, hd); scratch: B * Hq * T floats
void attention_train_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout,
                              const float *q, const float *k, const float *v, const float *att,
                              int B, int T, int Hq, int Hkv, int hd);

// ---- RWKV-7 time-mix pieces (train_ops_student.c), docs/model.md §2 steps 2-15 ----------------
// xn (B, T, D); shift (B, D) = xn of each sequence's previous token (zeros at start);
// mix (M, D) = x_r, x_w, x_k, x_v, x_a[, x_g] stacked; out (M, B, T, D):
//   out[m][b][t] = xn[b][t] + (xprev - xn[b][t]) * mix[m]
void token_shift_forward(float *out, const float *xn, const float *shift, const float *mix,
                         int M, int B, int T, int D);
// accumulates dxn (B, T, D), dshift (B, D), dmix (M, D) from dout (M, B, T, D)
void token_shift_backward(float *dxn, float *dshift, float *dmix, const float *dout,
                          const float *xn, const float *shift, const float *mix,
                          int M, int B, int T, int D);

// LoRA product out (T, R) = inp (T, C) @ P (C, R), P stored (in, out) as in the checkpoints
void xp_forward(float *out, const float *inp, const float *P, int T, int C, int R);
// accumulates dinp (T, C) += dout @ P^T ; dP (C, R) += inp^T @ dout
void xp_backward(float *dinp, float *dP, const float *dout, const float *inp, const float *P,
                 int T, int C, int R);

// out (n) = tanh(inp) (out may alias inp); backward uses the saved output
void tanh_forward(float *out, const float *inp, size_t n);
void tanh_backward(float *dinp, const float *dout, const float *out, size_t n);
// out (T, C) = sigmoid(inp + bias), bias (C) or NULL; out may alias inp; backward uses out
void sigmoid_forward(float *out, const float *inp, const float *bias, int T, int C);
void sigmoid_backward(float *dinp, float *dbias, const float *dout, const float *out, int T, int C);

// decay wd (T, D) = exp(-exp(-0.5) * sigmoid(w0 + z)), z (T, D) = tanh(xw @ w1) @ w2, w0 (D)
void decay_forward(float *wd, const float *z, const float *w0, int T, int D);
// accumulates dz (T, D), dw0 (D) from dwd, recomputing the sigmoid from z and w0
void decay_backward(float *dz, float *dw0, const float *dwd, const float *z, const float *w0,
                    int T, int D);

// value residual: out (T, D) = v + (v_first - v) * sigmoid(v0 + z), z = (xv @ v1) @ v2;
// out may alias v (the backward then needs a copy of the pre-mix v)
void value_mix_forward(float *out, const float *v, const float *v_first, const float *z,
                       const float *v0, int T, int D);
// accumulates dv, dz (T, D), dv0 (D); v_first is detached and gets no gradient
void value_mix_backward(float *dv, float *dz, float *dv0, const float *dout, const float *v,
                        const float *v_first, const float *z, const float *v0, int T, int D);

// kk (T, H*N) = per head h: u_h / max(||u_h||, 1e-12) with u = k * k_k, k_k (H*N)
void kk_norm_forward(float *kk, const float *k, const float *k_k, int T, int H, int N);
// accumulates dk (T, H*N), dk_k (H*N) from dkk, recomputing u and its norms from k and k_k
void kk_norm_backward(float *dk, float *dk_k, const float *dkk, const float *k, const float *k_k,
                      int T, int H, int N);

// out (T, D) = k * (1 + (a - 1) * k_a), a (T, D) the in-context learning rate, k_a (D)
void k_iclr_forward(float *out, const float *k, const float *a, const float *k_a, int T, int D);
void k_iclr_backward(float *dk, float *da, float *dk_a, const float *dout, const float *k,
                     const float *a, const float *k_a, int T, int D);

// the WKV inputs alpha = -kk, beta = kk * a, all (n)
void wkv_ab_forward(float *alpha, float *beta, const float *kk, const float *a, size_t n);
void wkv_ab_backward(float *dkk, float *da, const float *dalpha, const float *dbeta,
                     const float *kk, const float *a, size_t n);

// bonus, added in place: o[t,h,:] += (sum_n r[t,h,n] k[t,h,n] r_k[h,n]) * v[t,h,:]
// o, r, k, v (T, H, N); r_k (H, N)
void bonus_forward(float *o, const float *r, const float *k, const float *v, const float *r_k,
                   int T, int H, int N);
// accumulates dr, dk, dv (T, H, N), dr_k (H, N); dout also flows unchanged to the WKV output
void bonus_backward(float *dr, float *dk, float *dv, float *dr_k, const float *dout,
                    const float *r, const float *k, const float *v, const float *r_k,
                    int T, int H, int N);

// per-head GroupNorm: out (T, H*N) = (x - mean_h) * rstd_h * weight + bias over each head's N
// channels (biased variance, eps 64e-5 in the checkpoints); saves mean, rstd (T, H)
void group_norm_forward(float *out, float *mean, float *rstd, const float *inp,
                        const float *weight, const float *bias, float eps, int T, int H, int N);
void group_norm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                         const float *inp, const float *weight, const float *mean,
                         const float *rstd, int T, int H, int N);

// output gate out (n) = o * g
void gate_mul_forward(float *out, const float *o, const float *g, size_t n);
void gate_mul_backward(float *d_o, float *dg, const float *dout, const float *o, const float *g,
                       size_t n);

#endif
