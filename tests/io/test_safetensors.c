// safetensors: hand-built files read back, write/read round trips, sharded sets, every malformed
// case with its message, and the fuzz regression corpus.
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>

#include "io/safetensors.h"
#include "test_util.h"

#define CORPUS_DIR "tests/data/safetensors_corpus"

static char g_dir[64];
static volatile uint64_t g_sink;   // keeps the corpus reads from being optimised away

static int err_has(const char *s) { return strstr(arwkv_last_error(), s) != NULL; }

static char *tmp_path(const char *name) { return path_join(g_dir, name); }

// A safetensors file written byte by byte: u64 LE header length, header text, data.
static char *write_raw(const char *name, uint64_t hlen, const char *header, const void *data, size_t dlen) {
    char *p = tmp_path(name);
    FILE *f = fopen(p, "wb");
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(hlen >> (8 * i));
    fwrite(le, 1, 8, f);
    fwrite(header, 1, strlen(header), f);
    if (dlen) fwrite(data, 1, dlen, f);
    fclose(f);
    return p;
}

static char *write_st(const char *name, const char *header, const void *data, size_t dlen) {
    return write_raw(name, strlen(header), header, data, dlen);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

// Opening path fails and the message names the file and contains want.
static void expect_fail(const char *path, const char *want) {
    st_set s;
    int rc = safetensors_open(&s, path);
    CHECK(rc == -1, "%s opened but should fail with '%s'", path, want);
    CHECK(err_has(path) && err_has(want), "error '%s' lacks '%s' or '%s'", arwkv_last_error(), path, want);
    CHECK(s.n_tensors == 0 && s.tensors == NULL && s.maps == NULL, "set not cleared after failure");
}

// A file built by hand (not by our writer) reads back with the values put in.
static void test_read_handmade(void) {
    const float a[2] = {1.5f, -2.0f};
    const uint16_t b[3] = {0x3c00, 0xc000, 0x3555};   // f16 1, -2, ~0.333
    uint8_t data[14];
    memcpy(data, a, 8);
    memcpy(data + 8, b, 6);
    char *p = write_st("hand.safetensors",
                       "{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"z\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[8,14]},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[0,8]}}",
                       data, sizeof data);
    st_set s;
    CHECK(safetensors_open(&s, p) == 0, "%s", arwkv_last_error());
    CHECK(s.n_tensors == 2 && !strcmp(s.tensors[0].name, "a") && !strcmp(s.tensors[1].name, "z"), "sorted by name");
    const st_tensor *ta = safetensors_find(&s, "a"), *tz = safetensors_find(&s, "z");
    CHECK(ta && ta->dtype == ARWKV_F32 && ta->ndim == 2 && ta->shape[0] == 1 && ta->shape[1] == 2 &&
          ta->numel == 2 && ta->nbytes == 8, "a header");
    float af[2] = {0};   // the header is not padded here, so the data may be unaligned
    if (ta) memcpy(af, ta->data, sizeof af);
    CHECK(af[0] == 1.5f && af[1] == -2.0f, "a values");
    uint16_t zh[3] = {0};
    float zf[3];
    if (tz) memcpy(zh, tz->data, sizeof zh);
    dtype_to_f32(zf, zh, ARWKV_F16, 3);
    CHECK(tz && tz->dtype == ARWKV_F16 && zf[0] == 1.0f && zf[1] == -2.0f && zf[2] > 0.3332f && zf[2] < 0.3334f,
          "z values");
    CHECK(s.metadata_json && !strcmp(s.metadata_json, "{\"format\":\"pt\"}"), "metadata %s",
          s.metadata_json ? s.metadata_json : "(null)");
    CHECK(safetensors_find(&s, "b") == NULL && safetensors_find(&s, "") == NULL, "absent names");
    safetensors_close(&s);
    // JSON padded with trailing spaces, as writers do
    char *q = write_st("padded.safetensors",
                       "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}      ", "xy", 2);
    CHECK(safetensors_open(&s, q) == 0 && s.n_tensors == 1 && !memcmp(s.tensors[0].data, "xy", 2), "%s",
          arwkv_last_error());
    safetensors_close(&s);
    free(p);
    free(q);
}

// Writer output read back, and its layout checked against the format by hand.
static void test_round_trip(void) {
    float f32[6] = {1, -2, 3.25f, 1e-30f, -0.0f, 65504};
    uint16_t f16[4], bf16[6];
    for (int i = 0; i < 4; i++) f16[i] = f32_to_f16(f32[i]);
    for (int i = 0; i < 6; i++) bf16[i] = f32_to_bf16(f32[i]);
    int32_t i32[5] = {0, -1, 2147483647, -2147483647 - 1, 42};
    int64_t i64[2] = {-5, 1LL << 40};
    float scalar = 7.5f;
    st_tensor in[] = {
        {.name = "w.f32", .dtype = ARWKV_F32, .ndim = 2, .shape = {2, 3}, .data = f32},
        {.name = "a.f16", .dtype = ARWKV_F16, .ndim = 1, .shape = {4}, .data = f16},
        {.name = "m.bf16", .dtype = ARWKV_BF16, .ndim = 3, .shape = {3, 1, 2}, .data = bf16},
        {.name = "ids.i32", .dtype = ARWKV_I32, .ndim = 1, .shape = {5}, .data = i32, .numel = 5, .nbytes = 20},
        {.name = "scalar", .dtype = ARWKV_F32, .ndim = 0, .data = &scalar},
        {.name = "empty", .dtype = ARWKV_F32, .ndim = 2, .shape = {0, 4}, .data = NULL},
        {.name = "big.i64", .dtype = ARWKV_I64, .ndim = 1, .shape = {2}, .data = i64},
        {.name = "\xc3\xa9t\\\"q", .dtype = ARWKV_U8, .ndim = 1, .shape = {3}, .data = "abc"},
    };
    int32_t n = (int32_t)(sizeof in / sizeof in[0]);
    char *p = tmp_path("rt.safetensors");
    CHECK(safetensors_write(p, in, n, "{\"format\":\"pt\",\"note\":\"x\"}") == 0, "%s", arwkv_last_error());

    // layout: header length multiple of 8, tensors in the given order with dense offsets
    size_t len;
    uint8_t *raw = (uint8_t *)file_read_all(p, &len);
    uint64_t hlen = 0;
    for (int i = 7; raw && i >= 0; i--) hlen = hlen << 8 | raw[i];
    CHECK(raw && hlen % 8 == 0 && 8 + hlen <= len, "header length %llu", (unsigned long long)hlen);
    json_error_t je;
    json_t *h = raw ? json_loadb((char *)raw + 8, hlen, 0, &je) : NULL;
    CHECK(h != NULL, "header JSON");
    void *it = json_object_iter(h);
    CHECK(it && !strcmp(json_object_iter_key(it), "__metadata__"), "metadata first");
    size_t expect_off = 0;
    for (int32_t i = 0; i < n && it; i++) {
        it = json_object_iter_next(h, it);
        CHECK(it && !strcmp(json_object_iter_key(it), in[i].name), "order %d", i);
        if (!it) break;
        json_t *off = json_object_get(json_object_iter_value(it), "data_offsets");
        size_t nb = arwkv_dtype_size(in[i].dtype);
        for (int d = 0; d < in[i].ndim; d++) nb *= (size_t)in[i].shape[d];
        CHECK((size_t)json_integer_value(json_array_get(off, 0)) == expect_off &&
              (size_t)json_integer_value(json_array_get(off, 1)) == expect_off + nb, "offsets of %s", in[i].name);
        if (nb) CHECK(!memcmp(raw + 8 + hlen + expect_off, in[i].data, nb), "bytes of %s", in[i].name);
        expect_off += nb;
    }
    CHECK(8 + hlen + expect_off == len, "file size %zu", len);
    json_decref(h);
    free(raw);

    st_set s;
    CHECK(safetensors_open(&s, p) == 0, "%s", arwkv_last_error());
    CHECK(s.n_tensors == n && s.n_files == 1, "n_tensors %d", s.n_tensors);
    for (int32_t i = 1; i < s.n_tensors; i++) CHECK(strcmp(s.tensors[i - 1].name, s.tensors[i].name) < 0, "sorted");
    for (int32_t i = 0; i < n; i++) {
        const st_tensor *t = safetensors_find(&s, in[i].name);
        CHECK(t != NULL, "find %s", in[i].name);
        if (!t) continue;
        int64_t numel = 1;
        for (int d = 0; d < in[i].ndim; d++) numel *= in[i].shape[d];
        CHECK(t->dtype == in[i].dtype && t->ndim == in[i].ndim && t->numel == numel &&
              t->nbytes == (size_t)numel * arwkv_dtype_size(in[i].dtype), "header of %s", in[i].name);
        for (int d = 0; d < in[i].ndim; d++) CHECK(t->shape[d] == in[i].shape[d], "shape of %s", in[i].name);
        if (t->nbytes) CHECK(!memcmp(t->data, in[i].data, t->nbytes), "data of %s", in[i].name);
        CHECK(t->nbytes == 0 || (uintptr_t)t->data % 4 == 0 || t->dtype == ARWKV_U8, "alignment of %s", in[i].name);
    }
    CHECK(s.metadata_json && !strcmp(s.metadata_json, "{\"format\":\"pt\",\"note\":\"x\"}"), "metadata");
    int64_t sh[2] = {2, 3}, bad[2] = {3, 2};
    CHECK(safetensors_expect(&s, "w.f32", 2, sh) != NULL, "%s", arwkv_last_error());
    CHECK(safetensors_expect(&s, "w.f32", 2, bad) == NULL &&
          err_has("rt.safetensors: tensor 'w.f32': shape [2, 3] but expected [3, 2]"), "%s", arwkv_last_error());
    CHECK(safetensors_expect(&s, "w.f32", 1, sh) == NULL && err_has("shape [2, 3] but expected [2]"), "%s",
          arwkv_last_error());
    CHECK(safetensors_expect(&s, "scalar", 0, NULL) != NULL, "scalar expect");
    CHECK(safetensors_expect(&s, "nope.weight", 2, sh) == NULL &&
          err_has("rt.safetensors: missing tensor 'nope.weight'"), "%s", arwkv_last_error());
    safetensors_close(&s);
    CHECK(s.tensors == NULL && s.n_tensors == 0, "close clears");
    safetensors_close(&s);

    // no metadata, no tensors
    CHECK(safetensors_write(p, NULL, 0, NULL) == 0, "%s", arwkv_last_error());
    CHECK(safetensors_open(&s, p) == 0 && s.n_tensors == 0 && s.metadata_json == NULL, "%s", arwkv_last_error());
    safetensors_close(&s);
    free(p);
}

static void test_writer_rejects(void) {
    float x[4] = {0};
    char *p = tmp_path("bad_w.safetensors");
    st_tensor dup[2] = {{.name = "a", .ndim = 1, .shape = {4}, .data = x},
                        {.name = "a", .ndim = 1, .shape = {4}, .data = x}};
    CHECK(safetensors_write(p, dup, 2, NULL) == -1 && err_has("duplicate tensor name 'a'"), "%s", arwkv_last_error());
    st_tensor sz = {.name = "s", .ndim = 1, .shape = {4}, .data = x, .nbytes = 12};
    CHECK(safetensors_write(p, &sz, 1, NULL) == -1 && err_has("tensor 's'") && err_has("disagree"), "%s",
          arwkv_last_error());
    st_tensor neg = {.name = "n", .ndim = 2, .shape = {4, -1}, .data = x};
    CHECK(safetensors_write(p, &neg, 1, NULL) == -1 && err_has("tensor 'n'"), "%s", arwkv_last_error());
    st_tensor meta = {.name = "__metadata__", .ndim = 1, .shape = {1}, .data = x};
    CHECK(safetensors_write(p, &meta, 1, NULL) == -1 && err_has("not allowed"), "%s", arwkv_last_error());
    st_tensor nodata = {.name = "d", .ndim = 1, .shape = {4}};
    CHECK(safetensors_write(p, &nodata, 1, NULL) == -1 && err_has("no data"), "%s", arwkv_last_error());
    st_tensor ok = {.name = "ok", .ndim = 1, .shape = {4}, .data = x};
    CHECK(safetensors_write(p, &ok, 1, "{\"a\": 1}") == -1 && err_has("must be a string"), "%s", arwkv_last_error());
    CHECK(safetensors_write(p, &ok, 1, "[1") == -1 && err_has("metadata is not valid JSON"), "%s", arwkv_last_error());
    CHECK(!file_exists(p), "nothing written on failure");
    free(p);
}

static void test_builder(void) {
    float w[6] = {1, 2, 3, 4, 5, 6};
    uint16_t h[2] = {0x3f80, 0x4000};   // bf16 1, 2
    st_builder b;
    CHECK(st_builder_init(&b) == 0, "init");
    char name[64];
    for (int l = 0; l < 40; l++) {   // names built in a reused buffer: the builder must copy them
        snprintf(name, sizeof name, "model.layers.%d.w", l);
        CHECK(st_builder_add(&b, name, ARWKV_F32, 2, (int64_t[]){2, 3}, w) == 0, "%s", arwkv_last_error());
    }
    CHECK(st_builder_add(&b, "h", ARWKV_BF16, 1, (int64_t[]){2}, h) == 0, "add h");
    CHECK(st_builder_add(&b, "bad", ARWKV_F32, 9, (int64_t[9]){0}, w) == -1 && err_has("tensor 'bad'"), "9 dims");
    char *p = tmp_path("builder.safetensors");
    CHECK(st_builder_write(&b, p, NULL) == 0, "%s", arwkv_last_error());
    st_builder_free(&b);
    st_set s;
    CHECK(safetensors_open(&s, p) == 0 && s.n_tensors == 41, "%s", arwkv_last_error());
    const st_tensor *t = safetensors_find(&s, "model.layers.37.w"), *th = safetensors_find(&s, "h");
    CHECK(t && t->numel == 6 && !memcmp(t->data, w, sizeof w), "layer 37");
    CHECK(th && bf16_to_f32(((const uint16_t *)th->data)[1]) == 2.0f, "bf16 value");
    safetensors_close(&s);
    free(p);
}

static void test_sharded(void) {
    char *dir = tmp_path("sharded");
    CHECK(dir_ensure(dir) == 0, "mkdir");
    float a[2] = {1, 2}, b[3] = {3, 4, 5}, c[1] = {6};
    st_tensor s1[2] = {{.name = "a", .ndim = 1, .shape = {2}, .data = a},
                       {.name = "b", .ndim = 1, .shape = {3}, .data = b}};
    st_tensor s2[1] = {{.name = "c", .ndim = 1, .shape = {1}, .data = c}};
    char *p1 = path_join(dir, "model-00001-of-00002.safetensors");
    char *p2 = path_join(dir, "model-00002-of-00002.safetensors");
    char *idx = path_join(dir, "model.safetensors.index.json");
    CHECK(safetensors_write(p1, s1, 2, "{\"format\":\"pt\"}") == 0 && safetensors_write(p2, s2, 1, NULL) == 0, "write");
    const char *good = "{\"metadata\": {\"total_size\": 24}, \"weight_map\": {"
                       "\"a\": \"model-00001-of-00002.safetensors\", \"c\": \"model-00002-of-00002.safetensors\","
                       "\"b\": \"model-00001-of-00002.safetensors\"}}";
    write_text(idx, good);
    st_set s;
    CHECK(safetensors_open(&s, dir) == 0, "%s", arwkv_last_error());
    CHECK(s.n_tensors == 3 && s.n_files == 2, "n_tensors %d n_files %d", s.n_tensors, s.n_files);
    const st_tensor *tc = safetensors_find(&s, "c"), *tb = safetensors_find(&s, "b");
    CHECK(tc && ((const float *)tc->data)[0] == 6 && tb && ((const float *)tb->data)[2] == 5, "values");
    CHECK(s.metadata_json && strstr(s.metadata_json, "pt"), "metadata of first shard");
    CHECK(safetensors_expect(&s, "c", 1, (int64_t[]){2}) == NULL &&
          err_has("model-00002-of-00002.safetensors: tensor 'c': shape [1] but expected [2]"), "%s",
          arwkv_last_error());
    CHECK(safetensors_expect(&s, "q", 1, (int64_t[]){2}) == NULL &&
          err_has("model.safetensors.index.json: missing tensor 'q'"), "%s", arwkv_last_error());
    safetensors_close(&s);

    write_text(idx, "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\","
                    "\"zz\": \"model-00002-of-00002.safetensors\"}}");
    expect_fail(dir, "weight_map names tensor 'zz'");
    write_text(idx, "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\","
                    "\"d\": \"model-00003-of-00003.safetensors\"}}");
    expect_fail(dir, "model-00003-of-00003.safetensors: No such file");
    write_text(idx, "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\","
                    "\"c\": \"model-00002-of-00002.safetensors\", \"x\": \"model-00001-of-00002.safetensors\"}}");
    expect_fail(dir, "weight_map names tensor 'x'");
    write_text(idx, "{\"weight_map\": {\"b\": \"model-00002-of-00002.safetensors\","
                    "\"c\": \"model-00002-of-00002.safetensors\", \"a\": \"model-00001-of-00002.safetensors\"}}");
    expect_fail(dir, "weight_map puts tensor 'b' in");
    write_text(idx, "{\"weight_map\": {\"a\": \"../rt.safetensors\"}}");
    expect_fail(dir, "must be a shard file name");
    write_text(idx, "{\"weight_map\": {\"a\": \"x\", \"a\": \"y\"}}");
    expect_fail(dir, "duplicate");
    write_text(idx, "{\"weight_map\": {}}");
    expect_fail(dir, "'weight_map' missing, empty");
    write_text(idx, "{\"weight_map\": ");
    expect_fail(dir, "model.safetensors.index.json:1:");

    // the same tensor in two shards
    st_tensor s3[1] = {{.name = "a", .ndim = 1, .shape = {2}, .data = a}};
    CHECK(safetensors_write(p2, s3, 1, NULL) == 0, "write");
    write_text(idx, "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\","
                    "\"c\": \"model-00002-of-00002.safetensors\"}}");
    expect_fail(dir, "tensor 'a' appears in both");

    // model.safetensors wins over an index
    char *single = path_join(dir, "model.safetensors");
    CHECK(safetensors_write(single, s2, 1, NULL) == 0, "write single");
    CHECK(safetensors_open(&s, dir) == 0 && s.n_tensors == 1 && s.n_files == 1, "%s", arwkv_last_error());
    safetensors_close(&s);
    unlink(single);
    unlink(idx);
    expect_fail(dir, "neither model.safetensors nor");
    unlink(p1);
    unlink(p2);
    rmdir(dir);
    expect_fail(dir, "No such file");
    free(single);
    free(p1);
    free(p2);
    free(idx);
    free(dir);
}

static void test_malformed(void) {
    uint8_t z[64] = {0};
    char *p;
    // truncated: inside the length, inside the header, inside the data
    p = tmp_path("t1.safetensors");
    FILE *f = fopen(p, "wb");
    fwrite("\x10\0\0\0\0", 1, 5, f);
    fclose(f);
    expect_fail(p, "too short");
    free(p);
    p = write_raw("t2.safetensors", 60, "{\"a\":", NULL, 0);
    expect_fail(p, "header length 60 but only 5 bytes follow it");
    free(p);
    p = write_st("t3.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", z, 10);
    expect_fail(p, "run past the 10-byte data section");
    free(p);
    p = write_raw("long.safetensors", 200000000, "{}", NULL, 0);
    expect_fail(p, "header length 200000000 is over the");
    free(p);
    p = write_st("notjson.safetensors", "{\"a\": [1, 2", NULL, 0);
    expect_fail(p, "header is not valid JSON");
    free(p);
    p = write_st("notobj.safetensors", "[1, 2]", NULL, 0);
    expect_fail(p, "header is not a JSON object");
    free(p);
    p = write_st("overlap.safetensors",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", z, 12);
    expect_fail(p, "tensors 'a' and 'b' overlap");
    free(p);
    p = write_st("hole.safetensors",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", z, 12);
    expect_fail(p, "bytes [4, 8) of the data section belong to no tensor");
    free(p);
    p = write_st("tail.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", z, 6);
    expect_fail(p, "the 2 bytes after belong to no tensor");
    free(p);
    p = write_st("dtype.safetensors", "{\"x.weight\":{\"dtype\":\"F8_E4M3\",\"shape\":[8],\"data_offsets\":[0,8]}}", z, 8);
    expect_fail(p, "tensor 'x.weight': unsupported dtype 'F8_E4M3'");
    free(p);
    p = write_st("lower.safetensors", "{\"x\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", z, 4);
    expect_fail(p, "unsupported dtype 'f32'");
    free(p);
    p = write_st("size.safetensors", "{\"x.weight\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,10]}}", z, 10);
    expect_fail(p, ": tensor 'x.weight': data_offsets [0, 10] hold 10 bytes but dtype F32 shape [3] needs 12");
    free(p);
    p = write_st("dup.safetensors",
                 "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                 "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", z, 2);
    expect_fail(p, "duplicate");
    free(p);
    p = write_st("back.safetensors", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,0]}}", z, 4);
    expect_fail(p, "data_offsets [4, 0] are not 0 <= BEGIN <= END");
    free(p);
    p = write_st("neg.safetensors", "{\"a\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,0]}}", NULL, 0);
    expect_fail(p, "tensor 'a': shape entry 0 is not a non-negative integer");
    free(p);
    p = write_st("dims.safetensors",
                 "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", z, 1);
    expect_fail(p, "shape has 9 dims");
    free(p);
    // numel * size wraps around 2^64 to 0: must not pass as an empty tensor
    p = write_st("wrap.safetensors",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,0]}}", NULL, 0);
    expect_fail(p, "is too large");
    free(p);
    p = write_st("wrap2.safetensors",
                 "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}}", NULL, 0);
    expect_fail(p, "is too large");
    free(p);
    p = write_st("offs.safetensors", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}}", z, 1);
    expect_fail(p, "'data_offsets' must be [BEGIN, END]");
    free(p);
    p = write_st("meta.safetensors", "{\"__metadata__\":{\"k\":1}}", NULL, 0);
    expect_fail(p, "'__metadata__' value 'k' must be a string");
    free(p);
    p = write_st("nul.safetensors", "{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", NULL, 0);
    expect_fail(p, "not valid JSON");
    free(p);
    expect_fail(g_dir, "neither model.safetensors nor");
}

// Every file in the fuzz corpus (seeds and past crashes) goes through the parser without harm.
static void test_corpus(void) {
    // ctest runs from the source root; run by hand from elsewhere, find it next to this file
    char dir[4096] = CORPUS_DIR;
    const char *src = __FILE__, *cut = strstr(src, "tests/io/");
    if (!file_exists(dir) && cut) snprintf(dir, sizeof dir, "%.*s%s", (int)(cut - src), src, CORPUS_DIR);
    DIR *d = opendir(dir);
    CHECK(d != NULL, "%s missing", dir);
    if (!d) return;
    int n = 0, ok = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *p = path_join(dir, e->d_name);
        size_t len;
        char *buf = file_read_all(p, &len);
        st_set s;
        if (buf && safetensors_open_memory(&s, p, buf, len) == 0) {
            ok++;
            for (int32_t i = 0; i < s.n_tensors; i++) {
                for (size_t k = 0; k < s.tensors[i].nbytes; k++) g_sink += ((const uint8_t *)s.tensors[i].data)[k];
                CHECK(safetensors_find(&s, s.tensors[i].name) == &s.tensors[i], "find in %s", p);
            }
            safetensors_close(&s);
            CHECK(safetensors_open(&s, p) == 0, "%s: memory and file disagree: %s", p, arwkv_last_error());
            safetensors_close(&s);
        } else {
            CHECK(buf && err_has(p), "%s: error does not name the input: %s", p, arwkv_last_error());
        }
        free(buf);
        free(p);
        n++;
    }
    closedir(d);
    CHECK(n >= 10 && ok >= 3, "corpus: %d files, %d valid", n, ok);
    printf("corpus: %d files, %d valid\n", n, ok);
}

static void cleanup_dir(void) {
    DIR *d = opendir(g_dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *p = tmp_path(e->d_name);
        unlink(p);
        free(p);
    }
    if (d) closedir(d);
    rmdir(g_dir);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/arwkv_st_XXXXXX");
    if (!mkdtemp(g_dir)) return fprintf(stderr, "mkdtemp failed\n"), 1;
    test_read_handmade();
    test_round_trip();
    test_writer_rejects();
    test_builder();
    test_sharded();
    test_malformed();
    test_corpus();
    cleanup_dir();
    return test_summary();
}
