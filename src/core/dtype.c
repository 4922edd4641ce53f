#include <math.h>
#include <strings.h>
#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "core/core.h"

static const char *k_names[ARWKV_DTYPE_COUNT] = {"F32", "F16", "BF16", "I64", "I32", "U8", "F64"};
static const size_t k_sizes[ARWKV_DTYPE_COUNT] = {4, 2, 2, 8, 4, 1, 8};

const char *arwkv_dtype_name(arwkv_dtype dt) {
    return (unsigned)dt < ARWKV_DTYPE_COUNT ? k_names[dt] : "?";
}

size_t arwkv_dtype_size(arwkv_dtype dt) {
    return (unsigned)dt < ARWKV_DTYPE_COUNT ? k_sizes[dt] : 0;
}

int arwkv_dtype_parse(const char *name, arwkv_dtype *out) {
    static const struct { const char *s; arwkv_dtype dt; } alias[] = {
        {"float32", ARWKV_F32}, {"float16", ARWKV_F16}, {"half", ARWKV_F16},
        {"bfloat16", ARWKV_BF16}, {"fp32", ARWKV_F32}, {"fp16", ARWKV_F16},
    };
    for (int i = 0; i < ARWKV_DTYPE_COUNT; i++)
        if (!strcasecmp(name, k_names[i])) return *out = (arwkv_dtype)i, 0;
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (!strcasecmp(name, alias[i].s)) return *out = alias[i].dt, 0;
    return arwkv_set_error("unknown dtype '%s' (expected f32, f16 or bf16)", name);
}

float f16_to_f32(uint16_t h) {
#if defined(__F16C__)
    return _cvtsh_ss(h);
#else
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    float f;
    if (exp == 0) f = ldexpf((float)man, -24);
    else if (exp == 31) f = man ? NAN : INFINITY;
    else f = ldexpf((float)(man | 0x400), (int)exp - 25);
    union { float f; uint32_t u; } v = { f };
    v.u |= sign;
    return v.f;
#endif
}

uint16_t f32_to_f16(float f) {
#if defined(__F16C__)
    return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
#else
    union { float f; uint32_t u; } v = { f };
    uint32_t sign = (v.u >> 16) & 0x8000, a = v.u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00);
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);   // rounds to inf
    if (a < 0x38800000u) {                                      // subnormal or zero
        float r = fabsf(f) * 16777216.0f;                       // 2^24
        return (uint16_t)(sign | (uint32_t)nearbyintf(r));
    }
    uint32_t r = a + 0xfffu + ((a >> 13) & 1u) - 0x38000000u;
    return (uint16_t)(sign | (r >> 13));
#endif
}

void dtype_to_f32(float *out, const void *in, arwkv_dtype dt, size_t n) {
    switch (dt) {
    case ARWKV_F32: memcpy(out, in, n * 4); break;
    case ARWKV_BF16: for (size_t i = 0; i < n; i++) out[i] = bf16_to_f32(((const uint16_t *)in)[i]); break;
    case ARWKV_F16: for (size_t i = 0; i < n; i++) out[i] = f16_to_f32(((const uint16_t *)in)[i]); break;
    case ARWKV_I64: for (size_t i = 0; i < n; i++) out[i] = (float)((const int64_t *)in)[i]; break;
    case ARWKV_I32: for (size_t i = 0; i < n; i++) out[i] = (float)((const int32_t *)in)[i]; break;
    case ARWKV_U8: for (size_t i = 0; i < n; i++) out[i] = (float)((const uint8_t *)in)[i]; break;
    case ARWKV_F64: for (size_t i = 0; i < n; i++) out[i] = (float)((const double *)in)[i]; break;
    default: break;
    }
}

void dtype_from_f32(void *out, const float *in, arwkv_dtype dt, size_t n) {
    switch (dt) {
    case ARWKV_F32: memcpy(out, in, n * 4); break;
    case ARWKV_BF16: for (size_t i = 0; i < n; i++) ((uint16_t *)out)[i] = f32_to_bf16(in[i]); break;
    case ARWKV_F16: for (size_t i = 0; i < n; i++) ((uint16_t *)out)[i] = f32_to_f16(in[i]); break;
    case ARWKV_I64: for (size_t i = 0; i < n; i++) ((int64_t *)out)[i] = (int64_t)in[i]; break;
    case ARWKV_I32: for (size_t i = 0; i < n; i++) ((int32_t *)out)[i] = (int32_t)in[i]; break;
    case ARWKV_U8: for (size_t i = 0; i < n; i++) ((uint8_t *)out)[i] = (uint8_t)in[i]; break;
    case ARWKV_F64: for (size_t i = 0; i < n; i++) ((double *)out)[i] = (double)in[i]; break;
    default: break;
    }
}
