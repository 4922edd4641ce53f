// libFuzzer target: any byte string through the safetensors parser. Accepted sets are walked in
// full (every byte of every tensor, every name looked up) so out-of-range views trip ASan; an
// accepted set is written back out and must read back identical.
#include <stdlib.h>
#include <unistd.h>

#include "io/safetensors.h"

static volatile uint8_t g_sink;

static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz_safetensors: %s (%s)\n", what, arwkv_last_error());
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char out[64];
    if (!out[0]) snprintf(out, sizeof out, "/tmp/fuzz_st_%d.safetensors", (int)getpid());
    st_set s;
    if (safetensors_open_memory(&s, "fuzz", data, size) != 0) {
        check(strstr(arwkv_last_error(), "fuzz") != NULL, "error does not name the input");
        return 0;
    }
    uint8_t acc = 0;
    for (int32_t i = 0; i < s.n_tensors; i++) {
        const st_tensor *t = &s.tensors[i];
        for (size_t k = 0; k < t->nbytes; k++) acc ^= ((const uint8_t *)t->data)[k];
        check(safetensors_find(&s, t->name) == t, "find misses a listed tensor");
        check(safetensors_expect(&s, t->name, t->ndim, t->shape) == t, "expect rejects its own shape");
    }
    g_sink = acc;
    // names that are not valid UTF-8 cannot go back into JSON, so the writer may refuse those
    if (safetensors_write(out, s.tensors, s.n_tensors, s.metadata_json) == 0) {
        st_set r;
        check(safetensors_open(&r, out) == 0, "written file does not read back");
        check(r.n_tensors == s.n_tensors, "tensor count changed");
        for (int32_t i = 0; i < r.n_tensors; i++) {
            const st_tensor *a = &s.tensors[i], *b = &r.tensors[i];
            check(!strcmp(a->name, b->name) && a->dtype == b->dtype && a->ndim == b->ndim &&
                  !memcmp(a->shape, b->shape, sizeof a->shape) && a->nbytes == b->nbytes &&
                  (!a->nbytes || !memcmp(a->data, b->data, a->nbytes)), "tensor changed in round trip");
        }
        check((!s.metadata_json && !r.metadata_json) ||
              (s.metadata_json && r.metadata_json && !strcmp(s.metadata_json, r.metadata_json)), "metadata changed");
        safetensors_close(&r);
        unlink(out);
    }
    safetensors_close(&s);
    return 0;
}
