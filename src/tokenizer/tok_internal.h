// Internals shared by the tokenizer's source files.
#ifndef ARWKV_TOK_INTERNAL_H
#define ARWKV_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>

#include "core/core.h"
#include "tokenizer/tokenizer.h"

#define TOK_MAX_ID (1 << 24)   // ids beyond this are rejected at load

// ---- hashing ---------------------------------------------------------------------------------
uint64_t tok_hash(const void *data, size_t n);

// ---- UTF-8 -----------------------------------------------------------------------------------
// Offset of the first byte that is not part of valid UTF-8 (overlongs and surrogates are
// invalid), or n when all is valid.
size_t tok_utf8_check(const uint8_t *s, size_t n);
// Decodes the valid character at s (n > 0 bytes available); returns its length.
int tok_utf8_decode(const uint8_t *s, size_t n, int32_t *cp);
int tok_utf8_encode(int32_t cp, uint8_t *out);   // returns 1..4
int tok_utf8_len_prev(const uint8_t *s, size_t pos);   // length of the character ending at pos
bool tok_is_white_space(int32_t cp);   // Unicode White_Space
// unicode_compat.c: where Hugging Face's Unicode tables differ from PCRE2's and utf8proc's
extern const char tok_extra_letters[], tok_extra_numbers[];   // regex class ranges
bool tok_hf_nfc_starter(int32_t cp);   // a mark Hugging Face's NFC does not know
bool tok_is_word_char(int32_t cp);     // regex \w: letters, marks, digits, connectors

// ---- byte-level map (GPT-2 bytes_to_unicode) ---------------------------------------------------
// Printable bytes map to themselves; the other 68 (controls, space, 0x7F-0xA0, 0xAD) map in
// increasing order to U+0100 + n.
static inline int32_t tok_byte_to_cp(uint8_t b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
    if (b <= 0x20) return 0x100 + b;
    if (b <= 0xA0) return 0x100 + 33 + (b - 0x7F);
    return 0x100 + 67;   // 0xAD
}
static inline int tok_cp_to_byte(int32_t cp) {   // -1 when cp is not a mapped code point
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF)) return cp;
    if (cp >= 0x100 && cp <= 0x120) return cp - 0x100;
    if (cp >= 0x121 && cp <= 0x142) return 0x7F + (cp - 0x121);
    if (cp == 0x143) return 0xAD;
    return -1;
}
// Maps bytes to their byte-level characters (UTF-8) in out (room for 2*n); returns the length.
size_t tok_bytes_to_bytelevel(const uint8_t *in, size_t n, uint8_t *out);

// ---- string -> id table (vocab keys in their byte-level form) ---------------------------------
typedef struct {
    uint64_t *slots;        // high 32 bits of the key's hash << 32 | (id + 1); 0 = empty
    uint32_t mask;
    uint32_t count;
} tok_strmap;

// ---- added tokens -----------------------------------------------------------------------------
typedef struct {
    int32_t id;
    char *content;
    uint32_t len;
    char *match;            // what is searched for: content, or its normalized form
    uint32_t match_len;
    bool special, lstrip, rstrip, single_word, normalized;
} tok_added;

// Tokens searched in one pass (raw text or normalized text), leftmost-longest.
typedef struct {
    int32_t *order;         // indices into added[] by first byte, then longest first
    int32_t n;
    uint32_t bucket[257];   // order[bucket[c] .. bucket[c+1]) start with byte c
} tok_match_set;

// ---- pre-tokenizer steps ----------------------------------------------------------------------
enum { STEP_SPLIT, STEP_BYTELEVEL };
enum { SPLIT_ISOLATED, SPLIT_REMOVED };
typedef struct {
    int kind;
    int behavior;              // STEP_SPLIT
    pcre2_code *re;            // STEP_SPLIT, or STEP_BYTELEVEL with use_regex
    bool jit;                  // re was JIT-compiled: use the faster pcre2_jit_match
    int fast;                  // the Qwen2 (1) or Llama-3 (3) pattern: ASCII matched by hand
    bool add_prefix_space;     // STEP_BYTELEVEL
} tok_step;
#define TOK_MAX_STEPS 8

typedef struct tok_work tok_work;

struct arwkv_tokenizer {
    char *name;                // file name for messages

    // model vocab: id -> key (byte-level form) and id -> raw bytes
    int32_t n_ids;             // max id + 1 over vocab and added tokens
    char *keys;                // blob of vocab keys
    uint32_t *key_off, *key_len;
    char *bytes;               // blob of decoded token bytes
    uint32_t *byte_off, *byte_len;   // byte_len UINT32_MAX: id unassigned
    uint8_t *is_special;       // per id
    tok_strmap vocab;

    // BPE merges: (left id, right id) -> rank, merged id
    struct tok_merge { uint64_t key; uint32_t rank; int32_t id; } *merges;
    uint32_t merge_mask;
    int32_t byte_id[256];      // id of each byte's byte-level character, -1 if missing
    int32_t unk_id;
    bool fuse_unk, ignore_merges;

    tok_added *added;
    int32_t n_added;
    tok_match_set raw_set, norm_set;

    int norm_options;          // utf8proc options; 0 = no normalizer
    tok_step steps[TOK_MAX_STEPS];
    int n_steps;

    tokenizer_special_ids special;
    tokenizer_template file_template, template_kind;

    struct tok_pool { pthread_mutex_t mu; tok_work *free; } *pool;
};

// Growable output of an encode call.
typedef struct {
    int32_t *ids;
    uint32_t *starts, *ends;   // only when want_offsets
    size_t n, cap;
    bool want_offsets;
} tok_out;
int tok_out_push(tok_out *o, int32_t id, uint32_t start, uint32_t end);

// ---- loading (load.c, json_scan.c) -------------------------------------------------------------
int tok_strmap_init(tok_strmap *m, size_t n);   // room for n keys without growing
// Adds id under its key (hash = tok_hash of it): -1 when added, the id already there when the
// key is taken, -2 when out of memory.
int32_t tok_strmap_add(tok_strmap *m, const char *keys, const uint32_t *off, const uint32_t *len,
                       int32_t id, uint64_t hash);
int32_t tok_strmap_get(const tok_strmap *m, const char *keys, const uint32_t *off,
                       const uint32_t *len, const char *s, size_t n);
// the same with hash = tok_hash(s, n) computed ahead, after tok_strmap_prefetch(m, hash)
int32_t tok_strmap_get_hashed(const tok_strmap *m, const char *keys, const uint32_t *off,
                              const uint32_t *len, const char *s, size_t n, uint64_t hash);
void tok_strmap_prefetch(const tok_strmap *m, uint64_t hash);

// tokenizer.json as read by tok_json_read: vocab and merges as strings (in one blob), the rest
// of the document as jansson values.
typedef struct {
    char *blob;
    size_t blob_len, blob_cap;
    struct tok_raw_entry { uint32_t off, len; int32_t id; } *vocab;
    size_t n_vocab, vocab_cap;
    struct tok_raw_merge { uint32_t a_off, a_len, b_off, b_len; } *merges;
    size_t n_merges, merges_cap;
    bool have_vocab, have_merges;
} tok_raw;
// The 150k-entry vocab and merges go through a small dedicated scanner (a general JSON tree of
// them takes longer to build than the whole load may); every other value is parsed by jansson
// and returned in *rest: the root object without "model", plus "model" without vocab/merges.
struct json_t;
int tok_json_read(const char *json, size_t len, const char *name, tok_raw *raw,
                  struct json_t **rest);
void tok_raw_free(tok_raw *raw);
// tokenizer_load_json with the text of a chat_template.jinja file (NULL when none)
int tokenizer_load_json_tpl(tokenizer **out, const char *json, size_t len, const char *config,
                            size_t config_len, const char *tpl_file, const char *name);

// ---- encoding (encode.c, bpe.c, pretok.c) ------------------------------------------------------
struct tok_work {
    tok_work *next;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
    uint8_t *norm; size_t norm_cap;            // normalized text of one segment
    int32_t *ucs; size_t ucs_cap;              // utf8proc scratch (code points, then UTF-8)
    struct tok_chunk { uint32_t norm, orig; uint8_t same; } *chunks;
    size_t n_chunks, chunks_cap;
    uint8_t *prefix[TOK_MAX_STEPS]; size_t prefix_cap[TOK_MAX_STEPS];  // " " + piece
    uint8_t *mapped; size_t mapped_cap;        // byte-level form of a piece (ignore_merges)
    // BPE scratch
    struct tok_sym { int32_t id; int32_t prev, next; uint32_t start, len; } *syms;
    size_t syms_cap;
    uint64_t *heap; size_t heap_cap;
    // word cache: piece bytes -> ids and token spans; emptied when full
    struct tok_cache_slot { uint64_t hash; uint32_t off; uint16_t key_len, n_tok; } *cache;
    uint32_t cache_mask, cache_count;
    uint8_t *cache_data; size_t cache_used;
    // the segment normalize() last wrote to norm
    bool seg_identity;         // normalization changed nothing
    uint32_t seg_len;
};

tok_work *tok_work_get(const tokenizer *t);
void tok_work_put(const tokenizer *t, tok_work *w);
void tok_work_free(tok_work *w);

// BPE of one piece p[0..n); token offsets are reported as base + position in p - virt
// (clamped at base), virt being 1 when p[0] is a space that is not in the text.
int tok_bpe_piece(const tokenizer *t, tok_work *w, const uint8_t *p, size_t n, uint32_t base,
                  int virt, tok_out *out);
// Runs one Split step over p[0..n), calling fn for each piece [a, b) in order.
typedef int (*tok_piece_fn)(void *ctx, size_t a, size_t b);
int tok_split(const tokenizer *t, tok_work *w, const tok_step *st, int behavior, const uint8_t *p,
              size_t n, tok_piece_fn fn, void *ctx);
// Pre-tokenizes one normalized text span and runs BPE on the pieces.
int tok_pretok_run(const tokenizer *t, tok_work *w, int step, const uint8_t *p, size_t n,
                   uint32_t base, int virt, tok_out *out);
// Leftmost-longest search for added tokens from `from`: returns the match start (or n) and the
// index in t->added of the token found.
size_t tok_match_find(const tokenizer *t, const tok_match_set *set, const uint8_t *s, size_t n,
                      size_t from, int32_t *which);
int tok_encode_impl(const tokenizer *t, const char *text, size_t len, int allow_special,
                    tok_out *out);

#endif
