// safetensors reader (mmap, zero copy, strict validation) and atomic writer. Format: docs/formats.md §2.
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "io/safetensors.h"

#define ST_MAX_HEADER 100000000ull
#define ST_INDEX_NAME "model.safetensors.index.json"
#define ST_SINGLE_NAME "model.safetensors"

// One mapped file or caller's buffer. A set holds n_files of these plus one more, after them, that
// only carries the name used for errors about the set as a whole (the file, or a sharded model's index).
struct st_map {
    char *path;
    const uint8_t *base;
    size_t size;
    int mapped;   // munmap on close
};

// "[3, 4]" (or "[]" for a scalar) into buf
static const char *fmt_shape(char *buf, size_t cap, int32_t ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int32_t i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
    return buf;
}

// numel and bytes of a shape; -1 (error not set) when either overflows
static int shape_size(arwkv_dtype dt, int32_t ndim, const int64_t *shape, int64_t *numel, size_t *nbytes) {
    uint64_t n = 1, b;
    for (int32_t i = 0; i < ndim; i++)
        if (shape[i] < 0 || __builtin_mul_overflow(n, (uint64_t)shape[i], &n)) return -1;
    if (n > (uint64_t)INT64_MAX || __builtin_mul_overflow(n, (uint64_t)arwkv_dtype_size(dt), &b) || b > SIZE_MAX)
        return -1;
    *numel = (int64_t)n;
    *nbytes = (size_t)b;
    return 0;
}

// exact safetensors spelling only: "f32" or "float32" in a header is not the format
static int dtype_from_name(const char *name, arwkv_dtype *out) {
    for (int i = 0; i < ARWKV_DTYPE_COUNT; i++)
        if (!strcmp(name, arwkv_dtype_name((arwkv_dtype)i))) return *out = (arwkv_dtype)i, 0;
    return -1;
}

static int list_push(st_builder *b, const st_tensor *t) {
    if (b->n == b->cap) {
        int32_t cap = b->cap ? b->cap * 2 : 64;
        st_tensor *nt = realloc(b->tensors, (size_t)cap * sizeof *nt);
        if (!nt) return arwkv_set_error("out of memory for %d tensors", cap);
        b->tensors = nt;
        b->cap = cap;
    }
    b->tensors[b->n] = *t;
    b->tensors[b->n].name = strdup(t->name);
    if (!b->tensors[b->n].name) return arwkv_set_error("out of memory");
    b->n++;
    return 0;
}

// ---- reading ------------------------------------------------------------------------------------

// Validates one header entry; t->data is set to data + BEGIN.
static int parse_entry(const char *file, const char *name, const json_t *v, const uint8_t *data,
                       size_t data_len, st_tensor *t) {
    memset(t, 0, sizeof *t);
    t->name = (char *)name;
    if (!json_is_object(v)) return arwkv_set_error("%s: tensor '%s': entry must be an object", file, name);
    const json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape");
    const json_t *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd)) return arwkv_set_error("%s: tensor '%s': 'dtype' missing or not a string", file, name);
    if (dtype_from_name(json_string_value(jd), &t->dtype))
        return arwkv_set_error("%s: tensor '%s': unsupported dtype '%s' (expected F32, F16, BF16, I64, I32 or U8)",
                               file, name, json_string_value(jd));
    if (!json_is_array(js)) return arwkv_set_error("%s: tensor '%s': 'shape' missing or not an array", file, name);
    if (json_array_size(js) > ST_MAX_DIMS)
        return arwkv_set_error("%s: tensor '%s': shape has %zu dims, at most %d are supported", file, name,
                               json_array_size(js), ST_MAX_DIMS);
    t->ndim = (int32_t)json_array_size(js);
    for (int32_t i = 0; i < t->ndim; i++) {
        const json_t *d = json_array_get(js, (size_t)i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return arwkv_set_error("%s: tensor '%s': shape entry %d is not a non-negative integer", file, name, i);
        t->shape[i] = (int64_t)json_integer_value(d);
    }
    char sh[256];
    fmt_shape(sh, sizeof sh, t->ndim, t->shape);
    if (shape_size(t->dtype, t->ndim, t->shape, &t->numel, &t->nbytes))
        return arwkv_set_error("%s: tensor '%s': shape %s is too large", file, name, sh);
    if (!json_is_array(jo) || json_array_size(jo) != 2 || !json_is_integer(json_array_get(jo, 0)) ||
        !json_is_integer(json_array_get(jo, 1)))
        return arwkv_set_error("%s: tensor '%s': 'data_offsets' must be [BEGIN, END]", file, name);
    json_int_t b = json_integer_value(json_array_get(jo, 0)), e = json_integer_value(json_array_get(jo, 1));
    if (b < 0 || e < b)
        return arwkv_set_error("%s: tensor '%s': data_offsets [%lld, %lld] are not 0 <= BEGIN <= END", file, name,
                               (long long)b, (long long)e);
    if ((uint64_t)(e - b) != (uint64_t)t->nbytes)
        return arwkv_set_error("%s: tensor '%s': data_offsets [%lld, %lld] hold %lld bytes but dtype %s shape %s "
                               "needs %zu", file, name, (long long)b, (long long)e, (long long)(e - b),
                               arwkv_dtype_name(t->dtype), sh, t->nbytes);
    if ((uint64_t)e > (uint64_t)data_len)
        return arwkv_set_error("%s: tensor '%s': data_offsets [%lld, %lld] run past the %zu-byte data section "
                               "(file truncated?)", file, name, (long long)b, (long long)e, data_len);
    t->data = data + b;
    return 0;
}

static int cmp_by_offset(const void *a, const void *b) {
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    uintptr_t px = (uintptr_t)x->data, py = (uintptr_t)y->data;
    if (px != py) return px < py ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

// The byte ranges of t[0..n) must tile [0, data_len) exactly: no overlap, no gap, nothing after.
static int check_tiling(const char *file, const st_tensor *t, int32_t n, const uint8_t *data, size_t data_len) {
    const st_tensor **ord = malloc(((size_t)n + 1) * sizeof *ord);
    if (!ord) return arwkv_set_error("%s: out of memory", file);
    for (int32_t i = 0; i < n; i++) ord[i] = &t[i];
    qsort(ord, (size_t)n, sizeof *ord, cmp_by_offset);
    size_t at = 0;
    int rc = 0;
    for (int32_t i = 0; i < n && rc == 0; i++) {
        size_t b = (size_t)((const uint8_t *)ord[i]->data - data);
        if (b < at)
            rc = arwkv_set_error("%s: tensors '%s' and '%s' overlap (data_offsets [%zu, %zu] and [%zu, %zu])", file,
                                 ord[i - 1]->name, ord[i]->name, at - ord[i - 1]->nbytes, at, b, b + ord[i]->nbytes);
        else if (b > at)
            rc = arwkv_set_error("%s: bytes [%zu, %zu) of the data section belong to no tensor (a hole before '%s')",
                                 file, at, b, ord[i]->name);
        at = b + ord[i]->nbytes;
    }
    if (rc == 0 && at != data_len)
        rc = arwkv_set_error("%s: tensors end at byte %zu of the %zu-byte data section: the %zu bytes after belong "
                             "to no tensor", file, at, data_len, data_len - at);
    free(ord);
    return rc;
}

static int check_metadata(const char *file, const json_t *meta) {
    if (!json_is_object(meta)) return arwkv_set_error("%s: '__metadata__' must be an object", file);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)meta, k, v)
        if (!json_is_string(v)) return arwkv_set_error("%s: '__metadata__' value '%s' must be a string", file, k);
    return 0;
}

// Parses one safetensors image and appends its tensors to out; *metadata (when not NULL and still
// NULL) receives "__metadata__" as JSON text.
static int parse_image(const char *file, const uint8_t *buf, size_t len, st_builder *out, char **metadata) {
    if (len < 8)
        return arwkv_set_error("%s: file is %zu bytes, too short for the 8-byte header length (truncated?)", file,
                               len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | buf[i];
    if (n > ST_MAX_HEADER)
        return arwkv_set_error("%s: header length %llu is over the %llu-byte limit (not a safetensors file?)", file,
                               (unsigned long long)n, ST_MAX_HEADER);
    if (n > len - 8)
        return arwkv_set_error("%s: header length %llu but only %zu bytes follow it (truncated?)", file,
                               (unsigned long long)n, len - 8);
    if (n == 0 || buf[8] != '{') return arwkv_set_error("%s: header is not a JSON object", file);
    json_error_t je;
    json_t *root = json_loadb((const char *)buf + 8, (size_t)n, JSON_REJECT_DUPLICATES, &je);
    if (!root) return arwkv_set_error("%s: header is not valid JSON: %s (header byte %d)", file, je.text, je.position);
    int rc = 0;
    if (!json_is_object(root)) rc = arwkv_set_error("%s: header is not a JSON object", file);
    const uint8_t *data = buf + 8 + n;
    size_t data_len = len - 8 - (size_t)n;
    int32_t first = out->n;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (rc) break;
        if (!strcmp(key, "__metadata__")) {
            rc = check_metadata(file, v);
            if (rc == 0 && metadata && !*metadata && !(*metadata = json_dumps(v, JSON_COMPACT)))
                rc = arwkv_set_error("%s: out of memory", file);
            continue;
        }
        st_tensor t;
        rc = parse_entry(file, key, v, data, data_len, &t);
        if (rc == 0) rc = list_push(out, &t);
    }
    if (rc == 0) rc = check_tiling(file, out->n > first ? out->tensors + first : NULL, out->n - first, data, data_len);
    json_decref(root);
    return rc;
}

static int map_file(struct st_map *m, const char *path) {
    m->path = strdup(path);
    if (!m->path) return arwkv_set_error("out of memory");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return arwkv_set_error("%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return arwkv_set_error("%s: not a regular file", path);
    }
    m->size = (size_t)sb.st_size;
    if (m->size > 0) {
        void *p = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return arwkv_set_error("%s: mmap failed: %s", path, strerror(errno));
        }
        m->base = p;
        m->mapped = 1;
    }
    close(fd);
    return 0;
}

// the file of s that holds t (by address: data lies inside its mapping, an empty tensor maybe at its end)
static const char *file_of(const st_set *s, const st_tensor *t) {
    uintptr_t p = (uintptr_t)t->data;
    for (int32_t i = 0; i < s->n_files; i++) {
        uintptr_t b = (uintptr_t)s->maps[i].base;
        if (p >= b && p <= b + s->maps[i].size) return s->maps[i].path;
    }
    return s->maps[s->n_files].path;
}

static int cmp_by_name(const void *a, const void *b) {
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

// Takes the parsed list into s, sorted by name; names must be unique across files.
static int set_finish(st_set *s, st_builder *list) {
    s->tensors = list->tensors;
    s->n_tensors = list->n;
    list->tensors = NULL;
    list->n = list->cap = 0;
    if (s->n_tensors > 1) qsort(s->tensors, (size_t)s->n_tensors, sizeof *s->tensors, cmp_by_name);
    for (int32_t i = 1; i < s->n_tensors; i++)
        if (!strcmp(s->tensors[i - 1].name, s->tensors[i].name))
            return arwkv_set_error("%s: tensor '%s' appears in both %s and %s", s->maps[s->n_files].path,
                                   s->tensors[i].name, file_of(s, &s->tensors[i - 1]), file_of(s, &s->tensors[i]));
    return 0;
}

static int set_alloc_maps(st_set *s, int32_t n_files, const char *label) {
    memset(s, 0, sizeof *s);
    s->maps = calloc((size_t)n_files + 1, sizeof *s->maps);
    if (!s->maps || !(s->maps[n_files].path = strdup(label))) {
        free(s->maps);
        s->maps = NULL;
        return arwkv_set_error("out of memory");
    }
    s->n_files = n_files;
    return 0;
}

int safetensors_open_memory(st_set *s, const char *label, const void *buf, size_t len) {
    if (set_alloc_maps(s, 1, label)) return -1;
    s->maps[0] = (struct st_map){strdup(label), buf, len, 0};
    st_builder list = {0};
    int rc = s->maps[0].path ? parse_image(label, buf, len, &list, &s->metadata_json)
                             : arwkv_set_error("out of memory");
    if (rc == 0) rc = set_finish(s, &list);
    st_builder_free(&list);
    if (rc) safetensors_close(s);
    return rc;
}

static int open_file(st_set *s, const char *path) {
    if (set_alloc_maps(s, 1, path)) return -1;
    st_builder list = {0};
    int rc = map_file(&s->maps[0], path);
    if (rc == 0) rc = parse_image(path, s->maps[0].base, s->maps[0].size, &list, &s->metadata_json);
    if (rc == 0) rc = set_finish(s, &list);
    st_builder_free(&list);
    if (rc) safetensors_close(s);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

// Shards of an index: the distinct weight_map values, sorted. Strings are owned by weight_map.
static const char **index_shards(const char *index, const json_t *wm, int32_t *n_out) {
    size_t n = json_object_size(wm), k = 0;
    const char **names = malloc((n + 1) * sizeof *names);
    if (!names) {
        arwkv_set_error("%s: out of memory", index);
        return NULL;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)wm, key, v) {
        const char *f = json_string_value(v);
        if (!f || !*f || strchr(f, '/')) {
            arwkv_set_error("%s: weight_map entry '%s' must be a shard file name in the same directory", index, key);
            free(names);
            return NULL;
        }
        names[k++] = f;
    }
    qsort(names, k, sizeof *names, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || strcmp(names[u - 1], names[i])) names[u++] = names[i];
    *n_out = (int32_t)u;
    return names;
}

static int open_index(st_set *s, const char *dir, const char *index) {
    json_error_t je;
    json_t *root = json_load_file(index, JSON_REJECT_DUPLICATES, &je);
    if (!root) return arwkv_set_error("%s:%d:%d: %s", index, je.line, je.column, je.text);
    const json_t *wm = json_object_get(root, "weight_map");
    int32_t n_shards = 0;
    const char **shards = NULL;
    int rc = 0;
    if (!json_is_object(wm) || json_object_size(wm) == 0)
        rc = arwkv_set_error("%s: 'weight_map' missing, empty or not an object", index);
    else if (json_object_size(wm) > INT32_MAX || !(shards = index_shards(index, wm, &n_shards)))
        rc = -1;
    if (rc == 0) rc = set_alloc_maps(s, n_shards, index);
    st_builder list = {0};
    for (int32_t i = 0; i < n_shards && rc == 0; i++) {
        char *path = path_join(dir, shards[i]);
        if (!path) rc = arwkv_set_error("out of memory");
        else if (map_file(&s->maps[i], path)) rc = arwkv_wrap_error("%s: shard '%s'", index, shards[i]);
        else rc = parse_image(path, s->maps[i].base, s->maps[i].size, &list, &s->metadata_json);
        free(path);
    }
    if (rc == 0) rc = set_finish(s, &list);
    const char *key;
    json_t *v;
    if (rc == 0) json_object_foreach((json_t *)wm, key, v) {
        const st_tensor *t = safetensors_find(s, key);
        char *want = path_join(dir, json_string_value(v));
        if (!want) rc = arwkv_set_error("out of memory");
        else if (!t)
            rc = arwkv_set_error("%s: weight_map names tensor '%s' but %s has no such tensor", index, key, want);
        else if (strcmp(file_of(s, t), want))
            rc = arwkv_set_error("%s: weight_map puts tensor '%s' in %s but it is in %s", index, key, want,
                                 file_of(s, t));
        free(want);
        if (rc) break;
    }
    st_builder_free(&list);
    free(shards);
    json_decref(root);
    if (rc && s->maps) safetensors_close(s);
    return rc;
}

int safetensors_open(st_set *s, const char *path) {
    memset(s, 0, sizeof *s);
    struct stat sb;
    if (stat(path, &sb) != 0) return arwkv_set_error("%s: %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return open_file(s, path);
    char *single = path_join(path, ST_SINGLE_NAME), *index = path_join(path, ST_INDEX_NAME);
    int rc;
    if (!single || !index) rc = arwkv_set_error("out of memory");
    else if (file_exists(single)) rc = open_file(s, single);
    else if (file_exists(index)) rc = open_index(s, path, index);
    else rc = arwkv_set_error("%s: neither %s nor %s found", path, ST_SINGLE_NAME, ST_INDEX_NAME);
    free(single);
    free(index);
    return rc;
}

void safetensors_close(st_set *s) {
    for (int32_t i = 0; i < s->n_tensors; i++) free(s->tensors[i].name);
    free(s->tensors);
    if (s->maps) {
        for (int32_t i = 0; i <= s->n_files; i++) {
            if (s->maps[i].mapped) munmap((void *)s->maps[i].base, s->maps[i].size);
            free(s->maps[i].path);
        }
        free(s->maps);
    }
    free(s->metadata_json);
    memset(s, 0, sizeof *s);
}

const st_tensor *safetensors_find(const st_set *s, const char *name) {
    int32_t lo = 0, hi = s->n_tensors;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->tensors[mid].name, name);
        if (c == 0) return &s->tensors[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const st_tensor *safetensors_expect(const st_set *s, const char *name, int32_t ndim, const int64_t *shape) {
    const st_tensor *t = safetensors_find(s, name);
    if (!t) {
        arwkv_set_error("%s: missing tensor '%s'", s->maps ? s->maps[s->n_files].path : "safetensors", name);
        return NULL;
    }
    int same = t->ndim == ndim;
    for (int32_t i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char got[256], want[256];
        arwkv_set_error("%s: tensor '%s': shape %s but expected %s", file_of(s, t), name,
                        fmt_shape(got, sizeof got, t->ndim, t->shape), fmt_shape(want, sizeof want, ndim, shape));
        return NULL;
    }
    return t;
}

// ---- writing ------------------------------------------------------------------------------------

// Header JSON for tensors in the given order with dense offsets; NULL + error on bad input.
static char *header_build(const char *path, const st_tensor *t, int32_t n, const char *metadata_json, size_t **sizes) {
    json_t *root = json_object();
    size_t *nb = malloc(((size_t)n + 1) * sizeof *nb);
    char *out = NULL;
    int rc = root && nb ? 0 : arwkv_set_error("%s: out of memory", path);
    if (rc == 0 && metadata_json) {
        json_error_t je;
        json_t *meta = json_loads(metadata_json, JSON_REJECT_DUPLICATES, &je);
        if (!meta) rc = arwkv_set_error("%s: metadata is not valid JSON: %s", path, je.text);
        else if ((rc = check_metadata(path, meta)) == 0) json_object_set(root, "__metadata__", meta);
        json_decref(meta);
    }
    uint64_t off = 0;
    for (int32_t i = 0; i < n && rc == 0; i++) {
        const st_tensor *x = &t[i];
        int64_t numel;
        const char *name = x->name ? x->name : "(null)";
        if (!x->name || !strcmp(x->name, "__metadata__"))
            rc = arwkv_set_error("%s: tensor %d: name '%s' is not allowed", path, i, name);
        else if ((unsigned)x->dtype >= ARWKV_DTYPE_COUNT)
            rc = arwkv_set_error("%s: tensor '%s': invalid dtype %d", path, name, (int)x->dtype);
        else if (x->ndim < 0 || x->ndim > ST_MAX_DIMS)
            rc = arwkv_set_error("%s: tensor '%s': %d dims, expected 0..%d", path, name, x->ndim, ST_MAX_DIMS);
        else if (shape_size(x->dtype, x->ndim, x->shape, &numel, &nb[i]))
            rc = arwkv_set_error("%s: tensor '%s': shape has a negative dim or is too large", path, name);
        else if ((x->numel && x->numel != numel) || (x->nbytes && x->nbytes != nb[i]))
            rc = arwkv_set_error("%s: tensor '%s': numel %lld / nbytes %zu disagree with dtype %s and shape "
                                 "(%lld elements, %zu bytes)", path, name, (long long)x->numel, x->nbytes,
                                 arwkv_dtype_name(x->dtype), (long long)numel, nb[i]);
        else if (nb[i] && !x->data) rc = arwkv_set_error("%s: tensor '%s': no data", path, name);
        else if (json_object_get(root, name)) rc = arwkv_set_error("%s: duplicate tensor name '%s'", path, name);
        if (rc) break;
        json_t *shape = json_array();
        for (int32_t d = 0; d < x->ndim; d++) json_array_append_new(shape, json_integer(x->shape[d]));
        json_t *e = json_pack("{s:s, s:o, s:[I, I]}", "dtype", arwkv_dtype_name(x->dtype), "shape", shape,
                              "data_offsets", (json_int_t)off, (json_int_t)(off + nb[i]));
        if (!e || json_object_set_new(root, name, e))
            rc = arwkv_set_error("%s: tensor '%s': cannot add to header (name not UTF-8?)", path, name);
        off += nb[i];
    }
    if (rc == 0 && !(out = json_dumps(root, JSON_COMPACT))) rc = arwkv_set_error("%s: out of memory", path);
    json_decref(root);
    if (rc) {
        free(nb);
        return NULL;
    }
    *sizes = nb;
    return out;
}

int safetensors_write(const char *path, const st_tensor *tensors, int32_t n, const char *metadata_json) {
    if (n < 0 || (n > 0 && !tensors)) return arwkv_set_error("%s: bad tensor list", path);
    size_t *nb = NULL;
    char *hdr = header_build(path, tensors, n, metadata_json, &nb);
    if (!hdr) return -1;
    size_t len = strlen(hdr), padded = align_up(len, 8);
    int rc = 0;
    if (padded > ST_MAX_HEADER)
        rc = arwkv_set_error("%s: header of %zu bytes is over the format's limit", path, padded);
    atomic_file af;
    if (rc == 0 && (rc = atomic_file_open(&af, path)) == 0) {
        uint8_t le[8];
        for (int i = 0; i < 8; i++) le[i] = (uint8_t)((uint64_t)padded >> (8 * i));
        int ok = fwrite(le, 1, 8, af.fp) == 8 && fwrite(hdr, 1, len, af.fp) == len;
        for (size_t i = len; ok && i < padded; i++) ok = fputc(' ', af.fp) != EOF;
        for (int32_t i = 0; ok && i < n; i++) ok = !nb[i] || fwrite(tensors[i].data, 1, nb[i], af.fp) == nb[i];
        if (!ok) {
            atomic_file_abort(&af);
            rc = arwkv_set_error("%s: write failed: %s", path, strerror(errno));
        } else {
            rc = atomic_file_commit(&af);
        }
    }
    free(hdr);
    free(nb);
    return rc;
}

// ---- builder ------------------------------------------------------------------------------------

int st_builder_init(st_builder *b) {
    memset(b, 0, sizeof *b);
    return 0;
}

int st_builder_add(st_builder *b, const char *name, arwkv_dtype dt, int32_t ndim, const int64_t *shape,
                   const void *data) {
    st_tensor t = {.name = (char *)name, .dtype = dt, .ndim = ndim, .data = data};
    if (!name) return arwkv_set_error("st_builder: tensor without a name");
    if ((unsigned)dt >= ARWKV_DTYPE_COUNT) return arwkv_set_error("st_builder: tensor '%s': invalid dtype", name);
    if (ndim < 0 || ndim > ST_MAX_DIMS)
        return arwkv_set_error("st_builder: tensor '%s': %d dims, expected 0..%d", name, ndim, ST_MAX_DIMS);
    if (ndim > 0) memcpy(t.shape, shape, (size_t)ndim * sizeof *shape);
    if (shape_size(dt, ndim, t.shape, &t.numel, &t.nbytes))
        return arwkv_set_error("st_builder: tensor '%s': shape has a negative dim or is too large", name);
    if (t.nbytes && !data) return arwkv_set_error("st_builder: tensor '%s': no data", name);
    return list_push(b, &t);
}

int st_builder_write(st_builder *b, const char *path, const char *metadata_json) {
    return safetensors_write(path, b->tensors, b->n, metadata_json);
}

void st_builder_free(st_builder *b) {
    for (int32_t i = 0; i < b->n; i++) free(b->tensors[i].name);
    free(b->tensors);
    memset(b, 0, sizeof *b);
}
