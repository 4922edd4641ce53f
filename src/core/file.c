#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"

char *file_read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        arwkv_set_error("%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = cap ? cap * 2 : 1 << 20;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                arwkv_set_error("%s: out of memory", path);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        arwkv_set_error("%s: read error", path);
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

char *path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

int dir_ensure(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return arwkv_set_error("%s: bad directory path", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return arwkv_set_error("%s: cannot create directory: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    return 0;
}

int atomic_file_open(atomic_file *af, const char *path) {
    af->path = strdup(path);
    size_t n = strlen(path) + 32;
    af->tmp = malloc(n);
    snprintf(af->tmp, n, "%s.tmp.%d", path, (int)getpid());
    af->fp = fopen(af->tmp, "wb");
    if (!af->fp) {
        arwkv_set_error("%s: cannot write: %s", af->tmp, strerror(errno));
        free(af->path);
        free(af->tmp);
        af->path = af->tmp = NULL;
        return -1;
    }
    return 0;
}

static void fsync_parent(const char *path) {
    char *copy = strdup(path);
    int fd = open(dirname(copy), O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

int atomic_file_commit(atomic_file *af) {
    int rc = 0;
    if (fflush(af->fp) != 0 || fsync(fileno(af->fp)) != 0 || ferror(af->fp))
        rc = arwkv_set_error("%s: write failed: %s", af->tmp, strerror(errno));
    if (fclose(af->fp) != 0 && rc == 0) rc = arwkv_set_error("%s: close failed: %s", af->tmp, strerror(errno));
    af->fp = NULL;
    if (rc == 0 && rename(af->tmp, af->path) != 0)
        rc = arwkv_set_error("%s: rename failed: %s", af->path, strerror(errno));
    if (rc != 0) unlink(af->tmp);
    else fsync_parent(af->path);
    free(af->path);
    free(af->tmp);
    af->path = af->tmp = NULL;
    return rc;
}

void atomic_file_abort(atomic_file *af) {
    if (af->fp) fclose(af->fp);
    if (af->tmp) unlink(af->tmp);
    free(af->path);
    free(af->tmp);
    af->fp = NULL;
    af->path = af->tmp = NULL;
}

int file_write_atomic(const char *path, const void *data, size_t n) {
    atomic_file af;
    if (atomic_file_open(&af, path)) return -1;
    if (fwrite(data, 1, n, af.fp) != n) {
        atomic_file_abort(&af);
        return arwkv_set_error("%s: write failed", path);
    }
    return atomic_file_commit(&af);
}

int file_copy_atomic(const char *src, const char *dst) {
    size_t n;
    char *data = file_read_all(src, &n);
    if (!data) return -1;
    int rc = file_write_atomic(dst, data, n);
    free(data);
    return rc;
}
