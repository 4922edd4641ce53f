#!/usr/bin/env python3
"""Builds the demo's data from text that ships with Debian, deterministically.

Text: the Perl documentation (package perl-doc, GPL-1+ or Artistic), rendered with pod2text;
one document in 20 is held out. Recall: synthetic key-value lines in the format of
`arwkv eval --task kv`, which exercise what attention does well and an RNN finds hard.
Chat: SFT conversations and DPO preference pairs on the recall task. recall_mc.jsonl asks the same
as 4-way multiple choice (`arwkv eval --task mc`). recall.txt holds more recall
lines for the teacher's second training phase.

usage: make_corpus.py OUT_DIR [--pod-dir DIR]
"""
import glob
import json
import os
import random
import string
import subprocess
import sys


def kv_line(rng, n_pairs):
    keys = []   # a list, not a set: set order follows the string hash seed of the process
    while len(keys) < n_pairs:
        k = "".join(rng.choice(string.ascii_lowercase) for _ in range(4))
        if k not in keys:
            keys.append(k)
    vals = [rng.randrange(1000) for _ in keys]
    q = rng.randrange(n_pairs)
    prompt = "Remember: " + ", ".join(f"{k}={v}" for k, v in zip(keys, vals)) + f". Question: {keys[q]}? Answer:"
    return prompt, vals[q], vals


def render_pods(pod_dir):
    docs = []
    for path in sorted(glob.glob(os.path.join(pod_dir, "*.pod"))):
        text = subprocess.run(["pod2text", path], capture_output=True, text=True, errors="replace").stdout
        if text.strip():
            docs.append(text)
    return docs


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    out = sys.argv[1]
    pod_dir = sys.argv[sys.argv.index("--pod-dir") + 1] if "--pod-dir" in sys.argv else "/usr/share/perl/5.36/pod"
    os.makedirs(out, exist_ok=True)
    docs = render_pods(pod_dir)
    if len(docs) < 40:
        sys.exit(f"make_corpus: found only {len(docs)} pod files in {pod_dir} (apt-get install perl-doc)")
    rng = random.Random(20250127)
    train = [d for i, d in enumerate(docs) if i % 20 != 7]
    held = [d for i, d in enumerate(docs) if i % 20 == 7]
    # recall lines between the documents: about a fifth of the training tokens
    pieces = []
    for d in train:
        pieces.append(d)
        pieces.append("\n".join(f"{p} {a}" for p, a, _ in (kv_line(rng, rng.randint(2, 8)) for _ in range(60))) + "\n")
    write_atomic(os.path.join(out, "train.txt"), "\n".join(pieces))
    write_atomic(os.path.join(out, "heldout.txt"), "\n".join(held))
    sft, dpo = [], []
    for _ in range(2000):
        p, a, vals = kv_line(rng, rng.randint(2, 6))
        sft.append({"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": str(a)}]})
    for _ in range(500):
        p, a, vals = kv_line(rng, rng.randint(2, 6))
        wrong = rng.choice([v for v in vals if v != a] or [(a + 1) % 1000])
        dpo.append({"prompt": p, "chosen": f" {a}", "rejected": f" {wrong}"})
    # recall-only text for the teacher's second training phase: attention learns to look things up
    write_atomic(os.path.join(out, "recall.txt"),
                 "".join(f"{p} {a}\n" for p, a, _ in (kv_line(rng, rng.randint(2, 8)) for _ in range(30000))))
    # multiple choice by log-likelihood: which of the values in the prompt belongs to the asked key
    mc = []
    for _ in range(100):
        p, a, vals = kv_line(rng, 4)
        mc.append({"context": p, "choices": [str(v) for v in vals], "answer": vals.index(a)})
    write_atomic(os.path.join(out, "recall_mc.jsonl"), "".join(json.dumps(r) + "\n" for r in mc))
    write_atomic(os.path.join(out, "sft.jsonl"), "".join(json.dumps(r) + "\n" for r in sft))
    write_atomic(os.path.join(out, "dpo.jsonl"), "".join(json.dumps(r) + "\n" for r in dpo))
    print(f"make_corpus: {len(train)} training and {len(held)} held-out documents, "
          f"{len(sft)} SFT conversations, {len(dpo)} preference pairs in {out}")


if __name__ == "__main__":
    main()
