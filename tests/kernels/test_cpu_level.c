// CPU dispatch: the levels the kernels report as supported against the flags the kernel lists in
// /proc/cpuinfo, the level in use against ARWKV_CPU, and the one-line warning (and fallback to the
// best level) for a level the CPU lacks or an unknown name, in a child process.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/kernels.h"
#include "test_util.h"

static const char *levels[3] = { "generic", "avx2", "avx512" };

// 1 if the flags line of /proc/cpuinfo (space-separated) lists every name in need
static int has_flags(const char *flags, const char *const *need, int n) {
    for (int i = 0; i < n; i++) {
        char word[64];
        snprintf(word, sizeof word, " %s ", need[i]);
        if (!strstr(flags, word)) return 0;
    }
    return 1;
}

// index of the best level by /proc/cpuinfo, -1 if it cannot be read
static int cpuinfo_best_level(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return -1;
    static char line[8192];
    int found = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "flags", 5)) {
            found = 1;
            break;
        }
    fclose(f);
    if (!found) return -1;
    char flags[8200];
    snprintf(flags, sizeof flags, " %s", strchr(line, ':') ? strchr(line, ':') + 1 : line);
    flags[strcspn(flags, "\n")] = 0;
    strcat(flags, " ");
    static const char *const avx2[] = { "avx2", "fma", "f16c" };
    static const char *const avx512[] = { "avx512f", "avx512bw", "avx512vl", "avx512dq" };
    if (!has_flags(flags, avx2, 3)) return 0;
    return has_flags(flags, avx512, 4) ? 2 : 1;
}

static int level_of(const char *name) {
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, levels[i])) return i;
    return -1;
}

// runs this program with ARWKV_CPU=want; its output (stderr too) goes into out
static int run_child(const char *self, const char *want, char *out, size_t cap) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "ARWKV_CPU=%s '%s' --print-level 2>&1", want, self);
    return run_cmd(cmd, out, cap);
}

static int count(const char *s, const char *what) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what)) n++;
    return n;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--print-level")) {
        printf("level %s\n", kernels_cpu_level());
        printf("level %s\n", kernels_cpu_level());   // asked twice: the warning must not repeat
        return 0;
    }
    int best = cpuinfo_best_level();
    if (best < 0) {
        printf("skipped: no /proc/cpuinfo to compare with\n");
        return 77;
    }
    printf("/proc/cpuinfo: best level %s; in use: %s\n", levels[best], kernels_cpu_level());
    for (int i = 0; i < 3; i++)
        CHECK(kernels_cpu_supports(levels[i]) == (i <= best), "supports(%s) = %d, /proc/cpuinfo says %d", levels[i],
              kernels_cpu_supports(levels[i]), i <= best);
    CHECK(!kernels_cpu_supports("avx3") && !kernels_cpu_supports(NULL), "unknown level reported as supported");

    const char *want = getenv("ARWKV_CPU");
    int w = level_of(want), expect = w >= 0 && w <= best ? w : best;
    CHECK(!strcmp(kernels_cpu_level(), levels[expect]), "ARWKV_CPU=%s: level %s in use, expected %s",
          want ? want : "(unset)", kernels_cpu_level(), levels[expect]);

    // children: a supported level is taken silently, an unsupported or unknown one warns once
    char self[4096], out[4096], line[128];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(n > 0, "cannot read /proc/self/exe");
    if (n <= 0) return test_summary();
    self[n] = 0;
    for (int i = 0; i < 4; i++) {
        const char *ask = i < 3 ? levels[i] : "sse9";
        int st = run_child(self, ask, out, sizeof out);
        int got = i < 3 && i <= best ? i : best;
        snprintf(line, sizeof line, "level %s\n", levels[got]);
        int warned = count(out, "arwkv: ARWKV_CPU=");
        CHECK(st == 0 && count(out, line) == 2, "ARWKV_CPU=%s: expected level %s, child printed:\n%s", ask,
              levels[got], out);
        CHECK(warned == (i < 3 && i <= best ? 0 : 1), "ARWKV_CPU=%s: %d warning lines, child printed:\n%s", ask,
              warned, out);
        const char *warning = strstr(out, "arwkv: ");
        printf("ARWKV_CPU=%-7s -> %s", ask, levels[got]);
        if (warning) printf(", warned: %.*s", (int)strcspn(warning, "\n"), warning);
        printf("\n");
    }
    return test_summary();
}
