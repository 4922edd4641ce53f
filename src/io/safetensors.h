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
    const void *data;     // points into the mapping (read) or the caller's buffer (write); aligned to the
                          // dtype only when the writer padded the header (ours and Hugging Face's do)
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
// If path is a regular file it is opened alone. Every validation rule of docs/formats.md §2 is applied;
// errors name the file and the tensor.
int safetensors_open(st_set *s, const char *path);
// Parse a safetensors image already in memory (buf must outlive s; nothing is copied). label names
// it in errors. Used by the fuzzer and by callers that hold the bytes themselves.
int safetensors_open_memory(st_set *s, const char *label, const void *buf, size_t len);
void safetensors_close(st_set *s);
const st_tensor *safetensors_find(const st_set *s, const char *name);   // NULL if absent
// Find a tensor and check its shape (not its dtype: callers decide which dtypes they take).
// ndim/shape describe the expected shape; errors name file/tensor/expected/found.
const st_tensor *safetensors_expect(const st_set *s, const char *name, int32_t ndim, const int64_t *shape);

// Writes tensors (in the given order, header padded to 8 bytes) to path atomically.
// metadata_json: a JSON object of string->string, or NULL.
// Names must be unique and not "__metadata__"; numel/nbytes may be 0 (computed from dtype and shape),
// otherwise they must agree with them.
int safetensors_write(const char *path, const st_tensor *tensors, int32_t n, const char *metadata_json);

// Collects tensors for one safetensors_write: model savers add weights one by one. Names are
// copied; data is not (it must stay valid until st_builder_write).
typedef struct {
    st_tensor *tensors;
    int32_t n, cap;
} st_builder;
int st_builder_init(st_builder *b);
int st_builder_add(st_builder *b, const char *name, arwkv_dtype dt, int32_t ndim, const int64_t *shape,
                   const void *data);
int st_builder_write(st_builder *b, const char *path, const char *metadata_json);
void st_builder_free(st_builder *b);

#endif
