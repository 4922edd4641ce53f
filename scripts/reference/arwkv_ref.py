"""ARWKV student (docs/model.md §2) in float64, written from the spec only.

Two forms of the same model: forward() runs whole sequences (projections batched over time,
then the WKV scan), step() runs one token against an explicit recurrent state. A third,
scan-free form of the WKV recurrence (products of transition matrices) checks the scan.
Also the student initialisation from a teacher ("paper" and "attention" variants).

State layout: shift (L, D) = normed input of the last token; wkv (L, H, N, N) with row i =
value channel, column j = key channel.
"""
import copy
import math

import torch

from qwen2_ref import rms_norm, mlp, lm_head

N = 64                      # wkv head size
RANKS = {"w": 64, "a": 64, "v": 32, "g": 128}
GN_EPS = 64e-5


def tm_prefix(i):
    return f"model.layers.{i}.self_attn.time_mixer."


def n_heads(cfg):
    return cfg["hidden_size"] // N


def group_norm(o, weight, bias):
    """Per-head GroupNorm over the last dim of o (..., H, N)."""
    mu = o.mean(-1, keepdim=True)
    var = ((o - mu) ** 2).mean(-1, keepdim=True)
    y = (o - mu) / torch.sqrt(var + GN_EPS)
    return y.reshape(*o.shape[:-2], -1) * weight + bias


def time_mix(cfg, w, i, xn, v_first=None, shift=None, wkv=None):
    """Time-mix block of layer i on normed input xn (B, T, D).

    v_first (B, T, D) is required for i > 0. shift (B, D) and wkv (B, H, N, N) are the
    incoming state (zeros when None). Returns (Wo o, v, new shift, new wkv); for layer 0
    v is the v_first of later layers."""
    B, T, D = xn.shape
    H = D // N
    p = tm_prefix(i)
    gate = p + "g1" in w
    if shift is None:
        shift = torch.zeros(B, D, dtype=xn.dtype)
    if wkv is None:
        wkv = torch.zeros(B, H, N, N, dtype=xn.dtype)
    xp = torch.cat([shift[:, None, :], xn[:, :-1]], dim=1)
    dx = xp - xn
    mix = {c: xn + dx * w[p + "x_" + c] for c in ("rwkva" + ("g" if gate else ""))}
    r = mix["r"] @ w[p + "receptance.weight"].T
    k = mix["k"] @ w[p + "key.weight"].T
    v = mix["v"] @ w[p + "value.weight"].T
    wd = torch.exp(-math.exp(-0.5) * torch.sigmoid(w[p + "w0"] + torch.tanh(mix["w"] @ w[p + "w1"]) @ w[p + "w2"]))
    if i > 0:
        v = v + (v_first - v) * torch.sigmoid(w[p + "v0"] + (mix["v"] @ w[p + "v1"]) @ w[p + "v2"])
    a = torch.sigmoid(w[p + "a0"] + (mix["a"] @ w[p + "a1"]) @ w[p + "a2"])
    kk = (k * w[p + "k_k"]).view(B, T, H, N)
    kk = kk / torch.clamp(kk.norm(dim=-1, keepdim=True), min=1e-12)
    k = k * (1 + (a - 1) * w[p + "k_a"])

    rh, kh, vh = r.view(B, T, H, N), k.view(B, T, H, N), v.view(B, T, H, N)
    o, S = wkv_scan(rh, wd.view(B, T, H, N), kh, vh, kk, a.view(B, T, H, N), wkv)
    if p + "ln_x.weight" in w:
        o = group_norm(o, w[p + "ln_x.weight"], w[p + "ln_x.bias"]).view(B, T, H, N)
    bonus = (rh * kh * w[p + "r_k"]).sum(-1, keepdim=True)
    o = (o + bonus * vh).reshape(B, T, D)
    if gate:
        o = o * (torch.sigmoid(mix["g"] @ w[p + "g1"]) @ w[p + "g2"])
    return o @ w[p + "output.weight"].T, v, xn[:, -1], S


def wkv_scan(r, wd, k, v, kk, a, S):
    """Step 12 over a sequence. r, wd, k, v, kk (normalised), a: (B, T, H, N); S (B, H, N, N).
    Returns o (B, T, H, N) and the final S."""
    outs = []
    for t in range(r.shape[1]):
        sa = (S * (-kk[:, t])[:, :, None, :]).sum(-1)                     # (B, H, N_value)
        S = (S * wd[:, t][:, :, None, :]
             + sa[..., :, None] * (kk[:, t] * a[:, t])[:, :, None, :]
             + v[:, t][..., :, None] * k[:, t][:, :, None, :])
        outs.append((S * r[:, t][:, :, None, :]).sum(-1))
    return torch.stack(outs, dim=1), S


def forward(cfg, w, ids, state=None, want_state=False, detach_v_first=False):
    """ids (B, T) -> logits (B, T, V) float64; state = (shift (B, L, D), wkv (B, L, H, N, N))."""
    eps = cfg["rms_norm_eps"]
    L = cfg["num_hidden_layers"]
    x = w["model.embed_tokens.weight"][ids.long()]
    shifts, wkvs = [], []
    v_first = None
    for i in range(L):
        xn = rms_norm(x, w[f"model.layers.{i}.input_layernorm.weight"], eps)
        s0 = None if state is None else state[0][:, i]
        w0 = None if state is None else state[1][:, i]
        y, v, s1, w1 = time_mix(cfg, w, i, xn, v_first, s0, w0)
        if i == 0:
            v_first = v.detach() if detach_v_first else v
        shifts.append(s1)
        wkvs.append(w1)
        x = x + y
        f = rms_norm(x, w[f"model.layers.{i}.post_attention_layernorm.weight"], eps)
        x = x + mlp(w, i, f)
    logits = rms_norm(x, w["model.norm.weight"], eps) @ lm_head(cfg, w).T
    if want_state:
        return logits, (torch.stack(shifts, 1), torch.stack(wkvs, 1))
    return logits


def empty_state(cfg):
    L, D = cfg["num_hidden_layers"], cfg["hidden_size"]
    return {"shift": torch.zeros(L, D, dtype=torch.float64),
            "wkv": torch.zeros(L, n_heads(cfg), N, N, dtype=torch.float64)}


def step(cfg, w, tok, state):
    """One token: returns logits (V,) and updates state {"shift", "wkv"} in place.

    Matrix-vector form with explicit per-head, per-row loops over the state."""
    eps = cfg["rms_norm_eps"]
    D = cfg["hidden_size"]
    H = D // N
    sig = lambda z: 1 / (1 + torch.exp(-z))
    x = w["model.embed_tokens.weight"][tok].clone()
    v_first = None
    for i in range(cfg["num_hidden_layers"]):
        p = tm_prefix(i)
        xn = x / math.sqrt(float((x * x).mean()) + eps) * w[f"model.layers.{i}.input_layernorm.weight"]
        dx = state["shift"][i] - xn
        state["shift"][i] = xn
        lerp = lambda c: xn + dx * w[p + "x_" + c].reshape(D)
        r = w[p + "receptance.weight"] @ lerp("r")
        k = w[p + "key.weight"] @ lerp("k")
        v = w[p + "value.weight"] @ lerp("v")
        z = w[p + "w0"].reshape(D) + w[p + "w2"].T @ torch.tanh(w[p + "w1"].T @ lerp("w"))
        wd = torch.exp(-math.exp(-0.5) * sig(z))
        if i == 0:
            v_first = v
        else:
            mv = sig(w[p + "v0"].reshape(D) + w[p + "v2"].T @ (w[p + "v1"].T @ lerp("v")))
            v = v * (1 - mv) + v_first * mv
        a = sig(w[p + "a0"].reshape(D) + w[p + "a2"].T @ (w[p + "a1"].T @ lerp("a")))
        kk = k * w[p + "k_k"].reshape(D)
        k = k * (1 + (a - 1) * w[p + "k_a"].reshape(D))
        o = torch.zeros(D, dtype=torch.float64)
        for h in range(H):
            sl = slice(h * N, (h + 1) * N)
            kkh = kk[sl] / max(float(kk[sl].norm()), 1e-12)
            S = state["wkv"][i, h]
            for row in range(N):
                sa = -float(S[row] @ kkh)
                S[row] = S[row] * wd[sl] + sa * kkh * a[sl] + v[sl][row] * k[sl]
                o[h * N + row] = S[row] @ r[sl]
            if p + "ln_x.weight" in w:
                oh = o[sl]
                mu = oh.mean()
                var = ((oh - mu) ** 2).mean()
                o[sl] = (oh - mu) / math.sqrt(float(var) + GN_EPS) * w[p + "ln_x.weight"][sl] + w[p + "ln_x.bias"][sl]
            bonus = float((r[sl] * k[sl] * w[p + "r_k"][h]).sum())
            o[sl] = o[sl] + bonus * v[sl]
        if p + "g1" in w:
            o = o * (w[p + "g2"].T @ sig(w[p + "g1"].T @ lerp("g")))
        x = x + w[p + "output.weight"] @ o
        f = x / math.sqrt(float((x * x).mean()) + eps) * w[f"model.layers.{i}.post_attention_layernorm.weight"]
        m = f"model.layers.{i}.mlp."
        g = w[m + "gate_proj.weight"] @ f
        x = x + w[m + "down_proj.weight"] @ (g * sig(g) * (w[m + "up_proj.weight"] @ f))
    xn = x / math.sqrt(float((x * x).mean()) + eps) * w["model.norm.weight"]
    return lm_head(cfg, w) @ xn


def wkv_by_products(r, wd, k, v, alpha, beta):
    """Scan-free WKV for one head: o_t = sum_{s<=t} v_s k_s^T A_{s+1} ... A_t r_t with
    A_u = diag(wd_u) + alpha_u beta_u^T (since S_t = S_{t-1} A_t + v_t k_t^T). Inputs (T, N)."""
    T = r.shape[0]
    o = torch.zeros(T, r.shape[1], dtype=torch.float64)
    for t in range(T):
        vec = r[t].clone()                          # A_{s+1}..A_t r_t, built from s = t down
        for s in range(t, -1, -1):
            o[t] += v[s] * float(k[s] @ vec)
            vec = torch.diag(wd[s]) @ vec + alpha[s] * float(beta[s] @ vec)
    return o


# ---------------------------------------------------------------- initialisation

def student_config(tcfg, gate, group_norm=False):
    cfg = copy.deepcopy(tcfg)
    cfg.update({"architectures": ["RwkvHybridForCausalLM"], "model_type": "rwkv_hybrid",
                "head_size": N, "head_size_divisor": 8, "wkv_version": 7,
                "wkv_has_gate": bool(gate), "wkv_has_group_norm": bool(group_norm),
                "tie_word_embeddings": False})
    return cfg


def paper_deterministic(D, L, l, gate):
    """The deterministic time-mix tensors of the paper init for layer l (float64)."""
    C = D
    r01 = l / (L - 1)
    r1a0 = 1 - l / L
    n = torch.arange(C, dtype=torch.float64)
    ddd = n / C
    vec = lambda t: t.reshape(1, 1, C)
    out = {
        "x_r": vec(1 - ddd ** (0.2 * r1a0)),
        "x_w": vec(1 - ddd ** (0.9 * r1a0)),
        "x_k": vec(1 - (ddd ** (0.9 * r1a0) + 0.4 * r01)),
        "x_v": vec(1 - (ddd ** (0.4 * r1a0) + 0.6 * r01)),
        "x_a": vec(1 - ddd ** (0.9 * r1a0)),
        "w0": vec(-7 + 5 * (n / (C - 1)) ** (0.85 + math.sqrt(r01)) + 0.5),
        "w1": torch.zeros(C, RANKS["w"], dtype=torch.float64),
        "a1": torch.zeros(C, RANKS["a"], dtype=torch.float64),
        "v1": torch.zeros(C, RANKS["v"], dtype=torch.float64),
        "a0": torch.zeros(1, 1, C, dtype=torch.float64),
        "v0": torch.ones(1, 1, C, dtype=torch.float64),
        "k_k": torch.full((1, 1, C), 0.85, dtype=torch.float64),
        "k_a": torch.ones(1, 1, C, dtype=torch.float64),
        "r_k": torch.zeros(C // N, N, dtype=torch.float64),
    }
    if gate:
        out["x_g"] = torch.ones(1, 1, C, dtype=torch.float64)
        out["g1"] = torch.ones(C, RANKS["g"], dtype=torch.float64)
        out["g2"] = torch.ones(RANKS["g"], C, dtype=torch.float64)
    return out


def attention_copies(tcfg, tw, l):
    """r/k/v/o of layer l copied from the teacher's q/k/v/o (biases dropped), with the GQA
    k/v heads repeated so that query head j gets kv head j / (Hq/Hkv)."""
    D = tcfg["hidden_size"]
    Hq, Hkv = tcfg["num_attention_heads"], tcfg["num_key_value_heads"]
    hd = D // Hq
    p = f"model.layers.{l}.self_attn."
    rep = lambda W: torch.cat([W[(j // (Hq // Hkv)) * hd:(j // (Hq // Hkv) + 1) * hd] for j in range(Hq)], 0)
    return {"receptance.weight": tw[p + "q_proj.weight"].clone(),
            "key.weight": rep(tw[p + "k_proj.weight"]),
            "value.weight": rep(tw[p + "v_proj.weight"]),
            "output.weight": tw[p + "o_proj.weight"].clone()}


def init_student(tcfg, tw, gate, seed, attention=False):
    """Full student from a teacher: copies, paper deterministic parts, seeded random parts
    (w2/a2/v2 = 0.1 x orthonormal rows, r/k/v/o uniform(+-1/sqrt(D)) unless attention)."""
    D, L = tcfg["hidden_size"], tcfg["num_hidden_layers"]
    cfg = student_config(tcfg, gate)
    gen = torch.Generator().manual_seed(seed)
    w = {}
    for name, t in tw.items():
        if ".self_attn." not in name:
            w[name] = t.clone()
    if "lm_head.weight" not in w:
        w["lm_head.weight"] = tw["model.embed_tokens.weight"].clone()
    for l in range(L):
        p = tm_prefix(l)
        for name, t in paper_deterministic(D, L, l, gate).items():
            w[p + name] = t
        for name in ("w2", "a2", "v2"):
            rank = RANKS[name[0]]
            q, _ = torch.linalg.qr(torch.randn(D, rank, generator=gen, dtype=torch.float64))
            w[p + name] = 0.1 * q.T.contiguous()
        bound = 1 / math.sqrt(D)
        for name in ("receptance.weight", "key.weight", "value.weight", "output.weight"):
            w[p + name] = (torch.rand(D, D, generator=gen, dtype=torch.float64) * 2 - 1) * bound
        if attention:
            for name, t in attention_copies(tcfg, tw, l).items():
                w[p + name] = t
    return cfg, w
