// Token files: preparation from text / JSONL and the windowed reader the trainer uses.
#include "train/data.h"

#include <fcntl.h>
#include <jansson.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/json_util.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    uint32_t *tok;
    uint8_t *mask;
    size_t n, cap;
    int64_t docs;
} tok_buf;

static int buf_push(tok_buf *b, const int32_t *ids, const uint8_t *mask, size_t n, uint8_t fill) {
    if (b->n + n > b->cap) {
        size_t cap = (b->n + n) * 2 + 1024;
        uint32_t *t = realloc(b->tok, cap * sizeof *t);
        if (t) b->tok = t;
        uint8_t *m = realloc(b->mask, cap);
        if (m) b->mask = m;
        if (!t || !m) return arwkv_set_error("prepare-data: out of memory for %zu tokens", cap);
        b->cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        b->tok[b->n + i] = (uint32_t)ids[i];
        b->mask[b->n + i] = mask ? mask[i] : fill;
    }
    b->n += n;
    return 0;
}

// one document, then the eos separator (trained on after plain text, not after a chat's last turn)
static int add_doc(tok_buf *b, const int32_t *ids, const uint8_t *mask, size_t n, int32_t eos) {
    if (buf_push(b, ids, mask, n, 1)) return -1;
    uint8_t m = mask ? 0 : 1;
    b->docs++;
    return buf_push(b, &eos, &m, 1, 0);
}

static int add_text(tok_buf *b, const tokenizer *tk, const char *text, size_t len, int32_t eos) {
    int32_t *ids = NULL;
    size_t n = 0;
    if (tokenizer_encode(tk, text, len, &ids, &n, 0)) return -1;
    int rc = add_doc(b, ids, NULL, n, eos);
    free(ids);
    return rc;
}

static int add_messages(tok_buf *b, const tokenizer *tk, const json_t *arr, const char *path, size_t line,
                        int32_t eos) {
    size_t n_msgs = json_array_size(arr);
    tokenizer_message *msgs = calloc(n_msgs + 1, sizeof *msgs);
    for (size_t i = 0; i < n_msgs; i++) {
        const json_t *m = json_array_get(arr, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        const char *content = json_string_value(json_object_get(m, "content"));
        if (!role || !content) {
            free(msgs);
            return arwkv_set_error("%s:%zu: message %zu needs string \"role\" and \"content\"", path, line, i);
        }
        msgs[i] = (tokenizer_message){role, content};
    }
    int32_t *ids = NULL;
    uint8_t *mask = NULL;
    size_t n = 0;
    int rc = tokenizer_chat_encode(tk, msgs, n_msgs, 0, &ids, &mask, &n);
    if (rc) arwkv_wrap_error("%s:%zu", path, line);
    else rc = add_doc(b, ids, mask, n, eos);
    free(ids);
    free(mask);
    free(msgs);
    return rc;
}

typedef struct {
    tok_buf *b;
    const tokenizer *tk;
    const char *path;
    int32_t eos;
} jsonl_ctx;

static int add_jsonl_line(void *ctx, json_t *obj, size_t line) {
    jsonl_ctx *c = ctx;
    const json_t *text = json_object_get(obj, "text"), *msgs = json_object_get(obj, "messages");
    if (json_is_string(text)) return add_text(c->b, c->tk, json_string_value(text), json_string_length(text), c->eos);
    if (json_is_array(msgs)) return add_messages(c->b, c->tk, msgs, c->path, line, c->eos);
    return arwkv_set_error("%s:%zu: expected \"text\" or \"messages\"", c->path, line);
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static int write_tokens(const char *path, const tok_buf *b, int32_t vocab) {
    uint8_t hdr[DATA_HEADER_BYTES] = {0};
    uint32_t version = DATA_VERSION, v = (uint32_t)vocab;
    uint64_t n = b->n, docs = (uint64_t)b->docs;
    memcpy(hdr, DATA_MAGIC, 8);
    memcpy(hdr + 8, &version, 4);
    memcpy(hdr + 12, &v, 4);
    memcpy(hdr + 16, &n, 8);
    memcpy(hdr + 24, &docs, 8);
    atomic_file af;
    if (atomic_file_open(&af, path)) return -1;
    int ok = fwrite(hdr, 1, sizeof hdr, af.fp) == sizeof hdr && fwrite(b->tok, 4, b->n, af.fp) == b->n &&
             fwrite(b->mask, 1, b->n, af.fp) == b->n;
    if (!ok) {
        atomic_file_abort(&af);
        return arwkv_set_error("%s: write failed", path);
    }
    return atomic_file_commit(&af);
}

int data_prepare(const char *model_dir, const char *const *inputs, int n_inputs, const char *out_path,
                 int64_t *n_tokens, int64_t *n_docs) {
    tokenizer *tk = NULL;
    if (tokenizer_load(&tk, model_dir)) return -1;
    const tokenizer_special_ids *sp = tokenizer_special(tk);
    int32_t eos = sp->eos >= 0 ? sp->eos : sp->endoftext;
    tok_buf b = {0};
    int rc = 0;
    if (eos < 0) rc = arwkv_set_error("%s: the tokenizer has no eos or <|endoftext|> token", model_dir);
    for (int i = 0; i < n_inputs && !rc; i++) {
        size_t len = 0;
        char *data = file_read_all(inputs[i], &len);
        if (!data) {
            rc = -1;
            break;
        }
        jsonl_ctx jc = {&b, tk, inputs[i], eos};
        rc = ends_with(inputs[i], ".jsonl") ? jsonl_for_each(inputs[i], data, len, add_jsonl_line, &jc)
                                            : add_text(&b, tk, data, len, eos);
        if (rc && !ends_with(inputs[i], ".jsonl")) arwkv_wrap_error("%s", inputs[i]);
        free(data);
    }
    if (!rc) rc = write_tokens(out_path, &b, tokenizer_vocab_size(tk));
    if (!rc) {
        *n_tokens = (int64_t)b.n;
        *n_docs = b.docs;
    }
    free(b.tok);
    free(b.mask);
    tokenizer_free(tk);
    return rc;
}

int data_reader_open(data_reader *r, const char *path, int32_t T, int32_t shuffle, uint64_t seed) {
    memset(r, 0, sizeof *r);
    // mapped, not read: token files can be far larger than memory
    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb)) {
        if (fd >= 0) close(fd);
        return arwkv_set_error("%s: cannot open", path);
    }
    size_t len = (size_t)sb.st_size;
    void *map = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    close(fd);
    if (map == MAP_FAILED) return arwkv_set_error("%s: cannot map %zu bytes", path, len);
    r->buf = map;
    r->len = len;
    uint32_t version, vocab;
    uint64_t n, docs;
    if (len < DATA_HEADER_BYTES || memcmp(r->buf, DATA_MAGIC, 8)) {
        data_reader_close(r);
        return arwkv_set_error("%s: not an arwkv token file (bad magic)", path);
    }
    memcpy(&version, r->buf + 8, 4);
    memcpy(&vocab, r->buf + 12, 4);
    memcpy(&n, r->buf + 16, 8);
    memcpy(&docs, r->buf + 24, 8);
    if (version != DATA_VERSION) {
        data_reader_close(r);
        return arwkv_set_error("%s: token file version %u, expected %d", path, version, DATA_VERSION);
    }
    if (n > (len - DATA_HEADER_BYTES) / 5 || len != DATA_HEADER_BYTES + 5 * n) {
        data_reader_close(r);
        return arwkv_set_error("%s: %zu bytes do not hold the %llu tokens the header announces", path, len,
                               (unsigned long long)n);
    }
    r->tok = (const uint32_t *)(r->buf + DATA_HEADER_BYTES);
    r->mask = r->buf + DATA_HEADER_BYTES + 4 * n;
    r->n_tokens = (int64_t)n;
    r->n_docs = (int64_t)docs;
    r->vocab = (int32_t)vocab;
    r->T = T;
    r->shuffle = shuffle;
    r->seed = seed;
    r->n_windows = n > 1 ? (int64_t)(n - 1) / T : 0;
    if (r->n_windows < 1) {
        data_reader_close(r);
        return arwkv_set_error("%s: %llu tokens are fewer than one window of %d + 1", path, (unsigned long long)n, T);
    }
    for (uint64_t i = 0; i < n; i++)
        if (r->tok[i] >= vocab) {
            arwkv_set_error("%s: token %llu is %u, outside the vocabulary (%u)", path, (unsigned long long)i, r->tok[i],
                            vocab);
            data_reader_close(r);
            return -1;
        }
    r->order = malloc((size_t)r->n_windows * sizeof *r->order);
    r->order_epoch = -1;
    return 0;
}

void data_reader_close(data_reader *r) {
    if (r->buf) munmap(r->buf, r->len);
    free(r->order);
    memset(r, 0, sizeof *r);
}

void data_reader_next(data_reader *r, int32_t B, int32_t *inputs, int32_t *targets) {
    int32_t T = r->T;
    for (int32_t b = 0; b < B; b++, r->pos++) {
        int64_t epoch = r->pos / r->n_windows;
        if (epoch != r->order_epoch) {
            rng_epoch_order(r->order, r->n_windows, r->shuffle, r->seed, epoch);
            r->order_epoch = epoch;
        }
        int64_t s = r->order[r->pos % r->n_windows] * T;
        for (int32_t t = 0; t < T; t++) {
            inputs[b * T + t] = (int32_t)r->tok[s + t];
            targets[b * T + t] = r->mask[s + t + 1] ? (int32_t)r->tok[s + t + 1] : -1;
        }
    }
}
