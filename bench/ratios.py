#!/usr/bin/env python3
"""Prints crawlbox's numbers from a shared-kit summary.json.

  ratios.py SUMMARY            each crawlbox variant (and stock wasmtime) against
                               native hyper and aiohttp, per concurrency: ratio of
                               medians [median of per-repetition ratios], same run
  ratios.py --markdown SUMMARY
                               the same as a RESULTS.md table, baselines first
  ratios.py --latency MS SUMMARY
                               every client against the ideal C / delay, with its
                               CPU seconds and peak RSS (from bench/measure)
"""
import json
import statistics
import sys


def load(path):
    summary = json.load(open(path))
    results = [json.loads(line) for line in open(summary["results_file"])]
    return summary, results


def paired(results, a, b, c):
    ra = {r["rep"]: r["rps"] for r in results if r["client"] == a and r["concurrency"] == c}
    rb = {r["rep"]: r["rps"] for r in results if r["client"] == b and r["concurrency"] == c}
    ps = [ra[k] / rb[k] for k in ra if k in rb and rb[k]]
    return statistics.median(ps) if ps else None


def median_of(results, client, conc, key):
    vals = [r[key] for r in results if r["client"] == client and r["concurrency"] == conc and key in r]
    return statistics.median(vals) if vals else None


def ratios(path):
    summary, results = load(path)
    by = summary["by_client"]
    meta = summary["meta"]
    print(f"\ncrawlbox ratios  (N={meta['n']} path={meta['path']} repeats={meta['repeats']})")
    ours = [c for c in by if c.startswith("crawlbox") or c.startswith("wasmtime")]
    for conc in meta["concurrency"]:
        c = str(conc)
        for name in ours:
            s = by[name].get(c)
            if not s:
                continue
            parts = [f"{name:<22} C={conc:<3} {s['median_rps']:>9.0f} rps  errors={s['errors']}"
                     f"  conns={','.join(map(str, s['conns'])) or '-'}"]
            for base in ("native-hyper", "native-hyper-h2", "aiohttp"):
                b = by.get(base, {}).get(c)
                if b and b["median_rps"]:
                    p = paired(results, name, base, conc)
                    parts.append(f"/{base}={s['median_rps'] / b['median_rps']:.2f}"
                                 + (f" [{p:.2f}]" if p else ""))
            print("  ".join(parts))
    # The report's bookkeeping: each `-report` variant against the same
    # variant without it, per concurrency, paired by repetition.
    for conc in meta["concurrency"]:
        c = str(conc)
        for name in ours:
            plain = name[: -len("-report")] if name.endswith("-report") else None
            if not plain or plain not in by or not by[name].get(c) or not by[plain].get(c):
                continue
            on, off = by[name][c]["median_rps"], by[plain][c]["median_rps"]
            p = paired(results, name, plain, conc)
            print(f"{name:<26} C={conc:<3} {on:>9.0f} rps with --report, {off:>9.0f} without:"
                  f" {on / off:.3f}" + (f" [{p:.3f}]" if p else "")
                  + f", {(1 / on - 1 / off) * 1e6:+.2f} us per request")


def markdown(path):
    summary, results = load(path)
    by = summary["by_client"]
    meta = summary["meta"]
    bases = ("native-hyper", "native-hyper-h2", "aiohttp")
    print(f"\n`{meta['path']}` (N={meta['n']}, REPEATS={meta['repeats']}):\n")
    print("| client | C | rps | " + " | ".join(f"÷ {b}" for b in bases) + " | conns/run | errors |")
    print("|---|---|---|" + "---|" * len(bases) + "---|---|")
    order = [b for b in bases if b in by] + [c for c in by if c not in bases]
    for name in order:
        for conc in meta["concurrency"]:
            s = by[name].get(str(conc))
            if not s:
                continue
            cells = []
            for base in bases:
                b = by.get(base, {}).get(str(conc))
                if name in bases or not b or not b["median_rps"]:
                    cells.append("")
                    continue
                p = paired(results, name, base, conc)
                cells.append(f"{s['median_rps'] / b['median_rps']:.2f}" + (f" [{p:.2f}]" if p else ""))
            conns = sorted(set(s["conns"]))
            conns = ",".join(map(str, s["conns"])) if len(conns) > 1 else (str(conns[0]) if conns else "-")
            print(f"| {name} | {conc} | {s['median_rps']:,.0f} | " + " | ".join(cells)
                  + f" | {conns} | {s['errors']:,} |")


def latency(delay_ms, path):
    summary, results = load(path)
    meta = summary["meta"]
    for conc in meta["concurrency"]:
        ideal = conc * 1000 / delay_ms
        print(f"\nlatency {delay_ms} ms, C={conc}: ideal {ideal:.0f} rps  (N={meta['n']}, repeats={meta['repeats']})")
        for name, by_c in summary["by_client"].items():
            s = by_c.get(str(conc))
            if not s:
                continue
            cpu = median_of(results, name, conc, "cpu_seconds")
            rss = median_of(results, name, conc, "max_rss_mb")
            cpu_per_req = f"{cpu / meta['n'] * 1e6:.0f} us/req" if cpu else "-"
            print(f"  {name:<20} {s['median_rps']:>8.0f} rps  {s['median_rps'] / ideal:5.0%} of ideal  "
                  f"errors={s['errors']}  cpu={cpu}s ({cpu_per_req})  rss={rss} MB")


if __name__ == "__main__":
    if sys.argv[1] == "--markdown":
        markdown(sys.argv[2])
    elif sys.argv[1] == "--latency":
        latency(int(sys.argv[2]), sys.argv[3])
    else:
        ratios(sys.argv[1])
