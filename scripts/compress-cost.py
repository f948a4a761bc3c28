#!/usr/bin/env python3
"""Compression time and peak memory per method: one headroom-compress
process per method (calibration included), under /usr/bin/time -v.

    nice -n 10 python3 scripts/compress-cost.py [--build build/dev]
        [--models headroom-tiny,stories260K] [--threads 1]

Calibration: non-empty TinyStories lines 1:2000 (as scripts/results.py), KV
heads n/2 (or --kv-budget 0.5). Prints a Markdown table: wall seconds, the
tool's own calibration and transform seconds, and the maximum resident set
size. Wall times on a shared machine are noisy (CPU seconds less so); the
memory is not. Also prints the load average before and after.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
TEXT = os.path.join(SHARED, "data", "tinystories_val.txt")
CALIB = "1:2000"
MODELS = {
    "headroom-tiny": (os.path.join(ROOT, "models/headroom-tiny"), 8),
    "stories260K": (os.path.join(SHARED, "models/stories260K/stories260K.bin"),
                    4),
}
# (label, method, extra flags; "{half}" is n/2)
RUNS = [
    ("svd-a", "svd-a", ["--kv-heads", "{half}"]),
    ("svd-a-qa", "svd-a-qa", ["--kv-heads", "{half}"]),
    ("svd-a+refit", "svd-a+refit", ["--kv-heads", "{half}"]),
    ("svd-a-qa+refit", "svd-a-qa+refit", ["--kv-heads", "{half}"]),
    ("auto", "auto", ["--kv-heads", "{half}"]),
    ("svd-a-qa+refit --kv-budget 0.5", "svd-a-qa+refit",
     ["--kv-budget", "0.5"]),
    ("svd-a-qa+refit --regroup", "svd-a-qa+refit",
     ["--kv-heads", "{half}", "--regroup"]),
    ("auto --kv-budget 0.5 --regroup", "auto",
     ["--kv-budget", "0.5", "--regroup"]),
]


def measured(cmd):
    """The tool's JSON, wall and CPU (user + system) seconds and max RSS
    (KiB) from time -v."""
    out = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{out.stderr}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)",
                     out.stderr)
    h, m, s = wall.groups()
    seconds = int(h or 0) * 3600 + int(m) * 60 + float(s)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)",
                        out.stderr).group(1))
    cpu = sum(float(re.search(rf"{kind} time \(seconds\): ([\d.]+)",
                              out.stderr).group(1))
              for kind in ("User", "System"))
    return json.loads(out.stdout.strip().splitlines()[-1]), seconds, cpu, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build/dev"))
    ap.add_argument("--models", default="headroom-tiny,stories260K")
    ap.add_argument("--threads", default="1")
    args = ap.parse_args()
    tool = os.path.join(args.build, "tools/headroom-compress")
    print("| model | method | wall s | CPU s | calibration s | transform s | "
          "max RSS MiB | KV heads per layer |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            path, n = MODELS[name]
            for label, method, flags in RUNS:
                flags = [f.replace("{half}", str(n // 2)) for f in flags]
                cmd = [tool, "--model", path, "--calib-text", TEXT,
                       "--calib-lines", CALIB, "--method", method,
                       "--threads", args.threads,
                       "--out", os.path.join(tmp, "p.st")] + flags
                j, wall, cpu, rss = measured(cmd)
                heads = ",".join(str(l["kv_heads"]) for l in j["layers"])
                print(f"| {name} | {label} | {wall:.1f} | {cpu:.1f} | "
                      f"{j['calibration_seconds']:.1f} | "
                      f"{j['transform_seconds']:.1f} | {rss / 1024:.0f} | "
                      f"{heads} |", flush=True)
    print(f"load average after: {os.getloadavg()}", file=sys.stderr)


if __name__ == "__main__":
    main()
