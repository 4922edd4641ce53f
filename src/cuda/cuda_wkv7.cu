// RWKV-7 WKV scan on the GPU (CPU twin: kernels/wkv7.c). The rows of the state S (row = value
// channel) evolve independently in the forward (sa_i = S_i . alpha, out_i = S_i . r), and so do
// the rows of G = dL/dS in the backward (dsa_i = G_i . beta); only the backward's column sums
// (dwd, dk, dalpha, dbeta, dr) mix rows. A scan is a chain over tokens, so its speed is the
// latency of one token's step: the fast paths split that step over many threads whose rows stay
// inside one warp, so a step needs shuffles and no block barrier.
// Fast paths (N = 64 or 32, 16-byte aligned tensors):
//  forward: four lanes per row, each holding N/4 columns in registers; a head is split over 1, 2
//    or 4 blocks of rows so that small batches still fill the device.
//  backward: one block of N^2/16 threads per (sequence, head), each holding a 4 x 4 tile of G in
//    registers. Per sub-chunk of SC tokens the states before each token are recomputed from the
//    checkpoint into shared memory (each thread keeps its own tiles); column sums are reduced
//    over a warp by shuffles, then over warps through shared memory once per sub-chunk.
// Other N (or unaligned tensors) take the generic kernels: one thread per row, state rows in
// global memory, the backward's G in shared memory (N up to ~200 on sm_90).
#include "cuda/cuda_common.h"
#include "cuda/cuda_rwkv.h"

enum { IN_R, IN_WD, IN_K, IN_V, IN_A, IN_B, NIN };   // the per-token inputs, in wkv_in order
#define FULL_MASK 0xffffffffu

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

// x[k] of a kernel's pointer table for a k known only at run time: a select chain keeps the
// pointers in registers (indexing the parameter itself would copy the table to local memory)
template <class P>
__device__ __forceinline__ P pick(const P (&x)[NIN], int k) {
    P p = x[0];
#pragma unroll
    for (int u = 1; u < NIN; u++) p = k == u ? x[u] : p;
    return p;
}

// ---- register tiles -------------------------------------------------------------------------
// d[0..4) = the 4 floats at p (16-byte aligned), and back
__device__ __forceinline__ void ld4(float *d, const float *p) {
    const float4 v = *reinterpret_cast<const float4 *>(p);
    d[0] = v.x, d[1] = v.y, d[2] = v.z, d[3] = v.w;
}

__device__ __forceinline__ void st4(float *p, const float *s) {
    *reinterpret_cast<float4 *>(p) = make_float4(s[0], s[1], s[2], s[3]);
}

__device__ __forceinline__ float dot4(const float *a, const float *b) {
    return fmaf(a[3], b[3], fmaf(a[2], b[2], fmaf(a[1], b[1], a[0] * b[0])));
}

// Sums V values of E floats each (a[v * E + e]) over the W lanes lane ^ (k * STRIDE), k < W, of
// a warp (V, W powers of two). Each level hands half of the values still held to the partner lane
// (the upper half stays with the lane whose bit is set), so a lane ends with the full sums of
// max(V / W, 1) values in a[0 ..): returns the index of the first. Fewer shuffles than summing
// every value on every lane. A template recursion keeps every index a constant (registers).
template <int V, int E, int W, int STRIDE>
__device__ __forceinline__ int warp_sums(float *a, int lane) {
    if constexpr (W == 1) {
        return 0;
    } else {
        constexpr int O = W / 2 * STRIDE, H = V > 1 ? V / 2 : 0;
        const bool up = lane & O;
        if constexpr (H > 0) {
#pragma unroll
            for (int k = 0; k < H * E; k++) {
                const float send = up ? a[k] : a[k + H * E], keep = up ? a[k + H * E] : a[k];
                a[k] = keep + __shfl_xor_sync(FULL_MASK, send, O);
            }
            return (up ? H : 0) + warp_sums<H, E, W / 2, STRIDE>(a, lane);
        } else {
#pragma unroll
            for (int k = 0; k < E; k++) a[k] += __shfl_xor_sync(FULL_MASK, a[k], O);
            return warp_sums<1, E, W / 2, STRIDE>(a, lane);
        }
    }
}

// ---- fast forward ---------------------------------------------------------------------------
#define FC 8   // tokens per staged piece of the fast forward

// float4 items e = tid, tid + THR, .. of the piece (cnt, NIN, N/4) of tokens t0..: global -> reg
template <int NT, int THR, int PER>
__device__ __forceinline__ void fwd_load(float4 *reg, const wkv_in &in, int b, int h, int t0, int cnt, int T,
                                         int H) {
    constexpr int Q = NT / 4;
#pragma unroll
    for (int k = 0; k < PER; k++) {
        const int e = threadIdx.x + k * THR, q = e / (NIN * Q);
        if (q < cnt)
            reg[k] = reinterpret_cast<const float4 *>(pick(in.x, e / Q % NIN) + tok_off(b, t0 + q, h, T, H, NT))
                [e % Q];
    }
}

// ... reg -> the piece in shared memory
template <int NT, int THR, int PER>
__device__ __forceinline__ void fwd_store(float4 *dst, const float4 *reg, int cnt) {
#pragma unroll
    for (int k = 0; k < PER; k++) {
        const int e = threadIdx.x + k * THR;
        if (e / (NIN * NT / 4) < cnt) dst[e] = reg[k];
    }
}

// RPB rows of one head per block, four lanes per row: lane c of row i holds the columns
// 16 g + 4 c .. + 3 (g < N/16), so the lanes of a row read 64 contiguous bytes of a staged vector.
// Pieces of FC tokens are double-buffered: the next one is loaded while this one is walked. Only
// sa = S alpha is summed over the row's lanes token by token (the chain); the outputs' sums of a
// piece are done together at its end.
template <int NT, int RPB>
__global__ void __launch_bounds__(4 * RPB)
    wkv7_forward_fast(float *out, float *state, float *ckpt, int K, wkv_in in, int T, int H) {
    constexpr int THR = 4 * RPB, NG = NT / 16, Q = NT / 4, PIECE = FC * NIN * Q, PER = (PIECE + THR - 1) / THR;
    __shared__ float4 tok[2][PIECE];
    const int tid = threadIdx.x, c = tid & 3, bh = blockIdx.x / (NT / RPB);
    const int i = blockIdx.x % (NT / RPB) * RPB + tid / 4, b = bh / H, h = bh % H, nck = (T + K - 1) / K;
    const size_t NN = (size_t)NT * NT;
    float *Si = state + bh * NN + (size_t)i * NT + 4 * c;
    float s[NG][4];
    float4 reg[PER];
#pragma unroll
    for (int g = 0; g < NG; g++) ld4(s[g], Si + 16 * g);
    fwd_load<NT, THR, PER>(reg, in, b, h, 0, min(FC, T), T, H);
    fwd_store<NT, THR, PER>(tok[0], reg, min(FC, T));
    __syncthreads();
    for (int t0 = 0, p = 0; t0 < T; t0 += FC, p ^= 1) {
        const int cnt = min(FC, T - t0), next = min(FC, T - t0 - FC);
        int tk = (t0 + K - 1) / K * K;   // the next checkpointed token
        float o[FC] = {};                // this lane's part of each token's output
        if (next > 0) fwd_load<NT, THR, PER>(reg, in, b, h, t0 + FC, next, T, H);
#pragma unroll
        for (int q = 0; q < FC; q++) {
            if (q == cnt) break;
            const float *x = reinterpret_cast<const float *>(tok[p] + q * NIN * Q) + 4 * c;   // x[v * NT + 16 g]
            if (ckpt && t0 + q == tk) {
                float *ck = ckpt + (((size_t)b * nck + tk / K) * H + h) * NN + (size_t)i * NT + 4 * c;
#pragma unroll
                for (int g = 0; g < NG; g++) st4(ck + 16 * g, s[g]);
                tk += K;
            }
            float sa = 0.0f, part[NG];
#pragma unroll
            for (int g = 0; g < NG; g++) {
                float al[4];
                ld4(al, x + IN_A * NT + 16 * g);
                part[g] = dot4(s[g], al);
            }
#pragma unroll
            for (int g = 0; g < NG; g++) sa += part[g];
            sa += __shfl_xor_sync(FULL_MASK, sa, 1);
            sa += __shfl_xor_sync(FULL_MASK, sa, 2);
            const float vi = x[IN_V * NT + i - 4 * c];
#pragma unroll
            for (int g = 0; g < NG; g++) {
                float wd[4], be[4], kk[4], r[4];
                const float *xg = x + 16 * g;
                ld4(wd, xg + IN_WD * NT), ld4(be, xg + IN_B * NT), ld4(kk, xg + IN_K * NT), ld4(r, xg + IN_R * NT);
#pragma unroll
                for (int u = 0; u < 4; u++) s[g][u] = fmaf(vi, kk[u], fmaf(sa, be[u], s[g][u] * wd[u]));
                o[q] += dot4(s[g], r);
            }
        }
        // lane c ends with the sums of tokens 2 c and 2 c + 1 of the piece
        const int first = warp_sums<FC, 1, 4, 1>(o, c);
#pragma unroll
        for (int k = 0; k < FC / 4; k++)
            if (first + k < cnt) out[tok_off(b, t0 + first + k, h, T, H, NT) + i] = o[k];
        if (next > 0) fwd_store<NT, THR, PER>(tok[p ^ 1], reg, next);
        __syncthreads();
    }
#pragma unroll
    for (int g = 0; g < NG; g++) st4(Si + 16 * g, s[g]);
}

// ---- fast backward --------------------------------------------------------------------------
// Per token t, with G = dL/dS_t (already holding dy_t r_t^T), S = S_{t-1}, sa = S alpha:
//   rows:    dsa_i = G_i . beta ; dv_i += G_i . k
//   columns: dwd_j += sum_i G_ij S_ij ; dk_j += sum_i G_ij v_i ; dalpha_j += sum_i S_ij dsa_i ;
//            dbeta_j += sum_i G_ij sa_i ; dr_j += sum_i S_t,ij dy_i (taken in the recomputation)
//   G_ij = G_ij wd_j + dsa_i alpha_j + dy_{t-1,i} r_{t-1,j}
#define SC 8   // tokens per sub-chunk: their states stay in shared memory

enum { C_R, C_WD, C_K, C_A, C_B, NC };   // column sums, in the order of the inputs they feed
enum { M_WD, M_K, M_V, M_A, M_B, NM };   // staged per-token vectors besides r and dout

// The shapes of the fast backward for head size NT: THR threads of 4 x 4 tiles, CQ lanes per
// row-quad, RQ row-quads per warp, NW warps. Shared memory, in floats:
//   hist (SC, 4, THR) float4s: each thread's state tiles before each token of the sub-chunk
//   col (SC, NC, NW, NT): column sums of each warp ; sab (SC, NT): sa of each token
//   rd (SC + 1, 2, NT): r and dout of tokens p0 - 1 .. ; mv (SC, NM, NT): the rest, of p0 ..
template <int NT>
struct bwd_shape {
    static constexpr int THR = NT * NT / 16, NW = THR / 32, CQ = NT / 4, RQ = 32 / CQ, Q = NT / 4;
    static constexpr int HIST = SC * 4 * THR * 4, COL = SC * NC * NW * NT, SAB = SC * NT;
    static constexpr int RD = (SC + 1) * 2 * NT, MV = SC * NM * NT, FLOATS = HIST + COL + SAB + RD + MV;
    static constexpr int PER = ((RD + MV) / 4 + THR - 1) / THR;   // staged float4s per thread
    static constexpr int OPER = (SC * NIN * Q + THR - 1) / THR;   // output float4s per thread
};

// the walk: chunks last to first; in each, sub-chunks [s0, s0 + SC) last to first, each
// recomputed from the chunk's checkpoint piece by piece (p0 = 0, SC, .., s0), then swept back
typedef struct {
    int c, s0, p0;
} piece;

__device__ __forceinline__ int chunk_len(int c, int K, int T) { return min(K, T - c * K); }

// the piece after *p; 0 when *p was the last
__device__ __forceinline__ int piece_next(piece *p, int K, int T) {
    if (p->p0 < p->s0) p->p0 += SC;
    else if (p->s0 > 0) p->s0 -= SC, p->p0 = 0;
    else if (p->c > 0) p->c--, p->s0 = (chunk_len(p->c, K, T) - 1) / SC * SC, p->p0 = 0;
    else return 0;
    return 1;
}

// whether staged float4 e (of rd then mv) belongs to a piece of cnt tokens; *t: its token
// relative to the piece's first
template <int NT>
__device__ __forceinline__ bool bwd_item(int e, int cnt, int *t) {
    constexpr int Q = NT / 4, RD4 = bwd_shape<NT>::RD / 4;
    if (e < RD4) return *t = e / (2 * Q) - 1, *t < cnt;
    return *t = (e - RD4) / (NM * Q), *t < cnt;
}

// the piece's staged float4s of this thread: global -> reg; token -1 reads as zeros
template <int NT>
__device__ __forceinline__ void bwd_load(float4 *reg, const wkv_in &in, const float *dout, piece p, int b, int h,
                                         int K, int T, int H) {
    typedef bwd_shape<NT> S;
    const int t0 = p.c * K + p.p0, cnt = min(SC, chunk_len(p.c, K, T) - p.p0);
#pragma unroll
    for (int k = 0; k < S::PER; k++) {
        const int e = threadIdx.x + k * S::THR;
        int t;
        if (!bwd_item<NT>(e, cnt, &t)) continue;
        const float *src = e < S::RD / 4 ? (e / S::Q % 2 ? dout : in.x[IN_R])
                                         : pick(in.x, IN_WD + (e - S::RD / 4) / S::Q % NM);
        reg[k] = t0 + t < 0 ? make_float4(0.0f, 0.0f, 0.0f, 0.0f)
                            : reinterpret_cast<const float4 *>(src + tok_off(b, t0 + t, h, T, H, NT))[e % S::Q];
    }
}

// ... reg -> shared memory (rd, then mv)
template <int NT>
__device__ __forceinline__ void bwd_store(float4 *dst, const float4 *reg, int cnt) {
#pragma unroll
    for (int k = 0; k < bwd_shape<NT>::PER; k++) {
        const int e = threadIdx.x + k * bwd_shape<NT>::THR;
        int t;
        if (bwd_item<NT>(e, cnt, &t)) dst[e] = reg[k];
    }
}

// tile (4 x 4) of the N x N matrix M at rows i0.., columns j0..
template <int NT>
__device__ __forceinline__ void tile_load(float (*d)[4], const float *M, int i0, int j0) {
#pragma unroll
    for (int u = 0; u < 4; u++) ld4(d[u], M + (size_t)(i0 + u) * NT + j0);
}

template <int NT>
__global__ void __launch_bounds__(NT * NT / 16, 1)
    wkv7_backward_fast(wkv_grads g, float *dstate, const float *dout, const float *ckpt, int K, wkv_in in, int T,
                       int H) {
    typedef bwd_shape<NT> S;
    extern __shared__ float4 smem4[];
    float4 *hist = smem4;
    float *col = reinterpret_cast<float *>(smem4) + S::HIST, *sab = col + S::COL, *rd = sab + S::SAB;
    float *mv = rd + S::RD;
    const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5, qbase = lane & ~(S::CQ - 1);
    const int i0 = 4 * (w * S::RQ + lane / S::CQ), j0 = 4 * (lane % S::CQ);
    const int bh = blockIdx.x, b = bh / H, h = bh % H, nck = (T + K - 1) / K;
    const size_t NN = (size_t)NT * NT;
    float *dS = dstate ? dstate + bh * NN : NULL;
    float G[4][4], St[4][4], ck[4][4];
    float4 reg[S::PER], old[S::OPER];
    {   // G = dL/dS_T + dy_{T-1} r_{T-1}^T
        const size_t o = tok_off(b, T - 1, h, T, H, NT);
        float dy[4], r[4];
        ld4(dy, dout + o + i0), ld4(r, in.x[IN_R] + o + j0);
        if (dS) tile_load<NT>(G, dS, i0, j0);
#pragma unroll
        for (int u = 0; u < 4; u++)
#pragma unroll
            for (int v = 0; v < 4; v++) G[u][v] = fmaf(dy[u], r[v], dS ? G[u][v] : 0.0f);
    }
    piece p = { nck - 1, (chunk_len(nck - 1, K, T) - 1) / SC * SC, 0 };
    bwd_load<NT>(reg, in, dout, p, b, h, K, T, H);
    tile_load<NT>(ck, ckpt + (((size_t)b * nck + p.c) * H + h) * NN, i0, j0);
    for (;;) {
        const int t0 = p.c * K + p.p0, cnt = min(SC, chunk_len(p.c, K, T) - p.p0), keep = p.p0 == p.s0;
        __syncthreads();   // the previous piece and sub-chunk sums have been read
        bwd_store<NT>(reinterpret_cast<float4 *>(rd), reg, cnt);
        __syncthreads();
        if (p.p0 == 0)
#pragma unroll
            for (int u = 0; u < 4; u++)
#pragma unroll
                for (int v = 0; v < 4; v++) St[u][v] = ck[u][v];
        piece nx = p;
        const int more = piece_next(&nx, K, T);
        if (more) {   // in flight while this piece is walked
            bwd_load<NT>(reg, in, dout, nx, b, h, K, T, H);
            if (nx.p0 == 0) tile_load<NT>(ck, ckpt + (((size_t)b * nck + nx.c) * H + h) * NN, i0, j0);
        }
        // recompute: the states before tokens t0.. ; kept (with sa and dr) for the sub-chunk
        for (int m = 0; m < cnt; m++) {
            const float *x = mv + m * NM * NT;
            float al[4], wd[4], be[4], kk[4], v[4], a[4], sa[4];
            ld4(al, x + M_A * NT + j0), ld4(wd, x + M_WD * NT + j0), ld4(be, x + M_B * NT + j0);
            ld4(kk, x + M_K * NT + j0), ld4(v, x + M_V * NT + i0);
#pragma unroll
            for (int u = 0; u < 4; u++) a[u] = dot4(St[u], al);
            const int row = warp_sums<4, 1, S::CQ, 1>(a, lane);
            if (keep) {
                if (lane % (S::CQ / 4) == 0) sab[m * NT + i0 + row] = a[0];
#pragma unroll
                for (int u = 0; u < 4; u++) st4(reinterpret_cast<float *>(hist + (m * 4 + u) * S::THR + tid), St[u]);
            }
#pragma unroll
            for (int u = 0; u < 4; u++) sa[u] = __shfl_sync(FULL_MASK, a[0], qbase + u * (S::CQ / 4));
#pragma unroll
            for (int u = 0; u < 4; u++)
#pragma unroll
                for (int c = 0; c < 4; c++) St[u][c] = fmaf(v[u], kk[c], fmaf(sa[u], be[c], St[u][c] * wd[c]));
            if (keep) {   // dr = S_t^T dy_t
                float dy[4], cr[4];
                ld4(dy, rd + (m + 1) * 2 * NT + NT + i0);
#pragma unroll
                for (int c = 0; c < 4; c++)
                    cr[c] = fmaf(St[3][c], dy[3], fmaf(St[2][c], dy[2], fmaf(St[1][c], dy[1], St[0][c] * dy[0])));
                warp_sums<1, 4, S::RQ, S::CQ>(cr, lane);
                if (lane < S::CQ) st4(col + ((m * NC + C_R) * S::NW + w) * NT + j0, cr);
            }
        }
        if (keep) {
#pragma unroll
            for (int k = 0; k < S::OPER; k++) {   // the gradients' old values, added to after the sweep
                const int e = tid + k * S::THR, m = e / (NIN * S::Q), x = e / S::Q % NIN;
                const float *gx = pick(g.d, x);
                if (m < cnt && gx)
                    old[k] = reinterpret_cast<const float4 *>(gx + tok_off(b, t0 + m, h, T, H, NT))[e % S::Q];
            }
            __syncwarp();   // sab comes from other lanes of the warp
            for (int m = cnt - 1; m >= 0; m--) {
                float *x = mv + m * NM * NT;
                const float *xp = rd + m * 2 * NT;   // r and dout of the token before
                float be[4], kk[4], wd[4], al[4], rp[4], v[4], sa[4], dyp[4], Sx[4][4], a[8], dsa[4], cs[4 * 4];
                ld4(be, x + M_B * NT + j0), ld4(kk, x + M_K * NT + j0), ld4(wd, x + M_WD * NT + j0);
                ld4(al, x + M_A * NT + j0), ld4(rp, xp + j0);
                ld4(v, x + M_V * NT + i0), ld4(sa, sab + m * NT + i0), ld4(dyp, xp + NT + i0);
#pragma unroll
                for (int u = 0; u < 4; u++) {
                    ld4(Sx[u], reinterpret_cast<const float *>(hist + (m * 4 + u) * S::THR + tid));
                    a[u] = dot4(G[u], be);
                    a[4 + u] = dot4(G[u], kk);
                }
                const int row = warp_sums<8, 1, S::CQ, 1>(a, lane);   // dsa (0..3) and dv (4..7)
#pragma unroll
                for (int u = 0; u < 4; u++) dsa[u] = __shfl_sync(FULL_MASK, a[0], qbase + u * (S::CQ / 8));
                __syncwarp();   // v has been read by the whole warp before dv replaces it
                if (row >= 4 && lane % (S::CQ / 8) == 0) x[M_V * NT + i0 + row - 4] = a[0];
#pragma unroll
                for (int c = 0; c < 4; c++) {
                    float s_wd = 0.0f, s_k = 0.0f, s_a = 0.0f, s_b = 0.0f;
#pragma unroll
                    for (int u = 0; u < 4; u++) {
                        s_wd = fmaf(G[u][c], Sx[u][c], s_wd);
                        s_k = fmaf(G[u][c], v[u], s_k);
                        s_a = fmaf(Sx[u][c], dsa[u], s_a);
                        s_b = fmaf(G[u][c], sa[u], s_b);
                    }
                    cs[c] = s_wd, cs[4 + c] = s_k, cs[8 + c] = s_a, cs[12 + c] = s_b;
                }
                const int first = warp_sums<4, 4, S::RQ, S::CQ>(cs, lane);
#pragma unroll
                for (int k = 0; k < 4 / S::RQ; k++)
                    st4(col + ((m * NC + C_WD + first + k) * S::NW + w) * NT + j0, cs + 4 * k);
#pragma unroll
                for (int u = 0; u < 4; u++)
#pragma unroll
                    for (int c = 0; c < 4; c++) G[u][c] = fmaf(dyp[u], rp[c], fmaf(dsa[u], al[c], G[u][c] * wd[c]));
            }
            __syncthreads();
#pragma unroll
            for (int k = 0; k < S::OPER; k++) {   // + the sums over warps (dv: over the row's lanes)
                const int e = tid + k * S::THR, m = e / (NIN * S::Q), x = e / S::Q % NIN, f = e % S::Q;
                float *gx = pick(g.d, x);
                if (m >= cnt || !gx) continue;
                float acc[4], part[4];
                ld4(acc, reinterpret_cast<const float *>(old + k));
                if (x == IN_V) {
                    ld4(part, mv + m * NM * NT + M_V * NT + 4 * f);
                    for (int c = 0; c < 4; c++) acc[c] += part[c];
                } else {
                    const float *cw = col + (m * NC + x - (x > IN_V)) * S::NW * NT + 4 * f;
                    for (int ww = 0; ww < S::NW; ww++) {
                        ld4(part, cw + ww * NT);
                        for (int c = 0; c < 4; c++) acc[c] += part[c];
                    }
                }
                st4(gx + tok_off(b, t0 + m, h, T, H, NT) + 4 * f, acc);
            }
        }
        if (!more) break;
        p = nx;
    }
    if (dS)
#pragma unroll
        for (int u = 0; u < 4; u++) st4(dS + (size_t)(i0 + u) * NT + j0, G[u]);
}

// ---- generic N: one thread per state row ----------------------------------------------------
#define GEN_FWD_CHUNK 16   // tokens staged at once by the forward
#define GEN_BWD_CHUNK 8    // ... by the backward's recomputation

// tok (cnt, NIN, N) = inputs first.. of tokens [t0, t0 + cnt); thread j loads channel j
__device__ __forceinline__ void stage_tokens(float *tok, const wkv_in &in, int first, int b, int h, int t0, int cnt,
                                             int T, int H, int N) {
    const int j = threadIdx.x;
    for (int q = 0; q < cnt; q++) {
        const size_t o = tok_off(b, t0 + q, h, T, H, N) + j;
        for (int x = first; x < NIN; x++) tok[((size_t)q * NIN + x) * N + j] = in.x[x][o];
    }
}

__device__ __forceinline__ float row_dot(const float *row, const float *x, int n) {
    float a = 0.0f;
    for (int j = 0; j < n; j++) a = fmaf(row[j], x[j], a);
    return a;
}

// dst = src diag(wd) + sa beta^T + vi k^T for one row of one staged token x (NIN, n); returns
// dst . r. dst may equal src.
__device__ __forceinline__ float row_update(float *dst, const float *src, float sa, float vi, const float *x, int n) {
    const float *wd = x + IN_WD * n, *k = x + IN_K * n, *be = x + IN_B * n, *r = x + IN_R * n;
    float a = 0.0f;
    for (int j = 0; j < n; j++) {
        const float y = fmaf(vi, k[j], fmaf(sa, be[j], src[j] * wd[j]));
        dst[j] = y;
        a = fmaf(y, r[j], a);
    }
    return a;
}

// shared: tok (GEN_FWD_CHUNK, NIN, N); thread i updates row i of the state in place
__global__ void wkv7_forward_generic(float *out, float *state, float *ckpt, int K, wkv_in in, int T, int H, int N) {
    extern __shared__ float4 smem4[];
    float *tok = reinterpret_cast<float *>(smem4);
    const int b = blockIdx.x / H, h = blockIdx.x % H, i = threadIdx.x;
    const size_t NN = (size_t)N * N;
    const int nck = (T + K - 1) / K;
    float *row = state + ((size_t)b * H + h) * NN + (size_t)i * N;
    for (int t0 = 0; t0 < T; t0 += GEN_FWD_CHUNK) {
        const int cnt = min(GEN_FWD_CHUNK, T - t0);
        stage_tokens(tok, in, IN_R, b, h, t0, cnt, T, H, N);
        __syncthreads();
        for (int q = 0; q < cnt; q++) {
            const int t = t0 + q;
            const float *x = tok + (size_t)q * NIN * N;
            if (ckpt && t % K == 0) {
                float *ck = ckpt + (((size_t)b * nck + t / K) * H + h) * NN + (size_t)i * N;
                for (int j = 0; j < N; j++) ck[j] = row[j];
            }
            const float sa = row_dot(row, x + IN_A * N, N);
            out[tok_off(b, t, h, T, H, N) + i] = row_update(row, row, sa, x[IN_V * N + i], x, N);
        }
        __syncthreads();
    }
}

// The generic backward walks G = dL/dS (shared memory) back over the tokens: row sums with
// thread i owning row i, column sums with thread j owning column j, and
//   dr_j += wd_j (S^T dy)_j + beta_j (sa . dy) + k_j (v . dy)   (= (S_t^T dy)_j)
// The per-token vectors are double-buffered: the column pass of token t loads those of t - 1.
enum { V_DYP, V_B, V_K, V_WD, V_A, V_RP, NV };   // dy_{t-1}, beta, k, wd, alpha, r_{t-1}

// shared floats of the generic backward: q4 (2, N) float4s (v, sa, dsa, dy), vec (2, NV, N), tok, G (N, ld)
static size_t bwd_smem_floats(int N) {
    const size_t ld = (size_t)(N | 1);   // odd row stride: row i and column j walks hit distinct banks
    return 8 * (size_t)N + 2 * NV * (size_t)N + (size_t)GEN_BWD_CHUNK * NIN * N + (size_t)N * ld;
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
__device__ __forceinline__ void recompute_chunk(float *ws, float *sab, const float *ck, float *tok, const wkv_in &in,
                                                int b, int h, int t0, int len, int T, int H, int N) {
    const int i = threadIdx.x;
    const size_t NN = (size_t)N * N;
    for (int j = 0; j < N; j++) ws[(size_t)i * N + j] = ck[(size_t)i * N + j];
    for (int u0 = 0; u0 < len; u0 += GEN_BWD_CHUNK) {
        const int cnt = min(GEN_BWD_CHUNK, len - u0);
        stage_tokens(tok, in, IN_R, b, h, t0 + u0, cnt, T, H, N);
        __syncthreads();
        for (int q = 0; q < cnt; q++) {
            const int m = u0 + q;
            const float *cur = ws + m * NN + (size_t)i * N, *x = tok + (size_t)q * NIN * N;
            const float sa = row_dot(cur, x + IN_A * N, N);
            sab[(size_t)m * N + i] = sa;
            if (m + 1 < len) row_update(ws + (m + 1) * NN + (size_t)i * N, cur, sa, x[IN_V * N + i], x, N);
        }
        __syncthreads();
    }
}

__global__ void wkv7_backward_generic(wkv_grads g, float *dstate, float *scratch, const float *dout,
                                      const float *ckpt, int K, wkv_in in, int T, int H, int N) {
    extern __shared__ float4 smem4[];
    const int ld = N | 1;
    float *vec = reinterpret_cast<float *>(smem4 + 2 * N), *tok = vec + 2 * NV * N;
    float *G = tok + GEN_BWD_CHUNK * NIN * N;
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
        recompute_chunk(ws, sab, ckpt + (((size_t)b * nck + c) * H + h) * NN, tok, in, b, h, t0, len, T, H, N);
        for (int m = len - 1; m >= 0; m--) {
            const int t = t0 + m, p = t & 1;
            float4 *q4 = smem4 + p * N;
            const float *vp = vec + p * NV * N;
            const size_t o = tok_off(b, t, h, T, H, N);
            {   // rows: thread i = tid
                const float *Gi = G + (size_t)tid * ld, *be = vp + V_B * N, *kv = vp + V_K * N;
                float ds = 0.0f, dv = 0.0f;
                for (int j = 0; j < N; j++) ds = fmaf(Gi[j], be[j], ds), dv = fmaf(Gi[j], kv[j], dv);
                q4[tid].y = sab[(size_t)m * N + tid];
                q4[tid].z = ds;
                if (g.d[IN_V]) g.d[IN_V][o + tid] += dv;
            }
            __syncthreads();
            {   // columns: thread j = tid
                const int j = tid;
                const float wj = vp[V_WD * N + j], aj = vp[V_A * N + j], bj = vp[V_B * N + j];
                const float kj = vp[V_K * N + j], rpj = vp[V_RP * N + j];
                const float *S = ws + (size_t)m * NN + j, *dyp = vp + V_DYP * N;
                float dw = 0.0f, dkj = 0.0f, db = 0.0f, da = 0.0f, sdy = 0.0f, sady = 0.0f, vdy = 0.0f;
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
    if (K > 0 && B > 0 && T > 0 && H > 0 && N > 0 && N <= 1024 && (long long)B * H * 4 < INT32_MAX) return 0;
    arwkv_set_error("%s: unsupported shape K=%d B=%d T=%d H=%d N=%d (need positive sizes, N <= 1024)", fn, K, B, T, H,
                    N);
    g_cuda.failed = 1;
    return -1;
}

// an attribute of the current device; 0 (+ error) when it cannot be read
static int device_attr(cudaDeviceAttr attr) {
    int dev = 0, v = 0;
    if (CUDA_CHECK(cudaGetDevice(&dev)) || CUDA_CHECK(cudaDeviceGetAttribute(&v, attr, dev))) return 0;
    return v;
}

// allows smem bytes of dynamic shared memory for kernel; 0, or -1 + error when the device has less
static int smem_allow(const void *kernel, size_t smem, const char *fn, int N) {
    if (smem <= 48 * 1024) return 0;
    const int max = device_attr(cudaDevAttrMaxSharedMemoryPerBlockOptin);
    if (smem > (size_t)max) {
        arwkv_set_error("%s: head size N=%d needs %zu bytes of shared memory, the device has %d", fn, N, smem, max);
        g_cuda.failed = 1;
        return -1;
    }
    return CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
}

// whether the n pointers (NULL allowed) are 16-byte aligned, as the fast kernels' float4 accesses need
static int aligned16(const void *const *p, int n) {
    for (int i = 0; i < n; i++)
        if ((uintptr_t)p[i] & 15) return 0;
    return 1;
}

typedef void (*fwd_fast_fn)(float *, float *, float *, int, wkv_in, int, int);

// blocks of N / split rows: splits heads while there are fewer than four blocks per multiprocessor
static fwd_fast_fn forward_fast_kernel(int N, int BH, int *split) {
    const int sms = device_attr(cudaDevAttrMultiProcessorCount);
    *split = 1;
    while (*split < 4 && (long long)BH * *split < 4LL * sms) *split *= 2;
    if (N == 64) return *split == 4 ? wkv7_forward_fast<64, 16> : *split == 2 ? wkv7_forward_fast<64, 32>
                                                                              : wkv7_forward_fast<64, 64>;
    return *split == 4 ? wkv7_forward_fast<32, 8> : *split == 2 ? wkv7_forward_fast<32, 16> : wkv7_forward_fast<32, 32>;
}

void cuda_wkv7_forward(float *out, float *state, float *ckpt, int K, const float *r, const float *wd, const float *k,
                       const float *v, const float *alpha, const float *beta, int B, int T, int H, int N) {
    if (T == 0 || B == 0) return;
    if (wkv7_check_shape("cuda_wkv7_forward", K, B, T, H, N)) return;
    const wkv_in in = { { r, wd, k, v, alpha, beta } };
    const void *ptrs[] = { out, state, ckpt, r, wd, k, v, alpha, beta };
    if ((N == 64 || N == 32) && aligned16(ptrs, 9)) {
        int split;
        const fwd_fast_fn kernel = forward_fast_kernel(N, B * H, &split);
        kernel<<<B * H * split, 4 * N / split, 0, g_cuda.stream>>>(out, state, ckpt, K, in, T, H);
        CUDA_CHECK_LAUNCH(wkv7_forward_fast);
        return;
    }
    const size_t smem = (size_t)GEN_FWD_CHUNK * NIN * N * sizeof(float);
    if (smem_allow((const void *)wkv7_forward_generic, smem, "cuda_wkv7_forward", N)) return;
    wkv7_forward_generic<<<B * H, N, smem, g_cuda.stream>>>(out, state, ckpt, K, in, T, H, N);
    CUDA_CHECK_LAUNCH(wkv7_forward_generic);
}

void cuda_wkv7_backward(float *dr, float *dwd, float *dk, float *dv, float *dalpha, float *dbeta, float *dstate,
                        float *scratch, const float *dout, const float *ckpt, int K, const float *r, const float *wd,
                        const float *k, const float *v, const float *alpha, const float *beta, int B, int T, int H,
                        int N) {
    if (T == 0 || B == 0) return;
    if (wkv7_check_shape("cuda_wkv7_backward", K, B, T, H, N)) return;
    if (!ckpt) {
        arwkv_set_error("cuda_wkv7_backward: ckpt is NULL (needs the forward's checkpoints)");
        g_cuda.failed = 1;
        return;
    }
    const wkv_in in = { { r, wd, k, v, alpha, beta } };
    const wkv_grads gr = { { dr, dwd, dk, dv, dalpha, dbeta } };
    const void *ptrs[] = { dr, dwd, dk, dv, dalpha, dbeta, dstate, dout, ckpt, r, wd, k, v, alpha, beta };
    if ((N == 64 || N == 32) && aligned16(ptrs, 15)) {
        const size_t smem = (N == 64 ? bwd_shape<64>::FLOATS : bwd_shape<32>::FLOATS) * sizeof(float);
        void (*kernel)(wkv_grads, float *, const float *, const float *, int, wkv_in, int, int) =
            N == 64 ? wkv7_backward_fast<64> : wkv7_backward_fast<32>;
        // devices with less shared memory than a sub-chunk needs take the generic kernel
        if (smem <= (size_t)device_attr(cudaDevAttrMaxSharedMemoryPerBlockOptin)) {
            if (smem_allow((const void *)kernel, smem, "cuda_wkv7_backward", N)) return;
            kernel<<<B * H, N * N / 16, smem, g_cuda.stream>>>(gr, dstate, dout, ckpt, K, in, T, H);
            CUDA_CHECK_LAUNCH(wkv7_backward_fast);
            return;
        }
    }
    if (!scratch) {
        arwkv_set_error("cuda_wkv7_backward: scratch is NULL (needs cuda_wkv7_scratch_floats floats)");
        g_cuda.failed = 1;
        return;
    }
    const size_t smem = bwd_smem_floats(N) * sizeof(float);
    if (smem_allow((const void *)wkv7_backward_generic, smem, "cuda_wkv7_backward", N)) return;
    wkv7_backward_generic<<<B * H, N, smem, g_cuda.stream>>>(gr, dstate, scratch, dout, ckpt, K, in, T, H, N);
    CUDA_CHECK_LAUNCH(wkv7_backward_generic);
}

// the generic backward's per (sequence, head) K states (N, N) and K rows of sa (N); the fast
// paths need none, but a device with too little shared memory falls back to the generic one
size_t cuda_wkv7_scratch_floats(int K, int B, int H, int N) {
    if (K <= 0 || B <= 0 || H <= 0 || N <= 0) return 0;
    return (size_t)B * H * K * ((size_t)N * N + N);
}
