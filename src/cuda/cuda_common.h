// Shared by the CUDA translation units (nvcc, C++): the process-wide device context, error
// recording, launch sizing and block reductions. Ops queue on g_cuda.stream and never abort: a
// failing CUDA or cuBLAS call records a one-line error and sets the sticky g_cuda.failed.
#ifndef ARWKV_CUDA_COMMON_H
#define ARWKV_CUDA_COMMON_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {

int arwkv_set_error(const char *fmt, ...);
int arwkv_wrap_error(const char *fmt, ...);

// One device per process.
typedef struct {
    int device;              // -1 until cuda_context_init succeeds
    cudaStream_t stream;     // every op is queued here, in call order
    cublasHandle_t blas;     // bound to stream
    int tf32;                // 1: F32 GEMMs on TF32 tensor cores (cuda_set_tf32)
    int failed;              // sticky: a CUDA or cuBLAS call failed since init
    void *work;              // grow-only device scratch (cuda_workspace)
    size_t work_bytes;
    double *partials;        // CUDA_MAX_PARTIALS doubles: per-block partial sums read by the host
    int *counter;            // one device int: rows counted by the loss kernels
} cuda_context;

#define CUDA_MAX_PARTIALS 1024

extern cuda_context g_cuda;

// 0 when e/s is success; otherwise records "cuda: <call>: <reason> (file:line)", sets
// g_cuda.failed and returns -1
int cuda_check_status(cudaError_t e, const char *call, const char *file, int line);
int cuda_check_blas(cublasStatus_t s, const char *call, const char *file, int line);
// device scratch of at least bytes, valid until the next call (growing it drops the contents);
// NULL + error when out of memory
void *cuda_workspace(size_t bytes);

}   // extern "C"

#define CUDA_CHECK(call) cuda_check_status((call), #call, __FILE__, __LINE__)
#define CUBLAS_CHECK(call) cuda_check_blas((call), #call, __FILE__, __LINE__)
// after each launch: configuration errors surface here, execution errors at the next sync
#define CUDA_CHECK_LAUNCH(kernel) cuda_check_status(cudaGetLastError(), #kernel " launch", __FILE__, __LINE__)

#define CUDA_BLOCK 256   // threads per block of the elementwise kernels

// blocks for n items at `block` threads each, capped: kernels loop grid-stride over the rest
static inline unsigned cuda_grid_size(size_t n, int block) {
    size_t g = (n + (size_t)block - 1) / (size_t)block;
    return (unsigned)(g < 1 ? 1 : g > 65536 ? 65536 : g);
}

// grid-stride loop of i over [0, n) (size_t), for 1-D launches
#define CUDA_FOR_EACH(i, n) \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)(n); i += (size_t)gridDim.x * blockDim.x)

// ---- reductions: blockDim.x must be a multiple of 32 (at most 1024); every thread of the block
// calls them and every thread gets the result. A sync at entry lets calls follow each other.

__device__ __forceinline__ float cuda_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ double cuda_warp_sum_d(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// NaN is skipped, as the CPU's max
__device__ __forceinline__ float cuda_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ __forceinline__ float cuda_block_sum(float v) {
    __shared__ float part[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = cuda_warp_sum(v);
    __syncthreads();
    if (lane == 0) part[warp] = v;
    __syncthreads();
    return cuda_warp_sum(lane < nw ? part[lane] : 0.0f);
}

__device__ __forceinline__ double cuda_block_sum_d(double v) {
    __shared__ double part[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = cuda_warp_sum_d(v);
    __syncthreads();
    if (lane == 0) part[warp] = v;
    __syncthreads();
    return cuda_warp_sum_d(lane < nw ? part[lane] : 0.0);
}

__device__ __forceinline__ float cuda_block_max(float v) {
    __shared__ float part[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = cuda_warp_max(v);
    __syncthreads();
    if (lane == 0) part[warp] = v;
    __syncthreads();
    return cuda_warp_max(lane < nw ? part[lane] : -INFINITY);
}

#endif
