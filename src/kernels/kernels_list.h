// Every kernel behind the CPU dispatch (dispatch.c), as an X-macro list:
//   KERNEL(name, (parameters), (arguments))              for void functions
//   KERNEL_RET(type, name, (parameters), (arguments))    otherwise
// A kernel added to kernels.h or train_ops.h goes here and into kernels_level.h (the link fails
// otherwise). Both macros are undefined at the end so that the list can be included repeatedly.

// ---- matmul.c, matmul_gemm.c ----
KERNEL(matmul_forward, (float *out, const float *inp, const void *w, arwkv_dtype wt, const float *bias, int T, int C,
                        int OC), (out, inp, w, wt, bias, T, C, OC))
KERNEL(matmul_backward, (float *dinp, float *dw, float *dbias, const float *dout, const float *inp, const float *w,
                         int T, int C, int OC), (dinp, dw, dbias, dout, inp, w, T, C, OC))
KERNEL_RET(double, memory_read_bandwidth, (float *buf, size_t n), (buf, n))

// ---- ops.c ----
KERNEL(rmsnorm_forward, (float *out, float *rstd, const float *inp, const float *weight, float eps, int T, int C),
       (out, rstd, inp, weight, eps, T, C))
KERNEL(embedding_forward, (float *out, const int32_t *ids, const void *table, arwkv_dtype dt, int T, int C, int V),
       (out, ids, table, dt, T, C, V))
KERNEL(rope_forward, (float *x, int pos0, float theta, int T, int H, int hd), (x, pos0, theta, T, H, hd))
KERNEL(rope_rotate, (float *x, int pos0, float theta, int T, int H, int hd, int dir), (x, pos0, theta, T, H, hd, dir))
KERNEL(swiglu_forward, (float *out, const float *gate, const float *up, int T, int F), (out, gate, up, T, F))
KERNEL(attention_forward, (float *out, const float *q, const float *kc, const float *vc, float *scratch, int pos0,
                           int T, int Hq, int Hkv, int hd, int max_ctx),
       (out, q, kc, vc, scratch, pos0, T, Hq, Hkv, hd, max_ctx))
KERNEL(softmax_forward, (float *x, int T, int V), (x, T, V))
KERNEL_RET(double, cross_entropy_forward, (const float *logits, const int32_t *targets, int T, int V),
           (logits, targets, T, V))

// ---- wkv7.c ----
KERNEL(wkv7_forward, (float *out, float *state, float *ckpt, int K, const float *r, const float *wd, const float *k,
                      const float *v, const float *alpha, const float *beta, int T, int H, int N),
       (out, state, ckpt, K, r, wd, k, v, alpha, beta, T, H, N))
KERNEL(wkv7_backward, (float *dr, float *dwd, float *dk, float *dv, float *dalpha, float *dbeta, float *dstate,
                       const float *dout, const float *ckpt, int K, const float *r, const float *wd, const float *k,
                       const float *v, const float *alpha, const float *beta, int T, int H, int N),
       (dr, dwd, dk, dv, dalpha, dbeta, dstate, dout, ckpt, K, r, wd, k, v, alpha, beta, T, H, N))
KERNEL(wkv7_forward_batch, (float *out, float *state, float *ckpt, int K, const float *r, const float *wd,
                            const float *k, const float *v, const float *alpha, const float *beta, int B, int T,
                            int H, int N),
       (out, state, ckpt, K, r, wd, k, v, alpha, beta, B, T, H, N))
KERNEL(wkv7_backward_batch, (float *dr, float *dwd, float *dk, float *dv, float *dalpha, float *dbeta, float *dstate,
                             float *scratch, const float *dout, const float *ckpt, int K, const float *r,
                             const float *wd, const float *k, const float *v, const float *alpha, const float *beta,
                             int B, int T, int H, int N),
       (dr, dwd, dk, dv, dalpha, dbeta, dstate, scratch, dout, ckpt, K, r, wd, k, v, alpha, beta, B, T, H, N))
KERNEL_RET(size_t, wkv7_scratch_floats, (int K, int B, int H, int N), (K, B, H, N))

// ---- train_ops.c ----
KERNEL(rmsnorm_backward, (float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                          const float *rstd, int T, int C), (dinp, dweight, dout, inp, weight, rstd, T, C))
KERNEL(embedding_backward, (float *dtable, const float *dout, const int32_t *ids, int T, int C, int V),
       (dtable, dout, ids, T, C, V))
KERNEL(swiglu_backward, (float *dgate, float *dup, const float *dout, const float *gate, const float *up, int T,
                         int F), (dgate, dup, dout, gate, up, T, F))
KERNEL(rope_backward, (float *dx, int pos0, float theta, int T, int H, int hd), (dx, pos0, theta, T, H, hd))
KERNEL_RET(int, crossentropy_forward, (float *losses, const float *logits, const int32_t *targets, int N, int V),
           (losses, logits, targets, N, V))
KERNEL(crossentropy_backward, (float *dlogits, const float *logits, const int32_t *targets, float scale, int N,
                               int V), (dlogits, logits, targets, scale, N, V))
KERNEL_RET(int, crossentropy_fused, (float *losses, float *logits, const int32_t *targets, float scale, int N,
                                     int V), (losses, logits, targets, scale, N, V))
KERNEL_RET(int, kl_div_forward, (float *losses, const float *student, const float *teacher, const uint8_t *mask,
                                 float tau, int N, int Vs, int Vt), (losses, student, teacher, mask, tau, N, Vs, Vt))
KERNEL(kl_div_backward, (float *dstudent, const float *student, const float *teacher, const uint8_t *mask, float tau,
                         float scale, int N, int Vs, int Vt),
       (dstudent, student, teacher, mask, tau, scale, N, Vs, Vt))

// ---- train_ops_attn.c ----
KERNEL(attention_train_forward, (float *out, float *att, const float *q, const float *k, const float *v, int B, int T,
                                 int Hq, int Hkv, int hd), (out, att, q, k, v, B, T, Hq, Hkv, hd))
KERNEL(attention_train_backward, (float *dq, float *dk, float *dv, float *scratch, const float *dout, const float *q,
                                  const float *k, const float *v, const float *att, int B, int T, int Hq, int Hkv,
                                  int hd), (dq, dk, dv, scratch, dout, q, k, v, att, B, T, Hq, Hkv, hd))

// ---- train_ops_student.c ----
KERNEL(token_shift_forward, (float *out, const float *xn, const float *shift, const float *mix, int M, int B, int T,
                             int D), (out, xn, shift, mix, M, B, T, D))
KERNEL(token_shift_backward, (float *dxn, float *dshift, float *dmix, const float *dout, const float *xn,
                              const float *shift, const float *mix, int M, int B, int T, int D),
       (dxn, dshift, dmix, dout, xn, shift, mix, M, B, T, D))
KERNEL(xp_forward, (float *out, const float *inp, const float *P, int T, int C, int R), (out, inp, P, T, C, R))
KERNEL(xp_backward, (float *dinp, float *dP, const float *dout, const float *inp, const float *P, int T, int C, int R),
       (dinp, dP, dout, inp, P, T, C, R))
KERNEL(tanh_forward, (float *out, const float *inp, size_t n), (out, inp, n))
KERNEL(tanh_backward, (float *dinp, const float *dout, const float *out, size_t n), (dinp, dout, out, n))
KERNEL(sigmoid_forward, (float *out, const float *inp, const float *bias, int T, int C), (out, inp, bias, T, C))
KERNEL(sigmoid_backward, (float *dinp, float *dbias, const float *dout, const float *out, int T, int C),
       (dinp, dbias, dout, out, T, C))
KERNEL(decay_forward, (float *wd, const float *z, const float *w0, int T, int D), (wd, z, w0, T, D))
KERNEL(decay_backward, (float *dz, float *dw0, const float *dwd, const float *z, const float *w0, int T, int D),
       (dz, dw0, dwd, z, w0, T, D))
KERNEL(value_mix_forward, (float *out, const float *v, const float *v_first, const float *z, const float *v0, int T,
                           int D), (out, v, v_first, z, v0, T, D))
KERNEL(value_mix_backward, (float *dv, float *dz, float *dv0, const float *dout, const float *v, const float *v_first,
                            const float *z, const float *v0, int T, int D),
       (dv, dz, dv0, dout, v, v_first, z, v0, T, D))
KERNEL(kk_norm_forward, (float *kk, const float *k, const float *k_k, int T, int H, int N), (kk, k, k_k, T, H, N))
KERNEL(kk_norm_backward, (float *dk, float *dk_k, const float *dkk, const float *k, const float *k_k, int T, int H,
                          int N), (dk, dk_k, dkk, k, k_k, T, H, N))
KERNEL(k_iclr_forward, (float *out, const float *k, const float *a, const float *k_a, int T, int D),
       (out, k, a, k_a, T, D))
KERNEL(k_iclr_backward, (float *dk, float *da, float *dk_a, const float *dout, const float *k, const float *a,
                         const float *k_a, int T, int D), (dk, da, dk_a, dout, k, a, k_a, T, D))
KERNEL(wkv_ab_forward, (float *alpha, float *beta, const float *kk, const float *a, size_t n), (alpha, beta, kk, a, n))
KERNEL(wkv_ab_backward, (float *dkk, float *da, const float *dalpha, const float *dbeta, const float *kk,
                         const float *a, size_t n), (dkk, da, dalpha, dbeta, kk, a, n))
KERNEL(bonus_forward, (float *o, const float *r, const float *k, const float *v, const float *r_k, int T, int H, int N),
       (o, r, k, v, r_k, T, H, N))
KERNEL(bonus_backward, (float *dr, float *dk, float *dv, float *dr_k, const float *dout, const float *r,
                        const float *k, const float *v, const float *r_k, int T, int H, int N),
       (dr, dk, dv, dr_k, dout, r, k, v, r_k, T, H, N))
KERNEL(group_norm_forward, (float *out, float *mean, float *rstd, const float *inp, const float *weight,
                            const float *bias, float eps, int T, int H, int N),
       (out, mean, rstd, inp, weight, bias, eps, T, H, N))
KERNEL(group_norm_backward, (float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                             const float *weight, const float *mean, const float *rstd, int T, int H, int N),
       (dinp, dweight, dbias, dout, inp, weight, mean, rstd, T, H, N))
KERNEL(gate_mul_forward, (float *out, const float *o, const float *g, size_t n), (out, o, g, n))
KERNEL(gate_mul_backward, (float *d_o, float *dg, const float *dout, const float *o, const float *g, size_t n),
       (d_o, dg, dout, o, g, n))

#undef KERNEL
#undef KERNEL_RET
