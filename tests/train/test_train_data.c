// Token files and the window reader: order without shuffle, seeded shuffles that are permutations
// of the windows per epoch, masks as ignored targets, header validation, and chat JSONL masks.
#include <unistd.h>

#include "test_util.h"
#include "train/data.h"

static void write_file(const char *path, const uint32_t *tok, const uint8_t *mask, uint64_t n, uint32_t vocab) {
    FILE *f = fopen(path, "wb");
    uint8_t hdr[DATA_HEADER_BYTES] = {0};
    uint32_t version = DATA_VERSION;
    uint64_t docs = 1;
    memcpy(hdr, DATA_MAGIC, 8);
    memcpy(hdr + 8, &version, 4);
    memcpy(hdr + 12, &vocab, 4);
    memcpy(hdr + 16, &n, 8);
    memcpy(hdr + 24, &docs, 8);
    fwrite(hdr, 1, sizeof hdr, f);
    fwrite(tok, 4, n, f);
    fwrite(mask, 1, n, f);
    fclose(f);
}

static void test_reader(const char *dir) {
    enum { N = 101, T = 4 };   // 25 windows of 5 tokens, stride 4
    uint32_t tok[N];
    uint8_t mask[N];
    for (int i = 0; i < N; i++) {
        tok[i] = (uint32_t)i;
        mask[i] = i % 10 != 3;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/t.bin", dir);
    write_file(path, tok, mask, N, 200);
    data_reader r;
    CHECK(data_reader_open(&r, path, T, 0, 1) == 0, "open: %s", arwkv_last_error());
    CHECK(r.n_windows == 25, "windows %lld", (long long)r.n_windows);
    int32_t in[2 * T], tg[2 * T];
    int ok = 1;
    for (int w = 0; w < 30; w += 2) {   // crosses an epoch: window 25 is window 0 again
        data_reader_next(&r, 2, in, tg);
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < T; t++) {
                int s = ((w + b) % 25) * T + t;
                ok &= in[b * T + t] == s && tg[b * T + t] == (mask[s + 1] ? s + 1 : -1);
            }
    }
    CHECK(ok, "in-order windows and masked targets");
    data_reader_close(&r);

    // shuffled: each epoch visits every window once; same seed, same order; another seed differs
    int64_t seen[3][50];
    uint64_t seeds[3] = {7, 7, 8};
    for (int k = 0; k < 3; k++) {
        data_reader_open(&r, path, T, 1, seeds[k]);
        for (int i = 0; i < 50; i++) {
            data_reader_next(&r, 1, in, tg);
            seen[k][i] = in[0] / T;
        }
        data_reader_close(&r);
    }
    int perm = 1, in_order = 1;
    for (int e = 0; e < 2; e++) {
        int count[25] = {0};
        for (int i = 0; i < 25; i++) count[seen[0][e * 25 + i]]++;
        for (int i = 0; i < 25; i++) perm &= count[i] == 1;
    }
    for (int i = 0; i < 25; i++) in_order &= seen[0][i] == i;
    CHECK(perm && !in_order, "shuffled epochs are permutations");
    CHECK(!memcmp(seen[0], seen[1], sizeof seen[0]), "same seed, same order");
    CHECK(memcmp(seen[0], seen[2], sizeof seen[0]) != 0, "other seed, other order");
    CHECK(memcmp(seen[0], seen[0] + 25, 25 * sizeof(int64_t)) != 0, "epochs differ");

    // bad files
    tok[5] = 500;
    write_file(path, tok, mask, N, 200);
    CHECK(data_reader_open(&r, path, T, 0, 1) == -1 && strstr(arwkv_last_error(), "outside the vocabulary"), "%s",
          arwkv_last_error());
    FILE *f = fopen(path, "r+b");
    fwrite("NOTATOKF", 1, 8, f);
    fclose(f);
    CHECK(data_reader_open(&r, path, T, 0, 1) == -1 && strstr(arwkv_last_error(), "bad magic"), "%s",
          arwkv_last_error());
    unlink(path);
}

static void test_chat(const char *dir) {
    char cmd[1024], path[512], out[512];
    snprintf(cmd, sizeof cmd,
             "cp tests/data/tokenizer/tiny_gpt2/tokenizer.json %s/ && printf '%%s' "
             "'{\"chat_template\": \"{%% for m in messages %%}<|im_start|>{{m.role}}<|im_end|>{%% endfor %%}\"}' "
             "> %s/tokenizer_config.json",
             dir, dir);
    CHECK(run_cmd(cmd, NULL, 0) == 0, "setup");
    snprintf(path, sizeof path, "%s/c.jsonl", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi there\"}, "
               "{\"role\": \"assistant\", \"content\": \"hello\"}]}\n");
    fclose(f);
    snprintf(out, sizeof out, "%s/c.bin", dir);
    const char *inputs[1] = {path};
    int64_t n = 0, docs = 0;
    int rc = data_prepare(dir, inputs, 1, out, &n, &docs);
    CHECK(rc == 0 && docs == 1 && n > 4, "chat prepare: %s", rc ? arwkv_last_error() : "");
    if (rc) return;
    data_reader r;
    CHECK(data_reader_open(&r, out, (int32_t)n - 1, 0, 0) == 0, "%s", arwkv_last_error());
    int ones = 0, zeros = 0;
    for (int64_t i = 0; i < n; i++) *(r.mask[i] ? &ones : &zeros) += 1;
    // the user turn and the system prompt are not trained on, the assistant reply is; the eos is not
    CHECK(ones > 0 && zeros > ones && r.mask[n - 1] == 0, "chat mask: %d trained of %lld", ones, (long long)n);
    data_reader_close(&r);
}

int main(void) {
    char dir[] = "/tmp/arwkv_train_data_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    test_reader(dir);
    test_chat(dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    run_cmd(cmd, NULL, 0);
    return test_summary();
}
