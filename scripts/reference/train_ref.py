"""Training references in float64 (autograd): AdamW + clipping, the stage losses, DPO.

The optimiser is written out (not torch.optim) so its exact form is visible here:
  total = sqrt(sum of g^2 over all trainable tensors)          (stored as grad_norm)
  if total > 0: g *= min(1, clip / (total + 1e-6))              (torch clip_grad_norm_)
  per tensor, t = step (1-based):
    p *= 1 - lr*wd                                              (decayed tensors only)
    m = b1 m + (1-b1) g ; v = b2 v + (1-b2) g^2
    p -= lr * (m / (1 - b1^t)) / (sqrt(v) / sqrt(1 - b2^t) + eps)
"""
import math

import torch
import torch.nn.functional as F

import arwkv_ref
import qwen2_ref

OPT = {"lr": 1e-3, "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1, "clip": 1.0}


def decays(t):
    """Weight decay on tensors with >= 2 dims once size-1 dims are squeezed."""
    return t.squeeze().dim() >= 2


class AdamW:
    def __init__(self, params):
        self.params = params
        self.m = {k: torch.zeros_like(p) for k, p in params.items()}
        self.v = {k: torch.zeros_like(p) for k, p in params.items()}
        self.t = 0

    def step(self):
        """Clips, updates; returns the gradient norm before clipping."""
        lr, (b1, b2), eps, wd = OPT["lr"], OPT["betas"], OPT["eps"], OPT["weight_decay"]
        grads = {k: (p.grad if p.grad is not None else torch.zeros_like(p)) for k, p in self.params.items()}
        total = math.sqrt(sum(float((g * g).sum()) for g in grads.values()))
        coef = min(1.0, OPT["clip"] / (total + 1e-6))
        self.t += 1
        with torch.no_grad():
            for k, p in self.params.items():
                g = grads[k] * coef
                if decays(p):
                    p.mul_(1 - lr * wd)
                self.m[k] = b1 * self.m[k] + (1 - b1) * g
                self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
                den = self.v[k].sqrt() / math.sqrt(1 - b2 ** self.t) + eps
                p.sub_(lr * (self.m[k] / (1 - b1 ** self.t)) / den)
                p.grad = None
        return total


def trainable(w, select):
    """Make the selected tensors of w leaf tensors requiring grad; returns {name: tensor}."""
    params = {}
    for k in list(w):
        if select(k):
            w[k] = w[k].detach().clone().requires_grad_(True)
            params[k] = w[k]
        else:
            w[k] = w[k].detach()
    return params


def next_token_loss(logits, targets):
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1).long())


def run_next_token(kind, cfg, w, batches):
    """batches (steps, B, T+1): loss = mean CE of batches[:, :, 1:] given [:, :, :T]."""
    params = trainable(w, lambda k: True)
    opt = AdamW(params)
    losses, norms = [], []
    for b in batches:
        if kind == "qwen2":
            logits = qwen2_ref.forward(cfg, w, b[:, :-1])
        else:
            logits = arwkv_ref.forward(cfg, w, b[:, :-1], detach_v_first=True)
        loss = next_token_loss(logits, b[:, 1:])
        loss.backward()
        losses.append(float(loss))
        norms.append(opt.step())
    return losses, norms


def stage1_losses(scfg, sw, layers):
    """layers: the teacher's per-layer (h, Wo o). Returns (total, per-layer list)."""
    D = scfg["hidden_size"]
    per = []
    v_first = None
    for i, (h, y_t) in enumerate(layers):
        y_s, v, _, _ = arwkv_ref.time_mix(scfg, sw, i, h, v_first)
        if i == 0:
            v_first = v.detach()
        per.append(((y_t - y_s).norm(dim=-1) / math.sqrt(D)).mean())
    return torch.stack(per).mean(), per


def run_stage1(tcfg, tw, scfg, sw, batches):
    params = trainable(sw, lambda k: ".self_attn.time_mixer." in k)
    opt = AdamW(params)
    losses, per_layer, norms = [], [], []
    for b in batches:
        with torch.no_grad():
            _, layers = qwen2_ref.forward(tcfg, tw, b, want_layers=True)
        loss, per = stage1_losses(scfg, sw, layers)
        loss.backward()
        losses.append(float(loss))
        per_layer.append([float(x) for x in per])
        norms.append(opt.step())
    return losses, per_layer, norms


def kl_loss(t_logits, s_logits, mask=None):
    """Mean over unmasked positions of KL(p_T || p_S), temperature 1; teacher logits are cut
    to the student's vocab first. Logits (..., V); mask (...) with 1 = position counts."""
    V = s_logits.shape[-1]
    lt = F.log_softmax(t_logits[..., :V], dim=-1)
    ls = F.log_softmax(s_logits, dim=-1)
    kl = (lt.exp() * (lt - ls)).sum(-1)
    if mask is None:
        return kl.mean()
    m = mask.to(kl.dtype)
    return (kl * m).sum() / m.sum()


def run_stage2(tcfg, tw, scfg, sw, batches):
    params = trainable(sw, lambda k: True)
    opt = AdamW(params)
    losses, norms = [], []
    for b in batches:
        with torch.no_grad():
            t_logits = qwen2_ref.forward(tcfg, tw, b)
        s_logits = arwkv_ref.forward(scfg, sw, b, detach_v_first=True)
        loss = kl_loss(t_logits, s_logits)
        loss.backward()
        losses.append(float(loss))
        norms.append(opt.step())
    return losses, norms


def dpo(pc, pr, rc, rr, beta):
    """Sigmoid DPO (TRL, no label smoothing): loss mean over pairs and TRL's reward stats."""
    logits = (pc - pr) - (rc - rr)
    loss = (-F.logsigmoid(beta * logits)).mean()
    chosen = beta * (pc - rc).detach()
    rejected = beta * (pr - rr).detach()
    return loss, {"chosen_rewards": chosen, "rejected_rewards": rejected,
                  "reward_accuracy": (chosen > rejected).to(torch.float64).mean(),
                  "reward_margin": (chosen - rejected).mean()}


def sequence_logps(logits, labels, mask):
    """sum over t of mask[t] * log softmax(logits[t])[labels[t]], per sequence."""
    lp = F.log_softmax(logits, dim=-1).gather(-1, labels.long()[..., None])[..., 0]
    return (lp * mask.to(lp.dtype)).sum(-1)
