// Byte-level BPE tokenizer compatible with Hugging Face `tokenizers` (Qwen2 / GPT-2 style
// tokenizer.json), plus the ChatML chat template of Qwen2.5-Instruct.
//
// Encoding follows the Hugging Face pipeline: added tokens are split out of the raw text first,
// the rest is normalized (NFC), pre-tokenized (Split regex, ByteLevel) and merged with BPE.
// The ids equal those of `Tokenizer.encode(text, add_special_tokens=False)` (the post-processor
// is not applied), Unicode corner cases included: where PCRE2's or utf8proc's tables differ
// from Hugging Face's, unicode_compat.c makes them agree.
// All functions return 0 on success and -1 with arwkv_last_error() set on failure.
// A loaded tokenizer is read-only: encode/decode may run on many threads at once
// (tokenizer_set_chat_template is setup, not for concurrent use).
#ifndef ARWKV_TOKENIZER_H
#define ARWKV_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// the public arwkv_tokenizer (arwkv.h) is this type
typedef struct arwkv_tokenizer tokenizer;

// Ids of the tokens the runtime needs; -1 when the tokenizer has none.
typedef struct {
    int32_t bos, eos, pad, unk;           // from tokenizer_config.json (unk: model.unk_token)
    int32_t endoftext, im_start, im_end;  // looked up by content: <|endoftext|> <|im_start|> <|im_end|>
} tokenizer_special_ids;

typedef enum {
    TOKENIZER_TEMPLATE_NONE = 0,   // messages' contents are concatenated without markup
    TOKENIZER_TEMPLATE_CHATML,     // Qwen2.5-Instruct ChatML (default system message included)
    TOKENIZER_TEMPLATE_MISSING,    // tokenizer_config.json has no chat_template: rendering fails
    TOKENIZER_TEMPLATE_UNKNOWN,    // a template arwkv cannot render: rendering fails
} tokenizer_template;

// path: a model directory (tokenizer.json + optional tokenizer_config.json) or a tokenizer.json
// file (tokenizer_config.json is then looked for beside it).
int tokenizer_load(tokenizer **out, const char *path);
// From memory; config may be NULL. name is used in error messages.
int tokenizer_load_json(tokenizer **out, const char *json, size_t len, const char *config,
                        size_t config_len, const char *name);
void tokenizer_free(tokenizer *t);

// Number of ids, added tokens included (max id + 1).
int32_t tokenizer_vocab_size(const tokenizer *t);
const tokenizer_special_ids *tokenizer_special(const tokenizer *t);
// true for added tokens marked "special" (skipped by decode with skip_special)
bool tokenizer_is_special(const tokenizer *t, int32_t id);
// Raw bytes of one token (not NUL-terminated), NULL when id is out of range or unassigned.
const char *tokenizer_token_bytes(const tokenizer *t, int32_t id, size_t *len);
// Id of the token whose text is `text` (an added token's content or a vocab entry's bytes); -1 if none.
int32_t tokenizer_token_id(const tokenizer *t, const char *text, size_t len);

// Encode len bytes of UTF-8 text. allow_special: recognise special added tokens written in the
// text (non-special added tokens are always recognised, as in Hugging Face). *ids is malloc'd.
// Invalid UTF-8 fails with an error naming the byte offset.
int tokenizer_encode(const tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n,
                     int allow_special);
// As tokenizer_encode, also giving each token's byte range [starts[i], ends[i]) in text. Inside
// a stretch of text that normalization changed, ranges widen to the whole stretch.
int tokenizer_encode_offsets(const tokenizer *t, const char *text, size_t len, int32_t **ids,
                             uint32_t **starts, uint32_t **ends, size_t *n, int allow_special);

// Concatenated token bytes (exact, possibly not valid UTF-8); *bytes is malloc'd and
// NUL-terminated (the NUL is not counted in *len). Ids without a token (beyond the vocabulary,
// as a padded embedding table allows) add nothing, as in Hugging Face; negative ids fail.
int tokenizer_decode(const tokenizer *t, const int32_t *ids, size_t n, char **bytes, size_t *len);
// skip_special: leave out special added tokens (like skip_special_tokens=True)
int tokenizer_decode_ex(const tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                        char **bytes, size_t *len);

// Streaming decode for generation: push one id at a time, get back only whole UTF-8 characters;
// an incomplete multi-byte sequence waits for the next token. Bytes that can never form a valid
// character are passed through as they are, so the concatenated output equals tokenizer_decode.
typedef struct arwkv_token_stream tokenizer_stream;   // arwkv_token_stream in arwkv.h
int tokenizer_stream_init(tokenizer_stream **out, const tokenizer *t, int skip_special);
// *text points into the stream's buffer, valid until the next call; *len may be 0.
int tokenizer_stream_push(tokenizer_stream *s, int32_t id, const char **text, size_t *len);
// Emits whatever is still buffered (an unfinished character at the end of generation).
int tokenizer_stream_flush(tokenizer_stream *s, const char **text, size_t *len);
void tokenizer_stream_free(tokenizer_stream *s);

// ---- chat ------------------------------------------------------------------------------------
typedef struct {
    const char *role;      // "system", "user", "assistant", ...
    const char *content;   // UTF-8, NUL-terminated
} tokenizer_message;

tokenizer_template tokenizer_chat_template(const tokenizer *t);
// Overrides the template chosen from tokenizer_config.json: "chatml", "none" or "auto" (the file's).
int tokenizer_set_chat_template(tokenizer *t, const char *name);
// Renders messages (and `<|im_start|>assistant\n` when add_generation_prompt) to text; *text is
// malloc'd and NUL-terminated.
int tokenizer_chat_render(const tokenizer *t, const tokenizer_message *msgs, size_t n_msgs,
                          int add_generation_prompt, char **text, size_t *len);
// Ids of the rendered text (special tokens recognised, as Hugging Face's apply_chat_template
// with tokenize=True) and mask[i] = 1 for tokens that overlap an assistant message's content
// or its closing <|im_end|>: the tokens an SFT loss is computed on. Both arrays are malloc'd.
int tokenizer_chat_encode(const tokenizer *t, const tokenizer_message *msgs, size_t n_msgs,
                          int add_generation_prompt, int32_t **ids, uint8_t **mask, size_t *n);

#endif
