#!/usr/bin/env python3
"""Logits of a Hugging Face LLaMA-family checkpoint, from the published
equations of each architecture (the transformers modeling code of
LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM and Qwen3ForCausalLM
is the specification), in float64 with PyTorch. Written from those
equations, not from Headroom's code: it is the independent reference that
runtime_hf_reference_test compares Headroom's logits with.

  hf_forward.py MODEL_DIR IDS OUT

IDS: comma-separated token ids. OUT receives the logits of every position,
[len(IDS), vocab] float64, little-endian, row-major.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch


def read_safetensors(path):
    """{name: float64 tensor} of one safetensors file (F32, F16, BF16)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[begin:end]
        if info["dtype"] == "F32":
            a = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        elif info["dtype"] == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float64)
        elif info["dtype"] == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            a = bits.view(np.float32).astype(np.float64)
        else:
            raise ValueError(f"{path}: tensor {name}: dtype {info['dtype']}")
        out[name] = torch.from_numpy(a.reshape(info["shape"]).copy())
    return out


def read_checkpoint(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    files = ["model.safetensors"]
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    tensors = {}
    for name in files:
        tensors.update(read_safetensors(os.path.join(model_dir, name)))
    return tensors


def inverse_frequencies(cfg, head_dim):
    """RoPE inverse frequencies, with rope_scaling (linear, llama3)."""
    theta = cfg.get("rope_theta", 10000.0)
    inv = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64)
                          / head_dim)
    scaling = cfg.get("rope_scaling")
    if not scaling:
        return inv
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind == "linear":
        return inv / scaling["factor"]
    if kind == "llama3":
        # Meta's LLaMA 3.1 rule: long wavelengths divided by `factor`, short
        # ones kept, the band between interpolated smoothly.
        factor = scaling["factor"]
        low = scaling["low_freq_factor"]
        high = scaling["high_freq_factor"]
        old = scaling["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old / low, old / high
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
        return torch.where(medium, smoothed, scaled)
    raise ValueError(f"rope_scaling type {kind}")


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def linear(x, w, b=None):
    y = x @ w.T
    return y if b is None else y + b


def forward(cfg, t, ids):
    arch = cfg["architectures"][0]
    D = cfg["hidden_size"]
    h = cfg["num_attention_heads"]
    n = cfg.get("num_key_value_heads", h)
    d = cfg.get("head_dim") or D // h
    eps = cfg["rms_norm_eps"]
    T = len(ids)
    window = None
    if arch == "MistralForCausalLM":
        window = cfg.get("sliding_window")
    pos = torch.arange(T, dtype=torch.float64)
    freqs = torch.outer(pos, inverse_frequencies(cfg, d))
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    i = torch.arange(T).unsqueeze(1)
    j = torch.arange(T).unsqueeze(0)
    allowed = j <= i
    if window:
        allowed &= (i - j) < window  # the last `window` positions
    mask = torch.zeros(T, T, dtype=torch.float64)
    mask[~allowed] = float("-inf")

    x = t["model.embed_tokens.weight"][torch.tensor(ids)]
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        get = lambda name: t.get(p + name)  # noqa: E731
        xb = rms_norm(x, get("input_layernorm.weight"), eps)
        q = linear(xb, get("self_attn.q_proj.weight"),
                   get("self_attn.q_proj.bias")).view(T, h, d)
        k = linear(xb, get("self_attn.k_proj.weight"),
                   get("self_attn.k_proj.bias")).view(T, n, d)
        v = linear(xb, get("self_attn.v_proj.weight"),
                   get("self_attn.v_proj.bias")).view(T, n, d)
        if get("self_attn.q_norm.weight") is not None:  # Qwen3, before RoPE
            q = rms_norm(q, get("self_attn.q_norm.weight"), eps)
            k = rms_norm(k, get("self_attn.k_norm.weight"), eps)
        q = q * cos[:, None, :] + rotate_half(q) * sin[:, None, :]
        k = k * cos[:, None, :] + rotate_half(k) * sin[:, None, :]
        k = k.repeat_interleave(h // n, dim=1)  # query head j reads j // (h/n)
        v = v.repeat_interleave(h // n, dim=1)
        scores = torch.einsum("ihd,jhd->hij", q, k) / math.sqrt(d) + mask
        att = torch.einsum("hij,jhd->ihd", torch.softmax(scores, -1), v)
        x = x + linear(att.reshape(T, h * d), get("self_attn.o_proj.weight"),
                       get("self_attn.o_proj.bias"))
        xb = rms_norm(x, get("post_attention_layernorm.weight"), eps)
        gate = linear(xb, get("mlp.gate_proj.weight"), get("mlp.gate_proj.bias"))
        up = linear(xb, get("mlp.up_proj.weight"), get("mlp.up_proj.bias"))
        x = x + linear(torch.nn.functional.silu(gate) * up,
                       get("mlp.down_proj.weight"), get("mlp.down_proj.bias"))
    x = rms_norm(x, t["model.norm.weight"], eps)
    head = t.get("lm_head.weight")
    if head is None or cfg.get("tie_word_embeddings"):
        head = t["model.embed_tokens.weight"]
    return x @ head.T


def main():
    model_dir, ids, out = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    logits = forward(cfg, read_checkpoint(model_dir),
                     [int(s) for s in ids.split(",")])
    logits.numpy().astype("<f8").tofile(out)


if __name__ == "__main__":
    main()
