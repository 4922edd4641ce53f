#!/usr/bin/python3
"""Training throughput of the student: `arwkv train` against a plain PyTorch CPU step.

Shape: D 256, L 4, F 1024, vocab 8192, ctx 256, batch 4, AdamW step included (the model is made
with `arwkv make-model --arch arwkv`, the tokens are uniform random ids written straight into
the token-file format of src/train/data.h). The PyTorch side runs the same model and step in
float32 with torch.set_num_threads(2) and the forward of scripts/reference/arwkv_ref.py; it is
skipped with a note when torch is missing.

Prints tokens/s (wall, and per CPU-second: the machine is shared, so wall time alone misleads),
the ratio, the per-op table of ARWKV_PROFILE=1, and the fraction of fp32 FMA peak the big matrix
products reach. The peak comes from an FMA loop compiled here and timed in CPU time (per core),
or from /proc/cpuinfo's clock x 32 flops/cycle when no C compiler is found.

usage: scripts/bench_train.py [--bin build/arwkv] [--steps 6] [--threads 2] [--torch-steps 2] [--no-torch]
"""
import argparse
import json
import os
import random
import re
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPE = dict(D=256, L=4, F=1024, V=8192, T=256, B=4)

FMA_PROBE = r"""
#include <immintrin.h>
#include <stdio.h>
#include <time.h>
static double cpu(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
#define F(x) x = _mm256_fmadd_ps(x, m, c)
int main(void) {
    __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    __m256 a0 = m, a1 = c, a2 = m, a3 = c, a4 = m, a5 = c, a6 = m, a7 = c, a8 = m, a9 = c;
    long n = 100000000;
    double t = cpu();
    for (long k = 0; k < n; k++) {   /* ten independent chains cover 2 pipes x 4 cycles of latency */
        F(a0); F(a1); F(a2); F(a3); F(a4); F(a5); F(a6); F(a7); F(a8); F(a9);
        __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5), "+x"(a6), "+x"(a7),
                         "+x"(a8), "+x"(a9));
    }
    t = cpu() - t;
    float o[8];
    _mm256_storeu_ps(o, _mm256_add_ps(_mm256_add_ps(a0, a5), _mm256_add_ps(a3, a9)));
    printf("%.6f %f\n", n * 10.0 * 16 / t * 1e-9, o[0]);
    return 0;
}
"""


def core_peak_gflops(tmp):
    """fp32 FMA peak of one core in GFLOP/s, and how it was found."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc:
        src, exe = os.path.join(tmp, "fma.c"), os.path.join(tmp, "fma")
        with open(src, "w") as f:
            f.write(FMA_PROBE)
        if subprocess.run([cc, "-O2", "-mavx2", "-mfma", src, "-o", exe], capture_output=True).returncode == 0:
            best = max(float(subprocess.run([exe], capture_output=True, text=True).stdout.split()[0])
                       for _ in range(3))
            return best, "measured FMA loop, CPU time, AVX2 (%.2f GHz x 32 flops/cycle)" % (best / 32)
    mhz = 0.0
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("cpu MHz"):
                mhz = max(mhz, float(line.split(":")[1]))
    return mhz * 1e-3 * 32, "/proc/cpuinfo %.0f MHz x 32 flops/cycle" % mhz


def write_tokens(path, n, vocab, seed=0):
    rng = random.Random(seed)
    with open(path, "wb") as f:
        f.write(b"ARWKVTOK" + struct.pack("<IIQQ", 1, vocab, n, 1) + bytes(64 - 32))
        f.write(struct.pack("<%dI" % n, *(rng.randrange(vocab) for _ in range(n))))
        f.write(bytes([1]) * n)


def cpu_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_arwkv(binary, model, data, tmp, steps, threads, warm):
    out, log = os.path.join(tmp, "out"), os.path.join(tmp, "log.jsonl")
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), ARWKV_PROFILE="1")
    c0 = cpu_children()
    p = subprocess.run([binary, "train", "-m", model, "--data", data, "--out", out, "--steps", str(steps),
                        "--ctx", str(SHAPE["T"]), "--batch", str(SHAPE["B"]), "--lr", "1e-3", "--log", log],
                       env=env, capture_output=True, text=True)
    cpu = cpu_children() - c0
    if p.returncode:
        sys.exit("arwkv train failed:\n" + p.stderr)
    with open(log) as f:
        rates = [json.loads(line)["tokens_per_s"] for line in f][warm:]
    rates.sort()
    table = p.stderr[p.stderr.index("profile:"):] if "profile:" in p.stderr else ""
    return rates[len(rates) // 2], cpu, table


def matmul_row(table):
    """(wall s, cpu s, GFLOP/s) of the 'matmul fwd + bwd' row of the profile table."""
    m = re.search(r"matmul fwd \+ bwd\s+([\d.]+)\s+([\d.]+)\s+[\d.]+%\s+([\d.]+)", table)
    return tuple(float(x) for x in m.groups()) if m else None


def torch_step_rate(model, steps, threads):
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None, "PyTorch not importable by %s: PyTorch side skipped" % sys.executable
    sys.path.insert(0, os.path.join(HERE, "reference"))
    import arwkv_ref
    import qwen2_ref
    torch.set_num_threads(threads)
    cfg, w64 = qwen2_ref.load_dir(model)
    w = {k: v.to(torch.float32).requires_grad_(True) for k, v in w64.items()}
    decay = [p for p in w.values() if p.squeeze().dim() >= 2]
    rest = [p for p in w.values() if p.squeeze().dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    gen = torch.Generator().manual_seed(0)
    B, T, V = SHAPE["B"], SHAPE["T"], SHAPE["V"]
    times = []
    for s in range(steps):
        ids = torch.randint(0, V, (B, T + 1), generator=gen)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        logits = arwkv_ref.forward(cfg, w, ids[:, :-1], detach_v_first=True)
        loss = F.cross_entropy(logits.reshape(-1, V), ids[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(w.values()), 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)   # a step takes a minute: no warm-up step needed
    times.sort()
    return B * T / times[len(times) // 2], "torch %s, float32, %d threads, median of %d steps" % (
        torch.__version__, threads, steps)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "build", "arwkv"))
    ap.add_argument("--steps", type=int, default=6, help="arwkv optimiser steps (the first is not counted)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--torch-steps", type=int, default=2)
    ap.add_argument("--no-torch", action="store_true")
    a = ap.parse_args()
    if not os.access(a.bin, os.X_OK):
        sys.exit("%s: not an executable arwkv (build it, or pass --bin)" % a.bin)
    with tempfile.TemporaryDirectory(prefix="bench_train.") as tmp:
        model, data = os.path.join(tmp, "model"), os.path.join(tmp, "tokens.bin")
        subprocess.run([a.bin, "make-model", "--arch", "arwkv", "--hidden", str(SHAPE["D"]), "--layers",
                        str(SHAPE["L"]), "--ffn", str(SHAPE["F"]), "--vocab", str(SHAPE["V"]), "--dtype", "f32",
                        "--seed", "1", "-o", model], check=True, capture_output=True)
        write_tokens(data, (a.steps + 1) * SHAPE["B"] * SHAPE["T"] + 1, SHAPE["V"])
        print("shape: D %(D)d, L %(L)d, F %(F)d, vocab %(V)d, ctx %(T)d, batch %(B)d; AdamW step included" % SHAPE)
        print("load average before: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
        peak, how = core_peak_gflops(tmp)
        print("fp32 peak: %.1f GFLOP/s per core (%s), %.1f on %d threads" % (peak, how, peak * a.threads,
                                                                             a.threads))
        rate, cpu, table = run_arwkv(a.bin, model, data, tmp, a.steps, a.threads, warm=1)
        tokens = a.steps * SHAPE["B"] * SHAPE["T"]
        print("\narwkv train: %.0f tokens/s (median step, wall), %.0f tokens per CPU-second over the run "
              "(OMP_NUM_THREADS=%d)" % (rate, tokens / cpu, a.threads))
        print(table.rstrip())
        mm = matmul_row(table)
        if mm:
            wall, mcpu, gf = mm
            print("matmul fwd + bwd: %.1f GFLOP/s = %.0f%% of the %d-thread peak (wall); %.0f%% of one core's "
                  "peak per CPU-second" % (gf, 100 * gf / (peak * a.threads), a.threads,
                                           100 * gf * wall / mcpu / peak))
        if a.no_torch:
            return
        trate, note = torch_step_rate(model, a.torch_steps, a.threads)
        print("\n" + note)
        if trate:
            print("pytorch: %.1f tokens/s (wall)" % trate)
            print("ratio arwkv / pytorch: %.1fx" % (rate / trate))
        print("load average after: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))


if __name__ == "__main__":
    main()
