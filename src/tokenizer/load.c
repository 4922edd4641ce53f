// Building a tokenizer from tokenizer.json (+ tokenizer_config.json): vocab, merges, added
// tokens, normalizer and pre-tokenizer. Unsupported features fail with an error naming them.
#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <utf8proc.h>

#include "tokenizer/tok_internal.h"

// Unicode White_Space, the meaning of \s in the Oniguruma engine Hugging Face uses; PCRE2's
// \s also matches U+180E.
#define WS_BODY "\\t-\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
// GPT-2's pattern, used by ByteLevel with use_regex
static const char gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

// Split patterns that pretok.c also matches by hand (on ASCII text)
static const char qwen2_pattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char llama3_pattern[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static const char *jstr(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool jbool(json_t *o, const char *key, bool dflt) {
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

// Rewrites \s and \S (outside classes) to Unicode White_Space, and widens \p{L} and \p{N} to
// the Unicode version Hugging Face's regex engine has; the rest is copied.
static char *pattern_rewrite(const char *p, size_t n, size_t *out_len) {
    size_t cap = n * 8 + 4096;
    char *o = malloc(cap);
    if (!o) return NULL;
    size_t k = 0;
    bool in_class = false;
    for (size_t i = 0; i < n;) {
        if (k + 128 > cap) {
            cap *= 2;
            char *no = realloc(o, cap);
            if (!no) {
                free(o);
                return NULL;
            }
            o = no;
        }
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            char d = p[i + 1];
            const char *extra = NULL;
            if (d == 'p' && i + 5 <= n && (!strncmp(p + i, "\\p{L}", 5) || !strncmp(p + i, "\\p{N}", 5)))
                extra = p[i + 3] == 'L' ? tok_extra_letters : tok_extra_numbers;
            if (extra) {
                if (k + strlen(extra) + 16 > cap) {
                    cap = cap * 2 + strlen(extra);
                    char *no = realloc(o, cap);
                    if (!no) {
                        free(o);
                        return NULL;
                    }
                    o = no;
                }
                k += (size_t)sprintf(o + k, in_class ? "\\p{%c}%s" : "[\\p{%c}%s]", p[i + 3], extra);
                i += 5;
                continue;
            }
            if (d == 's') k += (size_t)sprintf(o + k, in_class ? "%s" : "[%s]", WS_BODY);
            else if (d == 'S' && !in_class) k += (size_t)sprintf(o + k, "[^%s]", WS_BODY);
            else {
                o[k++] = c;
                o[k++] = d;
            }
            i += 2;
            continue;
        }
        o[k++] = c;
        i++;
        if (!in_class && c == '[') {
            in_class = true;
            if (i < n && p[i] == '^') o[k++] = p[i++];
            if (i < n && p[i] == ']') o[k++] = p[i++];   // a leading ']' is literal
        } else if (in_class && c == ']') {
            in_class = false;
        }
    }
    *out_len = k;
    return o;
}

static int regex_compile(const char *name, const char *where, const char *pat, size_t n,
                         bool literal, pcre2_code **out, bool *jit) {
    int err;
    PCRE2_SIZE eoff;
    char *rw = NULL;
    size_t rn = n;
    if (!literal) {
        rw = pattern_rewrite(pat, n, &rn);
        if (!rw) return arwkv_set_error("out of memory");
    }
    *out = pcre2_compile((PCRE2_SPTR)(rw ? rw : pat), rn,
                         PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP), &err, &eoff, NULL);
    free(rw);
    if (!*out) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return arwkv_set_error("%s: %s: regex %.*s: %s", name, where, (int)(n > 200 ? 200 : n),
                               pat, (char *)msg);
    }
    *jit = pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE) == 0;   // else the interpreter runs it
    return 0;
}

static int add_step_split(tokenizer *t, json_t *pt) {
    const char *name = t->name;
    json_t *pat = json_object_get(pt, "pattern");
    const char *behavior = jstr(pt, "behavior");
    if (jbool(pt, "invert", false))
        return arwkv_set_error("%s: pre_tokenizer Split with invert=true is not supported", name);
    int b;
    if (behavior && !strcmp(behavior, "Isolated")) b = SPLIT_ISOLATED;
    else if (behavior && !strcmp(behavior, "Removed")) b = SPLIT_REMOVED;
    else
        return arwkv_set_error("%s: pre_tokenizer Split behavior '%s' is not supported (Isolated, Removed)",
                               name, behavior ? behavior : "(missing)");
    json_t *re = json_object_get(pat, "Regex"), *lit = json_object_get(pat, "String");
    if (!json_is_string(re) && !json_is_string(lit))
        return arwkv_set_error("%s: pre_tokenizer Split: pattern needs a \"Regex\" or \"String\"", name);
    json_t *s = re ? re : lit;
    tok_step *st = &t->steps[t->n_steps];
    st->kind = STEP_SPLIT;
    st->behavior = b;
    if (re && !strcmp(json_string_value(re), qwen2_pattern)) st->fast = 1;
    if (re && !strcmp(json_string_value(re), llama3_pattern)) st->fast = 3;
    if (regex_compile(name, "pre_tokenizer Split", json_string_value(s), json_string_length(s),
                      !re, &st->re, &st->jit))
        return -1;
    t->n_steps++;
    return 0;
}

static int add_pretok(tokenizer *t, json_t *pt, int depth) {
    const char *type = jstr(pt, "type");
    if (!type) return arwkv_set_error("%s: pre_tokenizer: missing \"type\"", t->name);
    if (!strcmp(type, "Sequence") && depth == 0) {
        json_t *list = json_object_get(pt, "pretokenizers"), *v;
        size_t i;
        if (!json_is_array(list))
            return arwkv_set_error("%s: pre_tokenizer Sequence: missing \"pretokenizers\"", t->name);
        json_array_foreach(list, i, v) if (add_pretok(t, v, 1)) return -1;
        return 0;
    }
    if (t->n_steps == TOK_MAX_STEPS)
        return arwkv_set_error("%s: pre_tokenizer: more than %d steps", t->name, TOK_MAX_STEPS);
    if (!strcmp(type, "Split")) return add_step_split(t, pt);
    if (!strcmp(type, "ByteLevel")) {
        tok_step *st = &t->steps[t->n_steps];
        st->kind = STEP_BYTELEVEL;
        st->add_prefix_space = jbool(pt, "add_prefix_space", true);
        if (jbool(pt, "use_regex", true) &&
            regex_compile(t->name, "pre_tokenizer ByteLevel", gpt2_pattern, sizeof gpt2_pattern - 1,
                          false, &st->re, &st->jit))
            return -1;
        t->n_steps++;
        return 0;
    }
    return arwkv_set_error("%s: pre_tokenizer '%s' is not supported (Split, ByteLevel, Sequence)",
                           t->name, type);
}

static int set_normalizer(tokenizer *t, json_t *nz, int depth) {
    if (!nz || json_is_null(nz)) return 0;
    const char *type = jstr(nz, "type");
    if (!type) return arwkv_set_error("%s: normalizer: missing \"type\"", t->name);
    if (!strcmp(type, "Sequence") && depth == 0) {
        json_t *list = json_object_get(nz, "normalizers");
        if (!json_is_array(list) || json_array_size(list) > 1)
            return arwkv_set_error("%s: normalizer Sequence: only a single normalizer is supported",
                                   t->name);
        return set_normalizer(t, json_array_get(list, 0), 1);
    }
    int base = UTF8PROC_STABLE;
    if (!strcmp(type, "NFC")) t->norm_options = base | UTF8PROC_COMPOSE;
    else if (!strcmp(type, "NFD")) t->norm_options = base | UTF8PROC_DECOMPOSE;
    else if (!strcmp(type, "NFKC")) t->norm_options = base | UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
    else if (!strcmp(type, "NFKD")) t->norm_options = base | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
    else
        return arwkv_set_error("%s: normalizer '%s' is not supported (NFC, NFD, NFKC, NFKD)", t->name,
                               type);
    return 0;
}

static int check_model(tokenizer *t, json_t *model, const char **unk) {
    const char *name = t->name;
    const char *type = jstr(model, "type");
    if (type && strcmp(type, "BPE"))
        return arwkv_set_error("%s: model type '%s' is not supported (BPE)", name, type);
    json_t *d = json_object_get(model, "dropout");
    if (d && !json_is_null(d) && json_number_value(d) != 0.0)
        return arwkv_set_error("%s: model.dropout is not supported", name);
    const char *pre = jstr(model, "continuing_subword_prefix"), *suf = jstr(model, "end_of_word_suffix");
    if ((pre && *pre) || (suf && *suf))
        return arwkv_set_error("%s: model.continuing_subword_prefix/end_of_word_suffix are not supported",
                               name);
    if (jbool(model, "byte_fallback", false))
        return arwkv_set_error("%s: model.byte_fallback is not supported", name);
    t->fuse_unk = jbool(model, "fuse_unk", false);
    t->ignore_merges = jbool(model, "ignore_merges", false);
    *unk = jstr(model, "unk_token");
    return 0;
}

// Decoded bytes of a token string: each character's byte when all are byte-level characters,
// else the string's own UTF-8 (as Hugging Face's ByteLevel decoder does).
static size_t token_bytes(const char *s, size_t n, char *out) {
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        int32_t cp;
        i += (size_t)tok_utf8_decode((const uint8_t *)s + i, n - i, &cp);
        int b = tok_cp_to_byte(cp);
        if (b < 0) {
            memcpy(out, s, n);
            return n;
        }
        out[k++] = (char)b;
    }
    return k;
}

static int parse_added(tokenizer *t, json_t *list) {
    if (!list || json_is_null(list)) return 0;
    if (!json_is_array(list)) return arwkv_set_error("%s: added_tokens: expected an array", t->name);
    t->added = calloc(json_array_size(list) + 1, sizeof *t->added);
    if (!t->added) return arwkv_set_error("out of memory");
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        json_t *id = json_object_get(v, "id"), *content = json_object_get(v, "content");
        if (!json_is_integer(id) || !json_is_string(content) || json_integer_value(id) < 0 ||
            json_integer_value(id) >= TOK_MAX_ID)
            return arwkv_set_error("%s: added_tokens[%zu]: needs an integer \"id\" and a string \"content\"",
                                   t->name, i);
        tok_added *a = &t->added[t->n_added];
        a->id = (int32_t)json_integer_value(id);
        a->len = (uint32_t)json_string_length(content);
        a->content = malloc(a->len + 1);
        if (!a->content) return arwkv_set_error("out of memory");
        memcpy(a->content, json_string_value(content), a->len + 1);
        a->special = jbool(v, "special", false);
        a->lstrip = jbool(v, "lstrip", false);
        a->rstrip = jbool(v, "rstrip", false);
        a->single_word = jbool(v, "single_word", false);
        a->normalized = jbool(v, "normalized", !a->special);
        t->n_added++;
    }
    return 0;
}

// Added tokens get their ids as Hugging Face assigns them when it loads a file (the "id" in
// the file is only checked there, with a warning): a content already known keeps its id
// (an earlier added token's, else the vocab entry's); a new one takes the number of vocab
// entries, or the highest added id + 1 once that is past them. Empty and repeated tokens are
// dropped; a repeated content takes the later flags.
static void assign_added_ids(tokenizer *t, size_t n_vocab) {
    int32_t max_added = -1, k = 0;
    for (int32_t i = 0; i < t->n_added; i++) {
        tok_added a = t->added[i];
        int32_t same = -1;
        for (int32_t j = 0; j < k && same < 0; j++)
            if (t->added[j].len == a.len && !memcmp(t->added[j].content, a.content, a.len)) same = j;
        if (a.len == 0 || same >= 0) {
            if (same >= 0) {
                a.id = t->added[same].id;
                free(t->added[same].content);
                t->added[same] = a;
            } else {
                free(a.content);
            }
            continue;
        }
        int32_t id = tok_strmap_get(&t->vocab, t->keys, t->key_off, t->key_len, a.content, a.len);
        if (id < 0)
            id = max_added < 0 ? (int32_t)n_vocab
                 : (max_added >= (int32_t)n_vocab || n_vocab == 0) ? max_added + 1 : (int32_t)n_vocab;
        a.id = id;
        max_added = id > max_added ? id : max_added;
        t->added[k++] = a;
    }
    t->n_added = k;
}

static int build_vocab(tokenizer *t, tok_raw *raw) {
    const char *name = t->name;
    if (!raw->have_vocab) return arwkv_set_error("%s: model.vocab: missing", name);
    int32_t max_id = -1;
    for (size_t i = 0; i < raw->n_vocab; i++) max_id = raw->vocab[i].id > max_id ? raw->vocab[i].id : max_id;
    size_t nv = (size_t)max_id + 1;
    t->key_off = malloc((nv + 1) * sizeof *t->key_off);
    t->key_len = malloc((nv + 1) * sizeof *t->key_len);
    if (!t->key_off || !t->key_len) return arwkv_set_error("out of memory");
    for (size_t i = 0; i < nv; i++) t->key_len[i] = UINT32_MAX;
    t->keys = raw->blob;   // the keys stay where the scanner put them
    raw->blob = NULL;
    if (tok_strmap_init(&t->vocab, raw->n_vocab)) return -1;
    size_t total = 0;
    enum { A = 16 };   // hash ahead and prefetch the slot: the table is larger than the caches
    uint64_t hs[A];
    for (size_t i = 0; i < raw->n_vocab + A; i++) {
        if (i >= A) {
            struct tok_raw_entry *e = &raw->vocab[i - A];
            if (t->key_len[e->id] != UINT32_MAX)
                return arwkv_set_error("%s: model.vocab: id %d is used twice", name, e->id);
            t->key_off[e->id] = e->off;
            t->key_len[e->id] = e->len;
            int32_t r = tok_strmap_add(&t->vocab, t->keys, t->key_off, t->key_len, e->id, hs[(i - A) % A]);
            if (r == -2) return arwkv_set_error("out of memory");
            if (r >= 0)
                return arwkv_set_error("%s: model.vocab: duplicate entry '%.*s'", name, (int)e->len,
                                       t->keys + e->off);
            total += e->len;
        }
        if (i < raw->n_vocab) {
            hs[i % A] = tok_hash(t->keys + raw->vocab[i].off, raw->vocab[i].len);
            tok_strmap_prefetch(&t->vocab, hs[i % A]);
        }
    }
    assign_added_ids(t, raw->n_vocab);
    int32_t n_ids = max_id + 1;
    for (int32_t i = 0; i < t->n_added; i++) {
        n_ids = t->added[i].id >= n_ids ? t->added[i].id + 1 : n_ids;
        total += t->added[i].len;
    }
    if (n_ids > TOK_MAX_ID) return arwkv_set_error("%s: added_tokens: too many ids", name);
    t->n_ids = n_ids;
    size_t n = (size_t)n_ids;
    uint32_t *ko = realloc(t->key_off, n * sizeof *ko);
    if (ko) t->key_off = ko;
    uint32_t *kl = ko ? realloc(t->key_len, n * sizeof *kl) : NULL;
    if (kl) t->key_len = kl;
    t->byte_off = malloc(n * sizeof *t->byte_off);
    t->byte_len = malloc(n * sizeof *t->byte_len);
    t->is_special = calloc(n + 1, 1);
    t->bytes = malloc(total + 1);
    if (!ko || !kl || !t->byte_off || !t->byte_len || !t->is_special || !t->bytes)
        return arwkv_set_error("out of memory");
    for (size_t i = nv; i < n; i++) t->key_len[i] = UINT32_MAX;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        t->byte_len[i] = UINT32_MAX;
        if (t->key_len[i] == UINT32_MAX) continue;
        t->byte_off[i] = (uint32_t)k;
        t->byte_len[i] = (uint32_t)token_bytes(t->keys + t->key_off[i], t->key_len[i], t->bytes + k);
        k += t->byte_len[i];
    }
    // an added token's content wins over a vocab entry with the same id, as in Hugging Face
    for (int32_t i = 0; i < t->n_added; i++) {
        tok_added *a = &t->added[i];
        t->byte_off[a->id] = (uint32_t)k;
        t->byte_len[a->id] = (uint32_t)token_bytes(a->content, a->len, t->bytes + k);
        k += t->byte_len[a->id];
        t->is_special[a->id] = a->special;
    }
    for (int b = 0; b < 256; b++) {
        uint8_t u[4];
        int m = tok_utf8_encode(tok_byte_to_cp((uint8_t)b), u);
        t->byte_id[b] = tok_strmap_get(&t->vocab, t->keys, t->key_off, t->key_len, (char *)u, (size_t)m);
    }
    return 0;
}

// Resolves merge r to (left id, right id) -> merged id, and the slot its pair hashes to.
static int merge_resolve(tokenizer *t, const tok_raw *raw, size_t r, uint64_t hash_a,
                         uint64_t hash_b, char **cat, size_t *cat_cap, struct tok_merge *out,
                         uint32_t *slot) {
    const struct tok_raw_merge *m = &raw->merges[r];
    const char *a = t->keys + m->a_off, *b = t->keys + m->b_off;
    int32_t ia = tok_strmap_get_hashed(&t->vocab, t->keys, t->key_off, t->key_len, a, m->a_len, hash_a);
    int32_t ib = tok_strmap_get_hashed(&t->vocab, t->keys, t->key_off, t->key_len, b, m->b_len, hash_b);
    size_t cn = (size_t)m->a_len + m->b_len;
    if (cn > *cat_cap) {
        char *nc = realloc(*cat, cn * 2);
        if (!nc) return arwkv_set_error("out of memory");
        *cat = nc;
        *cat_cap = cn * 2;
    }
    memcpy(*cat, a, m->a_len);
    memcpy(*cat + m->a_len, b, m->b_len);
    // BPE trainers give merge r's token the id 256 + r: trying that first walks the vocab in
    // order instead of at random
    size_t guess = 256 + r;
    int32_t ic = guess < (size_t)t->n_ids && t->key_len[guess] == cn &&
                         !memcmp(t->keys + t->key_off[guess], *cat, cn)
                     ? (int32_t)guess
                     : tok_strmap_get(&t->vocab, t->keys, t->key_off, t->key_len, *cat, cn);
    if (ia < 0 || ib < 0 || ic < 0) {
        bool bad_a = ia < 0, bad_b = !bad_a && ib < 0;
        return arwkv_set_error("%s: model.merges[%zu]: '%.*s' is not in the vocab", t->name, r,
                               (int)(bad_a ? m->a_len : bad_b ? m->b_len : cn),
                               bad_a ? a : bad_b ? b : *cat);
    }
    uint64_t key = (uint64_t)(uint32_t)ia << 32 | (uint32_t)ib;
    *out = (struct tok_merge){ key, (uint32_t)r, ic };
    *slot = (uint32_t)tok_hash(&key, 8) & t->merge_mask;
    return 0;
}

static void merge_insert(tokenizer *t, const struct tok_merge *m, uint32_t h) {
    while (t->merges[h].key != UINT64_MAX && t->merges[h].key != m->key) h = (h + 1) & t->merge_mask;
    t->merges[h] = *m;   // a repeated pair keeps its last rank, as Hugging Face's map does
}

static int build_merges(tokenizer *t, tok_raw *raw) {
    if (!raw->have_merges) return arwkv_set_error("%s: model.merges: missing", t->name);
    uint32_t cap = 16;
    while (cap < raw->n_merges * 2 + 16) cap *= 2;
    t->merges = malloc((size_t)cap * sizeof *t->merges);
    if (!t->merges) return arwkv_set_error("out of memory");
    for (uint32_t i = 0; i < cap; i++) t->merges[i].key = UINT64_MAX;
    t->merge_mask = cap - 1;
    // The vocab lookups and the table inserts are random accesses into tables larger than the
    // caches. A three-stage pipeline hides them: hash merge r and prefetch its vocab slots;
    // resolve merge r - A and prefetch its table slot; insert merge r - 2A (in rank order).
    enum { A = 16 };
    uint64_t ha[A], hb[A];
    struct tok_merge res[A];
    uint32_t slot[A];
    char *cat = NULL;
    size_t cat_cap = 0, n = raw->n_merges;
    int rc = 0;
    for (size_t r = 0; !rc && r < n + 2 * A; r++) {
        if (r >= 2 * A && r - 2 * A < n) merge_insert(t, &res[(r - 2 * A) % A], slot[(r - 2 * A) % A]);
        if (r >= A && r - A < n) {
            size_t q = r - A;
            rc = merge_resolve(t, raw, q, ha[q % A], hb[q % A], &cat, &cat_cap, &res[q % A], &slot[q % A]);
            if (!rc) __builtin_prefetch(&t->merges[slot[q % A]], 1);
        }
        if (!rc && r < n) {
            const struct tok_raw_merge *m = &raw->merges[r];
            ha[r % A] = tok_hash(t->keys + m->a_off, m->a_len);
            hb[r % A] = tok_hash(t->keys + m->b_off, m->b_len);
            tok_strmap_prefetch(&t->vocab, ha[r % A]);
            tok_strmap_prefetch(&t->vocab, hb[r % A]);
        }
    }
    free(cat);
    return rc;
}

// Match sets for added tokens: raw text (normalized=false) and normalized text (normalized=true).
static int build_match_sets(tokenizer *t) {
    for (int32_t i = 0; i < t->n_added; i++) {
        tok_added *a = &t->added[i];
        if (a->normalized && t->norm_options) {
            utf8proc_uint8_t *nf = NULL;
            utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)a->content, a->len, &nf,
                                              (utf8proc_option_t)t->norm_options);
            if (r < 0) return arwkv_set_error("%s: added token %d: %s", t->name, a->id, utf8proc_errmsg(r));
            a->match = (char *)nf;
            a->match_len = (uint32_t)r;
        } else {
            a->match = a->content;
            a->match_len = a->len;
        }
    }
    for (int s = 0; s < 2; s++) {
        tok_match_set *set = s ? &t->norm_set : &t->raw_set;
        set->order = malloc(((size_t)t->n_added + 1) * sizeof *set->order);
        if (!set->order) return arwkv_set_error("out of memory");
        for (int32_t i = 0; i < t->n_added; i++) {
            tok_added *a = &t->added[i];
            if (a->normalized != (s == 1) || a->match_len == 0) continue;
            // insertion sort by first byte, then longest first: the first token that matches
            // at a position is the longest one
            uint8_t c = (uint8_t)a->match[0];
            int32_t k = set->n++;
            while (k > 0) {
                tok_added *b = &t->added[set->order[k - 1]];
                uint8_t cb = (uint8_t)b->match[0];
                if (cb < c || (cb == c && b->match_len >= a->match_len)) break;
                set->order[k] = set->order[k - 1];
                k--;
            }
            set->order[k] = i;
        }
        int32_t k = 0;
        for (int c = 0; c < 256; c++) {
            set->bucket[c] = (uint32_t)k;
            while (k < set->n && (uint8_t)t->added[set->order[k]].match[0] == c) k++;
        }
        set->bucket[256] = (uint32_t)k;
    }
    return 0;
}

static int32_t config_token(tokenizer *t, json_t *cfg, const char *key, int *rc) {
    json_t *v = json_object_get(cfg, key);
    if (json_is_object(v)) v = json_object_get(v, "content");
    if (!json_is_string(v)) return -1;
    int32_t id = tokenizer_token_id(t, json_string_value(v), json_string_length(v));
    if (id < 0)
        *rc = arwkv_set_error("tokenizer_config.json: %s '%s' is not a token of %s", key,
                              json_string_value(v), t->name);
    return id;
}

static tokenizer_template template_kind(const char *tpl) {
    if (!tpl) return TOKENIZER_TEMPLATE_MISSING;
    if (strstr(tpl, "<|im_start|>") && strstr(tpl, "<|im_end|>")) return TOKENIZER_TEMPLATE_CHATML;
    return TOKENIZER_TEMPLATE_UNKNOWN;
}

static int read_config(tokenizer *t, const char *cfg_text, size_t cfg_len, const char *tpl_file) {
    t->file_template = TOKENIZER_TEMPLATE_MISSING;
    int rc = 0;
    if (cfg_text) {
        json_error_t err;
        json_t *cfg = json_loadb(cfg_text, cfg_len, 0, &err);
        if (!cfg || !json_is_object(cfg)) {
            json_decref(cfg);
            return arwkv_set_error("tokenizer_config.json: line %d: %s", err.line,
                                   cfg ? "expected an object" : err.text);
        }
        t->special.bos = config_token(t, cfg, "bos_token", &rc);
        t->special.eos = config_token(t, cfg, "eos_token", &rc);
        t->special.pad = config_token(t, cfg, "pad_token", &rc);
        json_t *tpl = json_object_get(cfg, "chat_template");
        if (json_is_string(tpl)) {
            t->file_template = template_kind(json_string_value(tpl));
        } else if (json_is_array(tpl)) {   // [{"name": ..., "template": ...}]: the default one
            size_t i;
            json_t *v;
            json_array_foreach(tpl, i, v) if (jstr(v, "name") && !strcmp(jstr(v, "name"), "default"))
                t->file_template = template_kind(jstr(v, "template"));
        }
        json_decref(cfg);
    }
    if (t->file_template == TOKENIZER_TEMPLATE_MISSING && tpl_file)
        t->file_template = template_kind(tpl_file);
    t->template_kind = t->file_template;
    return rc;
}

int tokenizer_load_json(tokenizer **out, const char *json, size_t len, const char *config,
                        size_t config_len, const char *name) {
    return tokenizer_load_json_tpl(out, json, len, config, config_len, NULL, name);
}

int tokenizer_load_json_tpl(tokenizer **out, const char *json, size_t len, const char *config,
                            size_t config_len, const char *tpl_file, const char *name) {
    *out = NULL;
    tokenizer *t = calloc(1, sizeof *t);
    if (!t) return arwkv_set_error("out of memory");
    t->name = strdup(name ? name : "tokenizer.json");
    t->pool = calloc(1, sizeof *t->pool);
    t->unk_id = -1;
    t->special = (tokenizer_special_ids){ -1, -1, -1, -1, -1, -1, -1 };
    if (!t->name || !t->pool) {
        free(t->name);
        free(t->pool);
        free(t);
        return arwkv_set_error("out of memory");
    }
    pthread_mutex_init(&t->pool->mu, NULL);
    tok_raw raw;
    json_t *rest = NULL;
    const char *unk = NULL;
    int rc = tok_json_read(json, len, t->name, &raw, &rest);
    if (!rc) {
        json_t *model = json_object_get(rest, "model");
        if (!json_is_object(model)) rc = arwkv_set_error("%s: missing \"model\"", t->name);
        if (!rc) rc = check_model(t, model, &unk);
        if (!rc) rc = parse_added(t, json_object_get(rest, "added_tokens"));
        if (!rc) rc = build_vocab(t, &raw);
        if (!rc) rc = build_merges(t, &raw);
        if (!rc && unk) {
            t->unk_id = tok_strmap_get(&t->vocab, t->keys, t->key_off, t->key_len, unk, strlen(unk));
            if (t->unk_id < 0) rc = arwkv_set_error("%s: model.unk_token '%s' is not in the vocab", t->name, unk);
            t->special.unk = t->unk_id;
        }
        if (!rc) rc = set_normalizer(t, json_object_get(rest, "normalizer"), 0);
        json_t *pt = json_object_get(rest, "pre_tokenizer");
        if (!rc && (!pt || json_is_null(pt)))
            rc = arwkv_set_error("%s: pre_tokenizer: missing; byte-level BPE needs ByteLevel", t->name);
        if (!rc) rc = add_pretok(t, pt, 0);
        if (!rc && (t->n_steps == 0 || t->steps[t->n_steps - 1].kind != STEP_BYTELEVEL))
            rc = arwkv_set_error("%s: pre_tokenizer: ByteLevel must be the last step", t->name);
        for (int i = 0; !rc && i + 1 < t->n_steps; i++)
            if (t->steps[i].kind == STEP_BYTELEVEL)
                rc = arwkv_set_error("%s: pre_tokenizer: ByteLevel must be the last step", t->name);
        json_t *dec = json_object_get(rest, "decoder");
        if (!rc && (!jstr(dec, "type") || strcmp(jstr(dec, "type"), "ByteLevel")))
            rc = arwkv_set_error("%s: decoder '%s' is not supported (ByteLevel)", t->name,
                                 jstr(dec, "type") ? jstr(dec, "type") : "(none)");
        if (!rc) rc = build_match_sets(t);
    }
    json_decref(rest);
    tok_raw_free(&raw);
    if (!rc) {
        t->special.endoftext = tokenizer_token_id(t, "<|endoftext|>", 13);
        t->special.im_start = tokenizer_token_id(t, "<|im_start|>", 12);
        t->special.im_end = tokenizer_token_id(t, "<|im_end|>", 10);
        rc = read_config(t, config, config_len, tpl_file);
    }
    if (rc) {
        tokenizer_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int tokenizer_load(tokenizer **out, const char *path) {
    *out = NULL;
    char *dir, *json_path;
    if (is_dir(path)) {
        dir = strdup(path);
        json_path = path_join(path, "tokenizer.json");
    } else {
        const char *slash = strrchr(path, '/');
        dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
        json_path = strdup(path);
    }
    char *cfg_path = dir ? path_join(dir, "tokenizer_config.json") : NULL;
    char *tpl_path = dir ? path_join(dir, "chat_template.jinja") : NULL;
    char *json = NULL, *cfg = NULL, *tpl = NULL;
    size_t len = 0, cfg_len = 0;
    int rc = 0;
    if (!dir || !json_path || !cfg_path || !tpl_path) rc = arwkv_set_error("out of memory");
    if (!rc && !(json = file_read_all(json_path, &len))) rc = -1;
    if (!rc && file_exists(cfg_path) && !(cfg = file_read_all(cfg_path, &cfg_len))) rc = -1;
    if (!rc && file_exists(tpl_path) && !(tpl = file_read_all(tpl_path, NULL))) rc = -1;
    if (!rc) rc = tokenizer_load_json_tpl(out, json, len, cfg, cfg_len, tpl, json_path);
    free(json);
    free(cfg);
    free(tpl);
    free(dir);
    free(json_path);
    free(cfg_path);
    free(tpl_path);
    return rc;
}

void tokenizer_free(tokenizer *t) {
    if (!t) return;
    if (t->pool) {
        for (tok_work *w = t->pool->free, *next; w; w = next) {
            next = w->next;
            tok_work_free(w);
        }
        pthread_mutex_destroy(&t->pool->mu);
        free(t->pool);
    }
    for (int i = 0; i < t->n_steps; i++) pcre2_code_free(t->steps[i].re);
    for (int32_t i = 0; i < t->n_added; i++) {
        if (t->added[i].match != t->added[i].content) free(t->added[i].match);
        free(t->added[i].content);
    }
    free(t->added);
    free(t->raw_set.order);
    free(t->norm_set.order);
    free(t->merges);
    free(t->vocab.slots);
    free(t->keys);
    free(t->key_off);
    free(t->key_len);
    free(t->bytes);
    free(t->byte_off);
    free(t->byte_len);
    free(t->is_special);
    free(t->name);
    free(t);
}
