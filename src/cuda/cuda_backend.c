// The CUDA backend table: device buffers, the teacher's ops, attention, losses and optimiser from
// cuda_ops.h, the RWKV-7 time mix and WKV scan from cuda_rwkv.h.
#include <stdio.h>

#include "backend/backend.h"
#include "cuda/cuda_ops.h"
#include "cuda/cuda_rwkv.h"

static char g_name[16];

static backend g_backend = {
    .name = g_name,
    .host = 0,
    .alloc = cuda_alloc,
    .release = cuda_release,
    .upload = cuda_upload,
    .download = cuda_download,
    .copy = cuda_copy,
    .zero = cuda_zero,
    .sync = cuda_sync,
    .status = cuda_status,
    .describe = cuda_describe,
    .set_fast_math = cuda_set_tf32,
    .matmul_forward = cuda_matmul_forward,
    .matmul_backward = cuda_matmul_backward,
    .xp_forward = cuda_xp_forward,
    .xp_backward = cuda_xp_backward,
    .add = cuda_add,
    .round_to = cuda_round_to,
    .rmsnorm_forward = cuda_rmsnorm_forward,
    .rmsnorm_backward = cuda_rmsnorm_backward,
    .embedding_forward = cuda_embedding_forward,
    .embedding_backward = cuda_embedding_backward,
    .rope_forward = cuda_rope_forward,
    .rope_backward = cuda_rope_backward,
    .swiglu_forward = cuda_swiglu_forward,
    .swiglu_backward = cuda_swiglu_backward,
    .kv_store = cuda_kv_store,
    .attention_forward = cuda_attention_forward,
    .attention_scratch_floats = cuda_attention_scratch_floats,
    .attention_train_forward = cuda_attention_train_forward,
    .attention_train_backward = cuda_attention_train_backward,
    .token_shift_forward = cuda_token_shift_forward,
    .token_shift_backward = cuda_token_shift_backward,
    .shift_store = cuda_shift_store,
    .tanh_forward = cuda_tanh_forward,
    .tanh_backward = cuda_tanh_backward,
    .sigmoid_forward = cuda_sigmoid_forward,
    .sigmoid_backward = cuda_sigmoid_backward,
    .decay_forward = cuda_decay_forward,
    .decay_backward = cuda_decay_backward,
    .value_mix_forward = cuda_value_mix_forward,
    .value_mix_backward = cuda_value_mix_backward,
    .kk_norm_forward = cuda_kk_norm_forward,
    .kk_norm_backward = cuda_kk_norm_backward,
    .k_iclr_forward = cuda_k_iclr_forward,
    .k_iclr_backward = cuda_k_iclr_backward,
    .wkv_ab_forward = cuda_wkv_ab_forward,
    .wkv_ab_backward = cuda_wkv_ab_backward,
    .wkv7_forward = cuda_wkv7_forward,
    .wkv7_backward = cuda_wkv7_backward,
    .wkv7_scratch_floats = cuda_wkv7_scratch_floats,
    .bonus_forward = cuda_bonus_forward,
    .bonus_backward = cuda_bonus_backward,
    .group_norm_forward = cuda_group_norm_forward,
    .group_norm_backward = cuda_group_norm_backward,
    .gate_mul_forward = cuda_gate_mul_forward,
    .gate_mul_backward = cuda_gate_mul_backward,
    .crossentropy_fused = cuda_crossentropy_fused,
    .kl_div_forward = cuda_kl_div_forward,
    .kl_div_backward = cuda_kl_div_backward,
    .align_loss = cuda_align_loss,
    .sumsq = cuda_sumsq,
    .adamw_update = cuda_adamw_update,
};

const backend *backend_cuda(int device) {
    if (cuda_context_init(device)) return NULL;
    snprintf(g_name, sizeof g_name, "cuda:%d", device);
    return &g_backend;
}
