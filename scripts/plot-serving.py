#!/usr/bin/env python3
"""Table and plots of an open-loop serving sweep (scripts/bench-serving-sweep.sh).

    /usr/bin/python3 scripts/plot-serving.py [--layouts original g4 g2] [--out-dir docs/img]
        [--no-plots] [--] WORKDIR

Reads WORKDIR/LAYOUT-rRATE.json (headroom-bench --json) and, when present,
WORKDIR/LAYOUT-rRATE.server.json (preemptions and server CPU seconds during
the run, written by the sweep script). Prints a markdown table and a
saturation summary to stdout and writes, with matplotlib, one line per
layout against the request rate:

    OUT_DIR/serving-throughput.png   output tokens/s (and the offered load)
    OUT_DIR/serving-ttft-p99.png     p99 TTFT (log scale)
    OUT_DIR/serving-goodput.png      goodput: requests/s within the SLOs

Without matplotlib (Debian: apt-get install python3-matplotlib) it prints the
table, says so, and exits 3.
"""
import argparse
import glob
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEPT = 0.9  # a rate is sustained while output tokens/s >= KEPT x offered


def load(workdir, layouts):
    runs = {}  # (layout, rate) -> dict
    for path in glob.glob(os.path.join(workdir, "*-r*.json")):
        m = re.fullmatch(r"(.+)-r([0-9.]+)\.json", os.path.basename(path))
        if not m or m.group(1) not in layouts:
            continue
        layout, rate = m.group(1), float(m.group(2))
        j = json.load(open(path))
        side = path[:-len(".json")] + ".server.json"
        j["server"] = json.load(open(side)) if os.path.exists(side) else None
        runs[(layout, rate)] = j
    return runs


def load_labels(workdir):
    path = os.path.join(workdir, "layouts.json")
    return json.load(open(path)) if os.path.exists(path) else {}


def offered_tokens_per_s(j):
    # The run's own arrival rate ((N - 1) / last send time: Poisson draws of
    # a short run differ from the nominal rate) times the tokens asked for.
    starts = sorted(r["start_ms"] for r in j["requests"])
    max_tokens = j["settings"]["max_tokens"][0]
    if len(starts) < 2 or starts[-1] <= 0:
        return float("nan")
    return (len(starts) - 1) / (starts[-1] / 1e3) * max_tokens


def fmt(v, digits=1):
    return "-" if v is None else f"{v:.{digits}f}"


def table(runs, layouts, rates):
    print("| rate (req/s) | layout | ok/failed | output tok/s | kept | "
          "TTFT mean (ms) | TTFT p99 (ms) | TPOT mean (ms) | E2E p99 (ms) | "
          "goodput (req/s) | preempted | server CPU | others' CPU |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    idle = []
    for rate in rates:
        for layout in layouts:
            j = runs.get((layout, rate))
            if j is None:
                continue
            srv = j["server"]
            pre = cpu = others = "-"
            if srv:
                if "other_cpu_per_s" in srv:
                    others = f"{srv['other_cpu_per_s']:.2f}"
                pre = str(srv["preemptions"])
                cpu = f"{srv['server_cpu_s'][layout] / j['duration_s']:.2f}"
                idle += [v for k, v in srv["server_cpu_s"].items()
                         if k != layout]
            kept = j["output_token_throughput"] / offered_tokens_per_s(j)
            print(f"| {rate:g} | {layout} | {j['requests_completed']}/"
                  f"{j['requests_failed']} | "
                  f"{j['output_token_throughput']:.0f} | {kept:.2f} | "
                  f"{fmt(j['ttft']['mean_ms'])} | {fmt(j['ttft']['p99_ms'])} | "
                  f"{fmt(j['tpot']['mean_ms'], 2)} | {fmt(j['e2e']['p99_ms'])} | "
                  f"{j['goodput']:.1f} | {pre} | {cpu} | {others} |")
    print()
    print("kept: output tokens/s over the offered tokens/s (the run's own "
          "arrival rate x max_tokens); preempted: sequences the server "
          "preempted (pages given back, recomputed); server CPU: CPU seconds "
          "of the benchmarked server per second of the run; others' CPU: "
          "the same for everything else on the machine but the bench "
          "client (other users of a shared machine).")
    if idle:
        print(f"idle servers during the runs: at most {max(idle):.2f} CPU s "
              "per run.")


def summary(runs, layouts, rates):
    print()
    for layout in layouts:
        mine = [(r, runs[(layout, r)]) for r in rates if (layout, r) in runs]
        if not mine:
            continue
        peak_rate, peak = max(mine, key=lambda x: x[1]["output_token_throughput"])
        sustained = [r for r, j in mine
                     if j["output_token_throughput"] >= KEPT * offered_tokens_per_s(j)]
        within = [r for r, j in mine
                  if j["ttft"]["p99_ms"] is not None
                  and j["settings"].get("slo_ttft_ms") is not None
                  and j["ttft"]["p99_ms"] <= j["settings"]["slo_ttft_ms"]]
        # The highest rate of the run of sustained rates from the lowest.
        last_ok = None
        for r, j in mine:
            if r not in sustained:
                break
            last_ok = r
        first_bad = next((r for r, _ in mine if r not in sustained), None)
        print(f"{layout}: peak {peak['output_token_throughput']:.0f} output "
              f"tok/s (at {peak_rate:g} req/s); keeps up (>= {KEPT:.0%} of "
              f"the offered tokens) up to {fmt(last_ok, 0) if last_ok else '-'} "
              f"req/s" + (f", not at {first_bad:g}" if first_bad else "")
              + "; p99 TTFT within the SLO up to "
              + (f"{max(within):g} req/s" if within else "no rate"))


def plots(runs, layouts, rates, out_dir, meta):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot-serving: matplotlib is not installed (Debian: apt-get "
              "install python3-matplotlib, then run /usr/bin/python3); no "
              "plots written", file=sys.stderr)
        return 3
    os.makedirs(out_dir, exist_ok=True)
    any_run = next(iter(runs.values()))
    st = any_run["settings"]
    max_tokens = st["max_tokens"][0]
    slo = st.get("slo_ttft_ms")
    styles = {0: ("o", "-"), 1: ("s", "-"), 2: ("^", "-"), 3: ("d", "-")}
    figs = [
        ("serving-throughput.png", "output tokens/s",
         lambda j: j["output_token_throughput"], False),
        ("serving-ttft-p99.png", "p99 time to first token (ms)",
         lambda j: j["ttft"]["p99_ms"], True),
        ("serving-goodput.png", "goodput (requests/s within the SLOs)",
         lambda j: j["goodput"], False),
    ]
    slo_text = ", ".join(
        s for s in (f"TTFT <= {st['slo_ttft_ms']:g} ms" if "slo_ttft_ms" in st else "",
                    f"TPOT <= {st['slo_tpot_ms']:g} ms" if "slo_tpot_ms" in st else "")
        if s)
    written = []
    for fname, ylabel, value, logy in figs:
        fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
        for i, layout in enumerate(layouts):
            xs = [r for r in rates if (layout, r) in runs]
            ys = [value(runs[(layout, r)]) for r in xs]
            pts = [(x, y) for x, y in zip(xs, ys) if y is not None]
            if not pts:
                continue
            marker, ls = styles.get(i, ("o", "-"))
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker,
                    linestyle=ls, label=meta.get("labels", {}).get(layout, layout))
        if fname == "serving-throughput.png":
            ax.plot(rates, [r * max_tokens for r in rates], color="grey",
                    linestyle=":", label=f"offered ({max_tokens} tok/request)")
        if fname == "serving-goodput.png":
            ax.plot(rates, rates, color="grey", linestyle=":", label="offered")
            ax.set_title(f"SLO: {slo_text}", fontsize=9)
        if fname == "serving-ttft-p99.png" and slo:
            ax.axhline(slo, color="grey", linestyle=":",
                       label=f"TTFT SLO {slo:g} ms")
        ax.set_xticks(rates)
        ax.set_xticklabels([f"{r:g}" for r in rates], fontsize=8)
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel("request rate (requests/s, Poisson arrivals)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        title = "headroom-server, same KV memory budget"
        if "model" in meta:
            title = (f"headroom-server {os.path.basename(meta['model'])}, "
                     f"KV budget {meta['kv_bytes'] / 2**20:g} MiB each")
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        path = os.path.join(out_dir, fname)
        fig.savefig(path)
        plt.close(fig)
        written.append(os.path.relpath(path, ROOT))
    print()
    print("wrote " + ", ".join(written))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workdir")
    ap.add_argument("--layouts", nargs="+", default=["original", "g4", "g2"])
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "docs", "img"))
    ap.add_argument("--no-plots", action="store_true")
    args = ap.parse_args()
    runs = load(args.workdir, args.layouts)
    if not runs:
        print(f"plot-serving: no LAYOUT-rRATE.json for {args.layouts} in "
              f"{args.workdir}", file=sys.stderr)
        return 1
    rates = sorted({r for _, r in runs})
    print()
    table(runs, args.layouts, rates)
    summary(runs, args.layouts, rates)
    if args.no_plots:
        return 0
    return plots(runs, args.layouts, rates, args.out_dir,
                 load_labels(args.workdir))


if __name__ == "__main__":
    sys.exit(main())
