// Writing a model as a Hugging Face directory (config.json + model.safetensors).
#include "models/model.h"

typedef struct {
    st_builder b;
    const backend *be;      // where the weights live: a GPU's are copied to the host first
    int dt;                 // target dtype, or -1 to keep each tensor's own
    void **owned;
    int n_owned;
} save_ctx;

static int save_visit(void *ctx, const char *name, int32_t ndim, const int64_t *shape, tensor_kind kind, weight *w) {
    save_ctx *sc = ctx;
    // vectors and LoRA factors stay fp32 (as the published checkpoints store them); matrices follow dt
    arwkv_dtype dt = kind == TENSOR_SMALL || sc->dt < 0 ? w->dt : (arwkv_dtype)sc->dt;
    const void *data = w->data;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    if (!sc->be->host) {
        void *h = malloc(n * arwkv_dtype_size(w->dt));
        if (!h) return arwkv_set_error("out of memory saving '%s'", name);
        sc->be->download(h, data, n * arwkv_dtype_size(w->dt));
        sc->owned[sc->n_owned++] = h;
        data = h;
    }
    if (dt != w->dt) {
        float *tmp = malloc(n * sizeof(float));
        void *conv = malloc(n * arwkv_dtype_size(dt));
        if (!tmp || !conv) {
            free(tmp);
            free(conv);
            return arwkv_set_error("out of memory saving '%s'", name);
        }
        dtype_to_f32(tmp, data, w->dt, n);
        dtype_from_f32(conv, tmp, dt, n);
        free(tmp);
        sc->owned[sc->n_owned++] = conv;
        data = conv;
    }
    return st_builder_add(&sc->b, name, dt, ndim, shape, data);
}

static int count_visit(void *ctx, const char *name, int32_t ndim, const int64_t *shape, tensor_kind kind, weight *w) {
    (*(int *)ctx)++;
    return 0;
}

int arwkv_model_save(const arwkv_model *m, const char *dir, int32_t dt) {
    if (dir_ensure(dir)) return -1;
    arwkv_config cfg = m->cfg;
    if (dt >= 0) cfg.torch_dtype = (arwkv_dtype)dt;
    model_weights w = m->w;
    int n = 0;
    model_visit_tensors(&cfg, &w, count_visit, &n);
    save_ctx sc = {.be = m->be, .dt = dt, .owned = calloc((size_t)n, 2 * sizeof(void *))};
    st_builder_init(&sc.b);
    char *path = path_join(dir, "model.safetensors");
    int rc = model_visit_tensors(&cfg, &w, save_visit, &sc);
    if (rc == 0) rc = st_builder_write(&sc.b, path, "{\"format\": \"pt\"}");
    if (rc == 0) rc = config_save(&cfg, dir);
    st_builder_free(&sc.b);
    for (int i = 0; i < sc.n_owned; i++) free(sc.owned[i]);
    free(sc.owned);
    free(path);
    return rc;
}

int arwkv_model_copy_tokenizer(const char *from_dir, const char *to_dir) {
    static const char *files[] = {"tokenizer.json", "tokenizer_config.json", "generation_config.json",
                                  "special_tokens_map.json", "vocab.json", "merges.txt"};
    int rc = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0] && rc == 0; i++) {
        char *from = path_join(from_dir, files[i]), *to = path_join(to_dir, files[i]);
        if (file_exists(from)) rc = file_copy_atomic(from, to);
        free(from);
        free(to);
    }
    return rc;
}
