"""Regenerate tests/data/golden/ deterministically: /usr/bin/python3 scripts/reference/make_golden.py

Every model directory is written first, then read back, and the reference runs on the
values as stored (so bf16/f32 rounding of the weights is part of the golden math).
"""
import json
import math
import os
import shutil
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import arwkv_ref  # noqa: E402
import qwen2_ref  # noqa: E402
import st  # noqa: E402
import train_ref  # noqa: E402

OUT = os.path.normpath(os.path.join(HERE, "..", "..", "tests", "data", "golden"))
DT = {"float32": torch.float32, "bfloat16": torch.bfloat16}
torch.set_num_threads(1)  # bitwise-stable float64 reductions across runs


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def save_model(d, cfg, w):
    """Write config.json + model.safetensors in cfg's torch_dtype; return the stored values
    as float64."""
    os.makedirs(d, exist_ok=True)
    write_json(os.path.join(d, "config.json"), cfg)
    dt = DT[cfg["torch_dtype"]]
    st.save(os.path.join(d, "model.safetensors"), {k: v.to(dt) for k, v in w.items()}, {"format": "pt"})
    return qwen2_ref.load_dir(d)[1]


def qwen_config(D, Hq, Hkv, L, F, V, tied, dtype="float32", theta=1e6):
    return {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
            "hidden_size": D, "intermediate_size": F, "num_hidden_layers": L,
            "num_attention_heads": Hq, "num_key_value_heads": Hkv, "hidden_act": "silu",
            "rms_norm_eps": 1e-6, "rope_theta": theta, "vocab_size": V,
            "tie_word_embeddings": tied, "max_position_embeddings": 4096,
            "torch_dtype": dtype, "bos_token_id": V - 2, "eos_token_id": V - 1,
            "use_sliding_window": False, "sliding_window": 4096, "max_window_layers": L,
            "attention_dropout": 0.0, "initializer_range": 0.02, "use_cache": True}


class Rand:
    """Seeded float64 tensors."""
    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def normal(self, *shape, std=1.0, mean=0.0):
        return torch.randn(*shape, generator=self.g, dtype=torch.float64) * std + mean

    def uniform(self, *shape, lo=0.0, hi=1.0):
        return torch.rand(*shape, generator=self.g, dtype=torch.float64) * (hi - lo) + lo

    def ids(self, *shape, V):
        return torch.randint(0, V, shape, generator=self.g, dtype=torch.int32)


def common_weights(cfg, R):
    """Embeddings, norms, MLPs, lm_head: shared by both architectures."""
    D, F, V, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    # A tied embedding is also the output head: keep its logits O(1).
    emb_std = 1.5 / math.sqrt(D) if cfg["tie_word_embeddings"] else 1.0
    w = {"model.embed_tokens.weight": R.normal(V, D, std=emb_std),
         "model.norm.weight": R.normal(D, std=0.1, mean=1.0)}
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = R.normal(V, D, std=1.5 / math.sqrt(D))
    for i in range(L):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = R.normal(D, std=0.1, mean=1.0)
        w[p + "post_attention_layernorm.weight"] = R.normal(D, std=0.1, mean=1.0)
        w[p + "mlp.gate_proj.weight"] = R.normal(F, D, std=1 / math.sqrt(D))
        w[p + "mlp.up_proj.weight"] = R.normal(F, D, std=1 / math.sqrt(D))
        w[p + "mlp.down_proj.weight"] = R.normal(D, F, std=1 / math.sqrt(F))
    return w


def qwen_weights(cfg, seed):
    R = Rand(seed)
    w = common_weights(cfg, R)
    D, Hq, Hkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    kvd = Hkv * (D // Hq)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}.self_attn."
        for n, rows in (("q", D), ("k", kvd), ("v", kvd)):
            w[p + n + "_proj.weight"] = R.normal(rows, D, std=1 / math.sqrt(D))
            w[p + n + "_proj.bias"] = R.normal(rows, std=0.2)
        w[p + "o_proj.weight"] = R.normal(D, D, std=1 / math.sqrt(D))
    return w


def student_weights(cfg, seed):
    R = Rand(seed)
    w = common_weights(cfg, R)
    D = cfg["hidden_size"]
    H = D // arwkv_ref.N
    vec = lambda lo, hi: R.uniform(1, 1, D, lo=lo, hi=hi)
    for i in range(cfg["num_hidden_layers"]):
        p = arwkv_ref.tm_prefix(i)
        for c in "rwkva" + ("g" if cfg["wkv_has_gate"] else ""):
            w[p + "x_" + c] = vec(0.0, 1.0)
        w[p + "w0"] = vec(-2.5, 2.5)
        w[p + "a0"] = vec(-1.0, 1.0)
        w[p + "v0"] = vec(-1.0, 1.0)
        for n in "wav":
            rank = arwkv_ref.RANKS[n]
            w[p + n + "1"] = R.normal(D, rank, std=0.1)
            w[p + n + "2"] = R.normal(rank, D, std=0.1)
        if cfg["wkv_has_gate"]:
            w[p + "g1"] = R.normal(D, 128, std=1 / math.sqrt(D))
            w[p + "g2"] = R.normal(128, D, std=0.1)
        w[p + "k_k"] = vec(0.5, 1.0)
        w[p + "k_a"] = vec(0.0, 1.0)
        w[p + "r_k"] = R.normal(H, arwkv_ref.N, std=0.3)
        for n in ("receptance", "key", "value", "output"):
            w[p + n + ".weight"] = R.normal(D, D, std=1 / math.sqrt(D))
        if cfg["wkv_has_group_norm"]:
            w[p + "ln_x.weight"] = R.normal(D, std=0.1, mean=1.0)
            w[p + "ln_x.bias"] = R.normal(D, std=0.1)
    return w


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


# ---------------------------------------------------------------- inference cases

QWEN_CASES = [
    # name, D, Hq, Hkv, L, F, V, tied, dtype, theta
    ("qwen2_gqa1_untied_f32", 64, 4, 4, 2, 96, 211, False, "float32", 1e6),
    ("qwen2_gqa2_tied_f32", 64, 4, 2, 2, 96, 97, True, "float32", 1e6),
    ("qwen2_gqa7_untied_f32", 112, 7, 1, 2, 64, 211, False, "float32", 1e4),
    ("qwen2_gqa2_untied_bf16", 64, 4, 2, 2, 96, 211, False, "bfloat16", 1e6),
]
ARWKV_CASES = [
    # name, D, L, F, gate, group_norm, dtype, store state (L and F kept small for file size;
    # the fixed LoRA ranks and D x D projections dominate)
    ("arwkv_nogate_f32", 128, 2, 64, False, False, "float32", True),
    ("arwkv_gate_f32", 128, 2, 32, True, False, "float32", False),
    ("arwkv_gate_groupnorm_f32", 128, 1, 32, True, True, "float32", False),
    ("arwkv_nogate_d192_f32", 192, 1, 32, False, False, "float32", False),
    ("arwkv_nogate_bf16", 128, 2, 32, False, False, "bfloat16", False),
]


def make_qwen_cases():
    for n, (name, D, Hq, Hkv, L, F, V, tied, dtype, theta) in enumerate(QWEN_CASES):
        d = os.path.join(OUT, name)
        cfg = qwen_config(D, Hq, Hkv, L, F, V, tied, dtype, theta)
        w = save_model(d, cfg, qwen_weights(cfg, 100 + n))
        ids = Rand(200 + n).ids(13, V=V)
        logits = qwen2_ref.forward(cfg, w, ids[None])[0]
        check = qwen2_ref.forward_kv_cache(cfg, w, ids)
        print(f"{name}: logits std {float(logits.std()):.3f}, kv-cache form rel err {rel(check, logits):.2e}")
        assert rel(check, logits) < 1e-12
        st.save(os.path.join(d, "golden.safetensors"),
                {"input_ids": ids, "logits": logits.to(torch.float32)})


def make_arwkv_cases():
    for n, (name, D, L, F, gate, gn, dtype, keep_state) in enumerate(ARWKV_CASES):
        d = os.path.join(OUT, name)
        # Qwen head counts stay in the config (as in the released files) but are not the
        # student's: its heads are D / 64.
        cfg = arwkv_ref.student_config(qwen_config(D, 4, 2, L, F, 97, False, dtype), gate, gn)
        w = save_model(d, cfg, student_weights(cfg, 300 + n))
        ids = Rand(400 + n).ids(14, V=97)
        logits, (shift, wkv) = arwkv_ref.forward(cfg, w, ids[None], want_state=True)
        logits, shift, wkv = logits[0], shift[0], wkv[0]
        state = arwkv_ref.empty_state(cfg)
        rec = torch.stack([arwkv_ref.step(cfg, w, t, state) for t in ids.tolist()])
        errs = (rel(rec, logits), rel(state["shift"], shift), rel(state["wkv"], wkv))
        print(f"{name}: logits std {float(logits.std()):.3f}, |wkv| max {float(wkv.abs().max()):.2f}, "
              f"recurrent vs sequence rel err {max(errs):.2e}")
        assert max(errs) < 1e-12
        g = {"input_ids": ids, "logits": logits.to(torch.float32)}
        if keep_state:
            g["state_shift"] = shift.to(torch.float32)
            g["state_wkv"] = wkv.to(torch.float32)
        st.save(os.path.join(d, "golden.safetensors"), g)


# ---------------------------------------------------------------- initialisation cases

TEACHER = "init_teacher_gqa2"


def make_init_cases():
    d = os.path.join(OUT, TEACHER)
    tcfg = qwen_config(128, 4, 2, 2, 64, 97, True, "bfloat16")
    tw = save_model(d, tcfg, qwen_weights(tcfg, 500))
    ids = Rand(501).ids(12, V=97)
    st.save(os.path.join(d, "golden.safetensors"),
            {"input_ids": ids, "logits": qwen2_ref.forward(tcfg, tw, ids[None])[0].to(torch.float32)})
    D, L = tcfg["hidden_size"], tcfg["num_hidden_layers"]
    paper, attn = {}, {}
    for l in range(L):
        p = arwkv_ref.tm_prefix(l)
        for k, v in arwkv_ref.paper_deterministic(D, L, l, gate=True).items():
            # All-zero / all-one matrices are exact in BF16 and half the size.
            paper[p + k] = v.to(torch.bfloat16 if v.dim() == 2 and k != "r_k" else torch.float32)
        for k, v in arwkv_ref.attention_copies(tcfg, tw, l).items():
            attn[p + k] = v.to(torch.bfloat16)  # exact copies of the BF16 teacher
    st.save(os.path.join(OUT, "init_paper_expected.safetensors"), paper)
    st.save(os.path.join(OUT, "init_attention_expected.safetensors"), attn)
    return tcfg, tw


# ---------------------------------------------------------------- training cases

B, T = 2, 16


def finals(w, names):
    return {"final." + k: w[k].detach().to(torch.float32) for k in names}


def make_train_next_token():
    d = os.path.join(OUT, "train_next_token")
    os.makedirs(d, exist_ok=True)
    batches = Rand(600).ids(10, B, T + 1, V=97)
    models = {"student": ("arwkv", "arwkv_nogate_f32"), "teacher": ("qwen2", "qwen2_gqa2_tied_f32")}
    keep = {"student": ["model.layers.1.self_attn.time_mixer.x_r", "model.layers.0.self_attn.time_mixer.r_k",
                        "model.layers.1.self_attn.time_mixer.w0", "model.norm.weight"],
            "teacher": ["model.layers.1.self_attn.q_proj.bias", "model.norm.weight",
                        "model.layers.0.input_layernorm.weight"]}
    for role, (kind, model) in models.items():
        cfg, w = qwen2_ref.load_dir(os.path.join(OUT, model))
        losses, norms = train_ref.run_next_token(kind, cfg, w, batches)
        print(f"train_next_token/{role}: losses {losses[0]:.4f} -> {losses[-1]:.4f}, grad norms {norms[0]:.3f} .. {norms[-1]:.3f}")
        out = {"batches": batches, "losses": torch.tensor(losses, dtype=torch.float64),
               "grad_norms": torch.tensor(norms, dtype=torch.float64)}
        out.update(finals(w, keep[role]))
        st.save(os.path.join(d, role + ".safetensors"), out)
    write_json(os.path.join(d, "run.json"), {
        "what": "10 optimiser steps of next-token cross-entropy from the stored weights, float64 reference",
        "models": {"student.safetensors": "../arwkv_nogate_f32", "teacher.safetensors": "../qwen2_gqa2_tied_f32"},
        "batches": "I32 (steps, B, T+1); inputs = [:, :, :T], targets = [:, :, 1:]",
        "B": B, "T": T, "steps": 10,
        "loss": "cross-entropy, mean over the B*T predicted positions",
        "trainable": "every tensor in model.safetensors (tied teacher: embed_tokens also serves as lm_head)",
        "student_v_first": "detached: no gradient reaches layer 0 through v_first (layer 0's v0/v1/v2 get zero "
                           "gradient but are still weight-decayed)",
        "optimizer": optimizer_doc(),
        "stored": {"losses": "F64 (steps,): loss of each step before its update",
                   "grad_norms": "F64 (steps,): global gradient norm before clipping",
                   "final.<name>": "F32: the tensor after the 10 updates"}})


def optimizer_doc():
    return {"type": "AdamW", **train_ref.OPT, "schedule": "constant, no warmup",
            "weight_decay_on": "tensors with >= 2 dims after squeezing size-1 dims (x_r (1,1,D) no; r_k (H,64) yes)",
            "clip": "total = global L2 norm over all trainable grads; g *= min(1, clip / (total + 1e-6))",
            "update": "p *= 1 - lr*wd (decayed only); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; "
                      "p -= lr * (m / (1 - b1^t)) / (sqrt(v) / sqrt(1 - b2^t) + eps), t = 1-based step"}


def make_stage1(tcfg, tw):
    d = os.path.join(OUT, "stage1_alignment")
    scfg, sw = arwkv_ref.init_student(tcfg, tw, gate=False, seed=700)
    sw = save_model(os.path.join(d, "student"), scfg, sw)
    batches = Rand(701).ids(10, B, T, V=97)
    # Forward-only intermediates for batches[0][0] at the initial weights, to debug step 0.
    with torch.no_grad():
        _, layers = qwen2_ref.forward(tcfg, tw, batches[0, :1], want_layers=True)
        v_first, y_s = None, []
        for i, (h, _) in enumerate(layers):
            y, v, _, _ = arwkv_ref.time_mix(scfg, sw, i, h, v_first)
            v_first = v if i == 0 else v_first
            y_s.append(y[0])
    debug = {"step0_teacher_h": torch.stack([h[0] for h, _ in layers]).to(torch.float32),
             "step0_teacher_y": torch.stack([y[0] for _, y in layers]).to(torch.float32),
             "step0_student_y": torch.stack(y_s).to(torch.float32)}
    losses, per_layer, norms = train_ref.run_stage1(tcfg, tw, scfg, dict(sw), batches)
    print(f"stage1: losses {losses[0]:.4f} -> {losses[-1]:.4f}, grad norms {norms[0]:.3f} .. {norms[-1]:.3f}")
    st.save(os.path.join(d, "golden.safetensors"), {
        "batches": batches, "losses": torch.tensor(losses, dtype=torch.float64),
        "layer_losses": torch.tensor(per_layer, dtype=torch.float64),
        "grad_norms": torch.tensor(norms, dtype=torch.float64), **debug})
    write_json(os.path.join(d, "run.json"), {
        "what": "stage-1 attention alignment, 10 optimiser steps, float64 reference",
        "teacher": "../" + TEACHER, "student": "student (paper init of the teacher, seed 700, stored as BF16)",
        "batches": "I32 (steps, B, T) token ids", "B": B, "T": T, "steps": 10,
        "forward": "teacher runs normally; for each layer l, the student's time-mix block of layer l gets the "
                   "teacher's input_layernorm output h_l (zero shift/wkv state at t=0) and is compared to the "
                   "teacher's Wo o of layer l; the teacher's output flows on (teacher forcing)",
        "v_first": "the student's layer-0 time-mix v (after step 7) on the same h_0 positions, detached",
        "loss": "per layer: mean over (b, t) of ||y_teacher - y_student||_2 / sqrt(D); total: mean over layers",
        "trainable": "only model.layers.*.self_attn.time_mixer.*",
        "optimizer": optimizer_doc(),
        "stored": {"losses": "F64 (steps,)", "layer_losses": "F64 (steps, L)",
                   "grad_norms": "F64 (steps,), before clipping, over the time-mix tensors",
                   "step0_teacher_h / step0_teacher_y / step0_student_y":
                       "F32 (L, T, D): for the sequence batches[0][0] at the initial weights, the teacher's "
                       "normed attention input, its Wo o, and the student's time-mix output on that h"}})
    return scfg, sw


def make_stage2(tcfg, tw, scfg, sw):
    d = os.path.join(OUT, "stage2_kl")
    os.makedirs(d, exist_ok=True)
    batches = Rand(800).ids(5, B, T, V=97)
    losses, norms = train_ref.run_stage2(tcfg, tw, scfg, dict(sw), batches)
    print(f"stage2: losses {losses[0]:.5f} -> {losses[-1]:.5f}, grad norms {norms[0]:.3f} .. {norms[-1]:.3f}")
    st.save(os.path.join(d, "golden.safetensors"), {
        "batches": batches, "losses": torch.tensor(losses, dtype=torch.float64),
        "grad_norms": torch.tensor(norms, dtype=torch.float64)})
    # Value + gradient check of the loss alone; the teacher has 3 extra vocab entries to cut.
    R = Rand(801)
    P, V = 12, 97
    t_log = (R.normal(P, V + 3) * 2).to(torch.float32)
    s_log = (R.normal(P, V) * 2).to(torch.float32)
    mask = torch.ones(P, dtype=torch.int32)
    mask[[2, 7, 11]] = 0
    s64 = s_log.to(torch.float64).requires_grad_(True)
    loss = train_ref.kl_loss(t_log.to(torch.float64), s64, mask)
    loss.backward()
    st.save(os.path.join(d, "kl_check.safetensors"), {
        "teacher_logits": t_log, "student_logits": s_log, "mask": mask,
        "loss": loss.detach().reshape(1), "grad_student_logits": s64.grad})
    write_json(os.path.join(d, "run.json"), {
        "what": "stage-2 word-level KD, 5 optimiser steps, float64 reference",
        "teacher": "../" + TEACHER, "student": "../stage1_alignment/student (its initial weights)",
        "batches": "I32 (steps, B, T) token ids", "B": B, "T": T, "steps": 5,
        "loss": "KL(p_T || p_S) = sum_v p_T (log p_T - log p_S) per position, temperature 1, mean over B*T",
        "student_v_first": "detached", "trainable": "every student tensor",
        "optimizer": optimizer_doc(),
        "kl_check.safetensors": {
            "teacher_logits": "F32 (P, V+3): cut to the first V columns before the softmax",
            "student_logits": "F32 (P, V)", "mask": "I32 (P,): 1 = position counts, 0 = excluded",
            "loss": "F64 (1,): mean of the KL over counted positions",
            "grad_student_logits": "F64 (P, V): d loss / d student logits (zero rows where mask = 0)"}})


def make_dpo():
    d = os.path.join(OUT, "dpo")
    os.makedirs(d, exist_ok=True)
    R = Rand(900)
    n = 6
    vals = {k: R.uniform(n, lo=-60.0, hi=-10.0) for k in ("policy_chosen_logps", "policy_rejected_logps",
                                                          "ref_chosen_logps", "ref_rejected_logps")}
    beta = 0.1
    pc = vals["policy_chosen_logps"].clone().requires_grad_(True)
    pr = vals["policy_rejected_logps"].clone().requires_grad_(True)
    loss, stats = train_ref.dpo(pc, pr, vals["ref_chosen_logps"], vals["ref_rejected_logps"], beta)
    loss.backward()
    out = dict(vals)
    out.update({"loss": loss.detach().reshape(1), "grad_policy_chosen_logps": pc.grad,
                "grad_policy_rejected_logps": pr.grad,
                "chosen_rewards": stats["chosen_rewards"], "rejected_rewards": stats["rejected_rewards"],
                "reward_accuracy": stats["reward_accuracy"].reshape(1),
                "reward_margin": stats["reward_margin"].reshape(1)})
    # Summed response log-probs from logits, with gradient.
    Bq, Tq, V = 2, 9, 23
    logits = (R.normal(Bq, Tq, V) * 2).to(torch.float32)
    labels = R.ids(Bq, Tq, V=V)
    mask = torch.zeros(Bq, Tq, dtype=torch.int32)
    mask[0, 3:] = 1
    mask[1, 5:8] = 1
    l64 = logits.to(torch.float64).requires_grad_(True)
    lp = train_ref.sequence_logps(l64, labels, mask)
    lp.sum().backward()
    out.update({"seq_logits": logits, "seq_labels": labels, "seq_mask": mask, "seq_logps": lp.detach(),
                "seq_grad_logits": l64.grad})
    st.save(os.path.join(d, "dpo.safetensors"), out)
    write_json(os.path.join(d, "run.json"), {
        "what": "sigmoid DPO loss (TRL, label smoothing 0) value and gradient; summed sequence log-probs",
        "beta": beta, "pairs": n,
        "loss": "mean over pairs of -log sigmoid(beta * ((pc - rc) - (pr - rr))), p* policy, r* reference",
        "grad_policy_chosen_logps": "d loss / d pc (F64)", "grad_policy_rejected_logps": "d loss / d pr (F64)",
        "chosen_rewards": "beta * (pc - rc)", "rejected_rewards": "beta * (pr - rr)",
        "reward_accuracy": "mean of (chosen_rewards > rejected_rewards)",
        "reward_margin": "mean of (chosen_rewards - rejected_rewards)",
        "seq_logps": "per sequence b: sum_t seq_mask[b,t] * log_softmax(seq_logits[b,t])[seq_labels[b,t]] "
                     "(labels already aligned to the logits' positions)",
        "seq_grad_logits": "gradient of sum_b seq_logps[b] w.r.t. seq_logits (F64)"})


def main():
    torch.manual_seed(0)
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    make_qwen_cases()
    make_arwkv_cases()
    tcfg, tw = make_init_cases()
    make_train_next_token()
    scfg, sw = make_stage1(tcfg, tw)
    make_stage2(tcfg, tw, scfg, sw)
    make_dpo()
    total = 0
    for root, _, files in os.walk(OUT):
        size = sum(os.path.getsize(os.path.join(root, f)) for f in files)
        total += size
        print(f"  {os.path.relpath(root, OUT):32s} {size / 1e6:6.2f} MB")
    print(f"total {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
