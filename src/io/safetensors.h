// safetensors: mmap'd zero-copy reader (single file or sharded with an index) and atomic writer.
#ifndef ARWKV_SAFETENSORS_H
#define ARWKV_SAFETENSORS_H

#include "core/core.h"

#define ST_MAX_DIMS 8

typedef struct {
    char *name;
    arwkv_dtype dtype;
    int32_t ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    const void *data;     // points into the mapping (read) or the caller's buffer (write)
    size_t nbytes;
} st_tensor;

// One or more mapped files seen as one set of uniquely named tensors.
typedef struct {
    int32_t n_tensors;
    st_tensor *tensors;   // sorted by name
    int32_t n_files;
    struct st_map *maps;  // private
    char *metadata_json;  // "__metadata__" of the first file as JSON text, or NULL
} st_set;

// Open "<dir>/model.safetensors", or the shards named in "<dir>/model.safetensors.index.json".
// If path is a regular file it is opened alone. Every validation rule of formats.md is applied;
// errors name the file and the tensor.
int safetensors_open(st_set *s, const char *path);
void safetensors_close(st_set *s);
const st_tensor *safetensors_find(const st_set *s, const char *name);   // NULL if absent
// Find a tensor and check its dtype class and shape: error names file/tensor/expected/found.
// ndim/shape describe the expected shape.
const st_tensor *safetensors_expect(const st_set *s, const char *name, int32_t ndim, const int64_t *shape);

// Writes tensors (in the given order, header padded to 8 bytes) to path atomically.
// metadata_json: a JSON object of string->string, or NULL.
int safetensors_write(const char *path, const st_tensor *tensors, int32_t n, const char *metadata_json);

#endif
