"""Qwen2 teacher forward in float64 (docs/model.md §1), written from the spec only.

Weights are a dict {HF name: float64 tensor}; every function is plain torch so autograd
works through it for the training goldens.
"""
import json
import math
import os

import torch

import st


def load_dir(path):
    """Return (config dict, {name: float64 tensor}) from an HF-layout model directory."""
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    w = {k: v.to(torch.float64) for k, v in st.load(os.path.join(path, "model.safetensors")).items()}
    return cfg, w


def rms_norm(x, weight, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * weight


def lm_head(cfg, w):
    if cfg.get("tie_word_embeddings", False) and "lm_head.weight" not in w:
        return w["model.embed_tokens.weight"]
    return w["lm_head.weight"]


def rope_tables(T, hd, theta, start=0):
    """cos/sin (T, hd/2) for positions start..start+T-1."""
    i = torch.arange(hd // 2, dtype=torch.float64)
    inv = theta ** (-2.0 * i / hd)
    p = torch.arange(start, start + T, dtype=torch.float64)
    f = p[:, None] * inv[None, :]
    return torch.cos(f), torch.sin(f)


def rope(u, cos, sin):
    """Rotate-half RoPE on u (..., T, hd) with cos/sin (T, hd/2)."""
    h = u.shape[-1] // 2
    a, b = u[..., :h], u[..., h:]
    return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)


def attention(cfg, w, i, h):
    """Self-attention block of layer i on normed input h (B, T, D); returns Wo o (B, T, D)."""
    B, T, D = h.shape
    Hq, Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = D // Hq
    p = f"model.layers.{i}.self_attn."
    q = h @ w[p + "q_proj.weight"].T + w[p + "q_proj.bias"]
    k = h @ w[p + "k_proj.weight"].T + w[p + "k_proj.bias"]
    v = h @ w[p + "v_proj.weight"].T + w[p + "v_proj.bias"]
    q = q.view(B, T, Hq, hd).transpose(1, 2)
    k = k.view(B, T, Hkv, hd).transpose(1, 2)
    v = v.view(B, T, Hkv, hd).transpose(1, 2)
    cos, sin = rope_tables(T, hd, cfg["rope_theta"])
    q, k = rope(q, cos, sin), rope(k, cos, sin)
    kv_of_q = torch.arange(Hq) // (Hq // Hkv)
    k, v = k[:, kv_of_q], v[:, kv_of_q]
    s = q @ k.transpose(-1, -2) / math.sqrt(hd)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    s = s.masked_fill(~mask, float("-inf"))
    o = torch.softmax(s, dim=-1) @ v
    o = o.transpose(1, 2).reshape(B, T, D)
    return o @ w[p + "o_proj.weight"].T


def mlp(w, i, f):
    p = f"model.layers.{i}.mlp."
    g = f @ w[p + "gate_proj.weight"].T
    u = f @ w[p + "up_proj.weight"].T
    return (g * torch.sigmoid(g) * u) @ w[p + "down_proj.weight"].T


def forward(cfg, w, ids, want_layers=False):
    """ids (B, T) int -> logits (B, T, V) float64.

    With want_layers, also returns per layer (h, Wo o): the normed attention input and the
    attention block's output before the residual add (what stage 1 aligns to)."""
    eps = cfg["rms_norm_eps"]
    x = w["model.embed_tokens.weight"][ids.long()]
    layers = []
    for i in range(cfg["num_hidden_layers"]):
        h = rms_norm(x, w[f"model.layers.{i}.input_layernorm.weight"], eps)
        y = attention(cfg, w, i, h)
        layers.append((h, y))
        x = x + y
        f = rms_norm(x, w[f"model.layers.{i}.post_attention_layernorm.weight"], eps)
        x = x + mlp(w, i, f)
    logits = rms_norm(x, w["model.norm.weight"], eps) @ lm_head(cfg, w).T
    return (logits, layers) if want_layers else logits


def forward_kv_cache(cfg, w, ids):
    """Token-by-token form with an explicit KV cache and per-head loops, ids (T,).

    Written independently of forward() (scalar RoPE per position, explicit head mapping)
    so the two check each other."""
    eps = cfg["rms_norm_eps"]
    D = cfg["hidden_size"]
    Hq, Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = D // Hq
    L = cfg["num_hidden_layers"]
    theta = cfg["rope_theta"]
    cache_k = [[] for _ in range(L)]
    cache_v = [[] for _ in range(L)]
    out = []
    for pos, tok in enumerate(ids.tolist()):
        x = w["model.embed_tokens.weight"][tok].clone()
        for i in range(L):
            p = f"model.layers.{i}.self_attn."
            h = x / math.sqrt(float((x * x).sum()) / D + eps) * w[f"model.layers.{i}.input_layernorm.weight"]
            q = w[p + "q_proj.weight"] @ h + w[p + "q_proj.bias"]
            k = w[p + "k_proj.weight"] @ h + w[p + "k_proj.bias"]
            v = w[p + "v_proj.weight"] @ h + w[p + "v_proj.bias"]

            def rot(vec):
                r = vec.clone()
                for hh in range(vec.numel() // hd):
                    for j in range(hd // 2):
                        f = pos * theta ** (-2.0 * j / hd)
                        a, b = vec[hh * hd + j], vec[hh * hd + j + hd // 2]
                        r[hh * hd + j] = a * math.cos(f) - b * math.sin(f)
                        r[hh * hd + j + hd // 2] = b * math.cos(f) + a * math.sin(f)
                return r

            q, k = rot(q), rot(k)
            cache_k[i].append(k)
            cache_v[i].append(v)
            o = torch.zeros(D, dtype=torch.float64)
            for hq in range(Hq):
                hk = hq // (Hq // Hkv)
                qh = q[hq * hd:(hq + 1) * hd]
                sc = torch.stack([qh @ kk[hk * hd:(hk + 1) * hd] for kk in cache_k[i]]) / math.sqrt(hd)
                pr = torch.exp(sc - sc.max())
                pr = pr / pr.sum()
                for s, vv in enumerate(cache_v[i]):
                    o[hq * hd:(hq + 1) * hd] += pr[s] * vv[hk * hd:(hk + 1) * hd]
            x = x + w[p + "o_proj.weight"] @ o
            f = x / math.sqrt(float((x * x).sum()) / D + eps) * w[f"model.layers.{i}.post_attention_layernorm.weight"]
            m = f"model.layers.{i}.mlp."
            g = w[m + "gate_proj.weight"] @ f
            u = w[m + "up_proj.weight"] @ f
            x = x + w[m + "down_proj.weight"] @ (g / (1 + torch.exp(-g)) * u)
        xn = x / math.sqrt(float((x * x).sum()) / D + eps) * w["model.norm.weight"]
        out.append(lm_head(cfg, w) @ xn)
    return torch.stack(out)
