#!/usr/bin/python3
"""Trains Headroom's embedded default model: a small LLaMA-architecture MHA
model (RoPE, RMSNorm, SwiGLU, n_kv_heads == n_heads) with its own
SentencePiece tokenizer, reproducibly from a seed, on the CPU.

    /usr/bin/python3 tools/train_default_model.py --out models/headroom-tiny

Needs Debian's python3-torch and sentencepiece (spm_train). Training text:
the non-empty lines of ../shared/data/tinystories_val.txt except the last
10%, which are held out for evaluation and never trained on. Writes a Hugging
Face directory: config.json, model.safetensors (F32), tokenizer.model, and
training.json with the losses and wall time (the model card quotes it).
RoPE uses the rotate_half pairing, as Hugging Face LLaMA checkpoints do.
"""
import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXT = os.path.join(os.path.dirname(ROOT), "shared", "data",
                    "tinystories_val.txt")


def split_lines(path):
    lines = [l for l in open(path, encoding="utf-8").read().split("\n") if l]
    cut = len(lines) - len(lines) // 10
    return lines[:cut], lines[cut:]


def train_tokenizer(lines, vocab, seed, out_dir):
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "train.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        prefix = os.path.join(tmp, "tok")
        subprocess.run(
            ["spm_train", f"--input={corpus}", f"--model_prefix={prefix}",
             f"--vocab_size={vocab}", "--model_type=bpe",
             "--byte_fallback=true", "--character_coverage=1.0",
             "--split_digits=true", "--unk_id=0", "--bos_id=1", "--eos_id=2",
             "--pad_id=-1", "--add_dummy_prefix=true",
             "--remove_extra_whitespaces=false",
             "--normalization_rule_name=identity",
             f"--random_seed={seed}", "--num_threads=2",
             "--minloglevel=2"], check=True)
        dst = os.path.join(out_dir, "tokenizer.model")
        with open(prefix + ".model", "rb") as src, open(dst, "wb") as f:
            f.write(src.read())
    return dst


def encode(tokenizer_path, lines):
    # spm_encode (Debian's sentencepiece) gives one line of ids per line.
    out = subprocess.run(
        ["spm_encode", f"--model={tokenizer_path}", "--output_format=id"],
        input="\n".join(lines) + "\n", capture_output=True, text=True,
        check=True).stdout.split("\n")
    return [[1] + [int(t) for t in row.split()] for row in out[:len(lines)]]


class Block(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.heads, self.hd = heads, dim // heads
        self.att_norm = nn.Parameter(torch.ones(dim))
        self.ffn_norm = nn.Parameter(torch.ones(dim))
        self.wq = nn.Linear(dim, dim, bias=False)
        self.wk = nn.Linear(dim, dim, bias=False)
        self.wv = nn.Linear(dim, dim, bias=False)
        self.wo = nn.Linear(dim, dim, bias=False)
        self.w1 = nn.Linear(dim, hidden, bias=False)  # gate
        self.w3 = nn.Linear(dim, hidden, bias=False)  # up
        self.w2 = nn.Linear(hidden, dim, bias=False)  # down


def rms_norm(x, w, eps):
    return w * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def causal_attention(q, k, v, mask):
    # torch 1.13 (Debian 12) has no scaled_dot_product_attention.
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]) + mask
    return scores.softmax(-1) @ v


def rope(x, cos, sin):
    # rotate_half pairing: (p, p + d/2).
    half = x.shape[-1] // 2
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)


class Model(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d = cfg["hidden_size"]
        self.emb = nn.Embedding(cfg["vocab_size"], d)
        self.blocks = nn.ModuleList(
            Block(d, cfg["num_attention_heads"], cfg["intermediate_size"])
            for _ in range(cfg["num_hidden_layers"]))
        self.norm = nn.Parameter(torch.ones(d))
        hd = d // cfg["num_attention_heads"]
        inv = cfg["rope_theta"] ** (-torch.arange(0, hd, 2).float() / hd)
        ang = torch.arange(cfg["max_position_embeddings"]).float()[:, None] * inv
        self.register_buffer("cos", ang.cos(), persistent=False)
        ctx = cfg["max_position_embeddings"]
        self.register_buffer(
            "mask", torch.full((ctx, ctx), float("-inf")).triu(1),
            persistent=False)
        self.register_buffer("sin", ang.sin(), persistent=False)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, ids):
        B, T = ids.shape
        eps = self.cfg["rms_norm_eps"]
        x = self.emb(ids)
        cos, sin = self.cos[:T], self.sin[:T]
        for blk in self.blocks:
            h = rms_norm(x, blk.att_norm, eps)
            q = blk.wq(h).view(B, T, blk.heads, blk.hd).transpose(1, 2)
            k = blk.wk(h).view(B, T, blk.heads, blk.hd).transpose(1, 2)
            v = blk.wv(h).view(B, T, blk.heads, blk.hd).transpose(1, 2)
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            a = causal_attention(q, k, v, self.mask[:T, :T])
            x = x + blk.wo(a.transpose(1, 2).reshape(B, T, -1))
            h = rms_norm(x, blk.ffn_norm, eps)
            x = x + blk.w2(F.silu(blk.w1(h)) * blk.w3(h))
        return rms_norm(x, self.norm, eps) @ self.emb.weight.T  # tied


def batches(seqs, ctx, batch, gen):
    # Sequences packed end to end into rows of ctx + 1 tokens.
    flat = torch.tensor([t for s in seqs for t in s], dtype=torch.long)
    while True:
        starts = torch.randint(0, len(flat) - ctx - 1, (batch,), generator=gen)
        rows = torch.stack([flat[s:s + ctx + 1] for s in starts.tolist()])
        yield rows[:, :-1], rows[:, 1:]


@torch.no_grad()
def heldout_loss(model, seqs, ctx):
    total, count = 0.0, 0
    for s in seqs:
        s = s[:ctx]
        if len(s) < 2:
            continue
        ids = torch.tensor([s])
        logits = model(ids[:, :-1])
        total += F.cross_entropy(logits[0], ids[0, 1:], reduction="sum").item()
        count += len(s) - 1
    return total / count


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().float()
        data = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def export(model, cfg, out_dir):
    t = {"model.embed_tokens.weight": model.emb.weight,
         "model.norm.weight": model.norm}
    for i, b in enumerate(model.blocks):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = b.att_norm
        t[p + "post_attention_layernorm.weight"] = b.ffn_norm
        for name, lin in (("self_attn.q_proj", b.wq), ("self_attn.k_proj", b.wk),
                          ("self_attn.v_proj", b.wv), ("self_attn.o_proj", b.wo),
                          ("mlp.gate_proj", b.w1), ("mlp.up_proj", b.w3),
                          ("mlp.down_proj", b.w2)):
            t[p + name + ".weight"] = lin.weight
    write_safetensors(os.path.join(out_dir, "model.safetensors"), t)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "models/headroom-tiny"))
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=352)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    start = time.time()
    train_lines, heldout_lines = split_lines(TEXT)
    tok = train_tokenizer(train_lines, args.vocab, args.seed, args.out)
    train, heldout = encode(tok, train_lines), encode(tok, heldout_lines)
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
           "hidden_size": args.dim, "intermediate_size": args.hidden,
           "num_hidden_layers": args.layers,
           "num_attention_heads": args.heads,
           "num_key_value_heads": args.heads, "vocab_size": args.vocab,
           "max_position_embeddings": args.context, "rms_norm_eps": 1e-5,
           "rope_theta": 10000.0, "tie_word_embeddings": True,
           "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2,
           "torch_dtype": "float32"}
    model = Model(cfg)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95),
                            weight_decay=0.1)
    gen = torch.Generator().manual_seed(args.seed)
    data = batches(train, args.context, args.batch, gen)
    log, ema = [], None
    for step in range(args.steps):
        lr = args.lr * min(1.0, (step + 1) / 100) * 0.5 * (
            1 + math.cos(math.pi * step / args.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = next(data)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if step % 25 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.4f} ema {ema:.4f} "
                  f"lr {lr:.5f} {time.time() - start:.0f}s", flush=True)
            log.append({"step": step, "loss": loss.item(), "ema": ema})
    model.eval()
    held = heldout_loss(model, heldout, args.context)
    # Unigram baseline on the held-out lines (add-one smoothed counts from
    # the training tokens), for the model card.
    counts = torch.ones(args.vocab)
    for s in train:
        counts += torch.bincount(torch.tensor(s[1:]), minlength=args.vocab)
    logp = torch.log(counts / counts.sum())
    uni = -sum(logp[s[1:args.context]].sum().item() for s in heldout) / sum(
        len(s[1:args.context]) for s in heldout)
    export(model, cfg, args.out)
    info = {"seed": args.seed, "parameters": params,
            "train_lines": len(train_lines), "heldout_lines": len(heldout_lines),
            "train_tokens": sum(len(s) for s in train),
            # Tokens the held-out loss predicts (sequences cut at the context).
            "heldout_tokens": sum(min(len(s), args.context) - 1
                                  for s in heldout),
            "steps": args.steps, "batch": args.batch, "context": args.context,
            "final_train_loss_ema": ema, "heldout_loss": held,
            "heldout_perplexity": math.exp(held),
            "unigram_heldout_perplexity": math.exp(uni),
            "wall_seconds": time.time() - start,
            "command": " ".join(sys.argv), "torch": torch.__version__,
            "log": log}
    with open(os.path.join(args.out, "training.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(json.dumps({k: v for k, v in info.items() if k != "log"}))


if __name__ == "__main__":
    main()
