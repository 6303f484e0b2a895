#!/usr/bin/env python3
"""Prints crawlbox's ratios from a shared-kit summary.json: each crawlbox variant
(and stock wasmtime) against native hyper and aiohttp, per concurrency, as the
ratio of medians and the median of per-repetition ratios (same run)."""
import json
import statistics
import sys


def paired(results, a, b, c):
    ra = {r["rep"]: r["rps"] for r in results if r["client"] == a and r["concurrency"] == c}
    rb = {r["rep"]: r["rps"] for r in results if r["client"] == b and r["concurrency"] == c}
    ps = [ra[k] / rb[k] for k in ra if k in rb and rb[k]]
    return statistics.median(ps) if ps else None


def main(path):
    summary = json.load(open(path))
    results = [json.loads(line) for line in open(summary["results_file"])]
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
            parts = [f"{name:<20} C={conc:<3} {s['median_rps']:>9.0f} rps  errors={s['errors']}"
                     f"  conns={','.join(map(str, s['conns'])) or '-'}"]
            for base in ("native-hyper", "native-hyper-h2", "aiohttp"):
                b = by.get(base, {}).get(c)
                if b and b["median_rps"]:
                    p = paired(results, name, base, conc)
                    parts.append(f"÷{base}={s['median_rps'] / b['median_rps']:.2f}"
                                 + (f" [{p:.2f}]" if p else ""))
            print("  ".join(parts))


if __name__ == "__main__":
    main(sys.argv[1])
