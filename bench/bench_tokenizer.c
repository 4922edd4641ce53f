// Tokenizer speed on the real Qwen tokenizer: tokenizer.json load time (target < 300 ms) and
// single-thread encode throughput on mixed English + code text (target >= 10 MB/s).
//   bench_tokenizer [TOKENIZER_DIR] [MB]
// The directory defaults to $ARWKV_QWEN_TOKENIZER or the cache of scripts/fetch_tokenizer.sh.
// Each figure is given for wall time and for this thread's CPU time: on a shared machine the
// second is the one that does not depend on the neighbours.
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "core/core.h"
#include "tokenizer/tokenizer.h"

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)((g_rng >> 33) % n);
}

// Zipf-like pick: index i with weight about 1/(i+1)
static uint32_t zipf(uint32_t n) {
    double u = (double)rnd(1u << 30) / (double)(1u << 30);
    return (uint32_t)(exp(u * log((double)n + 1)) - 1) % n;
}

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void put(sbuf *b, const char *s) {
    size_t k = strlen(s);
    if (b->n + k + 1 > b->cap) {
        b->cap = (b->n + k + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, k + 1);
    b->n += k;
}

// Pseudo-English words from syllables, Zipf-distributed, with punctuation and numbers, and
// C/Python-like code: a deterministic stand-in for a mixed web + code corpus.
static char *make_text(size_t bytes, size_t *len) {
    static const char *syl[] = { "the", "an", "in", "er", "on", "at", "en", "ing", "ti", "re", "ou", "st",
                                 "ar", "pro", "con", "ly", "tion", "ed", "al", "com", "ver", "ment", "ble",
                                 "fi", "ca", "mo", "de", "sta", "ter", "go", "ha", "pe", "ra", "si", "ba" };
    enum { NW = 20000 };
    char (*words)[24] = malloc(NW * sizeof *words);
    for (int i = 0; i < NW; i++) {
        words[i][0] = 0;
        int ns = 1 + (int)rnd(i < 100 ? 1 : i < 2000 ? 3 : 4);
        for (int s = 0; s < ns; s++) strcat(words[i], syl[rnd(sizeof syl / sizeof syl[0])]);
    }
    static const char *ops[] = { " = ", " + ", " - ", " * ", " == ", " != ", " >= ", " && ", ", ", "->", "." };
    sbuf b = { 0 };
    char tmp[256];
    while (b.n < bytes) {
        if (rnd(10) < 7) {   // a paragraph of prose
            int ns = 2 + (int)rnd(6);
            for (int s = 0; s < ns; s++) {
                int nw = 4 + (int)rnd(18);
                for (int w = 0; w < nw; w++) {
                    const char *word = words[zipf(NW)];
                    if (w == 0) {
                        snprintf(tmp, sizeof tmp, "%c%s", word[0] - 32, word + 1);
                        put(&b, tmp);
                    } else {
                        put(&b, rnd(12) == 0 ? ", " : " ");
                        if (rnd(40) == 0) {
                            snprintf(tmp, sizeof tmp, "%u", rnd(100000));
                            put(&b, tmp);
                        } else put(&b, word);
                    }
                }
                put(&b, rnd(8) == 0 ? "? " : ". ");
            }
            put(&b, "\n\n");
        } else {             // a block of code
            int nl = 3 + (int)rnd(15), depth = 1;
            snprintf(tmp, sizeof tmp, "static int %s_%s(const char *%s, size_t n) {\n", words[zipf(2000)],
                     words[zipf(2000)], words[zipf(500)]);
            put(&b, tmp);
            for (int l = 0; l < nl; l++) {
                for (int d = 0; d < depth; d++) put(&b, "    ");
                snprintf(tmp, sizeof tmp, "%s_%d%s%s(%s[%u])%s%s;", words[zipf(3000)], (int)rnd(10),
                         ops[rnd(11)], words[zipf(3000)], words[zipf(500)], rnd(64), ops[rnd(11)],
                         words[zipf(3000)]);
                put(&b, tmp);
                if (rnd(5) == 0) {
                    snprintf(tmp, sizeof tmp, "  // %s %s %s", words[zipf(NW)], words[zipf(NW)], words[zipf(NW)]);
                    put(&b, tmp);
                }
                put(&b, "\n");
            }
            put(&b, "    return 0;\n}\n\n");
        }
    }
    free(words);
    *len = b.n;
    return b.p;
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *default_dir(void) {
    static char buf[4096];
    const char *env = getenv("ARWKV_QWEN_TOKENIZER");
    if (env && *env) return env;
    if (getenv("ARWKV_CACHE")) snprintf(buf, sizeof buf, "%s/qwen-tokenizer", getenv("ARWKV_CACHE"));
    else snprintf(buf, sizeof buf, "%s/.cache/arwkv/qwen-tokenizer", getenv("HOME") ? getenv("HOME") : ".");
    return buf;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : default_dir();
    double mb = argc > 2 ? atof(argv[2]) : 8;
    tokenizer *t = NULL;
    double best = 1e9, best_cpu = 1e9;
    for (int r = 0; r < 3; r++) {
        if (t) tokenizer_free(t);
        double t0 = time_now(), c0 = cpu_now();
        if (tokenizer_load(&t, dir)) {
            fprintf(stderr, "bench_tokenizer: %s (run scripts/fetch_tokenizer.sh)\n", arwkv_last_error());
            return 1;
        }
        double dt = time_now() - t0, dc = cpu_now() - c0;
        best = dt < best ? dt : best;
        best_cpu = dc < best_cpu ? dc : best_cpu;
    }
    printf("load tokenizer.json: %.1f ms wall, %.1f ms cpu (best of 3; target < 300 ms)  vocab %d\n",
           best * 1e3, best_cpu * 1e3, tokenizer_vocab_size(t));

    size_t len;
    char *text = make_text((size_t)(mb * 1e6), &len);
    int32_t *ids = NULL;
    size_t n = 0;
    double t0 = time_now(), c0 = cpu_now();
    if (tokenizer_encode(t, text, len, &ids, &n, 1)) {
        fprintf(stderr, "bench_tokenizer: %s\n", arwkv_last_error());
        return 1;
    }
    double dt = time_now() - t0, dc = cpu_now() - c0;
    printf("encode, one call:      %.1f MB/s wall, %.1f MB/s cpu  %.2f M tokens/s cpu  (%.1f MB -> %zu tokens, "
           "%.2f bytes/token; target >= 10 MB/s)\n",
           len / dt / 1e6, len / dc / 1e6, n / dc / 1e6, len / 1e6, n, (double)len / (double)n);
    free(ids);

    // documents of ~4 KiB, as a data loader would hand them over
    size_t total = 0;
    t0 = time_now();
    c0 = cpu_now();
    for (size_t a = 0; a < len;) {
        size_t e = a + 4096 < len ? a + 4096 : len;
        while (e < len && (text[e] & 0xC0) == 0x80) e++;   // keep characters whole
        if (tokenizer_encode(t, text + a, e - a, &ids, &n, 1)) return 1;
        total += n;
        free(ids);
        a = e;
    }
    dt = time_now() - t0;
    dc = cpu_now() - c0;
    printf("encode, 4 KiB docs:    %.1f MB/s wall, %.1f MB/s cpu  %.2f M tokens/s cpu\n", len / dt / 1e6,
           len / dc / 1e6, total / dc / 1e6);

    tokenizer_encode(t, text, len, &ids, &n, 1);
    char *back;
    size_t blen;
    t0 = time_now();
    tokenizer_decode(t, ids, n, &back, &blen);
    dt = time_now() - t0;
    printf("decode:                %.1f MB/s  (round trip %s)\n", blen / dt / 1e6,
           blen == len && !memcmp(back, text, len) ? "exact" : "DIFFERS");
    free(back);
    free(ids);
    free(text);
    tokenizer_free(t);
    return 0;
}
