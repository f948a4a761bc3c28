#!/usr/bin/env python3
"""Generates docs/results.md: held-out perplexity of every compression method
at every KV-head budget, from the tools' own output.

    python3 scripts/results.py [--build build/release] [--quick]

For each model and budget it runs headroom-compress once (one calibration,
every method) and headroom-eval ppl for each projections file, then writes
docs/results.md and docs/results.json. Calibration: non-empty TinyStories
lines 1:2000; evaluation: lines 3001:4358 (disjoint). --quick evaluates on
3001:3300 only (for trying changes; not for the docs).
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
TEXT = os.path.join(SHARED, "data", "tinystories_val.txt")
CALIB = "1:2000"
EVAL = "3001:4358"
METHODS = ["mean-pool", "svd-w", "svd-a", "rope-commuting", "svd-a-qa",
           "rope-commuting-qa", "svd-a+refit", "rope-commuting+refit",
           "svd-a-qa+refit", "rope-commuting-qa+refit", "auto"]
TINY = os.path.join(ROOT, "models/headroom-tiny")


def tiny_heldout():
    # The default model never saw the last 10% of the lines: evaluate there.
    card = json.load(open(os.path.join(TINY, "training.json")))
    first = card["train_lines"] + 1
    return f"{first}:{first + card['heldout_lines'] - 1}"


# (name, model path, KV-head budgets, evaluation lines or None for EVAL)
MODELS = [
    ("stories260K", os.path.join(SHARED, "models/stories260K/stories260K.bin"),
     [2, 1], None),
    ("stories260K-mha8",
     os.path.join(SHARED, "models/stories260K-mha8/stories260K_mha8.bin"),
     [4, 2, 1], None),
    ("headroom-tiny (embedded default)", TINY, [4, 2], "heldout"),
]
# The paper's LLaMA2-7B WikiText-2 figures (method.md), for context only.
PAPER = [("original", "5.47", "5.47"), ("mean-pool", "1079", "-"),
         ("SVD of weights", "808", "-"), ("SVD-a (init only)", "13.57", "194.6"),
         ("SVD-a + LoRA", "7.08", "9.17")]


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out.stdout


def last_json(text):
    return json.loads(text.strip().splitlines()[-1])


def evaluate(build, model, lines, projections=None):
    cmd = [os.path.join(build, "tools/headroom-eval"), "ppl", "--model", model,
           "--text", TEXT, "--lines", lines]
    if projections:
        cmd += ["--projections", projections]
    return last_json(run(cmd))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build/release"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workdir", default="/tmp/headroom-results")
    ap.add_argument("--only", help="measure just this model (a name from "
                    "MODELS) and merge it into the existing docs/results.json")
    args = ap.parse_args()
    eval_lines = "3001:3300" if args.quick else EVAL
    os.makedirs(args.workdir, exist_ok=True)
    results = {"calibration_lines": CALIB, "evaluation_lines": eval_lines,
               "text": "tinystories_val.txt", "models": []}
    json_path = os.path.join(ROOT, "docs/results.json")
    if args.only:
        with open(json_path) as f:
            results = json.load(f)
        results["models"] = [m for m in results["models"]
                             if m["name"] != args.only]
    for name, path, budgets, own_eval in MODELS:
        if args.only and name != args.only:
            continue
        if not os.path.exists(path):
            sys.exit(f"results: {path} is absent (../shared models needed)")
        lines_for_model = tiny_heldout() if own_eval == "heldout" else eval_lines
        original = evaluate(args.build, path, lines_for_model)
        entry = {"name": name, "original": original, "budgets": [],
                 "evaluation_lines": lines_for_model}
        print(f"{name}: original ppl {original['perplexity']:.4f}", flush=True)
        for g in budgets:
            out = os.path.join(args.workdir, f"{name}-g{g}-{{method}}.st")
            t0 = time.time()
            lines = run([os.path.join(args.build, "tools/headroom-compress"),
                         "--model", path, "--calib-text", TEXT,
                         "--calib-lines", CALIB, "--kv-heads", str(g),
                         "--method", ",".join(METHODS), "--out", out])
            summaries = [json.loads(l) for l in lines.strip().splitlines()]
            budget = {"kv_heads": g, "compress_wall_seconds": time.time() - t0,
                      "methods": []}
            for s in summaries:
                ppl = evaluate(args.build, path, lines_for_model, s["out"])
                budget["methods"].append({"summary": s, "eval": ppl})
                print(f"  g={g} {s['method']:<24} ppl {ppl['perplexity']:.4f}",
                      flush=True)
            entry["budgets"].append(budget)
        results["models"].append(entry)
    order = [m[0] for m in MODELS]
    results["models"].sort(key=lambda m: order.index(m["name"]))
    with open(json_path, "w") as f:
        json.dump(results, f, indent=1)
    write_markdown(results, eval_lines)


def write_markdown(r, eval_lines):
    md = []
    md.append("# Results: KV-head compression without training\n")
    md.append("Generated by `python3 scripts/results.py` from the output of "
              "`headroom-compress` and `headroom-eval ppl` (raw numbers in "
              "`docs/results.json`). Do not edit by hand.\n")
    md.append(f"- Calibration: non-empty lines {r['calibration_lines']} of "
              f"`../shared/data/{r['text']}` (the last 10% of them held back "
              "from the statistics: `auto` and the per-layer output error use "
              "them).")
    md.append(f"- Evaluation: non-empty lines {eval_lines} of the same file "
              "(disjoint from calibration), each line its own sequence, "
              "BOS + tokens, teacher-forced. The embedded default model was "
              "trained on the first 90% of the lines, so it is evaluated on "
              "the last 10% only (the range is given in its section).")
    md.append("- KV bytes per token are fp32, all layers, K and V, as the "
              "runtime allocates them.")
    md.append("- Gap closed: (ppl_svd-a - ppl) / (ppl_svd-a - ppl_original); "
              "the project's target is >= 50% for the best method.\n")
    md.append("Methods: `mean-pool`, `svd-w` (baselines); `svd-a` (the "
              "paper); `rope-commuting` (folded, an ordinary GQA checkpoint); "
              "ours: `-qa` (query-aware keys, output-aware values), `+refit` "
              "(least-squares W_O refit), `auto` (per-layer choice, checked "
              "against every uniform method on held-back calibration text). "
              "See docs/compression.md.\n")
    for m in r["models"]:
        o = m["original"]
        md.append(f"## {m['name']}\n")
        md.append(f"Original: perplexity **{o['perplexity']:.4f}** on "
                  f"{o['predicted_tokens']} predicted tokens "
                  f"({o['lines']} lines {m['evaluation_lines']}).\n")
        for b in m["budgets"]:
            first = b["methods"][0]["summary"]
            svda = next(x for x in b["methods"]
                        if x["summary"]["method"] == "svd-a")
            svda_ppl = svda["eval"]["perplexity"]
            md.append(f"### {first['n_kv_heads']} -> {b['kv_heads']} KV heads\n")
            md.append(f"KV bytes per token: {first['kv_bytes_per_token_original']}"
                      f" -> {first['kv_bytes_per_token_served']} "
                      f"({first['kv_bytes_per_token_original'] / first['kv_bytes_per_token_served']:.0f}x "
                      f"smaller). Calibration: {first['calibration_tokens']} tokens "
                      f"({first['calibration_sequences']} lines) in "
                      f"{first['calibration_seconds']:.1f} s.\n")
            md.append("| method | perplexity | gap closed vs svd-a | key energy "
                      "(mean over layers) | value energy | layer output error "
                      "(mean) | transform s | layers |")
            md.append("|---|---|---|---|---|---|---|---|")
            best = min(b["methods"], key=lambda x: x["eval"]["perplexity"])
            for x in b["methods"]:
                s, e = x["summary"], x["eval"]
                layers = s["layers"]
                mean = lambda k: sum(l[k] for l in layers) / len(layers)
                gap = svda_ppl - o["perplexity"]
                closed = ((svda_ppl - e["perplexity"]) / gap * 100
                          if gap > 1e-9 else 0.0)
                per_layer = ", ".join(sorted(set(l["method"] for l in layers)))
                name = s["method"]
                ppl = f"{e['perplexity']:.4f}"
                if x is best:
                    ppl = f"**{ppl}**"
                md.append(f"| {name} | {ppl} | {closed:.0f}% | "
                          f"{mean('key_energy'):.4f} | {mean('value_energy'):.4f} | "
                          f"{mean('output_error'):.4f} | "
                          f"{s['transform_seconds']:.2f} | {per_layer} |")
            md.append("")
            md.append("Energy kept per layer (svd-a, keys / values): " + ", ".join(
                f"L{i} {l['key_energy']:.4f}/{l['value_energy']:.4f}"
                for i, l in enumerate(svda["summary"]["layers"])) + "\n")
    md.append("## For context: the paper's LLaMA2-7B figures\n")
    md.append("WikiText-2 perplexity from arXiv 2406.07056 as summarised in "
              "method.md (not measured here):\n")
    md.append("| method | 32 -> 16 KV heads | 32 -> 8 |")
    md.append("|---|---|---|")
    for name, a, b in PAPER:
        md.append(f"| {name} | {a} | {b} |")
    md.append("")
    with open(os.path.join(ROOT, "docs/results.md"), "w") as f:
        f.write("\n".join(md))
    print("wrote docs/results.md")


if __name__ == "__main__":
    main()
