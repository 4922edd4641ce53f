// Where the Unicode tables of the libraries used here differ from those inside Hugging Face
// `tokenizers` (Oniguruma for regexes, an older unicode-normalization for NFC), these tables
// make the results agree. They were measured by running every code point through the
// `tokenizers` 0.23 binding (a Split pre-tokenizer with \p{L}, \p{N}; the NFC normalizer on
// each code point next to marks of several combining classes) and through PCRE2 10.42 and
// utf8proc 2.8. The whitespace_sweep and combining_sweep golden cases keep them checked.
#include "tokenizer/tok_internal.h"

// Letters and numbers that Oniguruma (Unicode 16) knows and PCRE2 10.42 (Unicode 14) does not.
// Added to \p{L} / \p{N} in Split patterns; with a newer PCRE2 they are simply redundant.
const char tok_extra_letters[] =
    "\\x{1C89}-\\x{1C8A}\\x{A7CB}-\\x{A7CD}\\x{A7DA}-\\x{A7DC}\\x{105C0}-\\x{105F3}\\x{10D4A}-\\x{10D65}"
    "\\x{10D6F}-\\x{10D85}\\x{10EC2}-\\x{10EC4}\\x{1123F}-\\x{11240}\\x{11380}-\\x{11389}\\x{1138B}"
    "\\x{1138E}\\x{11390}-\\x{113B5}\\x{113B7}\\x{113D1}\\x{113D3}\\x{11BC0}-\\x{11BE0}\\x{11F02}"
    "\\x{11F04}-\\x{11F10}\\x{11F12}-\\x{11F33}\\x{1342F}\\x{13441}-\\x{13446}\\x{13460}-\\x{143FA}"
    "\\x{16100}-\\x{1611D}\\x{16D40}-\\x{16D6C}\\x{18CFF}\\x{1B132}\\x{1B155}\\x{1DF25}-\\x{1DF2A}"
    "\\x{1E030}-\\x{1E06D}\\x{1E4D0}-\\x{1E4EB}\\x{1E5D0}-\\x{1E5ED}\\x{1E5F0}\\x{2B739}"
    "\\x{2EBF0}-\\x{2EE5D}\\x{31350}-\\x{323AF}";
const char tok_extra_numbers[] =
    "\\x{10D40}-\\x{10D49}\\x{116D0}-\\x{116E3}\\x{11BF0}-\\x{11BF9}\\x{11F50}-\\x{11F59}"
    "\\x{16130}-\\x{16139}\\x{16D70}-\\x{16D79}\\x{1CCF0}-\\x{1CCF9}\\x{1D2C0}-\\x{1D2D3}"
    "\\x{1E4F0}-\\x{1E4F9}\\x{1E5F1}-\\x{1E5FA}";

// Characters Hugging Face's NFC treats as unassigned starters (combining class 0, composing with
// nothing): marks encoded after its tables were made, plus U+11930, the second half of the only
// canonical composition added since (U+11935 U+11930 -> U+11938).
static const int32_t hf_starters[][2] = {
    { 0x7FD, 0x7FD }, { 0x898, 0x89F }, { 0x8CA, 0x8D3 }, { 0x9FE, 0x9FE }, { 0xC3C, 0xC3C },
    { 0xD3B, 0xD3C }, { 0xEBA, 0xEBA }, { 0x1715, 0x1715 }, { 0x1ABF, 0x1ACE }, { 0x1DF6, 0x1DFA },
    { 0xA82C, 0xA82C }, { 0x10D24, 0x10D27 }, { 0x10EAB, 0x10EAC }, { 0x10EFD, 0x10EFF },
    { 0x10F46, 0x10F50 }, { 0x10F82, 0x10F85 }, { 0x11070, 0x11070 }, { 0x1133B, 0x1133B },
    { 0x1145E, 0x1145E }, { 0x11839, 0x1183A }, { 0x11930, 0x11930 }, { 0x1193D, 0x1193E },
    { 0x11943, 0x11943 }, { 0x119E0, 0x119E0 }, { 0x11A34, 0x11A34 }, { 0x11A47, 0x11A47 },
    { 0x11A99, 0x11A99 }, { 0x11D42, 0x11D42 }, { 0x11D44, 0x11D45 }, { 0x11D97, 0x11D97 },
    { 0x11F41, 0x11F42 }, { 0x16FF0, 0x16FF1 }, { 0x1E08F, 0x1E08F }, { 0x1E130, 0x1E136 },
    { 0x1E2AE, 0x1E2AE }, { 0x1E2EC, 0x1E2EF }, { 0x1E4EC, 0x1E4EF },
};

bool tok_hf_nfc_starter(int32_t cp) {
    if (cp < 0x7FD) return false;
    size_t lo = 0, hi = sizeof hf_starters / sizeof hf_starters[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < hf_starters[mid][0]) hi = mid;
        else if (cp > hf_starters[mid][1]) lo = mid + 1;
        else return true;
    }
    return false;
}
