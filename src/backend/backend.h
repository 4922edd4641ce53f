// The backend seam: every operation model code runs on data goes through one of these tables, so
// the same forward and backward serve the CPU and a GPU. Pointers passed to the ops are buffers
// of the backend (device memory for a GPU backend); only alloc/upload/download cross to the host.
// Op signatures are those of the CPU kernels (kernels/kernels.h, kernels/train_ops.h): row-major,
// explicit shapes, forward ops overwrite their outputs, backward ops accumulate (+=).
#ifndef ARWKV_BACKEND_H
#define ARWKV_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "arwkv.h"

typedef struct backend backend;

struct backend {
    const char *name;   // "cpu", "cuda:0", ...
    int32_t host;       // 1: buffers are host memory (the model may read them directly)

    // ---- memory -------------------------------------------------------------------------------
    void *(*alloc)(size_t bytes);   // 256-byte aligned, uninitialised; NULL when out of memory
    void (*release)(void *p);
    void (*upload)(void *dst, const void *src, size_t bytes);     // host -> backend
    void (*download)(void *dst, const void *src, size_t bytes);   // backend -> host (synchronises)
    void (*copy)(void *dst, const void *src, size_t bytes);       // backend -> backend
    void (*zero)(void *dst, size_t bytes);
    void (*sync)(void);
    // 0, or -1 when an op failed since the backend started (ops return nothing and a GPU's run
    // asynchronously); the error line names the call
    int (*status)(void);
    // the hardware in words ("NVIDIA H200, 140 GiB") and its dense bf16 peak in FLOP/s (0: unknown)
    void (*describe)(char *buf, size_t cap, double *bf16_peak);
    // 1: fp32 matrix products may use reduced-precision units (TF32 on NVIDIA GPUs); 0: exact fp32
    void (*set_fast_math)(int on);

    // ---- matrix products ----------------------------------------------------------------------
    // out (T, OC) = inp (T, C) @ w^T (OC, C) [+ bias (OC)]; w F32/BF16/F16, bias F32 or NULL
    void (*matmul_forward)(float *out, const float *inp, const void *w, arwkv_dtype wt, const float *bias, int T,
                           int C, int OC);
    // dinp (T, C) += dout @ w ; dw (OC, C) += dout^T @ inp ; dbias (OC) += sum_t dout; w F32
    void (*matmul_backward)(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                            const float *w, int T, int C, int OC);
    // LoRA factor product out (T, R) = inp (T, C) @ P (C, R), P stored (in, out)
    void (*xp_forward)(float *out, const float *inp, const float *P, int T, int C, int R);
    void (*xp_backward)(float *dinp, float *dP, const float *dout, const float *inp, const float *P, int T, int C,
                        int R);

    // ---- elementwise and normalisation -------------------------------------------------------
    void (*add)(float *out, const float *a, const float *b, size_t n);   // out = a + b (out may alias a)
    // x (n) rounded in place to dt (ARWKV_F16 or ARWKV_BF16, round to nearest even) and back to fp32
    void (*round_to)(float *x, size_t n, arwkv_dtype dt);
    void (*rmsnorm_forward)(float *out, float *rstd, const float *inp, const float *weight, float eps, int T, int C);
    void (*rmsnorm_backward)(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                             const float *rstd, int T, int C);
    // ids (T) are backend buffers
    void (*embedding_forward)(float *out, const int32_t *ids, const void *table, arwkv_dtype dt, int T, int C, int V);
    void (*embedding_backward)(float *dtable, const float *dout, const int32_t *ids, int T, int C, int V);
    void (*rope_forward)(float *x, int pos0, float theta, int T, int H, int hd);
    void (*rope_backward)(float *dx, int pos0, float theta, int T, int H, int hd);
    void (*swiglu_forward)(float *out, const float *gate, const float *up, int T, int F);
    void (*swiglu_backward)(float *dgate, float *dup, const float *dout, const float *gate, const float *up, int T,
                            int F);

    // ---- attention (teacher) -----------------------------------------------------------------
    // k, v (T, Hkv, hd) rows into the cache (Hkv, max_ctx, hd) at positions pos0..pos0+T-1
    void (*kv_store)(float *kc, float *vc, const float *k, const float *v, int pos0, int T, int Hkv, int hd,
                     int max_ctx);
    // causal attention of T queries at pos0.. over the cache; scratch: attention_scratch_floats()
    void (*attention_forward)(float *out, const float *q, const float *kc, const float *vc, float *scratch, int pos0,
                              int T, int Hq, int Hkv, int hd, int max_ctx);
    size_t (*attention_scratch_floats)(int Hq, int max_ctx);
    void (*attention_train_forward)(float *out, float *att, const float *q, const float *k, const float *v, int B,
                                    int T, int Hq, int Hkv, int hd);
    void (*attention_train_backward)(float *dq, float *dk, float *dv, float *scratch, const float *dout,
                                     const float *q, const float *k, const float *v, const float *att, int B, int T,
                                     int Hq, int Hkv, int hd);

    // ---- RWKV-7 time mix (student) -----------------------------------------------------------
    void (*token_shift_forward)(float *out, const float *xn, const float *shift, const float *mix, int M, int B, int T,
                                int D);
    void (*token_shift_backward)(float *dxn, float *dshift, float *dmix, const float *dout, const float *xn,
                                 const float *shift, const float *mix, int M, int B, int T, int D);
    // last (B, D) = xn[b][T-1] of each sequence: the token shift carried to the next chunk
    void (*shift_store)(float *last, const float *xn, int B, int T, int D);
    void (*tanh_forward)(float *out, const float *inp, size_t n);
    void (*tanh_backward)(float *dinp, const float *dout, const float *out, size_t n);
    void (*sigmoid_forward)(float *out, const float *inp, const float *bias, int T, int C);
    void (*sigmoid_backward)(float *dinp, float *dbias, const float *dout, const float *out, int T, int C);
    void (*decay_forward)(float *wd, const float *z, const float *w0, int T, int D);
    void (*decay_backward)(float *dz, float *dw0, const float *dwd, const float *z, const float *w0, int T, int D);
    void (*value_mix_forward)(float *out, const float *v, const float *v_first, const float *z, const float *v0,
                              int T, int D);
    void (*value_mix_backward)(float *dv, float *dz, float *dv0, const float *dout, const float *v,
                               const float *v_first, const float *z, const float *v0, int T, int D);
    void (*kk_norm_forward)(float *kk, const float *k, const float *k_k, int T, int H, int N);
    void (*kk_norm_backward)(float *dk, float *dk_k, const float *dkk, const float *k, const float *k_k, int T, int H,
                             int N);
    void (*k_iclr_forward)(float *out, const float *k, const float *a, const float *k_a, int T, int D);
    void (*k_iclr_backward)(float *dk, float *da, float *dk_a, const float *dout, const float *k, const float *a,
                            const float *k_a, int T, int D);
    void (*wkv_ab_forward)(float *alpha, float *beta, const float *kk, const float *a, size_t n);
    void (*wkv_ab_backward)(float *dkk, float *da, const float *dalpha, const float *dbeta, const float *kk,
                            const float *a, size_t n);
    // B sequences of T tokens: r..beta, out (B, T, H, N); state (B, H, N, N) in place;
    // ckpt (B, ceil(T/K), H, N, N) or NULL
    void (*wkv7_forward)(float *out, float *state, float *ckpt, int K, const float *r, const float *wd,
                         const float *k, const float *v, const float *alpha, const float *beta, int B, int T, int H,
                         int N);
    // dstate (B, H, N, N) or NULL as wkv7_backward; scratch: wkv7_scratch_floats(K, B, H, N) floats
    void (*wkv7_backward)(float *dr, float *dwd, float *dk, float *dv, float *dalpha, float *dbeta, float *dstate,
                          float *scratch, const float *dout, const float *ckpt, int K, const float *r,
                          const float *wd, const float *k, const float *v, const float *alpha, const float *beta,
                          int B, int T, int H, int N);
    size_t (*wkv7_scratch_floats)(int K, int B, int H, int N);
    void (*bonus_forward)(float *o, const float *r, const float *k, const float *v, const float *r_k, int T, int H,
                          int N);
    void (*bonus_backward)(float *dr, float *dk, float *dv, float *dr_k, const float *dout, const float *r,
                           const float *k, const float *v, const float *r_k, int T, int H, int N);
    void (*group_norm_forward)(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                               const float *bias, float eps, int T, int H, int N);
    void (*group_norm_backward)(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                                const float *weight, const float *mean, const float *rstd, int T, int H, int N);
    void (*gate_mul_forward)(float *out, const float *o, const float *g, size_t n);
    void (*gate_mul_backward)(float *d_o, float *dg, const float *dout, const float *o, const float *g, size_t n);

    // ---- losses (targets, mask: backend buffers) ---------------------------------------------
    int (*crossentropy_fused)(float *losses, float *logits, const int32_t *targets, float scale, int N, int V);
    int (*kl_div_forward)(float *losses, const float *student, const float *teacher, const uint8_t *mask, float tau,
                          int N, int Vs, int Vt);
    void (*kl_div_backward)(float *dstudent, const float *student, const float *teacher, const uint8_t *mask,
                            float tau, float scale, int N, int Vs, int Vt);

    // stage-1 alignment of rows (rows, D): loss (rows) = ||ys - yt|| / sqrt(D) per row, and
    // dy (rows, D) = scale * d loss_row / d ys (overwritten; in double, rounded once)
    void (*align_loss)(float *loss, float *dy, const float *ys, const float *yt, double scale, int rows, int D);

    // ---- optimiser -----------------------------------------------------------------------------
    // sum of squares of g (n), accumulated in double
    double (*sumsq)(const float *g, size_t n);
    // AdamW on one tensor, per element in fp32: g' = g * gscale (clipping); p *= keep (decoupled
    // decay, 1 - lr * wd); m = b1 m + (1 - b1) g'; v = b2 v + (1 - b2) g'^2;
    // p -= step * m / (sqrt(v) * ibc2 + eps), step = lr / (1 - b1^t), ibc2 = 1 / sqrt(1 - b2^t)
    void (*adamw_update)(float *p, const float *g, float *m, float *v, size_t n, float gscale, float keep, float b1,
                         float b2, float step, float ibc2, float eps);
};

// The CPU backend (always present).
const backend *backend_cpu(void);
// A backend by name: "cpu", "cuda" or "cuda:N" (NULL + error when not built in or no such device).
const backend *backend_get(const char *name);

#endif
