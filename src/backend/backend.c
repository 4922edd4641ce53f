// Backend selection by name.
#include <stdlib.h>

#include "backend/backend.h"
#include "core/core.h"

#ifdef ARWKV_HAVE_CUDA
const backend *backend_cuda(int device);
#endif

const backend *backend_get(const char *name) {
    if (!name || !strcmp(name, "cpu")) return backend_cpu();
    if (!strncmp(name, "cuda", 4) && (name[4] == 0 || name[4] == ':')) {
        char *end = NULL;
        long dev = name[4] ? strtol(name + 5, &end, 10) : 0;
        if (name[4] && (end == name + 5 || *end || dev < 0 || dev > 255)) {
            arwkv_set_error("--device '%s': expected cpu, cuda or cuda:N", name);
            return NULL;
        }
#ifdef ARWKV_HAVE_CUDA
        return backend_cuda((int)dev);   // sets the error when there is no such device
#else
        arwkv_set_error("--device %s: this build has no CUDA backend (configure with nvcc installed)", name);
        return NULL;
#endif
    }
    arwkv_set_error("--device '%s': expected cpu, cuda or cuda:N", name);
    return NULL;
}
