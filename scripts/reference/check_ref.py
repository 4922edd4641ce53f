"""Self-checks of the reference: /usr/bin/python3 scripts/reference/check_ref.py

Compares different formulations of the same math and hand-computed values; reads the
golden files back and recomputes them. Exits non-zero on any failure."""
import math
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import arwkv_ref  # noqa: E402
import qwen2_ref  # noqa: E402
import st  # noqa: E402
import train_ref  # noqa: E402

GOLD = os.path.normpath(os.path.join(HERE, "..", "..", "tests", "data", "golden"))
failures = 0


def check(name, err, tol):
    global failures
    ok = err <= tol
    failures += not ok
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {err:.3e} (tol {tol:.0e})")


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


def golden_logits():
    """Recompute every stored golden logits file (catches stale files)."""
    for case in sorted(os.listdir(GOLD)):
        d = os.path.join(GOLD, case)
        if not os.path.exists(os.path.join(d, "golden.safetensors")) or not os.path.exists(os.path.join(d, "config.json")):
            continue
        cfg, w = qwen2_ref.load_dir(d)
        g = st.load(os.path.join(d, "golden.safetensors"))
        ref = qwen2_ref if cfg["model_type"] == "qwen2" else arwkv_ref
        logits = ref.forward(cfg, w, g["input_ids"][None])[0]
        check(f"{case}: stored logits vs recomputed", rel(g["logits"].double(), logits), 1e-6)


def wkv_forms():
    """Scan vs scan-free products of transition matrices, random inputs, two heads."""
    gen = torch.Generator().manual_seed(1)
    B, T, H, N = 1, 9, 2, arwkv_ref.N
    rn = lambda: torch.randn(B, T, H, N, generator=gen, dtype=torch.float64)
    r, k, v = rn(), rn(), rn()
    wd = torch.exp(-math.exp(-0.5) * torch.sigmoid(rn()))
    kk = rn()
    kk = kk / kk.norm(dim=-1, keepdim=True)
    a = torch.sigmoid(rn())
    o, _ = arwkv_ref.wkv_scan(r, wd, k, v, kk, a, torch.zeros(B, H, N, N, dtype=torch.float64))
    for h in range(H):
        p = arwkv_ref.wkv_by_products(r[0, :, h], wd[0, :, h], k[0, :, h], v[0, :, h],
                                      -kk[0, :, h], kk[0, :, h] * a[0, :, h])
        check(f"wkv scan vs transition products, head {h}", rel(o[0, :, h], p), 1e-12)


def student_forms():
    for case in ("arwkv_nogate_f32", "arwkv_gate_groupnorm_f32"):
        cfg, w = qwen2_ref.load_dir(os.path.join(GOLD, case))
        ids = st.load(os.path.join(GOLD, case, "golden.safetensors"))["input_ids"]
        full, (sh, wk) = arwkv_ref.forward(cfg, w, ids[None], want_state=True)
        state = arwkv_ref.empty_state(cfg)
        rec = torch.stack([arwkv_ref.step(cfg, w, t, state) for t in ids.tolist()])
        check(f"{case}: sequence vs recurrent logits", rel(rec, full[0]), 1e-12)
        check(f"{case}: sequence vs recurrent wkv state", rel(state["wkv"], wk[0]), 1e-12)
        # Resume: prompt split in two, state carried over.
        c = 5
        first, s1 = arwkv_ref.forward(cfg, w, ids[None, :c], want_state=True)
        second = arwkv_ref.forward(cfg, w, ids[None, c:], state=s1)
        check(f"{case}: split prompt + state resume", rel(torch.cat([first, second], 1), full), 1e-12)
    g = st.load(os.path.join(GOLD, "arwkv_nogate_f32", "golden.safetensors"))
    cfg, w = qwen2_ref.load_dir(os.path.join(GOLD, "arwkv_nogate_f32"))
    _, (sh, wk) = arwkv_ref.forward(cfg, w, g["input_ids"][None], want_state=True)
    check("stored state_shift", rel(g["state_shift"].double(), sh[0]), 1e-6)
    check("stored state_wkv", rel(g["state_wkv"].double(), wk[0]), 1e-6)
    # The shift state is the normed input of the last token of each layer: check layer 0 by hand.
    x = w["model.embed_tokens.weight"][int(g["input_ids"][-1])]
    xn = x / torch.sqrt((x * x).mean() + cfg["rms_norm_eps"]) * w["model.layers.0.input_layernorm.weight"]
    check("state_shift[0] = normed last embedding", rel(sh[0, 0], xn), 1e-14)


def teacher_forms():
    for case in ("qwen2_gqa7_untied_f32", "qwen2_gqa2_tied_f32"):
        cfg, w = qwen2_ref.load_dir(os.path.join(GOLD, case))
        ids = st.load(os.path.join(GOLD, case, "golden.safetensors"))["input_ids"]
        check(f"{case}: batched vs kv-cache form", rel(qwen2_ref.forward_kv_cache(cfg, w, ids),
                                                       qwen2_ref.forward(cfg, w, ids[None])[0]), 1e-12)
    # Causality: a later token never changes earlier logits.
    cfg, w = qwen2_ref.load_dir(os.path.join(GOLD, "qwen2_gqa1_untied_f32"))
    ids = torch.tensor([[3, 1, 4, 1, 5, 9]])
    ids2 = ids.clone()
    ids2[0, -1] = 2
    a, b = qwen2_ref.forward(cfg, w, ids), qwen2_ref.forward(cfg, w, ids2)
    check("teacher causality", rel(a[0, :-1], b[0, :-1]), 0.0)


def init_values():
    D, L = 128, 2
    p0 = arwkv_ref.paper_deterministic(D, L, 0, True)
    p1 = arwkv_ref.paper_deterministic(D, L, 1, True)
    hand = [  # (value, expected) computed by hand from the formulas
        (p0["x_r"][0, 0, 64], 1 - 0.5 ** 0.2),
        (p1["x_r"][0, 0, 64], 1 - 0.5 ** 0.1),
        (p0["x_k"][0, 0, 32], 1 - 0.25 ** 0.9),
        (p1["x_k"][0, 0, 32], 1 - (0.25 ** 0.45 + 0.4)),
        (p1["x_v"][0, 0, 96], 1 - (0.75 ** 0.2 + 0.6)),
        (p0["w0"][0, 0, 0], -6.5), (p0["w0"][0, 0, 127], -1.5), (p1["w0"][0, 0, 127], -1.5),
        (p1["w0"][0, 0, 50], -6.5 + 5 * (50 / 127) ** 1.85),
        (p0["x_r"][0, 0, 0], 1.0), (p1["k_k"][0, 0, 5], 0.85),
    ]
    check("paper init values vs hand", max(abs(float(a) - b) for a, b in hand), 1e-15)
    tcfg, tw = qwen2_ref.load_dir(os.path.join(GOLD, "init_teacher_gqa2"))
    hd = D // tcfg["num_attention_heads"]
    wk = tw["model.layers.1.self_attn.k_proj.weight"]
    full = wk.view(tcfg["num_key_value_heads"], hd, D).repeat_interleave(2, 0).reshape(D, D)
    check("attention init k repeat", rel(arwkv_ref.attention_copies(tcfg, tw, 1)["key.weight"], full), 0.0)
    exp = st.load(os.path.join(GOLD, "init_attention_expected.safetensors"))
    check("stored attention init", rel(exp["model.layers.1.self_attn.time_mixer.key.weight"].double(), full), 0.0)


def gradients():
    """Autograd vs central differences on the student's time-mix, and detach semantics."""
    cfg, w = qwen2_ref.load_dir(os.path.join(GOLD, "arwkv_gate_f32"))
    ids = torch.tensor([[1, 5, 2, 8, 3]])
    name = "model.layers.1.self_attn.time_mixer.k_a"
    gen = torch.Generator().manual_seed(3)
    direction = torch.randn(w[name].shape, generator=gen, dtype=torch.float64)
    proj = torch.randn(1, 5, cfg["vocab_size"], generator=gen, dtype=torch.float64)

    def f(wt):
        w2 = dict(w)
        w2[name] = wt
        return (arwkv_ref.forward(cfg, w2, ids) * proj).sum()

    p = w[name].clone().requires_grad_(True)
    f(p).backward()
    analytic = float((p.grad * direction).sum())
    h = 1e-5
    numeric = (float(f(w[name] + h * direction)) - float(f(w[name] - h * direction))) / (2 * h)
    check("student gradient vs central difference", abs(analytic - numeric) / abs(numeric), 1e-7)
    # Stage 1: the layer-1 loss must not reach layer 0's parameters (v_first detached).
    tcfg, tw = qwen2_ref.load_dir(os.path.join(GOLD, "init_teacher_gqa2"))
    scfg, sw = qwen2_ref.load_dir(os.path.join(GOLD, "stage1_alignment", "student"))
    params = train_ref.trainable(sw, lambda k: ".time_mixer." in k)
    with torch.no_grad():
        _, layers = qwen2_ref.forward(tcfg, tw, ids, want_layers=True)
    _, per = train_ref.stage1_losses(scfg, sw, layers)
    per[1].backward()
    leak = max(float(p.grad.abs().max()) if p.grad is not None else 0.0
               for k, p in params.items() if k.startswith("model.layers.0."))
    check("stage-1 layer-1 loss gradient into layer 0", leak, 0.0)


def loss_grads():
    kl = st.load(os.path.join(GOLD, "stage2_kl", "kl_check.safetensors"))
    s = kl["student_logits"].double()
    V = s.shape[-1]
    pt = torch.softmax(kl["teacher_logits"].double()[:, :V], -1)
    m = kl["mask"].double()[:, None]
    g = (torch.softmax(s, -1) - pt) * m / m.sum()
    check("KL gradient = (p_S - p_T) / n", rel(kl["grad_student_logits"], g), 1e-12)
    lt = torch.log(pt)
    val = ((pt * (lt - torch.log_softmax(s, -1))).sum(-1) * m[:, 0]).sum() / m.sum()
    check("KL value", abs(float(kl["loss"]) - float(val)) / float(val), 1e-12)
    d = st.load(os.path.join(GOLD, "dpo", "dpo.safetensors"))
    beta = 0.1
    z = beta * ((d["policy_chosen_logps"] - d["ref_chosen_logps"]) - (d["policy_rejected_logps"] - d["ref_rejected_logps"]))
    n = z.numel()
    check("DPO loss", abs(float(d["loss"]) - float(sum(math.log1p(math.exp(-float(x))) for x in z) / n)), 1e-14)
    gc = -beta * torch.sigmoid(-z) / n
    check("DPO gradient chosen", rel(d["grad_policy_chosen_logps"], gc), 1e-12)
    check("DPO gradient rejected", rel(d["grad_policy_rejected_logps"], -gc), 1e-12)
    lg = d["seq_logits"].double()
    onehot = torch.nn.functional.one_hot(d["seq_labels"].long(), lg.shape[-1]).double()
    gs = (onehot - torch.softmax(lg, -1)) * d["seq_mask"].double()[..., None]
    check("sequence log-prob gradient", rel(d["seq_grad_logits"], gs), 1e-12)


def main():
    torch.set_num_threads(1)
    golden_logits()
    wkv_forms()
    student_forms()
    teacher_forms()
    init_values()
    gradients()
    loss_grads()
    print(f"{failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
