// Training checkpoints: one directory {model (HF layout, fp32), tokenizer files, optimizer.safetensors,
// trainer_state.json}, written under a temporary name and renamed over the previous one.
#define _GNU_SOURCE
#include "train/checkpoint.h"

#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <unistd.h>

#include "io/json_util.h"
#include "io/safetensors.h"

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int rm_tree(const char *path) {
    if (!file_exists(path)) return 0;
    return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) ? arwkv_set_error("%s: cannot remove", path) : 0;
}

static void fsync_path(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static int write_state(const char *path, const train_state *st) {
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "{\n  \"step\": %lld,\n  \"adam_t\": %lld,\n  \"data_pos\": %lld,\n  \"skipped\": %lld,\n"
                     "  \"seed\": %llu,\n  \"tokens\": %lld\n}\n",
                     (long long)st->step, (long long)st->adam_t, (long long)st->data_pos, (long long)st->skipped,
                     (unsigned long long)st->seed, (long long)st->tokens);
    return file_write_atomic(path, buf, (size_t)n);
}

int checkpoint_save(const char *out_dir, const char *model_dir, const train_model *tm, const adamw *opt,
                    const train_state *st) {
    char *tmp = path_join(out_dir, "checkpoint.tmp"), *dst = path_join(out_dir, "checkpoint");
    char *old = path_join(out_dir, "checkpoint.old");
    int rc = rm_tree(tmp);
    if (!rc) rc = arwkv_model_save(tm->m, tmp, ARWKV_F32);
    if (!rc) rc = arwkv_model_copy_tokenizer(model_dir, tmp);
    if (!rc) {
        st_builder b;
        int64_t n = (int64_t)tm->n_params;
        char *p = path_join(tmp, "optimizer.safetensors");
        rc = st_builder_init(&b);
        // a GPU's moments are written from host copies
        float *hm = opt->be->host ? opt->m : malloc((size_t)n * sizeof(float));
        float *hv = opt->be->host ? opt->v : malloc((size_t)n * sizeof(float));
        if (!hm || !hv) rc = arwkv_set_error("checkpoint: out of memory for the moments");
        if (!rc && !opt->be->host) {
            opt->be->download(hm, opt->m, (size_t)n * sizeof(float));
            opt->be->download(hv, opt->v, (size_t)n * sizeof(float));
        }
        if (!rc) rc = st_builder_add(&b, "exp_avg", ARWKV_F32, 1, &n, hm);
        if (!rc) rc = st_builder_add(&b, "exp_avg_sq", ARWKV_F32, 1, &n, hv);
        if (!rc) rc = st_builder_write(&b, p, NULL);
        st_builder_free(&b);
        if (!opt->be->host) {
            free(hm);
            free(hv);
        }
        free(p);
    }
    if (!rc) {
        char *p = path_join(tmp, "trainer_state.json");
        rc = write_state(p, st);
        free(p);
    }
    if (!rc) {
        fsync_path(tmp);
        // rename() cannot replace a non-empty directory: move the old one aside first
        rc = rm_tree(old);
        if (!rc && file_exists(dst) && rename(dst, old)) rc = arwkv_set_error("%s: cannot rename to %s", dst, old);
        if (!rc && rename(tmp, dst)) rc = arwkv_set_error("%s: cannot rename to %s", tmp, dst);
        if (!rc) {
            fsync_path(out_dir);
            rc = rm_tree(old);
        }
    }
    free(tmp);
    free(dst);
    free(old);
    return rc;
}

int checkpoint_load_state(const char *ckpt_dir, train_state *st) {
    char *p = path_join(ckpt_dir, "trainer_state.json");
    json_t *j = json_file_read(p);
    int rc = j ? 0 : -1;
    int64_t v[6] = {0};
    const char *keys[6] = {"step", "adam_t", "data_pos", "skipped", "seed", "tokens"};
    for (int i = 0; i < 6 && !rc; i++) rc = json_get_int(j, p, keys[i], &v[i], 1);
    if (!rc) {
        st->step = v[0];
        st->adam_t = v[1];
        st->data_pos = v[2];
        st->skipped = v[3];
        st->seed = (uint64_t)v[4];
        st->tokens = v[5];
    }
    json_decref(j);
    free(p);
    return rc;
}

int checkpoint_load_optimizer(const char *ckpt_dir, adamw *opt, size_t n_params) {
    char *p = path_join(ckpt_dir, "optimizer.safetensors");
    st_set s;
    int rc = safetensors_open(&s, p);
    if (!rc) {
        int64_t shape[1] = {(int64_t)n_params};
        const st_tensor *m = safetensors_expect(&s, "exp_avg", 1, shape);
        const st_tensor *v = m ? safetensors_expect(&s, "exp_avg_sq", 1, shape) : NULL;
        if (!m || !v) rc = -1;
        else if (m->dtype != ARWKV_F32 || v->dtype != ARWKV_F32) rc = arwkv_set_error("%s: moments must be F32", p);
        else {
            opt->be->upload(opt->m, m->data, n_params * sizeof(float));
            opt->be->upload(opt->v, v->data, n_params * sizeof(float));
        }
        safetensors_close(&s);
    }
    free(p);
    return rc;
}
