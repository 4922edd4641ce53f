// Causal GQA attention on the GPU: the KV-cache store, inference attention over the cache, and the
// full-sequence training attention with its backward. One block per (query, head): warps take
// keys in turn for the dot products, score rows live in global memory (scratch or the saved
// probabilities), and the block's threads split the head dimension for the weighted sums.
#include "cuda/cuda_common.h"
#include "cuda/cuda_ops.h"

#define ATTN_THREADS 256
// queries per launch of the inference kernel: the scratch holds a score row per (query, head) of one launch
#define ATTN_QUERY_CHUNK 16

// a . b over n floats by one warp; the result in every lane
__device__ __forceinline__ float warp_dot(const float *a, const float *b, int n) {
    float s = 0.0f;
    for (int i = threadIdx.x & 31; i < n; i += 32) s += a[i] * b[i];
    return cuda_warp_sum(s);
}

// The head dimension is covered in chunks of at most blockDim.x; within a chunk of width w the
// block forms G = blockDim.x / w groups, thread tid taking dimension tid % w in group tid / w.
struct dim_split {
    int w, G, g, i;
};

__device__ __forceinline__ dim_split dim_split_at(int i0, int hd) {
    dim_split d;
    d.w = min((int)blockDim.x, hd - i0);
    d.G = blockDim.x / d.w;
    d.g = threadIdx.x / d.w;
    d.i = i0 + threadIdx.x % d.w;
    return d;
}

// sum over the groups of part (shared, blockDim.x floats) for dimension i0 + tid, tid < w
__device__ __forceinline__ float dim_split_total(const float *part, dim_split d) {
    float o = 0.0f;
    for (int gg = 0; gg < d.G; gg++) o += part[gg * d.w + threadIdx.x];
    return o;
}

// One block, one query qs (shared, hd floats) against keys s < n at k + s*kst (values at v + s*kst):
// row[s] = softmax_s(scale * qs . k_s) (global memory), out (hd) = sum_s row[s] v_s.
// part: blockDim.x floats of shared memory.
__device__ void attn_row(float *out, float *row, const float *qs, const float *k, const float *v, size_t kst, int n,
                         int hd, float scale, float *part) {
    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nw = blockDim.x >> 5;
    for (int s = warp; s < n; s += nw) {
        float d = warp_dot(qs, k + s * kst, hd);
        if (lane == 0) row[s] = d * scale;
    }
    __syncthreads();
    float mx = -INFINITY, sum = 0.0f;
    for (int s = tid; s < n; s += blockDim.x) mx = fmaxf(mx, row[s]);
    mx = cuda_block_max(mx);
    for (int s = tid; s < n; s += blockDim.x) {
        float e = expf(row[s] - mx);
        row[s] = e;
        sum += e;
    }
    float inv = 1.0f / cuda_block_sum(sum);
    for (int s = tid; s < n; s += blockDim.x) row[s] *= inv;
    __syncthreads();
    for (int i0 = 0; i0 < hd; i0 += blockDim.x) {
        dim_split d = dim_split_at(i0, hd);
        float acc = 0.0f;
        if (d.g < d.G)
            for (int s = d.g; s < n; s += d.G) acc += row[s] * v[s * kst + d.i];
        part[tid] = acc;
        __syncthreads();
        if (tid < d.w) out[i0 + tid] = dim_split_total(part, d);
        __syncthreads();
    }
}

// k, v (T, Hkv, hd) -> caches (Hkv, max_ctx, hd) at rows pos0..
__global__ void kv_store_kernel(float *kc, float *vc, const float *k, const float *v, int pos0, int Hkv, int hd,
                                int max_ctx, size_t n) {
    CUDA_FOR_EACH(j, n) {
        size_t i = j % hd, h = j / hd % Hkv, t = j / ((size_t)hd * Hkv);
        size_t dst = (h * max_ctx + pos0 + t) * hd + i;
        kc[dst] = k[j];
        vc[dst] = v[j];
    }
}

void cuda_kv_store(float *kc, float *vc, const float *k, const float *v, int pos0, int T, int Hkv, int hd,
                   int max_ctx) {
    if (T <= 0 || Hkv <= 0 || hd <= 0) return;
    if (pos0 < 0 || pos0 + T > max_ctx) {
        g_cuda.failed = 1;
        arwkv_set_error("cuda kv_store: positions %d..%d outside the cache of %d", pos0, pos0 + T - 1, max_ctx);
        return;
    }
    size_t n = (size_t)T * Hkv * hd;
    kv_store_kernel<<<cuda_grid_size(n, CUDA_BLOCK), CUDA_BLOCK, 0, g_cuda.stream>>>(kc, vc, k, v, pos0, Hkv, hd,
                                                                                     max_ctx, n);
    CUDA_CHECK_LAUNCH(kv_store_kernel);
}

// block (query t0 + blockIdx.x, head blockIdx.y); its score row is row blockIdx.x * Hq + h of scratch
__global__ void attention_forward_kernel(float *out, const float *q, const float *kc, const float *vc,
                                         float *scratch, int pos0, int t0, int Hq, int Hkv, int hd, int max_ctx) {
    extern __shared__ float sh[];   // qs (hd), part (blockDim.x)
    float *qs = sh, *part = sh + hd;
    int t = t0 + blockIdx.x, h = blockIdx.y;
    size_t qoff = ((size_t)t * Hq + h) * hd, kv0 = (size_t)(h / (Hq / Hkv)) * max_ctx * hd;
    for (int i = threadIdx.x; i < hd; i += blockDim.x) qs[i] = q[qoff + i];
    __syncthreads();
    float *row = scratch + ((size_t)blockIdx.x * Hq + h) * max_ctx;
    attn_row(out + qoff, row, qs, kc + kv0, vc + kv0, (size_t)hd, pos0 + t + 1, hd, 1.0f / sqrtf((float)hd), part);
}

// the checks shared by the attention entry points: one line naming the op and the shapes
static int attn_shapes_bad(const char *op, int Hq, int Hkv, int hd) {
    if (Hq > 0 && Hkv > 0 && Hq % Hkv == 0 && hd > 0 && Hq <= 65535) return 0;
    g_cuda.failed = 1;
    arwkv_set_error("cuda %s: %d query heads over %d kv heads of dimension %d", op, Hq, Hkv, hd);
    return 1;
}

size_t cuda_attention_scratch_floats(int Hq, int max_ctx) { return (size_t)ATTN_QUERY_CHUNK * Hq * max_ctx; }

void cuda_attention_forward(float *out, const float *q, const float *kc, const float *vc, float *scratch, int pos0,
                            int T, int Hq, int Hkv, int hd, int max_ctx) {
    if (T <= 0 || attn_shapes_bad("attention_forward", Hq, Hkv, hd)) return;
    if (pos0 < 0 || pos0 + T > max_ctx) {
        g_cuda.failed = 1;
        arwkv_set_error("cuda attention_forward: positions %d..%d outside the cache of %d", pos0, pos0 + T - 1,
                        max_ctx);
        return;
    }
    size_t shmem = (size_t)(hd + ATTN_THREADS) * sizeof(float);
    for (int t0 = 0; t0 < T; t0 += ATTN_QUERY_CHUNK) {
        dim3 grid(T - t0 < ATTN_QUERY_CHUNK ? T - t0 : ATTN_QUERY_CHUNK, Hq);
        attention_forward_kernel<<<grid, ATTN_THREADS, shmem, g_cuda.stream>>>(out, q, kc, vc, scratch, pos0, t0, Hq,
                                                                               Hkv, hd, max_ctx);
        if (CUDA_CHECK_LAUNCH(attention_forward_kernel)) return;
    }
}

// block (t, h, b): probabilities into att (B, Hq, T, T) row t, zeros above the diagonal
__global__ void attention_train_forward_kernel(float *out, float *att, const float *q, const float *k, const float *v,
                                               int T, int Hq, int Hkv, int hd) {
    extern __shared__ float sh[];   // qs (hd), part (blockDim.x)
    float *qs = sh, *part = sh + hd;
    int t = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    size_t qoff = (((size_t)b * T + t) * Hq + h) * hd, kst = (size_t)Hkv * hd;
    size_t kv0 = ((size_t)b * T * Hkv + h / (Hq / Hkv)) * hd;
    float *row = att + (((size_t)b * Hq + h) * T + t) * T;
    for (int i = threadIdx.x; i < hd; i += blockDim.x) qs[i] = q[qoff + i];
    for (int s = t + 1 + threadIdx.x; s < T; s += blockDim.x) row[s] = 0.0f;
    __syncthreads();
    attn_row(out + qoff, row, qs, k + kv0, v + kv0, kst, t + 1, hd, 1.0f / sqrtf((float)hd), part);
}

void cuda_attention_train_forward(float *out, float *att, const float *q, const float *k, const float *v, int B,
                                  int T, int Hq, int Hkv, int hd) {
    if (B <= 0 || T <= 0 || attn_shapes_bad("attention_train_forward", Hq, Hkv, hd)) return;
    size_t shmem = (size_t)(hd + ATTN_THREADS) * sizeof(float);
    attention_train_forward_kernel<<<dim3(T, Hq, B), ATTN_THREADS, shmem, g_cuda.stream>>>(out, att, q, k, v, T, Hq,
                                                                                           Hkv, hd);
    CUDA_CHECK_LAUNCH(attention_train_forward_kernel);
}

// Backward, with datt[t,s] = dout_t . v_s and rowdot_t = sum_s att[t,s] datt[t,s]:
// dscore[t,s] = scale * att[t,s] (datt[t,s] - rowdot_t); dq_t += sum_s dscore k_s;
// dk_s += sum_t dscore q_t; dv_s += sum_t att[t,s] dout_t. datt is recomputed, never stored.

// block (t, h, b): rowdot into scratch, then dq_t over tiles of blockDim.x keys whose dscore
// sit in shared memory
__global__ void attention_dq_kernel(float *dq, float *rowdot, const float *dout, const float *k, const float *v,
                                    const float *att, int T, int Hq, int Hkv, int hd) {
    extern __shared__ float sh[];   // dys (hd), ds (blockDim.x), part (blockDim.x)
    float *dys = sh, *ds = sh + hd, *part = ds + blockDim.x;
    int t = blockIdx.x, h = blockIdx.y, b = blockIdx.z, n = t + 1;
    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nw = blockDim.x >> 5;
    size_t qoff = (((size_t)b * T + t) * Hq + h) * hd, kst = (size_t)Hkv * hd;
    size_t kv0 = ((size_t)b * T * Hkv + h / (Hq / Hkv)) * hd;
    const float *arow = att + (((size_t)b * Hq + h) * T + t) * T;
    float scale = 1.0f / sqrtf((float)hd);
    for (int i = tid; i < hd; i += blockDim.x) dys[i] = dout[qoff + i];
    __syncthreads();
    float acc = 0.0f;
    for (int s = warp; s < n; s += nw) {
        float d = warp_dot(dys, v + kv0 + s * kst, hd);
        if (lane == 0) acc += arow[s] * d;
    }
    float rd = cuda_block_sum(acc);
    if (tid == 0) rowdot[((size_t)b * Hq + h) * T + t] = rd;
    if (!dq) return;
    for (int i0 = 0; i0 < hd; i0 += blockDim.x) {
        dim_split d = dim_split_at(i0, hd);
        float a = 0.0f;
        for (int s0 = 0; s0 < n; s0 += blockDim.x) {
            int m = min((int)blockDim.x, n - s0);
            __syncthreads();   // the previous tile is consumed
            for (int j = warp; j < m; j += nw) {
                float dd = warp_dot(dys, v + kv0 + (s0 + j) * kst, hd);
                if (lane == 0) ds[j] = scale * arow[s0 + j] * (dd - rd);
            }
            __syncthreads();
            if (d.g < d.G)
                for (int j = d.g; j < m; j += d.G) a += ds[j] * k[kv0 + (s0 + j) * kst + d.i];
        }
        part[tid] = a;
        __syncthreads();
        if (tid < d.w) dq[qoff + i0 + tid] += dim_split_total(part, d);
        __syncthreads();
    }
}

// block (s, kv head kh, b): sums over the pairs (query head h of the group, t >= s), tiled by
// blockDim.x pairs whose coefficients att[t,s] and dscore[t,s] sit in shared memory
__global__ void attention_dkv_kernel(float *dk, float *dv, const float *rowdot, const float *dout, const float *q,
                                     const float *v, const float *att, int T, int Hq, int Hkv, int hd) {
    extern __shared__ float sh[];   // vs (hd), cp, cd, part_v, part_k (blockDim.x each)
    float *vs = sh, *cp = sh + hd, *cd = cp + blockDim.x, *part_v = cd + blockDim.x, *part_k = part_v + blockDim.x;
    int s = blockIdx.x, kh = blockIdx.y, b = blockIdx.z, group = Hq / Hkv, nt = T - s, count = group * nt;
    int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nw = blockDim.x >> 5;
    size_t soff = (((size_t)b * T + s) * Hkv + kh) * hd;
    float scale = 1.0f / sqrtf((float)hd);
    for (int i = tid; i < hd; i += blockDim.x) vs[i] = v[soff + i];
    __syncthreads();
    for (int i0 = 0; i0 < hd; i0 += blockDim.x) {
        dim_split d = dim_split_at(i0, hd);
        float av = 0.0f, ak = 0.0f;
        for (int j0 = 0; j0 < count; j0 += blockDim.x) {
            int m = min((int)blockDim.x, count - j0);
            __syncthreads();   // the previous tile is consumed
            for (int jj = warp; jj < m; jj += nw) {
                int h = kh * group + (j0 + jj) / nt, t = s + (j0 + jj) % nt;
                size_t qoff = (((size_t)b * T + t) * Hq + h) * hd, rrow = ((size_t)b * Hq + h) * T + t;
                float p = att[rrow * T + s];
                float dd = dk ? warp_dot(vs, dout + qoff, hd) : 0.0f;
                if (lane == 0) {
                    cp[jj] = p;
                    cd[jj] = scale * p * (dd - rowdot[rrow]);
                }
            }
            __syncthreads();
            if (d.g < d.G)
                for (int jj = d.g; jj < m; jj += d.G) {
                    int h = kh * group + (j0 + jj) / nt, t = s + (j0 + jj) % nt;
                    size_t qoff = (((size_t)b * T + t) * Hq + h) * hd + d.i;
                    av += cp[jj] * dout[qoff];
                    ak += cd[jj] * q[qoff];
                }
        }
        part_v[tid] = av;
        part_k[tid] = ak;
        __syncthreads();
        if (tid < d.w) {
            if (dv) dv[soff + i0 + tid] += dim_split_total(part_v, d);
            if (dk) dk[soff + i0 + tid] += dim_split_total(part_k, d);
        }
        __syncthreads();
    }
}

void cuda_attention_train_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout,
                                   const float *q, const float *k, const float *v, const float *att, int B, int T,
                                   int Hq, int Hkv, int hd) {
    if (B <= 0 || T <= 0 || attn_shapes_bad("attention_train_backward", Hq, Hkv, hd)) return;
    attention_dq_kernel<<<dim3(T, Hq, B), ATTN_THREADS, (size_t)(hd + 2 * ATTN_THREADS) * sizeof(float),
                          g_cuda.stream>>>(dq, scratch, dout, k, v, att, T, Hq, Hkv, hd);
    if (CUDA_CHECK_LAUNCH(attention_dq_kernel) || (!dk && !dv)) return;
    attention_dkv_kernel<<<dim3(T, Hkv, B), ATTN_THREADS, (size_t)(hd + 4 * ATTN_THREADS) * sizeof(float),
                           g_cuda.stream>>>(dk, dv, scratch, dout, q, v, att, T, Hq, Hkv, hd);
    CUDA_CHECK_LAUNCH(attention_dkv_kernel);
}
