// Generation post-processing: stop strings, GSM8K's two answer filters and exact_match
// normalisation, with PCRE2 standing in for Python's re (same results for these ASCII patterns).
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>

#include "eval/eval.h"
#include "eval/eval_text.h"

static const char *const k_invalid = "[invalid]";

void eval_cut_at_stops(char *text, const char *const *until, size_t nuntil) {
    for (size_t i = 0; i < nuntil; i++) {
        if (!until[i] || !until[i][0]) continue;
        char *p = strstr(text, until[i]);
        if (p) *p = 0;
    }
}

// Python's re: '.' stops at "\n" only and '$' also matches before a final "\n", whatever newline
// convention this PCRE2 build defaults to.
static pcre2_code *compile(const char *pattern) {
    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (!cc || pcre2_set_newline(cc, PCRE2_NEWLINE_LF)) {
        pcre2_compile_context_free(cc);
        arwkv_set_error("regex '%s': out of memory", pattern);
        return NULL;
    }
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &err, &off, cc);
    pcre2_compile_context_free(cc);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        arwkv_set_error("regex '%s' at %zu: %s", pattern, (size_t)off, (const char *)msg);
    }
    return re;
}

// Like re.findall(pattern, s)[pick] followed by the RegexFilter rules: with one group, that group;
// with several, the first non-empty one; stripped; "[invalid]" without a match. pick = 0 takes the
// first match, pick = -1 the last.
static int regex_pick(const char *pattern, const char *s, int pick, char **out) {
    *out = NULL;
    pcre2_code *re = compile(pattern);
    if (!re) return -1;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md) {
        pcre2_code_free(re);
        return arwkv_set_error("regex '%s': out of memory", pattern);
    }
    uint32_t ngroups = 0;
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &ngroups);
    size_t len = strlen(s), start = 0, best_b = 0, best_e = 0;
    int found = 0, rc = 0;
    while (start <= len) {
        int m = pcre2_match(re, (PCRE2_SPTR)s, len, start, 0, md, NULL);
        if (m == PCRE2_ERROR_NOMATCH) break;
        if (m < 0) {
            rc = arwkv_set_error("regex '%s': match error %d", pattern, m);
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        // the whole match when there are no groups, else the first group that matched non-empty
        size_t b = ov[0], e = ov[1];
        if (ngroups > 0) {
            b = e = 0;
            for (uint32_t g = 1; g <= ngroups; g++)
                if (ov[2 * g] != PCRE2_UNSET && ov[2 * g + 1] > ov[2 * g]) {
                    b = ov[2 * g];
                    e = ov[2 * g + 1];
                    break;
                }
            // findall with one group returns that group even when empty
        }
        best_b = b;
        best_e = e;
        found = 1;
        if (pick == 0) break;
        start = ov[1] > ov[0] ? ov[1] : ov[1] + 1;   // these patterns never match empty
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    if (rc) return rc;
    if (!found) {
        *out = eval_strdup(k_invalid);
    } else if (ngroups > 1 && best_e == best_b) {
        *out = eval_strdup(k_invalid);   // a tuple with no non-empty group falls back
    } else {
        size_t sb, se;
        eval_py_strip_span(s + best_b, best_e - best_b, &sb, &se);
        *out = eval_strndup(s + best_b + sb, se - sb);
    }
    return *out ? 0 : -1;
}

int eval_gsm8k_strict(const char *response, char **out) {
    return regex_pick("#### (\\-?[0-9\\.\\,]+)", response, 0, out);
}

int eval_gsm8k_flexible(const char *response, char **out) {
    return regex_pick("(-?[$0-9.,]{2,})|(-?[0-9]+)", response, -1, out);
}

// re.sub(pattern, "", s) for every match
static int regex_delete(const char *pattern, char **s) {
    pcre2_code *re = compile(pattern);
    if (!re) return -1;
    size_t len = strlen(*s), cap = len + 1;
    char *out = malloc(cap);
    int rc = 0;
    if (!out) {
        rc = arwkv_set_error("regex '%s': out of memory", pattern);
    } else {
        PCRE2_SIZE outlen = cap;
        int m = pcre2_substitute(re, (PCRE2_SPTR)*s, len, 0, PCRE2_SUBSTITUTE_GLOBAL, NULL, NULL,
                                 (PCRE2_SPTR) "", 0, (PCRE2_UCHAR *)out, &outlen);
        if (m < 0) {   // deleting never grows the string, so any error is a real one
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(m, msg, sizeof msg);
            rc = arwkv_set_error("regex '%s': %s", pattern, (const char *)msg);
            free(out);
        } else {
            free(*s);
            *s = out;
        }
    }
    pcre2_code_free(re);
    return rc;
}

int eval_gsm8k_normalize(const char *s, char **out) {
    static const char *const ignore[] = {",", "\\$", "(?s).*#### ", "\\.$"};
    *out = NULL;
    char *t = eval_strdup(s);
    if (!t) return -1;
    for (size_t i = 0; i < sizeof ignore / sizeof ignore[0]; i++)
        if (regex_delete(ignore[i], &t)) {
            free(t);
            return -1;
        }
    *out = eval_py_lower(t);
    free(t);
    return *out ? 0 : -1;
}

int eval_gsm8k_exact_match(const char *prediction, const char *reference) {
    char *a = NULL, *b = NULL;
    int rc = -1;
    if (!eval_gsm8k_normalize(prediction, &a) && !eval_gsm8k_normalize(reference, &b)) rc = strcmp(a, b) == 0;
    free(a);
    free(b);
    return rc;
}
