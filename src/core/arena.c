#include <stdlib.h>

#include "core/core.h"

size_t arena_align(size_t bytes) { return align_up(bytes, 64); }

int arena_init(arena *a, const char *name, size_t size) {
    a->name = name;
    a->size = arena_align(size ? size : 64);
    a->used = 0;
    a->dirty = 0;
    // calloc: large blocks come as untouched zero pages, so a KV cache reserved for a long context
    // costs nothing until it is written
    a->base = calloc(1, a->size + 64);
    if (!a->base) return arwkv_set_error("arena %s: cannot allocate %zu bytes", name, a->size);
    return 0;
}

void *arena_alloc(arena *a, size_t bytes) {
    size_t n = arena_align(bytes);
    if (a->used + n > a->size) {
        arwkv_set_error("arena %s: out of planned memory (%zu + %zu > %zu bytes)", a->name, a->used, n, a->size);
        return NULL;
    }
    uint8_t *p = (uint8_t *)align_up((size_t)a->base, 64) + a->used;
    // only memory handed out before (and since reset) can hold old values
    if (a->used < a->dirty) memset(p, 0, (a->dirty < a->used + n ? a->dirty : a->used + n) - a->used);
    a->used += n;
    if (a->used > a->dirty) a->dirty = a->used;
    return p;
}

void arena_reset(arena *a) { a->used = 0; }

void arena_free(arena *a) {
    free(a->base);
    a->base = NULL;
    a->size = a->used = 0;
}
