// CUDA twins of the CPU kernels behind the backend table (memory, matrix products, the teacher's
// ops, attention, losses, optimiser). Signatures are those of struct backend's fields; every
// pointer is device memory of the current device. Ops are queued on one stream and return
// before the GPU finishes, except download, sync and the ops that return a host value.
#ifndef ARWKV_CUDA_OPS_H
#define ARWKV_CUDA_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "arwkv.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct backend backend;

// The CUDA backend on device N (one device per process); NULL + error when there is none.
const backend *backend_cuda(int device);

// Number of CUDA devices; 0 or -1 with the error "cudaGetDeviceCount: <reason>" when there is none.
int cuda_device_count(void);
// Selects the device and creates the stream, cuBLAS handle and small buffers: 0, or -1 + error.
int cuda_context_init(int device);
// 1 when a CUDA or cuBLAS call failed since init (the error line names the call); ops keep
// queuing after a failure, so callers check this after sync.
int cuda_has_failed(void);
// the backend's status op: -1 after a failure (the error line was set when it happened)
int cuda_status(void);
// the device's name and memory; its dense bf16 peak from a table of known parts (0: unknown)
void cuda_describe(char *buf, size_t cap, double *bf16_peak);
// 1: F32 matrix products use TF32 tensor cores (faster, ~1e-3 relative); 0 (default): full fp32.
void cuda_set_tf32(int on);

// ---- memory ---------------------------------------------------------------------------------
void *cuda_alloc(size_t bytes);
void cuda_release(void *p);
void cuda_upload(void *dst, const void *src, size_t bytes);
void cuda_download(void *dst, const void *src, size_t bytes);
void cuda_copy(void *dst, const void *src, size_t bytes);
void cuda_zero(void *dst, size_t bytes);
void cuda_sync(void);

// ---- matrix products ------------------------------------------------------------------------
// out (T, OC) = inp (T, C) @ w^T (OC, C) [+ bias (OC)]; BF16/F16 weights multiply inp rounded
// to the weight dtype (tensor cores, fp32 accumulation)
void cuda_matmul_forward(float *out, const float *inp, const void *w, arwkv_dtype wt, const float *bias, int T, int C,
                         int OC);
// dinp (T, C) += dout @ w ; dw (OC, C) += dout^T @ inp ; dbias (OC) += sum_t dout
void cuda_matmul_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp, const float *w,
                          int T, int C, int OC);

// ---- elementwise and normalisation ----------------------------------------------------------
void cuda_add(float *out, const float *a, const float *b, size_t n);
void cuda_round_to(float *x, size_t n, arwkv_dtype dt);
void cuda_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, float eps, int T, int C);
void cuda_rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                           const float *rstd, int T, int C);
void cuda_embedding_forward(float *out, const int32_t *ids, const void *table, arwkv_dtype dt, int T, int C, int V);
void cuda_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int T, int C, int V);
void cuda_rope_forward(float *x, int pos0, float theta, int T, int H, int hd);
void cuda_rope_backward(float *dx, int pos0, float theta, int T, int H, int hd);
void cuda_swiglu_forward(float *out, const float *gate, const float *up, int T, int F);
void cuda_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, int T,
                          int F);

// ---- attention (teacher) --------------------------------------------------------------------
void cuda_kv_store(float *kc, float *vc, const float *k, const float *v, int pos0, int T, int Hkv, int hd,
                   int max_ctx);
void cuda_attention_forward(float *out, const float *q, const float *kc, const float *vc, float *scratch, int pos0,
                            int T, int Hq, int Hkv, int hd, int max_ctx);
size_t cuda_attention_scratch_floats(int Hq, int max_ctx);
void cuda_attention_train_forward(float *out, float *att, const float *q, const float *k, const float *v, int B,
                                  int T, int Hq, int Hkv, int hd);
void cuda_attention_train_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout,
                                   const float *q, const float *k, const float *v, const float *att, int B, int T,
                                   int Hq, int Hkv, int hd);

// ---- losses and optimiser -------------------------------------------------------------------
void cuda_align_loss(float *loss, float *dy, const float *ys, const float *yt, double scale, int rows, int D);
int cuda_crossentropy_fused(float *losses, float *logits, const int32_t *targets, float scale, int N, int V);
int cuda_kl_div_forward(float *losses, const float *student, const float *teacher, const uint8_t *mask, float tau,
                        int N, int Vs, int Vt);
void cuda_kl_div_backward(float *dstudent, const float *student, const float *teacher, const uint8_t *mask,
                          float tau, float scale, int N, int Vs, int Vt);
double cuda_sumsq(const float *g, size_t n);
void cuda_adamw_update(float *p, const float *g, float *m, float *v, size_t n, float gscale, float keep, float b1,
                       float b2, float step, float ibc2, float eps);

#ifdef __cplusplus
}
#endif

#endif
