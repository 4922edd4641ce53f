#!/usr/bin/python3
"""Writes a small-vocabulary copy of a byte-level BPE tokenizer (e.g. Qwen's) for demos.

Keeps the 256 byte tokens, the first M merges and only the vocab entries those merges build
(a merge is kept when both halves are kept), renumbers the ids densely in their original
order, and adds <|endoftext|>, <|im_start|>, <|im_end|> right after. Because BPE applies
merges lowest rank first, the result tokenizes like the original would with only its first M
merges. Normalizer, pre-tokenizer and decoder are copied unchanged.

usage: make_small_tokenizer.py SRC OUT_DIR [--merges M]
  SRC: a tokenizer.json, or a directory holding one (and tokenizer_config.json)
"""
import argparse
import json
import os
import sys

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def byte_chars():
    """GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 + n."""
    keep = set(range(0x21, 0x7F)) | set(range(0xA1, 0xAD)) | set(range(0xAE, 0x100))
    out, n = [], 0
    for b in range(256):
        if b in keep:
            out.append(chr(b))
        else:
            out.append(chr(0x100 + n))
            n += 1
    return out


def fail(msg):
    sys.stderr.write("make_small_tokenizer: %s\n" % msg)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src")
    ap.add_argument("out_dir")
    ap.add_argument("--merges", type=int, default=4000, help="merges to keep (default 4000)")
    args = ap.parse_args()
    if args.merges < 0:
        fail("--merges must be >= 0")

    src = args.src
    src_dir = src if os.path.isdir(src) else os.path.dirname(src) or "."
    tok_path = os.path.join(src, "tokenizer.json") if os.path.isdir(src) else src
    with open(tok_path, encoding="utf-8") as f:
        tok = json.load(f)
    model = tok.get("model") or {}
    if model.get("type", "BPE") != "BPE":
        fail("%s: model type %r is not BPE" % (tok_path, model.get("type")))
    vocab = model["vocab"]
    merges = [m.split(" ") if isinstance(m, str) else list(m) for m in model["merges"]]

    keep = set()
    for c in byte_chars():
        if c not in vocab:
            fail("%s: byte-level token %r is missing from the vocab" % (tok_path, c))
        keep.add(c)
    kept_merges = []
    for a, b in merges[: args.merges]:
        if a in keep and b in keep and (a + b) in vocab:
            kept_merges.append([a, b])
            keep.add(a + b)

    order = sorted(keep, key=lambda s: vocab[s])
    new_vocab = {s: i for i, s in enumerate(order)}
    added_src = {t["content"]: t for t in tok.get("added_tokens") or []}
    added = []
    for i, content in enumerate(SPECIALS):
        t = dict(added_src.get(content) or {"single_word": False, "lstrip": False, "rstrip": False,
                                            "normalized": False, "special": True})
        t["id"] = len(new_vocab) + i
        t["content"] = content
        added.append(t)

    out_tok = dict(tok)
    out_tok["added_tokens"] = added
    out_model = dict(model)
    out_model["vocab"] = new_vocab
    out_model["merges"] = kept_merges
    out_tok["model"] = out_model

    cfg = {}
    cfg_path = os.path.join(src_dir, "tokenizer_config.json")
    if os.path.exists(cfg_path):
        with open(cfg_path, encoding="utf-8") as f:
            cfg = json.load(f)
    out_cfg = {
        "add_bos_token": False,
        "bos_token": None,
        "eos_token": cfg.get("eos_token") if cfg.get("eos_token") in SPECIALS else "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "model_max_length": cfg.get("model_max_length", 32768),
        "tokenizer_class": cfg.get("tokenizer_class", "Qwen2Tokenizer"),
        "added_tokens_decoder": {str(t["id"]): {k: v for k, v in t.items() if k != "id"} for t in added},
        "additional_special_tokens": SPECIALS[1:],
    }
    if "chat_template" in cfg:
        out_cfg["chat_template"] = cfg["chat_template"]

    os.makedirs(args.out_dir, exist_ok=True)
    for name, obj in (("tokenizer.json", out_tok), ("tokenizer_config.json", out_cfg)):
        path = os.path.join(args.out_dir, name)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=1)
            f.write("\n")
        os.replace(path + ".tmp", path)
    print("%s: %d tokens (%d merges) + %d added" % (args.out_dir, len(new_vocab), len(kept_merges), len(added)))


if __name__ == "__main__":
    main()
