// Reading the golden safetensors files of the PyTorch reference in tests: a tensor by name with
// its dtype checked (F64 losses, F32 tensors, I32 batches).
#ifndef ARWKV_GOLDEN_UTIL_H
#define ARWKV_GOLDEN_UTIL_H

#include "io/safetensors.h"

typedef st_set golden;

static inline int golden_open(golden *g, const char *path) { return safetensors_open(g, path); }
static inline void golden_close(golden *g) { safetensors_close(g); }

// data of tensor `name` if its dtype is `dtype` ("F64", "F32", "I32"), element count in *n
static inline const void *golden_find(const golden *g, const char *name, const char *dtype, size_t *n) {
    const st_tensor *t = safetensors_find(g, name);
    if (!t || strcmp(arwkv_dtype_name(t->dtype), dtype)) return NULL;
    *n = (size_t)t->numel;
    return t->data;
}

#endif
