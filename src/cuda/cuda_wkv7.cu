// RWKV-7 WKV scan on the GPU (CPU twin: kernels/wkv7.c). One thread block per (sequence, head)
// with N threads walks the tokens in order.
// Forward: thread i owns row i of the state S (N x N, row = value channel) in registers, so
// sa_i = S_i . alpha and out_i = S_i . r need no cross-thread reduction; the per-token vectors
// of a chunk of tokens are staged in shared memory, read by every thread.
// Backward: per K-token chunk, the states before each token are recomputed from the checkpoint
// into global scratch (row i by thread i, as the forward), then G = dL/dS (shared memory) is walked
// backwards: row sums with thread i owning row i, column sums with thread j owning column j.
// N = 64 and N = 32 keep the state row in registers; other N keep it in global memory, up to
// what shared memory holds (G is N x N: N <= ~200 on sm_90; larger N fail with an error).
#include "cuda/cuda_common.h"
#include "cuda/cuda_rwkv.h"

enum { IN_R, IN_WD, IN_K, IN_V, IN_A, IN_B, NIN };   // the per-token inputs, in wkv_in order
#define FWD_CHUNK 16                                 // tokens staged at once by the forward
#define BWD_CHUNK 8                                  // ... by the backward's recomputation

typedef struct {
    const float *x[NIN];   // r, wd, k, v, alpha, beta: (B, T, H, N)
} wkv_in;

typedef struct {
    float *d[NIN];         // dr, dwd, dk, dv, dalpha, dbeta (B, T, H, N), NULL: skipped
} wkv_grads;

// offset of channel 0 of token t of sequence b, head h in a (B, T, H, N) tensor
__device__ __forceinline__ size_t tok_off(int b, int t, int h, int T, int H, int N) {
    return (((size_t)b * T + t) * H + h) * N;
}

// tok (cnt, NIN, N) = inputs first.. of tokens [t0, t0 + cnt); thread j loads channel j
__device__ __forceinline__ void stage_tokens(float *tok, const wkv_in &in, int first, int b, int h, int t0, int cnt,
                                             int T, int H, int N) {
    const int j = threadIdx.x;
    for (int q = 0; q < cnt; q++) {
        const size_t o = tok_off(b, t0 + q, h, T, H, N) + j;
        for (int x = first; x < NIN; x++) tok[((size_t)q * NIN + x) * N + j] = in.x[x][o];
    }
}

// ---- one state row (NT > 0: n == NT, a multiple of 4, unrolled over registers) --------------
template <int NT>
__device__ __forceinline__ void row_copy(float *dst, const float *src, int n) {
    if constexpr (NT > 0) {
#pragma unroll
        for (int j = 0; j < NT; j++) dst[j] = src[j];
    } else {
        for (int j = 0; j < n; j++) dst[j] = src[j];
    }
}

// row . x, x in shared memory
template <int NT>
__device__ __forceinline__ float row_dot(const float *row, const float *x, int n) {
    if constexpr (NT > 0) {
        float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;   // four chains hide the FMA latency
#pragma unroll
        for (int j = 0; j < NT; j += 4) {
            const float4 v = *reinterpret_cast<const float4 *>(x + j);
            a0 = fmaf(row[j], v.x, a0);
            a1 = fmaf(row[j + 1], v.y, a1);
            a2 = fmaf(row[j + 2], v.z, a2);
            a3 = fmaf(row[j + 3], v.w, a3);
        }
        return (a0 + a1) + (a2 + a3);
    } else {
        float a = 0.0f;
        for (int j = 0; j < n; j++) a = fmaf(row[j], x[j], a);
        return a;
    }
}

// dst = src diag(wd) + sa beta^T + vi k^T for one row of one staged token x (NIN, n); returns
// dst . r when OUT. dst may equal src.
template <int NT, bool OUT>
__device__ __forceinline__ float row_update(float *dst, const float *src, float sa, float vi, const float *x, int n) {
    const float *wd = x + IN_WD * n, *k = x + IN_K * n, *be = x + IN_B * n, *r = x + IN_R * n;
    if constexpr (NT > 0) {
        float a[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
#pragma unroll
        for (int j = 0; j < NT; j += 4) {
            const float4 w4 = *reinterpret_cast<const float4 *>(wd + j), b4 = *reinterpret_cast<const float4 *>(be + j);
            const float4 k4 = *reinterpret_cast<const float4 *>(k + j);
            const float wv[4] = { w4.x, w4.y, w4.z, w4.w }, bv[4] = { b4.x, b4.y, b4.z, b4.w };
            const float kv[4] = { k4.x, k4.y, k4.z, k4.w };
            float rv[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
            if constexpr (OUT) {
                const float4 r4 = *reinterpret_cast<const float4 *>(r + j);
                rv[0] = r4.x, rv[1] = r4.y, rv[2] = r4.z, rv[3] = r4.w;
            }
#pragma unroll
            for (int q = 0; q < 4; q++) {
                const float y = fmaf(vi, kv[q], fmaf(sa, bv[q], src[j + q] * wv[q]));
                dst[j + q] = y;
                if constexpr (OUT) a[q] = fmaf(y, rv[q], a[q]);
            }
        }
        return (a[0] + a[1]) + (a[2] + a[3]);
    } else {
        float a = 0.0f;
        for (int j = 0; j < n; j++) {
            const float y = fmaf(vi, k[j], fmaf(sa, be[j], src[j] * wd[j]));
            dst[j] = y;
            if constexpr (OUT) a = fmaf(y, r[j], a);
        }
        return a;
    }
}

// ---- forward --------------------------------------------------------------------------------
// shared: tok (FWD_CHUNK, NIN, N)
template <int NT>
__global__ void __launch_bounds__(NT > 0 ? NT : 1024)
    wkv7_forward_kernel(float *out, float *state, float *ckpt, int K, wkv_in in, int T, int H, int N) {
    extern __shared__ float4 smem4[];
    float *tok = reinterpret_cast<float *>(smem4);
    const int b = blockIdx.x / H, h = blockIdx.x % H, i = threadIdx.x;
    const size_t NN = (size_t)N * N;
    const int nck = (T + K - 1) / K;
    float *Si = state + ((size_t)b * H + h) * NN + (size_t)i * N;   // this thread's row
    float s[NT > 0 ? NT : 1];
    float *row = NT > 0 ? s : Si;
    if constexpr (NT > 0) row_copy<NT>(s, Si, N);
    for (int t0 = 0; t0 < T; t0 += FWD_CHUNK) {
        const int cnt = min(FWD_CHUNK, T - t0);
        stage_tokens(tok, in, IN_R, b, h, t0, cnt, T, H, N);
        __syncthreads();
        for (int q = 0; q < cnt; q++) {
            const int t = t0 + q;
            const float *x = tok + (size_t)q * NIN * N;
            if (ckpt && t % K == 0)
                row_copy<NT>(ckpt + (((size_t)b * nck + t / K) * H + h) * NN + (size_t)i * N, row, N);
            const float sa = row_dot<NT>(row, x + IN_A * N, N);
            out[tok_off(b, t, h, T, H, N) + i] = row_update<NT, true>(row, row, sa, x[IN_V * N + i], x, N);
        }
        __syncthreads();
    }
    if constexpr (NT > 0) row_copy<NT>(Si, s, N);
}

// ---- backward -------------------------------------------------------------------------------
// Per token t, with G = dL/dS_t (already holding dy_t r_t^T), S = S_{t-1}, sa = S alpha:
//   rows (thread i):    dsa_i = G_i . beta ; dv_i += G_i . k
//   columns (thread j): dwd_j += sum_i G_ij S_ij ; dk_j += sum_i G_ij v_i ;
//                       dbeta_j += sum_i G_ij sa_i ; dalpha_j += sum_i S_ij dsa_i ;
//                       dr_j += wd_j (S^T dy)_j + beta_j (sa . dy) + k_j (v . dy)   (= (S_t^T dy)_j)
//                       G_ij = G_ij wd_j + dsa_i alpha_j + dy_{t-1,i} r_{t-1,j}
// The per-token vectors are double-buffered: the column pass of token t loads those of t - 1.
enum { V_DYP, V_B, V_K, V_WD, V_A, V_RP, NV };   // dy_{t-1}, beta, k, wd, alpha, r_{t-1}

// shared floats of the backward: q4 (2, N) float4s (v, sa, dsa, dy), vec (2, NV, N), tok, G (N, ld)
static size_t bwd_smem_floats(int N) {
    const size_t ld = (size_t)(N | 1);   // odd row stride: row i and column j walks hit distinct banks
    return 8 * (size_t)N + 2 * NV * (size_t)N + (size_t)BWD_CHUNK * NIN * N + (size_t)N * ld;
}

// buffer p = the vectors of token t (thread j loads channel j); sa and dsa come in the row pass
__device__ __forceinline__ void load_vecs(float *q4, float *vec, const float *dout, const wkv_in &in, int b, int t,
                                          int h, int T, int H, int N) {
    const int j = threadIdx.x;
    const size_t o = tok_off(b, t, h, T, H, N) + j, HN = (size_t)H * N;
    q4[4 * j] = in.x[IN_V][o];
    q4[4 * j + 3] = dout[o];
    vec[V_DYP * N + j] = t ? dout[o - HN] : 0.0f;
    vec[V_B * N + j] = in.x[IN_B][o];
    vec[V_K * N + j] = in.x[IN_K][o];
    vec[V_WD * N + j] = in.x[IN_WD][o];
    vec[V_A * N + j] = in.x[IN_A][o];
    vec[V_RP * N + j] = t ? in.x[IN_R][o - HN] : 0.0f;
}

// ws (len, N, N) = S before each token of the chunk [t0, t0 + len), from the checkpoint ck;
// sab (len, N) = S alpha of each. Thread i computes row i, as the forward does.
template <int NT>
__device__ __forceinline__ void recompute_chunk(float *ws, float *sab, const float *ck, float *tok, const wkv_in &in,
                                                int b, int h, int t0, int len, int T, int H, int N) {
    const int i = threadIdx.x;
    const size_t NN = (size_t)N * N;
    float s[NT > 0 ? NT : 1];
    row_copy<NT>(NT > 0 ? s : ws + (size_t)i * N, ck + (size_t)i * N, N);
    for (int u0 = 0; u0 < len; u0 += BWD_CHUNK) {
        const int cnt = min(BWD_CHUNK, len - u0);
        stage_tokens(tok, in, IN_WD, b, h, t0 + u0, cnt, T, H, N);
        __syncthreads();
        for (int q = 0; q < cnt; q++) {
            const int m = u0 + q;
            float *cur = ws + m * NN + (size_t)i * N;
            const float *x = tok + (size_t)q * NIN * N;
            if constexpr (NT > 0) row_copy<NT>(cur, s, N);
            const float *src = NT > 0 ? s : cur;
            const float sa = row_dot<NT>(src, x + IN_A * N, N);
            sab[(size_t)m * N + i] = sa;
            if (m + 1 < len) row_update<NT, false>(NT > 0 ? s : cur + NN, src, sa, x[IN_V * N + i], x, N);
        }
        __syncthreads();
    }
}

template <int NT>
__global__ void __launch_bounds__(NT > 0 ? NT : 1024)
    wkv7_backward_kernel(wkv_grads g, float *dstate, float *scratch, const float *dout, const float *ckpt, int K,
                         wkv_in in, int T, int H, int N) {
    extern __shared__ float4 smem4[];
    const int ld = N | 1;
    float *vec = reinterpret_cast<float *>(smem4 + 2 * N), *tok = vec + 2 * NV * N, *G = tok + BWD_CHUNK * NIN * N;
    const int b = blockIdx.x / H, h = blockIdx.x % H, tid = threadIdx.x;
    const size_t NN = (size_t)N * N;
    const int nck = (T + K - 1) / K;
    float *ws = scratch + ((size_t)b * H + h) * K * (NN + N), *sab = ws + (size_t)K * NN;
    float *dS = dstate ? dstate + ((size_t)b * H + h) * NN : NULL;

    // G = dL/dS_T + dy_{T-1} r_{T-1}^T, column tid by thread tid
    {
        const int p = (T - 1) & 1;
        load_vecs(reinterpret_cast<float *>(smem4 + p * N), vec + p * NV * N, dout, in, b, T - 1, h, T, H, N);
        __syncthreads();
        const float *q4 = reinterpret_cast<const float *>(smem4 + p * N);
        const float rj = in.x[IN_R][tok_off(b, T - 1, h, T, H, N) + tid];
        for (int i = 0; i < N; i++)
            G[(size_t)i * ld + tid] = fmaf(q4[4 * i + 3], rj, dS ? dS[(size_t)i * N + tid] : 0.0f);
    }
    for (int c = nck - 1; c >= 0; c--) {
        const int t0 = c * K, len = min(K, T - t0);
        recompute_chunk<NT>(ws, sab, ckpt + (((size_t)b * nck + c) * H + h) * NN, tok, in, b, h, t0, len, T, H, N);
        for (int m = len - 1; m >= 0; m--) {
            const int t = t0 + m, p = t & 1;
            float4 *q4 = smem4 + p * N;
            const float *vp = vec + p * NV * N;
            const size_t o = tok_off(b, t, h, T, H, N);
            {   // rows: thread i = tid
                const float *Gi = G + (size_t)tid * ld, *be = vp + V_B * N, *kv = vp + V_K * N;
                float ds0 = 0.0f, ds1 = 0.0f, dv0 = 0.0f, dv1 = 0.0f;
                int j = 0;
                for (; j + 1 < N; j += 2) {
                    ds0 = fmaf(Gi[j], be[j], ds0);
                    ds1 = fmaf(Gi[j + 1], be[j + 1], ds1);
                    dv0 = fmaf(Gi[j], kv[j], dv0);
                    dv1 = fmaf(Gi[j + 1], kv[j + 1], dv1);
                }
                if (j < N) ds0 = fmaf(Gi[j], be[j], ds0), dv0 = fmaf(Gi[j], kv[j], dv0);
                q4[tid].y = sab[(size_t)m * N + tid];
                q4[tid].z = ds0 + ds1;
                if (g.d[IN_V]) g.d[IN_V][o + tid] += dv0 + dv1;
            }
            __syncthreads();
            {   // columns: thread j = tid
                const int j = tid;
                const float wj = vp[V_WD * N + j], aj = vp[V_A * N + j], bj = vp[V_B * N + j];
                const float kj = vp[V_K * N + j], rpj = vp[V_RP * N + j];
                const float *S = ws + (size_t)m * NN + j, *dyp = vp + V_DYP * N;
                float dw = 0.0f, dkj = 0.0f, db = 0.0f, da = 0.0f, sdy = 0.0f, sady = 0.0f, vdy = 0.0f;
#pragma unroll 4
                for (int i = 0; i < N; i++) {
                    const float4 x = q4[i];   // v_i, sa_i, dsa_i, dy_i
                    const float gij = G[(size_t)i * ld + j], s = S[(size_t)i * N];
                    dw = fmaf(gij, s, dw);
                    dkj = fmaf(gij, x.x, dkj);
                    db = fmaf(gij, x.y, db);
                    da = fmaf(s, x.z, da);
                    sdy = fmaf(s, x.w, sdy);
                    sady = fmaf(x.y, x.w, sady);
                    vdy = fmaf(x.x, x.w, vdy);
                    G[(size_t)i * ld + j] = fmaf(dyp[i], rpj, fmaf(x.z, aj, gij * wj));
                }
                if (g.d[IN_R]) g.d[IN_R][o + j] += fmaf(wj, sdy, fmaf(bj, sady, kj * vdy));
                if (g.d[IN_WD]) g.d[IN_WD][o + j] += dw;
                if (g.d[IN_K]) g.d[IN_K][o + j] += dkj;
                if (g.d[IN_A]) g.d[IN_A][o + j] += da;
                if (g.d[IN_B]) g.d[IN_B][o + j] += db;
                if (t > 0)
                    load_vecs(reinterpret_cast<float *>(smem4 + (p ^ 1) * N), vec + (p ^ 1) * NV * N, dout, in, b,
                              t - 1, h, T, H, N);
            }
            __syncthreads();
        }
    }
    if (dS)
        for (int i = 0; i < N; i++) dS[(size_t)i * N + tid] = G[(size_t)i * ld + tid];
}

// ---- launch ---------------------------------------------------------------------------------
// one line naming the fault for shapes the kernels cannot take; 0 when fine
static int wkv7_check_shape(const char *fn, int K, int B, int T, int H, int N) {
    if (K > 0 && B > 0 && T > 0 && H > 0 && N > 0 && N <= 1024 && (long long)B * H < INT32_MAX) return 0;
    arwkv_set_error("%s: unsupported shape K=%d B=%d T=%d H=%d N=%d (need positive sizes, N <= 1024)", fn, K, B, T, H,
                    N);
    g_cuda.failed = 1;
    return -1;
}

// allows smem bytes of dynamic shared memory for kernel; 0, or -1 + error when the device has less
static int smem_allow(const void *kernel, size_t smem, const char *fn, int N) {
    if (smem <= 48 * 1024) return 0;
    int dev = 0, max = 0;
    if (CUDA_CHECK(cudaGetDevice(&dev)) ||
        CUDA_CHECK(cudaDeviceGetAttribute(&max, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev)))
        return -1;
    if (smem > (size_t)max) {
        arwkv_set_error("%s: head size N=%d needs %zu bytes of shared memory, the device has %d", fn, N, smem, max);
        g_cuda.failed = 1;
        return -1;
    }
    return CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
}

void cuda_wkv7_forward(float *out, float *state, float *ckpt, int K, const float *r, const float *wd, const float *k,
                       const float *v, const float *alpha, const float *beta, int B, int T, int H, int N) {
    if (T == 0 || B == 0) return;
    if (wkv7_check_shape("cuda_wkv7_forward", K, B, T, H, N)) return;
    const wkv_in in = { { r, wd, k, v, alpha, beta } };
    const size_t smem = (size_t)FWD_CHUNK * NIN * N * sizeof(float);
    void (*kernel)(float *, float *, float *, int, wkv_in, int, int, int) =
        N == 64 ? wkv7_forward_kernel<64> : N == 32 ? wkv7_forward_kernel<32> : wkv7_forward_kernel<0>;
    if (smem_allow((const void *)kernel, smem, "cuda_wkv7_forward", N)) return;
    kernel<<<B * H, N, smem, g_cuda.stream>>>(out, state, ckpt, K, in, T, H, N);
    CUDA_CHECK_LAUNCH(wkv7_forward_kernel);
}

void cuda_wkv7_backward(float *dr, float *dwd, float *dk, float *dv, float *dalpha, float *dbeta, float *dstate,
                        float *scratch, const float *dout, const float *ckpt, int K, const float *r, const float *wd,
                        const float *k, const float *v, const float *alpha, const float *beta, int B, int T, int H,
                        int N) {
    if (T == 0 || B == 0) return;
    if (wkv7_check_shape("cuda_wkv7_backward", K, B, T, H, N)) return;
    if (!ckpt || !scratch) {
        arwkv_set_error("cuda_wkv7_backward: %s is NULL (needs the forward's checkpoints and a scratch of "
                        "cuda_wkv7_scratch_floats floats)", ckpt ? "scratch" : "ckpt");
        g_cuda.failed = 1;
        return;
    }
    const wkv_in in = { { r, wd, k, v, alpha, beta } };
    const wkv_grads gr = { { dr, dwd, dk, dv, dalpha, dbeta } };
    const size_t smem = bwd_smem_floats(N) * sizeof(float);
    void (*kernel)(wkv_grads, float *, float *, const float *, const float *, int, wkv_in, int, int, int) =
        N == 64 ? wkv7_backward_kernel<64> : N == 32 ? wkv7_backward_kernel<32> : wkv7_backward_kernel<0>;
    if (smem_allow((const void *)kernel, smem, "cuda_wkv7_backward", N)) return;
    kernel<<<B * H, N, smem, g_cuda.stream>>>(gr, dstate, scratch, dout, ckpt, K, in, T, H, N);
    CUDA_CHECK_LAUNCH(wkv7_backward_kernel);
}

// per (sequence, head): K states (N, N) and K rows of sa (N)
size_t cuda_wkv7_scratch_floats(int K, int B, int H, int N) {
    if (K <= 0 || B <= 0 || H <= 0 || N <= 0) return 0;
    return (size_t)B * H * K * ((size_t)N * N + N);
}
