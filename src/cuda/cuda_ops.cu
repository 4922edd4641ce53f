// CUDA ops of the backend table: the device context, memory, cuBLAS matrix products, the
// teacher's elementwise/normalisation ops, the losses and the optimiser. Each kernel computes
// what its CPU twin in src/kernels/ computes, in the same fp32 operation order where it can.
#include <cuda_fp16.h>
#include <stdio.h>
#include <string.h>

#include "cuda/cuda_common.h"
#include "cuda/cuda_ops.h"

cuda_context g_cuda = {-1};

#define ROW_THREADS 256    // one block per row of a normalisation
#define LOSS_THREADS 512   // one block per vocabulary row
#define COL_X 32           // column sums: 32 columns per block ...
#define COL_Y 8            // ... each summed by 8 threads over strided rows

// ---- context and errors ---------------------------------------------------------------------

int cuda_check_status(cudaError_t e, const char *call, const char *file, int line) {
    if (e == cudaSuccess) return 0;
    g_cuda.failed = 1;
    arwkv_set_error("cuda: %s: %s (%s:%d)", call, cudaGetErrorString(e), file, line);
    return -1;
}

int cuda_check_blas(cublasStatus_t s, const char *call, const char *file, int line) {
    if (s == CUBLAS_STATUS_SUCCESS) return 0;
    g_cuda.failed = 1;
    arwkv_set_error("cuda: %s: %s (%s:%d)", call, cublasGetStatusString(s), file, line);
    return -1;
}

// a bad argument fails the op like a failed call: one line, sticky flag
static void fail_op(const char *op, const char *what) {
    g_cuda.failed = 1;
    arwkv_set_error("cuda %s: %s", op, what);
}

int cuda_device_count(void) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();
        arwkv_set_error("cudaGetDeviceCount: %s", cudaGetErrorString(e));
        return -1;
    }
    if (n == 0) arwkv_set_error("cudaGetDeviceCount: 0 devices");
    return n;
}

int cuda_context_init(int device) {
    if (g_cuda.device >= 0) {
        if (device == g_cuda.device) return 0;
        return arwkv_set_error("cuda:%d: this process already uses cuda:%d (one device per process)", device,
                               g_cuda.device);
    }
    int n = cuda_device_count();
    if (n <= 0) return arwkv_wrap_error("cuda:%d: no CUDA device", device);
    if (device < 0 || device >= n) return arwkv_set_error("cuda:%d: no such device (%d found)", device, n);
    // a blocking stream: work queued on the legacy default stream still orders with it
    if (CUDA_CHECK(cudaSetDevice(device)) || CUDA_CHECK(cudaStreamCreate(&g_cuda.stream)) ||
        CUBLAS_CHECK(cublasCreate(&g_cuda.blas)) || CUBLAS_CHECK(cublasSetStream(g_cuda.blas, g_cuda.stream)) ||
        CUDA_CHECK(cudaMalloc((void **)&g_cuda.partials, CUDA_MAX_PARTIALS * sizeof(double))) ||
        CUDA_CHECK(cudaMalloc((void **)&g_cuda.counter, sizeof(int))))
        return -1;
    g_cuda.device = device;
    g_cuda.failed = 0;
    return 0;
}

int cuda_has_failed(void) { return g_cuda.failed; }

int cuda_status(void) { return g_cuda.failed ? -1 : 0; }

void cuda_describe(char *buf, size_t cap, double *bf16_peak) {
    // dense bf16 tensor-core peaks of the SXM parts, from their data sheets
    static const struct {
        const char *part;
        double peak;
    } peaks[] = {{"H200", 989.4e12}, {"H100", 989.4e12}, {"A100", 312e12}, {"L40S", 362e12}};
    cudaDeviceProp p;
    *bf16_peak = 0;
    if (g_cuda.device < 0 || cudaGetDeviceProperties(&p, g_cuda.device) != cudaSuccess) {
        snprintf(buf, cap, "cuda (no device)");
        return;
    }
    snprintf(buf, cap, "%s, %.0f GiB", p.name, p.totalGlobalMem / 1073741824.0);
    for (size_t i = 0; i < sizeof peaks / sizeof peaks[0]; i++)
        if (strstr(p.name, peaks[i].part)) *bf16_peak = peaks[i].peak;
}

void cuda_set_tf32(int on) { g_cuda.tf32 = on != 0; }

void *cuda_workspace(size_t bytes) {
    if (bytes <= g_cuda.work_bytes) return g_cuda.work;
    if (g_cuda.work) {
        // queued kernels may still read the old buffer
        CUDA_CHECK(cudaStreamSynchronize(g_cuda.stream));
        CUDA_CHECK(cudaFree(g_cuda.work));
        g_cuda.work = NULL;
        g_cuda.work_bytes = 0;
    }
    size_t want = (bytes + ((size_t)1 << 20) - 1) & ~(((size_t)1 << 20) - 1);
    void *p = cuda_alloc(want);
    if (!p) return NULL;
    g_cuda.work = p;
    g_cuda.work_bytes = want;
    return p;
}

// ---- memory ---------------------------------------------------------------------------------

// cudaMalloc returns 256-byte aligned blocks; out of memory is not sticky, so it only sets the error
void *cuda_alloc(size_t bytes) {
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        cudaGetLastError();
        arwkv_set_error("cuda: cudaMalloc(%zu bytes): %s", bytes, cudaGetErrorString(e));
        return NULL;
    }
    return p;
}

void cuda_release(void *p) {
    if (p) CUDA_CHECK(cudaFree(p));
}

// synchronising: the host buffer may be reused as soon as this returns
void cuda_upload(void *dst, const void *src, size_t bytes) {
    if (!bytes) return;
    if (!CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, g_cuda.stream)))
        CUDA_CHECK(cudaStreamSynchronize(g_cuda.stream));
}

void cuda_download(void *dst, const void *src, size_t bytes) {
    if (!bytes) return;
    if (!CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, g_cuda.stream)))
        CUDA_CHECK(cudaStreamSynchronize(g_cuda.stream));
}

void cuda_copy(void *dst, const void *src, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, g_cuda.stream));
}

void cuda_zero(void *dst, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, g_cuda.stream));
}

void cuda_sync(void) {
    if (!CUDA_CHECK(cudaStreamSynchronize(g_cuda.stream))) CUDA_CHECK(cudaGetLastError());
}

// ---- fp16 / bf16 ----------------------------------------------------------------------------

// bit for bit core.h's f32_to_bf16: round to nearest even, NaN stays NaN
__device__ __forceinline__ uint16_t bf16_from_f32(float f) {
    uint32_t u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
__device__ __forceinline__ float bf16_to_f32(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }
__device__ __forceinline__ uint16_t f16_from_f32(float f) { return __half_as_ushort(__float2half_rn(f)); }
__device__ __forceinline__ float f16_to_f32(uint16_t h) { return __half2float(__ushort_as_half(h)); }

// out (n) = in rounded to dt (F16 or BF16), stored as 16-bit words
__global__ void to_half_kernel(uint16_t *out, const float *in, size_t n, int dt) {
    CUDA_FOR_EACH(i, n) out[i] = dt == ARWKV_BF16 ? bf16_from_f32(in[i]) : f16_from_f32(in[i]);
}

__global__ void round_to_kernel(float *x, size_t n, int dt) {
    CUDA_FOR_EACH(i, n) x[i] = dt == ARWKV_BF16 ? bf16_to_f32(bf16_from_f32(x[i])) : f16_to_f32(f16_from_f32(x[i]));
}

void cuda_round_to(float *x, size_t n, arwkv_dtype dt) {
    if (!n || (dt != ARWKV_F16 && dt != ARWKV_BF16)) return;   // other dtypes leave x as is, as on the CPU
    round_to_kernel<<<cuda_grid_size(n, CUDA_BLOCK), CUDA_BLOCK, 0, g_cuda.stream>>>(x, n, dt);
    CUDA_CHECK_LAUNCH(round_to_kernel);
}

// ---- matrix products ------------------------------------------------------------------------

// acc (C) += sum_t a[t] (T, C), or sum_t a[t] * b[t] * rs[t] when b is given: the bias and
// norm-weight gradients. Block (COL_X, COL_Y) owns COL_X columns: no atomics, fixed order.
__global__ void colsum_kernel(float *acc, const float *a, const float *b, const float *rs, int T, int C) {
    __shared__ float part[COL_Y][COL_X];
    int j = blockIdx.x * COL_X + threadIdx.x;
    float s = 0.0f;
    if (j < C)
        for (int t = threadIdx.y; t < T; t += COL_Y) {
            size_t k = (size_t)t * C + j;
            s += b ? a[k] * b[k] * rs[t] : a[k];
        }
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && j < C) {
        float tot = 0.0f;
        for (int y = 0; y < COL_Y; y++) tot += part[y][threadIdx.x];
        acc[j] += tot;
    }
}

static void colsum(float *acc, const float *a, const float *b, const float *rs, int T, int C) {
    colsum_kernel<<<(C + COL_X - 1) / COL_X, dim3(COL_X, COL_Y), 0, g_cuda.stream>>>(acc, a, b, rs, T, C);
    CUDA_CHECK_LAUNCH(colsum_kernel);
}

// out (T, OC) += bias (OC) on every row
__global__ void add_bias_kernel(float *out, const float *bias, size_t n, int OC) {
    CUDA_FOR_EACH(i, n) out[i] += bias[i % OC];
}

// fp32 products stay in full fp32 (parity with the CPU) unless TF32 was asked for
static cublasComputeType_t f32_compute(void) {
    return g_cuda.tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F_PEDANTIC;
}

// Row-major (T, OC) = (T, C) @ w^T is, column-major, out^T (OC, T) = w^T (OC, C) @ inp^T (C, T):
// w read as column-major (C, OC) and transposed, inp as column-major (C, T).
void cuda_matmul_forward(float *out, const float *inp, const void *w, arwkv_dtype wt, const float *bias, int T, int C,
                         int OC) {
    if (T <= 0 || OC <= 0) return;
    const float one = 1.0f, zero = 0.0f;
    size_t n = (size_t)T * OC;
    if (C <= 0) {
        cuda_zero(out, n * sizeof(float));
    } else if (wt == ARWKV_F32) {
        CUBLAS_CHECK(cublasGemmEx(g_cuda.blas, CUBLAS_OP_T, CUBLAS_OP_N, OC, T, C, &one, w, CUDA_R_32F, C, inp,
                                  CUDA_R_32F, C, &zero, out, CUDA_R_32F, OC, f32_compute(), CUBLAS_GEMM_DEFAULT));
    } else if (wt == ARWKV_BF16 || wt == ARWKV_F16) {
        // cuBLAS multiplies equal input types: inp goes to the weight dtype in the workspace
        size_t ni = (size_t)T * C;
        uint16_t *x = (uint16_t *)cuda_workspace(ni * sizeof(uint16_t));
        if (!x) {
            g_cuda.failed = 1;
            return;
        }
        to_half_kernel<<<cuda_grid_size(ni, CUDA_BLOCK), CUDA_BLOCK, 0, g_cuda.stream>>>(x, inp, ni, wt);
        if (CUDA_CHECK_LAUNCH(to_half_kernel)) return;
        cudaDataType ht = wt == ARWKV_BF16 ? CUDA_R_16BF : CUDA_R_16F;
        CUBLAS_CHECK(cublasGemmEx(g_cuda.blas, CUBLAS_OP_T, CUBLAS_OP_N, OC, T, C, &one, w, ht, C, x, ht, C, &zero,
                                  out, CUDA_R_32F, OC, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    } else {
        fail_op("matmul_forward", "weight dtype is not F32, BF16 or F16");
        return;
    }
    if (bias) {
        add_bias_kernel<<<cuda_grid_size(n, CUDA_BLOCK), CUDA_BLOCK, 0, g_cuda.stream>>>(out, bias, n, OC);
        CUDA_CHECK_LAUNCH(add_bias_kernel);
    }
}

// column-major: dinp^T (C, T) += w^T (C, OC) @ dout^T (OC, T); dw^T (C, OC) += inp^T (C, T) @ dout (T, OC)
void cuda_matmul_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp, const float *w,
                          int T, int C, int OC) {
    if (T <= 0 || C < 0 || OC <= 0) return;
    const float one = 1.0f;
    if (dbias) colsum(dbias, dout, NULL, NULL, T, OC);
    if (C == 0) return;
    if (dinp)
        CUBLAS_CHECK(cublasGemmEx(g_cuda.blas, CUBLAS_OP_N, CUBLAS_OP_N, C, T, OC, &one, w, CUDA_R_32F, C, dout,
                                  CUDA_R_32F, OC, &one, dinp, CUDA_R_32F, C, f32_compute(), CUBLAS_GEMM_DEFAULT));
    if (dw)
        CUBLAS_CHECK(cublasGemmEx(g_cuda.blas, CUBLAS_OP_N, CUBLAS_OP_T, C, OC, T, &one, inp, CUDA_R_32F, C, dout,
                                  CUDA_R_32F, OC, &one, dw, CUDA_R_32F, C, f32_compute(), CUBLAS_GEMM_DEFAULT));
}

// ---- elementwise and normalisation ----------------------------------------------------------

// block per row: the row's distance in double, then its gradient
__global__ void align_loss_kernel(float *loss, float *dy, const float *ys, const float *yt, double scale, int D) {
    const size_t o = (size_t)blockIdx.x * D;
    double s = 0;
    for (int j = threadIdx.x; j < D; j += blockDim.x) {
        double d = (double)ys[o + j] - yt[o + j];
        s += d * d;
    }
    s = cuda_block_sum_d(s);
    double isd = 1.0 / sqrt((double)D), nrm = sqrt(s), k = nrm > 0 ? scale * isd / nrm : 0;
    if (threadIdx.x == 0) loss[blockIdx.x] = (float)(nrm * isd);
    for (int j = threadIdx.x; j < D; j += blockDim.x) dy[o + j] = (float)(k * ((double)ys[o + j] - yt[o + j]));
}

void cuda_align_loss(float *loss, float *dy, const float *ys, const float *yt, double scale, int rows, int D) {
    if (rows <= 0) return;
    align_loss_kernel<<<rows, CUDA_BLOCK, 0, g_cuda.stream>>>(loss, dy, ys, yt, scale, D);
    CUDA_CHECK_LAUNCH(align_loss_kernel);
}

__global__ void add_kernel(float *out, const float *a, const float *b, size_t n) {
    CUDA_FOR_EACH(i, n) out[i] = a[i] + b[i];
}

void cuda_add(float *out, const float *a, const float *b, size_t n) {
    if (!n) return;
    add_kernel<<<cuda_grid_size(n, CUDA_BLOCK), CUDA_BLOCK, 0, g_cuda.stream>>>(out, a, b, n);
    CUDA_CHECK_LAUNCH(add_kernel);
}

// block per row t: out = x / sqrt(mean(x^2) + eps) * weight; out may alias inp
__global__ void rmsnorm_forward_kernel(float *out, float *rstd, const float *inp, const float *weight, float eps,
                                       int C) {
    const float *x = inp + (size_t)blockIdx.x * C;
    float *o = out + (size_t)blockIdx.x * C;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < C; i += blockDim.x) ss += x[i] * x[i];
    ss = cuda_block_sum(ss);
    float r = 1.0f / sqrtf(ss / C + eps);
    for (int i = threadIdx.x; i < C; i += blockDim.x) o[i] = x[i] * r * weight[i];
    if (rstd && threadIdx.x == 0) rstd[blockIdx.x] = r;
}

void cuda_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, float eps, int T, int C) {
    if (T <= 0) return;
    rmsnorm_forward_kernel<<<T, ROW_THREADS, 0, g_cuda.stream>>>(out, rstd, inp, weight, eps, C);
    CUDA_CHECK_LAUNCH(rmsnorm_forward_kernel);
}

// block per row: dx += r * (w dy - x * r^2 * sum(w dy x) / C)
__global__ void rmsnorm_backward_kernel(float *dinp, const float *dout, const float *inp, const float *weight,
                                        const float *rstd, int C) {
    size_t off = (size_t)blockIdx.x * C;
    const float *x = inp + off, *dy = dout + off;
    float *dx = dinp + off;
    float r = rstd[blockIdx.x], dot = 0.0f;
    for (int i = threadIdx.x; i < C; i += blockDim.x) dot += weight[i] * dy[i] * x[i];
    dot = cuda_block_sum(dot);
    float c = r * r * dot / (float)C;
    for (int i = threadIdx.x; i < C; i += blockDim.x) dx[i] += r * (weight[i] * dy[i] - x[i] * c);
}

void cuda_rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                           const float *rstd, int T, int C) {
    if (T <= 0 || C <= 0) return;
    if (dinp) {
        rmsnorm_backward_kernel<<<T, ROW_THREADS, 0, g_cuda.stream>>>(dinp, dout, inp, weight, rstd, C);
        CUDA_CHECK_LAUNCH(rmsnorm_backward_kernel);
    }
    if (dweight) colsum(dweight, dout, inp, rstd, T, C);
}

// ids outside [0, V) read row 0, as the CPU does (callers validate ids)
__global__ void embedding_forward_kernel(float *out, const int32_t *ids, const void *table, int dt, int C, int V,
                                         size_t n) {
    CUDA_FOR_EACH(i, n) {
        size_t t = i / C, c = i % C;
        int id = ids[t] < 0 || ids[t] >= V ? 0 : ids[t];
        size_t k = (size_t)id * C + c;
        out[i] = dt == ARWKV_F32    ? ((const float *)table)[k]
                 : dt == ARWKV_BF16 ? bf16_to_f32(((const uint16_t *)table)[k])
                                    : f16_to_f32(((const uint16_t *)table)[k]);
    }
}

void cuda_embedding_forward(float *out, const int32_t *ids, const void *table, arwkv_dtype dt, int T, int C, int V) {
    if (T <= 0 || C <= 0) return;
    if (dt != ARWKV_F32 && dt != ARWKV_BF16 && dt != ARWKV_F16) {
        fail_op("embedding_forward", "table dtype is not F32, BF16 or F16");
        return;
    }
    size_t n = (size_t)T * C;
    embedding_forward_kernel<<<cuda_grid_size(n, CUDA_BLOCK), CUDA_BLOCK, 0, g_cuda.stream>>>(out, ids, table, dt,
                                                                                              C, V, n);
    CUDA_CHECK_LAUNCH(embedding_forward_kernel);
}

// a token id may repeat within the batch: rows are accumulated atomically
__global__ void embedding_backward_kernel(float *dtable, const float *dout, const int32_t *ids, int C, int V,
                                          size_t n) {
    CUDA_FOR_EACH(i, n) {
        int id = ids[i / C];
        if (id >= 0 && id < V) atomicAdd(dtable + (size_t)id * C + i % C, dout[i]);
    }
}

void cuda_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int T, int C, int V) {
    if (T <= 0 || C <= 0) return;
    size_t n = (size_t)T * C;
    embedding_backward_kernel<<<cuda_grid_size(n, CUDA_BLOCK), CUDA_BLOCK, 0, g_cuda.stream>>>(dtable, dout, ids,
                                                                                               C, V, n);
    CUDA_CHECK_LAUNCH(embedding_backward_kernel);
}

// thread per (t, i < hd/2): the angle in double as rope_rotate computes it, then all H heads
__global__ void rope_kernel(float *x, int pos0, float theta, int T, int H, int hd, int dir) {
    int half = hd / 2;
    CUDA_FOR_EACH(j, (size_t)T * half) {
        int t = (int)(j / half), i = (int)(j % half);
        double p = (double)(pos0 + t);
        double f = p * pow((double)theta, -2.0 * i / hd);
        float c = (float)cos(f), s = dir * (float)sin(f);
        for (int h = 0; h < H; h++) {
            float *u = x + ((size_t)t * H + h) * hd;
            float a = u[i], b = u[i + half];
            u[i] = a * c - b * s;
            u[i + half] = b * c + a * s;
        }
    }
}

static void rope(float *x, int pos0, float theta, int T, int H, int hd, int dir) {
    if (T <= 0 || H <= 0 || hd < 2) return;
    size_t n = (size_t)T * (hd / 2);
    rope_kernel<<<cuda_grid_size(n, CUDA_BLOCK), CUDA_BLOCK, 0, g_cuda.stream>>>(x, pos0, theta, T, H, hd, dir);
    CUDA_CHECK_LAUNCH(rope_kernel);
}

void cuda_rope_forward(float *x, int pos0, float theta, int T, int H, int hd) { rope(x, pos0, theta, T, H, hd, 1); }
void cuda_rope_backward(float *dx, int pos0, float theta, int T, int H, int hd) { rope(dx, pos0, theta, T, H, hd, -1); }

__global__ void swiglu_forward_kernel(float *out, const float *gate, const float *up, size_t n) {
    CUDA_FOR_EACH(i, n) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void cuda_swiglu_forward(float *out, const float *gate, const float *up, int T, int F) {
    size_t n = (size_t)(T > 0 ? T : 0) * (F > 0 ? F : 0);
    if (!n) return;
    swiglu_forward_kernel<<<cuda_grid_size(n, CUDA_BLOCK), CUDA_BLOCK, 0, g_cuda.stream>>>(out, gate, up, n);
    CUDA_CHECK_LAUNCH(swiglu_forward_kernel);
}

// silu'(g) = s (1 + g (1 - s)), s = sigmoid(g)
__global__ void swiglu_backward_kernel(float *dgate, float *dup, const float *dout, const float *gate,
                                       const float *up, size_t n) {
    CUDA_FOR_EACH(i, n) {
        float g = gate[i], s = 1.0f / (1.0f + expf(-g)), dy = dout[i];
        if (dgate) dgate[i] += dy * up[i] * s * (1.0f + g * (1.0f - s));
        if (dup) dup[i] += dy * g * s;
    }
}

void cuda_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, int T,
                          int F) {
    size_t n = (size_t)(T > 0 ? T : 0) * (F > 0 ? F : 0);
    if (!n || (!dgate && !dup)) return;
    swiglu_backward_kernel<<<cuda_grid_size(n, CUDA_BLOCK), CUDA_BLOCK, 0, g_cuda.stream>>>(dgate, dup, dout, gate,
                                                                                            up, n);
    CUDA_CHECK_LAUNCH(swiglu_backward_kernel);
}

// ---- losses ---------------------------------------------------------------------------------

// log-sum-exp of x[0..n) / tau over the block, max-shifted as the CPU's row_lse
__device__ float block_row_lse(const float *x, int n, float inv_tau) {
    float mx = -INFINITY, s = 0.0f;
    for (int j = threadIdx.x; j < n; j += blockDim.x) mx = fmaxf(mx, x[j]);
    mx = cuda_block_max(mx) * inv_tau;
    for (int j = threadIdx.x; j < n; j += blockDim.x) s += expf(fmaf(inv_tau, x[j], -mx));
    return mx + logf(cuda_block_sum(s));
}

// block per row: loss, then the row overwritten by scale * (softmax - onehot)
__global__ void crossentropy_fused_kernel(float *losses, float *logits, const int32_t *targets, float scale, int V,
                                          int *count) {
    float *x = logits + (size_t)blockIdx.x * V;
    int tg = targets[blockIdx.x];
    if (tg < 0 || tg >= V) {
        for (int j = threadIdx.x; j < V; j += blockDim.x) x[j] = 0.0f;
        if (threadIdx.x == 0) losses[blockIdx.x] = 0.0f;
        return;
    }
    float lse = block_row_lse(x, V, 1.0f);
    if (threadIdx.x == 0) {
        losses[blockIdx.x] = lse - x[tg];
        atomicAdd(count, 1);
    }
    __syncthreads();   // x[tg] is read above before its thread overwrites it
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        float g = expf(x[j] - lse) * scale;
        x[j] = j == tg ? g - scale : g;
    }
}

// the rows counted by the last loss kernel (synchronises)
static int counter_read(void) {
    int c = 0;
    if (CUDA_CHECK(cudaMemcpyAsync(&c, g_cuda.counter, sizeof c, cudaMemcpyDeviceToHost, g_cuda.stream)) ||
        CUDA_CHECK(cudaStreamSynchronize(g_cuda.stream)))
        return 0;
    return c;
}

int cuda_crossentropy_fused(float *losses, float *logits, const int32_t *targets, float scale, int N, int V) {
    if (N <= 0 || V <= 0) return 0;
    if (CUDA_CHECK(cudaMemsetAsync(g_cuda.counter, 0, sizeof(int), g_cuda.stream))) return 0;
    crossentropy_fused_kernel<<<N, LOSS_THREADS, 0, g_cuda.stream>>>(losses, logits, targets, scale, V,
                                                                      g_cuda.counter);
    if (CUDA_CHECK_LAUNCH(crossentropy_fused_kernel)) return 0;
    return counter_read();
}

// block per row: tau^2 * sum_v p (log p - log q), p = softmax(teacher[:Vs] / tau), q = softmax(student / tau)
__global__ void kl_div_forward_kernel(float *losses, const float *student, const float *teacher, const uint8_t *mask,
                                      float tau, int Vs, int Vt, int *count) {
    if (mask && !mask[blockIdx.x]) {
        if (threadIdx.x == 0) losses[blockIdx.x] = 0.0f;
        return;
    }
    const float *s = student + (size_t)blockIdx.x * Vs, *te = teacher + (size_t)blockIdx.x * Vt;
    float inv_tau = 1.0f / tau;
    float lse_s = block_row_lse(s, Vs, inv_tau), lse_t = block_row_lse(te, Vs, inv_tau), kl = 0.0f;
    for (int j = threadIdx.x; j < Vs; j += blockDim.x) {
        float p = expf(fmaf(inv_tau, te[j], -lse_t));
        kl += p * ((te[j] - s[j]) * inv_tau - lse_t + lse_s);
    }
    kl = cuda_block_sum(kl);
    if (threadIdx.x == 0) {
        losses[blockIdx.x] = tau * tau * kl;
        atomicAdd(count, 1);
    }
}

int cuda_kl_div_forward(float *losses, const float *student, const float *teacher, const uint8_t *mask, float tau,
                        int N, int Vs, int Vt) {
    if (N <= 0) return 0;
    if (Vs <= 0 || Vt < Vs) {
        fail_op("kl_div_forward", "teacher vocabulary smaller than the student's");
        return 0;
    }
    if (CUDA_CHECK(cudaMemsetAsync(g_cuda.counter, 0, sizeof(int), g_cuda.stream))) return 0;
    kl_div_forward_kernel<<<N, LOSS_THREADS, 0, g_cuda.stream>>>(losses, student, teacher, mask, tau, Vs, Vt,
                                                                  g_cuda.counter);
    if (CUDA_CHECK_LAUNCH(kl_div_forward_kernel)) return 0;
    return counter_read();
}

// block per row: ds += scale * tau * (q - p)
__global__ void kl_div_backward_kernel(float *dstudent, const float *student, const float *teacher,
                                       const uint8_t *mask, float tau, float scale, int Vs, int Vt) {
    if (mask && !mask[blockIdx.x]) return;
    const float *s = student + (size_t)blockIdx.x * Vs, *te = teacher + (size_t)blockIdx.x * Vt;
    float *ds = dstudent + (size_t)blockIdx.x * Vs;
    float inv_tau = 1.0f / tau, c = scale * tau;
    float lse_s = block_row_lse(s, Vs, inv_tau), lse_t = block_row_lse(te, Vs, inv_tau);
    for (int j = threadIdx.x; j < Vs; j += blockDim.x) {
        float q = expf(fmaf(inv_tau, s[j], -lse_s)), p = expf(fmaf(inv_tau, te[j], -lse_t));
        ds[j] += c * (q - p);
    }
}

void cuda_kl_div_backward(float *dstudent, const float *student, const float *teacher, const uint8_t *mask,
                          float tau, float scale, int N, int Vs, int Vt) {
    if (N <= 0) return;
    if (Vs <= 0 || Vt < Vs) {
        fail_op("kl_div_backward", "teacher vocabulary smaller than the student's");
        return;
    }
    kl_div_backward_kernel<<<N, LOSS_THREADS, 0, g_cuda.stream>>>(dstudent, student, teacher, mask, tau, scale, Vs,
                                                                   Vt);
    CUDA_CHECK_LAUNCH(kl_div_backward_kernel);
}

// ---- optimiser ------------------------------------------------------------------------------

// partial[block] = sum of g^2 over the block's grid-stride share, in double
__global__ void sumsq_kernel(double *partial, const float *g, size_t n) {
    double s = 0.0;
    CUDA_FOR_EACH(i, n) s += (double)g[i] * g[i];
    s = cuda_block_sum_d(s);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

double cuda_sumsq(const float *g, size_t n) {
    if (!n) return 0.0;
    unsigned nb = cuda_grid_size(n, CUDA_BLOCK);
    if (nb > CUDA_MAX_PARTIALS) nb = CUDA_MAX_PARTIALS;
    double part[CUDA_MAX_PARTIALS], s = 0.0;
    sumsq_kernel<<<nb, CUDA_BLOCK, 0, g_cuda.stream>>>(g_cuda.partials, g, n);
    if (CUDA_CHECK_LAUNCH(sumsq_kernel) ||
        CUDA_CHECK(cudaMemcpyAsync(part, g_cuda.partials, nb * sizeof(double), cudaMemcpyDeviceToHost,
                                   g_cuda.stream)) ||
        CUDA_CHECK(cudaStreamSynchronize(g_cuda.stream)))
        return 0.0;
    for (unsigned b = 0; b < nb; b++) s += part[b];
    return s;
}

__global__ void adamw_kernel(float *p, const float *g, float *m, float *v, size_t n, float gscale, float keep,
                             float b1, float b2, float step, float ibc2, float eps) {
    CUDA_FOR_EACH(j, n) {
        float gj = g[j] * gscale, pj = p[j] * keep;
        float mj = b1 * m[j] + (1.0f - b1) * gj, vj = b2 * v[j] + (1.0f - b2) * gj * gj;
        m[j] = mj;
        v[j] = vj;
        p[j] = pj - step * mj / (sqrtf(vj) * ibc2 + eps);
    }
}

void cuda_adamw_update(float *p, const float *g, float *m, float *v, size_t n, float gscale, float keep, float b1,
                       float b2, float step, float ibc2, float eps) {
    if (!n) return;
    adamw_kernel<<<cuda_grid_size(n, CUDA_BLOCK), CUDA_BLOCK, 0, g_cuda.stream>>>(p, g, m, v, n, gscale, keep, b1, b2,
                                                                                  step, ibc2, eps);
    CUDA_CHECK_LAUNCH(adamw_kernel);
}
