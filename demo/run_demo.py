#!/usr/bin/env python3
"""The built-in demo: distil the committed Qwen2 demo teacher into an ARWKV student through the
paper's stages and compare them after each stage.

  init-student (attention init) -> stage 1 alignment -> stage 2 KL -> SFT -> DPO

After each stage it measures the student (and once the teacher): held-out perplexity, key-value
recall accuracy, decode speed and the memory of the state (RNN) vs the KV cache (teacher); it
prints the table, a sample generation from both, and draws the loss curves to OUT/losses.svg.

usage: run_demo.py [OUT_DIR] [--quick]   (--quick: a few steps per stage, for tests)
"""
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("ARWKV_BIN", os.path.join(ROOT, "build", "arwkv"))
TEACHER = os.environ.get("ARWKV_DEMO_TEACHER", os.path.join(ROOT, "demo", "teacher"))

# steps per stage: (steps, ctx, batch, lr)
FULL = {"stage1": (150, 128, 8, 2e-3), "stage2": (600, 128, 8, 1e-3), "sft": (40, 256, 4, 1e-4), "dpo": (30, 256, 4, 5e-5)}
QUICK = {k: (2, 64, 2, v[3]) for k, v in FULL.items()}
HELD_CHARS = 60000          # held-out text scored after each stage
RECALL_PAIRS = "2,4,8"      # pairs in the recall prompts
RECALL_TRIALS = 30
MC_ITEMS = 100              # 4-way multiple-choice recall questions (chance: 0.25)
if "--quick" in sys.argv:
    HELD_CHARS, RECALL_TRIALS, MC_ITEMS = 4000, 4, 8


def run(args, capture=True):
    cmd = [BIN] + [str(a) for a in args]
    r = subprocess.run(cmd, stdout=subprocess.PIPE if capture else None, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"demo: {' '.join(cmd)} failed:\n{r.stderr.strip()}")
    return r.stdout if capture else ""


def log(msg):
    print(msg, flush=True)


def measure(model, data, work):
    ppl = float(re.search(r"perplexity: (\S+)", run(["perplexity", "-m", model, "-f", data["held"], "-c", 256])).group(1))
    out = os.path.join(work, "recall.json")
    run(["eval", "-m", model, "--task", "kv", "--lengths", RECALL_PAIRS, "--limit", RECALL_TRIALS, "--json", out])
    res = json.load(open(out))["results"]
    recall = sum(v["acc,none"] for v in res.values()) / len(res)
    run(["eval", "-m", model, "--task", "mc", "--data", data["mc"], "--limit", MC_ITEMS, "--json", out])
    mc = json.load(open(out))["results"]["mc"]["acc,none"]
    b = run(["bench", "-m", model, "--decode", 64, "--prefill", 256])
    tps = float(re.search(r"decode\s+(\S+) tok/s", b).group(1))
    state = re.search(r"state after (\d+) tokens: (.+)", b)
    return {"ppl": ppl, "recall": recall, "mc": mc, "tps": tps, "state": f"{state.group(2).strip()} @ {state.group(1)} tok"}


def table(rows):
    lines = ["| model | held-out ppl | recall acc (generation) | recall acc (4-way choice) | decode tok/s | state / KV cache |",
             "|---|---:|---:|---:|---:|---|"]
    for name, m in rows:
        lines.append(f"| {name} | {m['ppl']:.3f} | {m['recall']:.3f} | {m['mc']:.3f} | {m['tps']:.1f} | {m['state']} |")
    return "\n".join(lines)


def main():
    quick = "--quick" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--quick"]
    out = os.path.abspath(args[0] if args else os.path.join(ROOT, "out", "demo"))
    plan = QUICK if quick else FULL
    os.makedirs(out, exist_ok=True)
    t0 = time.time()
    dd = os.path.join(out, "data")
    if not os.path.exists(os.path.join(dd, "recall_mc.jsonl")):
        subprocess.run([sys.executable, os.path.join(ROOT, "demo", "make_corpus.py"), dd], check=True)
    data = {"held": os.path.join(out, "heldout_sample.txt"), "mc": os.path.join(dd, "recall_mc.jsonl")}
    with open(os.path.join(dd, "heldout.txt"), encoding="utf-8") as f:
        held = f.read(HELD_CHARS)
    with open(data["held"], "w", encoding="utf-8") as f:
        f.write(held)
    for name, src in (("train", "train.txt"), ("sft", "sft.jsonl")):
        data[name] = os.path.join(out, name + ".bin")
        if not os.path.exists(data[name]):
            run(["prepare-data", "-m", TEACHER, "-i", os.path.join(dd, src), "-o", data[name]])

    work = os.path.join(out, "eval")
    os.makedirs(work, exist_ok=True)
    log("measuring the teacher")
    rows = [("teacher (Qwen2, attention)", measure(TEACHER, data, work))]
    student = os.path.join(out, "student_init")
    run(["init-student", "--teacher", TEACHER, "--init", "attention", "-o", student, "--dtype", "f32"])
    rows.append(("student after init", measure(student, data, work)))
    logs = []
    stages = [
        ("stage1", ["distill", "--stage", 1, "--teacher", TEACHER, "--student"], data["train"]),
        ("stage2", ["distill", "--stage", 2, "--teacher", TEACHER, "--student"], data["train"]),
        ("sft", ["sft", "-m"], data["sft"]),
        ("dpo", ["dpo", "--ref", None, "-m"], os.path.join(dd, "dpo.jsonl")),
    ]
    for name, cmd, train_data in stages:
        steps, ctx, batch, lr = plan[name]
        dst = os.path.join(out, name)
        logf = os.path.join(out, name + ".jsonl")
        cmd = [student if c is None else c for c in cmd]
        log(f"{name}: {steps} steps, ctx {ctx}, batch {batch}, lr {lr:g}")
        run(cmd + [student, "--data", train_data, "--out", dst, "--steps", steps, "--ctx", ctx, "--batch", batch,
                   "--lr", lr, "--log", logf, "--shuffle", 1, "--seed", 1], capture=False)
        student = dst
        logs.append(f"{name}={logf}")
        rows.append((f"student after {name}", measure(student, data, work)))
        log(table(rows[-1:]).splitlines()[-1])
    subprocess.run([sys.executable, os.path.join(ROOT, "demo", "plot_losses.py"), os.path.join(out, "losses.svg")] + logs,
                   check=True)
    print("\n" + table(rows))
    t, s = rows[0][1]["ppl"], rows[3][1]["ppl"]
    print(f"\nstudent/teacher held-out perplexity after stage 2: {s / t:.3f}")
    prompt = "Perl is a"
    for name, m in (("teacher", TEACHER), ("student", student)):
        text = run(["generate", "-m", m, "-p", prompt, "-n", 40, "--temp", 0]).strip()
        print(f"\n{name}: {prompt}{text}")
    print(f"\nloss curves: {os.path.join(out, 'losses.svg')}\ndemo finished in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
