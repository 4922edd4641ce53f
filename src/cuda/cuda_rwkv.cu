// The RWKV-7 time-mix pieces around the WKV scan on the GPU (CPU twins: train_ops_student.c).
// Elementwise ops are grid-stride loops; per-head ops give one warp to each (row, head); weight
// gradients are column sums over rows done in two fixed-order stages (per row-group partials into
// the workspace, then one thread per column), so they are deterministic.
#include "cuda/cuda_common.h"
#include "cuda/cuda_rwkv.h"

#define DECAY_C 0.60653065971263342f   // exp(-0.5)
#define KK_EPS 1e-12f

__device__ __forceinline__ float sigmoid_f(float x) { return 1.0f / (1.0f + expf(-x)); }

// ---- column sums over rows ------------------------------------------------------------------
// Block (RED_COLS, RED_LANES): RED_COLS adjacent columns (coalesced rows), RED_LANES threads
// down the rows of one row group; at most RED_MAX_GROUPS groups of at least RED_MIN_ROWS rows.
#define RED_COLS 32
#define RED_LANES 8
#define RED_MAX_GROUPS 64
#define RED_MIN_ROWS 64

static int red_rows_per_group(int rows) {
    int groups = (rows + RED_MIN_ROWS - 1) / RED_MIN_ROWS;
    groups = groups < 1 ? 1 : groups > RED_MAX_GROUPS ? RED_MAX_GROUPS : groups;
    return (rows + groups - 1) / groups;
}

// workspace floats of one colsum over (rows, cols)
static size_t red_floats(int rows, int cols) {
    int per = red_rows_per_group(rows);
    return (size_t)((rows + per - 1) / per) * cols;
}

// part (groups, cols) = sums of f(r, c) over each row group; part NULL: f's side effects only
template <class F>
__global__ void colsum_partial_kernel(float *part, F f, int rows, int cols, int per) {
    __shared__ float red[RED_LANES][RED_COLS + 1];
    const int c = blockIdx.x * RED_COLS + threadIdx.x;
    const int r0 = blockIdx.y * per, r1 = min(rows, r0 + per);
    float acc = 0.0f;
    if (c < cols)
        for (int r = r0 + threadIdx.y; r < r1; r += RED_LANES) acc += f(r, c);
    if (!part) return;
    red[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        float s = 0.0f;
        for (int y = 0; y < RED_LANES; y++) s += red[y][threadIdx.x];
        part[(size_t)blockIdx.y * cols + c] = s;
    }
}

// dst (cols) += sum over groups of part (groups, cols)
__global__ void colsum_final_kernel(float *dst, const float *part, int groups, int cols) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    float s = 0.0f;
    for (int g = 0; g < groups; g++) s += part[(size_t)g * cols + c];
    dst[c] += s;
}

// dst (cols) += sum over rows of f(r, c), called once per (r, c) so that f may also accumulate
// elementwise gradients; dst NULL: only those. part: red_floats(rows, cols) of workspace.
template <class F>
static void colsum(float *dst, float *part, F f, int rows, int cols) {
    if (rows <= 0 || cols <= 0) return;
    const int per = red_rows_per_group(rows), groups = (rows + per - 1) / per;
    dim3 grid((cols + RED_COLS - 1) / RED_COLS, groups), block(RED_COLS, RED_LANES);
    colsum_partial_kernel<<<grid, block, 0, g_cuda.stream>>>(dst ? part : NULL, f, rows, cols, per);
    CUDA_CHECK_LAUNCH(colsum_partial_kernel);
    if (!dst) return;
    colsum_final_kernel<<<(cols + CUDA_BLOCK - 1) / CUDA_BLOCK, CUDA_BLOCK, 0, g_cuda.stream>>>(dst, part, groups,
                                                                                                 cols);
    CUDA_CHECK_LAUNCH(colsum_final_kernel);
}

// workspace of extra floats, then those of a colsum when dst is wanted; NULL when none is needed
// or when out of memory (then the op fails: the error names the allocation)
static float *red_part(const float *dst, size_t extra, int rows, int cols) {
    if (!dst && !extra) return NULL;
    float *p = (float *)cuda_workspace((extra + (dst ? red_floats(rows, cols) : 0)) * sizeof(float));
    if (!p) g_cuda.failed = 1;
    return p;
}

// grid for one warp per item
static unsigned warp_grid(size_t items) { return cuda_grid_size(items * 32, CUDA_BLOCK); }

// grid-stride loop of w over [0, n) items, one warp each
#define WARP_FOR_EACH(w, n)                                                                   \
    for (size_t w = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5; w < (size_t)(n); \
         w += ((size_t)gridDim.x * blockDim.x) >> 5)

// ---- token shift ----------------------------------------------------------------------------
__global__ void token_shift_forward_kernel(float *out, const float *xn, const float *shift, const float *mix, int M,
                                           int B, int T, int D) {
    const size_t plane = (size_t)B * T * D;
    CUDA_FOR_EACH(idx, plane * M) {
        const size_t m = idx / plane, e = idx % plane, row = e / D;
        const int d = (int)(e % D), t = (int)(row % T);
        const float x = xn[e], xp = t ? xn[e - D] : shift[(row / T) * D + d];
        out[idx] = x + (xp - x) * mix[m * D + d];
    }
}

void cuda_token_shift_forward(float *out, const float *xn, const float *shift, const float *mix, int M, int B, int T,
                              int D) {
    const size_t n = (size_t)M * B * T * D;
    if (!n) return;
    token_shift_forward_kernel<<<cuda_grid_size(n, CUDA_BLOCK), CUDA_BLOCK, 0, g_cuda.stream>>>(out, xn, shift, mix,
                                                                                                M, B, T, D);
    CUDA_CHECK_LAUNCH(token_shift_forward_kernel);
}

// dxn[t] gets row t's (1 - mix) part and row t+1's mix part; row 0's mix part goes to dshift
__global__ void token_shift_backward_kernel(float *dxn, float *dshift, const float *dout, const float *mix, int M,
                                            int B, int T, int D) {
    const size_t plane = (size_t)B * T * D;
    CUDA_FOR_EACH(e, plane) {
        const size_t row = e / D;
        const int d = (int)(e % D), t = (int)(row % T);
        float dx = 0.0f, ds = 0.0f;
        for (int m = 0; m < M; m++) {
            const float dy = dout[m * plane + e], mm = mix[(size_t)m * D + d];
            dx += dy * (1.0f - mm);
            if (t + 1 < T) dx += dout[m * plane + e + D] * mm;
            ds += dy * mm;
        }
        if (dxn) dxn[e] += dx;
        if (dshift && t == 0) dshift[(row / T) * D + d] += ds;
    }
}

// the dmix term of (row, m * D + d): dout[m][row][d] * (xprev - x)
struct token_shift_mix_term {
    const float *dout, *xn, *shift;
    int T, D;
    size_t plane;
    __device__ float operator()(int row, int col) const {
        const int m = col / D, d = col % D, t = row % T;
        const size_t e = (size_t)row * D + d;
        const float xp = t ? xn[e - D] : shift[(size_t)(row / T) * D + d];
        return dout[m * plane + e] * (xp - xn[e]);
    }
};

void cuda_token_shift_backward(float *dxn, float *dshift, float *dmix, const float *dout, const float *xn,
                               const float *shift, const float *mix, int M, int B, int T, int D) {
    const size_t plane = (size_t)B * T * D;
    if (!plane || M <= 0) return;
    if (dxn || dshift) {
        token_shift_backward_kernel<<<cuda_grid_size(plane, CUDA_BLOCK), CUDA_BLOCK, 0, g_cuda.stream>>>(
            dxn, dshift, dout, mix, M, B, T, D);
        CUDA_CHECK_LAUNCH(token_shift_backward_kernel);
    }
    if (!dmix) return;
    float *part = red_part(dmix, 0, B * T, M * D);
    if (!part) return;
    colsum(dmix, part, token_shift_mix_term{ dout, xn, shift, T, D, plane }, B * T, M * D);
}

__global__ void shift_store_kernel(float *last, const float *xn, int B, int T, int D) {
    CUDA_FOR_EACH(e, (size_t)B * D) last[e] = xn[((e / D) * T + T - 1) * D + e % D];
}

void cuda_shift_store(float *last, const float *xn, int B, int T, int D) {
    if (B <= 0 || T <= 0 || D <= 0) return;
    shift_store_kernel<<<cuda_grid_size((size_t)B * D, CUDA_BLOCK), CUDA_BLOCK, 0, g_cuda.stream>>>(last, xn, B, T, D);
    CUDA_CHECK_LAUNCH(shift_store_kernel);
}

// ---- LoRA products x @ P (cuBLAS, column-major) ---------------------------------------------
// A row-major (r, c) matrix is the column-major (c, r) matrix of its transpose, so
// out^T (R, T) = P^T (R, C) @ inp^T (C, T) needs no copies. Full fp32 unless TF32 was asked for.
static cublasComputeType_t xp_compute(void) {
    return g_cuda.tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F_PEDANTIC;
}

void cuda_xp_forward(float *out, const float *inp, const float *P, int T, int C, int R) {
    if (T <= 0 || R <= 0) return;
    if (C <= 0) {
        CUDA_CHECK(cudaMemsetAsync(out, 0, (size_t)T * R * sizeof(float), g_cuda.stream));
        return;
    }
    const float one = 1.0f, zero = 0.0f;
    CUBLAS_CHECK(cublasGemmEx(g_cuda.blas, CUBLAS_OP_N, CUBLAS_OP_N, R, T, C, &one, P, CUDA_R_32F, R, inp, CUDA_R_32F,
                              C, &zero, out, CUDA_R_32F, R, xp_compute(), CUBLAS_GEMM_DEFAULT));
}

void cuda_xp_backward(float *dinp, float *dP, const float *dout, const float *inp, const float *P, int T, int C,
                      int R) {
    if (T <= 0 || C <= 0 || R <= 0) return;
    const float one = 1.0f;
    if (dinp)   // dinp^T (C, T) += P (C, R) @ dout^T (R, T)
        CUBLAS_CHECK(cublasGemmEx(g_cuda.blas, CUBLAS_OP_T, CUBLAS_OP_N, C, T, R, &one, P, CUDA_R_32F, R, dout,
                                  CUDA_R_32F, R, &one, dinp, CUDA_R_32F, C, xp_compute(), CUBLAS_GEMM_DEFAULT));
    if (dP)     // dP^T (R, C) += dout^T (R, T) @ inp (T, C)
        CUBLAS_CHECK(cublasGemmEx(g_cuda.blas, CUBLAS_OP_N, CUBLAS_OP_T, R, C, T, &one, dout, CUDA_R_32F, R, inp,
                                  CUDA_R_32F, C, &one, dP, CUDA_R_32F, R, xp_compute(), CUBLAS_GEMM_DEFAULT));
}

// ---- activations ----------------------------------------------------------------------------
__global__ void tanh_forward_kernel(float *out, const float *inp, size_t n) {
    CUDA_FOR_EACH(i, n) out[i] = tanhf(inp[i]);
}

__global__ void tanh_backward_kernel(float *dinp, const float *dout, const float *out, size_t n) {
    CUDA_FOR_EACH(i, n) dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
}

void cuda_tanh_forward(float *out, const float *inp, size_t n) {
    if (!n) return;
    tanh_forward_kernel<<<cuda_grid_size(n, CUDA_BLOCK), CUDA_BLOCK, 0, g_cuda.stream>>>(out, inp, n);
    CUDA_CHECK_LAUNCH(tanh_forward_kernel);
}

void cuda_tanh_backward(float *dinp, const float *dout, const float *out, size_t n) {
    if (!n || !dinp) return;
    tanh_backward_kernel<<<cuda_grid_size(n, CUDA_BLOCK), CUDA_BLOCK, 0, g_cuda.stream>>>(dinp, dout, out, n);
    CUDA_CHECK_LAUNCH(tanh_backward_kernel);
}

__global__ void sigmoid_forward_kernel(float *out, const float *inp, const float *bias, int C, size_t n) {
    CUDA_FOR_EACH(i, n) out[i] = sigmoid_f(inp[i] + (bias ? bias[i % C] : 0.0f));
}

void cuda_sigmoid_forward(float *out, const float *inp, const float *bias, int T, int C) {
    const size_t n = (size_t)T * C;
    if (T <= 0 || C <= 0) return;
    sigmoid_forward_kernel<<<cuda_grid_size(n, CUDA_BLOCK), CUDA_BLOCK, 0, g_cuda.stream>>>(out, inp, bias, C, n);
    CUDA_CHECK_LAUNCH(sigmoid_forward_kernel);
}

struct sigmoid_term {   // g = dout y (1 - y); dinp += g
    float *dinp;
    const float *dout, *out;
    int C;
    __device__ float operator()(int t, int c) const {
        const size_t o = (size_t)t * C + c;
        const float y = out[o], g = dout[o] * y * (1.0f - y);
        if (dinp) dinp[o] += g;
        return g;
    }
};

void cuda_sigmoid_backward(float *dinp, float *dbias, const float *dout, const float *out, int T, int C) {
    if (!dinp && !dbias) return;
    float *part = red_part(dbias, 0, T, C);
    if (dbias && !part) return;
    colsum(dbias, part, sigmoid_term{ dinp, dout, out, C }, T, C);
}

// ---- decay and value residual ---------------------------------------------------------------
__global__ void decay_forward_kernel(float *wd, const float *z, const float *w0, int D, size_t n) {
    CUDA_FOR_EACH(i, n) wd[i] = expf(-DECAY_C * sigmoid_f(w0[i % D] + z[i]));
}

void cuda_decay_forward(float *wd, const float *z, const float *w0, int T, int D) {
    const size_t n = (size_t)T * D;
    if (T <= 0 || D <= 0) return;
    decay_forward_kernel<<<cuda_grid_size(n, CUDA_BLOCK), CUDA_BLOCK, 0, g_cuda.stream>>>(wd, z, w0, D, n);
    CUDA_CHECK_LAUNCH(decay_forward_kernel);
}

struct decay_term {   // d wd / d x = wd (-DECAY_C) s (1 - s), x = w0 + z
    float *dz;
    const float *dwd, *z, *w0;
    int D;
    __device__ float operator()(int t, int d) const {
        const size_t o = (size_t)t * D + d;
        const float s = sigmoid_f(w0[d] + z[o]), e = expf(-DECAY_C * s);
        const float g = dwd[o] * e * -DECAY_C * s * (1.0f - s);
        if (dz) dz[o] += g;
        return g;
    }
};

void cuda_decay_backward(float *dz, float *dw0, const float *dwd, const float *z, const float *w0, int T, int D) {
    if (!dz && !dw0) return;
    float *part = red_part(dw0, 0, T, D);
    if (dw0 && !part) return;
    colsum(dw0, part, decay_term{ dz, dwd, z, w0, D }, T, D);
}

__global__ void value_mix_forward_kernel(float *out, const float *v, const float *v_first, const float *z,
                                         const float *v0, int D, size_t n) {
    CUDA_FOR_EACH(i, n) {
        const float x = v[i];
        out[i] = x + (v_first[i] - x) * sigmoid_f(v0[i % D] + z[i]);
    }
}

void cuda_value_mix_forward(float *out, const float *v, const float *v_first, const float *z, const float *v0, int T,
                            int D) {
    const size_t n = (size_t)T * D;
    if (T <= 0 || D <= 0) return;
    value_mix_forward_kernel<<<cuda_grid_size(n, CUDA_BLOCK), CUDA_BLOCK, 0, g_cuda.stream>>>(out, v, v_first, z, v0,
                                                                                              D, n);
    CUDA_CHECK_LAUNCH(value_mix_forward_kernel);
}

struct value_mix_term {   // v_first is detached: dv gets only the (1 - s) path
    float *dv, *dz;
    const float *dout, *v, *v_first, *z, *v0;
    int D;
    __device__ float operator()(int t, int d) const {
        const size_t o = (size_t)t * D + d;
        const float s = sigmoid_f(v0[d] + z[o]), dy = dout[o];
        if (dv) dv[o] += dy * (1.0f - s);
        const float g = dy * (v_first[o] - v[o]) * s * (1.0f - s);
        if (dz) dz[o] += g;
        return g;
    }
};

void cuda_value_mix_backward(float *dv, float *dz, float *dv0, const float *dout, const float *v,
                             const float *v_first, const float *z, const float *v0, int T, int D) {
    if (!dv && !dz && !dv0) return;
    float *part = red_part(dv0, 0, T, D);
    if (dv0 && !part) return;
    colsum(dv0, part, value_mix_term{ dv, dz, dout, v, v_first, z, v0, D }, T, D);
}

// ---- kk normalisation, k update, WKV alpha/beta ---------------------------------------------
__global__ void kk_norm_forward_kernel(float *kk, const float *k, const float *k_k, int T, int H, int N) {
    const int lane = threadIdx.x & 31;
    WARP_FOR_EACH(w, (size_t)T * H) {   // w = t * H + h: the row of (t, h) starts at w * N
        const float *kh = k + w * N, *kkh = k_k + (w % H) * N;
        float ss = 0.0f;
        for (int n = lane; n < N; n += 32) {
            const float u = kh[n] * kkh[n];
            ss += u * u;
        }
        const float norm = sqrtf(cuda_warp_sum(ss)), inv = 1.0f / (norm > KK_EPS ? norm : KK_EPS);
        for (int n = lane; n < N; n += 32) kk[w * N + n] = kh[n] * kkh[n] * inv;
    }
}

void cuda_kk_norm_forward(float *kk, const float *k, const float *k_k, int T, int H, int N) {
    if (T <= 0 || H <= 0 || N <= 0) return;
    kk_norm_forward_kernel<<<warp_grid((size_t)T * H), CUDA_BLOCK, 0, g_cuda.stream>>>(kk, k, k_k, T, H, N);
    CUDA_CHECK_LAUNCH(kk_norm_forward_kernel);
}

// with y = u / ||u||: du = (dy - u c) inv, inv = 1 / ||u||, c = (u . dy) / ||u||^2 (0 below the
// clamp, where y = u / eps is linear); keeps (inv, c) of each (t, h) in sc for the dk_k sums
__global__ void kk_norm_backward_kernel(float *dk, float *sc, const float *dkk, const float *k, const float *k_k,
                                        int T, int H, int N) {
    const int lane = threadIdx.x & 31;
    WARP_FOR_EACH(w, (size_t)T * H) {
        const float *kh = k + w * N, *kkh = k_k + (w % H) * N, *dy = dkk + w * N;
        float ss = 0.0f, ud = 0.0f;
        for (int n = lane; n < N; n += 32) {
            const float u = kh[n] * kkh[n];
            ss += u * u;
            ud += u * dy[n];
        }
        ss = cuda_warp_sum(ss);
        ud = cuda_warp_sum(ud);
        const float norm = sqrtf(ss), inv = 1.0f / (norm > KK_EPS ? norm : KK_EPS);
        const float c = norm > KK_EPS ? ud * inv * inv : 0.0f;
        if (dk)
            for (int n = lane; n < N; n += 32) dk[w * N + n] += (dy[n] - kh[n] * kkh[n] * c) * inv * kkh[n];
        if (lane == 0) sc[2 * w] = inv, sc[2 * w + 1] = c;
    }
}

struct kk_norm_term {   // dk_k[h][n] term of row t: du * k
    const float *sc, *dkk, *k, *k_k;
    int H, N;
    __device__ float operator()(int t, int col) const {
        const size_t w = (size_t)t * H + col / N, o = (size_t)t * H * N + col;
        const float du = (dkk[o] - k[o] * k_k[col] * sc[2 * w + 1]) * sc[2 * w];
        return du * k[o];
    }
};

void cuda_kk_norm_backward(float *dk, float *dk_k, const float *dkk, const float *k, const float *k_k, int T, int H,
                           int N) {
    if ((!dk && !dk_k) || T <= 0 || H <= 0 || N <= 0) return;
    const size_t TH = (size_t)T * H;
    float *sc = red_part(dk_k, 2 * TH, T, H * N);
    if (!sc) return;
    kk_norm_backward_kernel<<<warp_grid(TH), CUDA_BLOCK, 0, g_cuda.stream>>>(dk, sc, dkk, k, k_k, T, H, N);
    CUDA_CHECK_LAUNCH(kk_norm_backward_kernel);
    if (dk_k) colsum(dk_k, sc + 2 * TH, kk_norm_term{ sc, dkk, k, k_k, H, N }, T, H * N);
}

__global__ void k_iclr_forward_kernel(float *out, const float *k, const float *a, const float *k_a, int D, size_t n) {
    CUDA_FOR_EACH(i, n) out[i] = k[i] * (1.0f + (a[i] - 1.0f) * k_a[i % D]);
}

void cuda_k_iclr_forward(float *out, const float *k, const float *a, const float *k_a, int T, int D) {
    const size_t n = (size_t)T * D;
    if (T <= 0 || D <= 0) return;
    k_iclr_forward_kernel<<<cuda_grid_size(n, CUDA_BLOCK), CUDA_BLOCK, 0, g_cuda.stream>>>(out, k, a, k_a, D, n);
    CUDA_CHECK_LAUNCH(k_iclr_forward_kernel);
}

struct k_iclr_term {
    float *dk, *da;
    const float *dout, *k, *a, *k_a;
    int D;
    __device__ float operator()(int t, int d) const {
        const size_t o = (size_t)t * D + d;
        const float dy = dout[o], ka = k_a[d];
        if (dk) dk[o] += dy * (1.0f + (a[o] - 1.0f) * ka);
        if (da) da[o] += dy * k[o] * ka;
        return dy * k[o] * (a[o] - 1.0f);
    }
};

void cuda_k_iclr_backward(float *dk, float *da, float *dk_a, const float *dout, const float *k, const float *a,
                          const float *k_a, int T, int D) {
    if (!dk && !da && !dk_a) return;
    float *part = red_part(dk_a, 0, T, D);
    if (dk_a && !part) return;
    colsum(dk_a, part, k_iclr_term{ dk, da, dout, k, a, k_a, D }, T, D);
}

__global__ void wkv_ab_forward_kernel(float *alpha, float *beta, const float *kk, const float *a, size_t n) {
    CUDA_FOR_EACH(i, n) {
        alpha[i] = -kk[i];
        beta[i] = kk[i] * a[i];
    }
}

__global__ void wkv_ab_backward_kernel(float *dkk, float *da, const float *dalpha, const float *dbeta,
                                       const float *kk, const float *a, size_t n) {
    CUDA_FOR_EACH(i, n) {
        if (dkk) dkk[i] += dbeta[i] * a[i] - dalpha[i];
        if (da) da[i] += dbeta[i] * kk[i];
    }
}

void cuda_wkv_ab_forward(float *alpha, float *beta, const float *kk, const float *a, size_t n) {
    if (!n) return;
    wkv_ab_forward_kernel<<<cuda_grid_size(n, CUDA_BLOCK), CUDA_BLOCK, 0, g_cuda.stream>>>(alpha, beta, kk, a, n);
    CUDA_CHECK_LAUNCH(wkv_ab_forward_kernel);
}

void cuda_wkv_ab_backward(float *dkk, float *da, const float *dalpha, const float *dbeta, const float *kk,
                          const float *a, size_t n) {
    if (!n || (!dkk && !da)) return;
    wkv_ab_backward_kernel<<<cuda_grid_size(n, CUDA_BLOCK), CUDA_BLOCK, 0, g_cuda.stream>>>(dkk, da, dalpha, dbeta,
                                                                                            kk, a, n);
    CUDA_CHECK_LAUNCH(wkv_ab_backward_kernel);
}

// ---- bonus, group norm, gate ----------------------------------------------------------------
__global__ void bonus_forward_kernel(float *o, const float *r, const float *k, const float *v, const float *r_k,
                                     int T, int H, int N) {
    const int lane = threadIdx.x & 31;
    WARP_FOR_EACH(w, (size_t)T * H) {
        const size_t off = w * N;
        const float *rk = r_k + (w % H) * N;
        float s = 0.0f;
        for (int n = lane; n < N; n += 32) s += r[off + n] * k[off + n] * rk[n];
        s = cuda_warp_sum(s);
        for (int n = lane; n < N; n += 32) o[off + n] += s * v[off + n];
    }
}

void cuda_bonus_forward(float *o, const float *r, const float *k, const float *v, const float *r_k, int T, int H,
                        int N) {
    if (T <= 0 || H <= 0 || N <= 0) return;
    bonus_forward_kernel<<<warp_grid((size_t)T * H), CUDA_BLOCK, 0, g_cuda.stream>>>(o, r, k, v, r_k, T, H, N);
    CUDA_CHECK_LAUNCH(bonus_forward_kernel);
}

// s = sum_n r k r_k, ds = sum_n dout v: dv += s dout ; dr += ds k r_k ; dk += ds r r_k; keeps ds
// of each (t, h) in sc for the dr_k sums
__global__ void bonus_backward_kernel(float *dr, float *dk, float *dv, float *sc, const float *dout, const float *r,
                                      const float *k, const float *v, const float *r_k, int T, int H, int N) {
    const int lane = threadIdx.x & 31;
    WARP_FOR_EACH(w, (size_t)T * H) {
        const size_t off = w * N;
        const float *rk = r_k + (w % H) * N;
        float s = 0.0f, ds = 0.0f;
        for (int n = lane; n < N; n += 32) {
            s += r[off + n] * k[off + n] * rk[n];
            ds += dout[off + n] * v[off + n];
        }
        s = cuda_warp_sum(s);
        ds = cuda_warp_sum(ds);
        for (int n = lane; n < N; n += 32) {
            if (dv) dv[off + n] += s * dout[off + n];
            if (dr) dr[off + n] += ds * k[off + n] * rk[n];
            if (dk) dk[off + n] += ds * r[off + n] * rk[n];
        }
        if (lane == 0) sc[w] = ds;
    }
}

struct bonus_term {   // dr_k[h][n] term of row t: ds r k
    const float *sc, *r, *k;
    int H, N;
    __device__ float operator()(int t, int col) const {
        const size_t o = (size_t)t * H * N + col;
        return sc[(size_t)t * H + col / N] * r[o] * k[o];
    }
};

void cuda_bonus_backward(float *dr, float *dk, float *dv, float *dr_k, const float *dout, const float *r,
                         const float *k, const float *v, const float *r_k, int T, int H, int N) {
    if ((!dr && !dk && !dv && !dr_k) || T <= 0 || H <= 0 || N <= 0) return;
    const size_t TH = (size_t)T * H;
    float *sc = red_part(dr_k, TH, T, H * N);
    if (!sc) return;
    bonus_backward_kernel<<<warp_grid(TH), CUDA_BLOCK, 0, g_cuda.stream>>>(dr, dk, dv, sc, dout, r, k, v, r_k, T, H,
                                                                          N);
    CUDA_CHECK_LAUNCH(bonus_backward_kernel);
    if (dr_k) colsum(dr_k, sc + TH, bonus_term{ sc, r, k, H, N }, T, H * N);
}

__global__ void group_norm_forward_kernel(float *out, float *mean, float *rstd, const float *inp,
                                          const float *weight, const float *bias, float eps, int T, int H, int N) {
    const int lane = threadIdx.x & 31;
    WARP_FOR_EACH(w, (size_t)T * H) {
        const size_t off = w * N;
        const float *x = inp + off, *wt = weight + (w % H) * N, *bb = bias + (w % H) * N;
        float s = 0.0f;
        for (int n = lane; n < N; n += 32) s += x[n];
        const float mu = cuda_warp_sum(s) / (float)N;
        float var = 0.0f;
        for (int n = lane; n < N; n += 32) var += (x[n] - mu) * (x[n] - mu);
        const float rs = 1.0f / sqrtf(cuda_warp_sum(var) / (float)N + eps);
        for (int n = lane; n < N; n += 32) out[off + n] = (x[n] - mu) * rs * wt[n] + bb[n];
        if (lane == 0) mean[w] = mu, rstd[w] = rs;
    }
}

void cuda_group_norm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                             const float *bias, float eps, int T, int H, int N) {
    if (T <= 0 || H <= 0 || N <= 0) return;
    group_norm_forward_kernel<<<warp_grid((size_t)T * H), CUDA_BLOCK, 0, g_cuda.stream>>>(out, mean, rstd, inp,
                                                                                         weight, bias, eps, T, H, N);
    CUDA_CHECK_LAUNCH(group_norm_forward_kernel);
}

// dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dout * weight, xhat = (x - mean) rstd
__global__ void group_norm_backward_kernel(float *dinp, const float *dout, const float *inp, const float *weight,
                                           const float *mean, const float *rstd, int T, int H, int N) {
    const int lane = threadIdx.x & 31;
    WARP_FOR_EACH(w, (size_t)T * H) {
        const size_t off = w * N;
        const float *x = inp + off, *dy = dout + off, *wt = weight + (w % H) * N;
        const float mu = mean[w], rs = rstd[w];
        float gm = 0.0f, gx = 0.0f;
        for (int n = lane; n < N; n += 32) {
            const float g = dy[n] * wt[n];
            gm += g;
            gx += g * (x[n] - mu) * rs;
        }
        gm = cuda_warp_sum(gm) / (float)N;
        gx = cuda_warp_sum(gx) / (float)N;
        for (int n = lane; n < N; n += 32) dinp[off + n] += rs * (dy[n] * wt[n] - gm - (x[n] - mu) * rs * gx);
    }
}

struct group_norm_term {   // dweight term dout * xhat, or the dbias term dout
    const float *dout, *inp, *mean, *rstd;
    int H, N, xhat;
    __device__ float operator()(int t, int col) const {
        const size_t o = (size_t)t * H * N + col, w = (size_t)t * H + col / N;
        return xhat ? dout[o] * ((inp[o] - mean[w]) * rstd[w]) : dout[o];
    }
};

void cuda_group_norm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                              const float *weight, const float *mean, const float *rstd, int T, int H, int N) {
    if (T <= 0 || H <= 0 || N <= 0) return;
    if (dinp) {
        group_norm_backward_kernel<<<warp_grid((size_t)T * H), CUDA_BLOCK, 0, g_cuda.stream>>>(dinp, dout, inp, weight,
                                                                                              mean, rstd, T, H, N);
        CUDA_CHECK_LAUNCH(group_norm_backward_kernel);
    }
    if (!dweight && !dbias) return;
    float *part = red_part(dweight ? dweight : dbias, 0, T, H * N);   // both sums reuse it in turn
    if (!part) return;
    if (dweight) colsum(dweight, part, group_norm_term{ dout, inp, mean, rstd, H, N, 1 }, T, H * N);
    if (dbias) colsum(dbias, part, group_norm_term{ dout, inp, mean, rstd, H, N, 0 }, T, H * N);
}

__global__ void gate_mul_forward_kernel(float *out, const float *o, const float *g, size_t n) {
    CUDA_FOR_EACH(i, n) out[i] = o[i] * g[i];
}

__global__ void gate_mul_backward_kernel(float *d_o, float *dg, const float *dout, const float *o, const float *g,
                                         size_t n) {
    CUDA_FOR_EACH(i, n) {
        if (d_o) d_o[i] += dout[i] * g[i];
        if (dg) dg[i] += dout[i] * o[i];
    }
}

void cuda_gate_mul_forward(float *out, const float *o, const float *g, size_t n) {
    if (!n) return;
    gate_mul_forward_kernel<<<cuda_grid_size(n, CUDA_BLOCK), CUDA_BLOCK, 0, g_cuda.stream>>>(out, o, g, n);
    CUDA_CHECK_LAUNCH(gate_mul_forward_kernel);
}

void cuda_gate_mul_backward(float *d_o, float *dg, const float *dout, const float *o, const float *g, size_t n) {
    if (!n || (!d_o && !dg)) return;
    gate_mul_backward_kernel<<<cuda_grid_size(n, CUDA_BLOCK), CUDA_BLOCK, 0, g_cuda.stream>>>(d_o, dg, dout, o, g, n);
    CUDA_CHECK_LAUNCH(gate_mul_backward_kernel);
}
