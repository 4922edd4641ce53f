// The Python str behaviours the harness relies on, against CPython 3.11 results.
#include <stdlib.h>
#include <string.h>

#include "eval/eval_text.h"
#include "test_util.h"

static void check_owned(char *got, const char *want, const char *what) {
    CHECK(got && !strcmp(got, want), "%s: got [%s] want [%s]", what, got ? got : "(null)", want);
    free(got);
}

int main(void) {
    // str.capitalize(): title case first (U+01C6 -> U+01C5, not U+01C4), the rest lower case
    check_owned(eval_py_capitalize("\xc7\x86" "a"), "\xc7\x85" "a", "capitalize dz digraph");
    check_owned(eval_py_capitalize("SHE PUSHES"), "She pushes", "capitalize ASCII");
    check_owned(eval_py_capitalize("\xc3\xa9ric TURNS"), "\xc3\x89ric turns", "capitalize e-acute");
    check_owned(eval_py_capitalize(""), "", "capitalize empty");
    check_owned(eval_py_lower("\xc3\x80" "B\xce\x91"), "\xc3\xa0" "b\xce\xb1", "lower");
    check_owned(eval_py_capitalize("a\xff" "B"), "A\xff" "b", "malformed bytes pass through");

    // str.strip() / rstrip(): U+3000, U+2029, U+001C, U+0085, U+00A0 are whitespace; U+200B is not
    const char *s1 = "\xe3\x80\x80 a b\xe2\x80\xa9\x1c";
    check_owned(eval_py_strip(s1), "a b", "strip Unicode spaces");
    CHECK(eval_py_rstrip_len(s1, strlen(s1)) == 7, "rstrip keeps 5 chars = 7 bytes: %zu", eval_py_rstrip_len(s1, strlen(s1)));
    check_owned(eval_py_strip("\xe2\x80\x8b" "a\xe2\x80\x8b"), "\xe2\x80\x8b" "a\xe2\x80\x8b", "zero-width space stays");
    check_owned(eval_py_strip("\xc2\x85x\xc2\xa0"), "x", "NEL and NBSP");
    check_owned(eval_py_strip(" \t\n "), "", "all whitespace");

    CHECK(eval_py_len("\xc3\xa9\xe2\x80\xa6" "a\xf0\x9f\x98\x80", 10) == 4, "len counts code points");
    check_owned(eval_py_replace("a  b   c", "  ", " "), "a b  c", "replace is one left-to-right pass");
    check_owned(eval_py_replace("high_school_us_history", "_", " "), "high school us history", "replace all");

    eval_buf b = {0};
    CHECK(eval_buf_printf(&b, "%d-%s", 12, "x") == 0 && eval_buf_puts(&b, "!") == 0, "buffer");
    check_owned(eval_buf_take(&b), "12-x!", "buffer contents");
    check_owned(eval_buf_take(&b), "", "empty take");
    return test_summary();
}
