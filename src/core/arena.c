#include <stdlib.h>

#include "core/core.h"

size_t arena_align(size_t bytes) { return align_up(bytes, 64); }

int arena_init(arena *a, const char *name, size_t size) {
    a->name = name;
    a->size = arena_align(size ? size : 64);
    a->used = 0;
    a->base = aligned_alloc(64, a->size);
    if (!a->base) return arwkv_set_error("arena %s: cannot allocate %zu bytes", name, a->size);
    return 0;
}

void *arena_alloc(arena *a, size_t bytes) {
    size_t n = arena_align(bytes);
    if (a->used + n > a->size) {
        arwkv_set_error("arena %s: out of planned memory (%zu + %zu > %zu bytes)", a->name, a->used, n, a->size);
        return NULL;
    }
    void *p = a->base + a->used;
    a->used += n;
    memset(p, 0, n);
    return p;
}

void arena_reset(arena *a) { a->used = 0; }

void arena_free(arena *a) {
    free(a->base);
    a->base = NULL;
    a->size = a->used = 0;
}
