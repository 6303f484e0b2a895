#!/usr/bin/env python3
"""Orchestrator of `just bench-site` (stdlib only; bench/site/run.sh builds
everything first and calls it).

Starts nginx (bench/site/nginx.conf) on 127.0.0.1:SITE_PORT serving
target/bench-site/doc, runs every crawler REPEATS times (order rotated each
time) under /usr/bin/time, and checks each run's requests, read from the
byte range of nginx's access log the run wrote, against
target/bench-site/expected.json (bench/site/expected.py):

  pages    expected pages fetched with a 200
  missing  expected pages never fetched
  dup      requests beyond the first for one URL (robots.txt aside)
  extra    URLs fetched that are neither expected pages nor the site's
           dangling links (robots.txt aside)
  404s     the site's dangling links fetched (a correct crawler fetches
           them all: they are links, the files are missing)
  pages/s  pages / wall seconds of the crawler process (start-up included;
           crawlbox's compile cache is warmed first)
  CPU s    user+sys of the crawler process and the children it waited for
  RSS MB   peak RSS of the largest process (GNU time's %M)
  out      records the crawler wrote itself (a cross-check)

Environment: REPEATS (1), CONC (64), SITE_PORT (18090), CRAWLERS (comma
list of names to run, default all), CRAWLBOX (`path` or `label=path,...`:
crawlbox builds to run the examples with; several make one set of example
rows per build), EXTRA (`name=COMMAND;...`, COMMAND run by bash with {url}
{base} {port} {out} {conc} replaced; it must fetch from {base}),
NGINX_WORKERS (1).
"""

import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from urllib.parse import unquote

ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
SITE = os.path.join(ROOT, "target", "bench-site")
RUN = os.path.join(SITE, "run")
START = "/reqwest/index.html"
GUESTS = os.path.join(ROOT, "target", "wasm-guests")


def env_int(name, default):
    return int(os.environ.get(name) or default)


PORT = env_int("SITE_PORT", 18090)
CONC = env_int("CONC", 64)
REPEATS = env_int("REPEATS", 1)
BASE = f"http://127.0.0.1:{PORT}"
URL = BASE + START


# ---------------------------------------------------------------- nginx

def nginx_pid():
    try:
        pid = int(open(os.path.join(RUN, "logs", "nginx.pid")).read().strip())
        os.kill(pid, 0)
        if b"nginx" not in open(f"/proc/{pid}/cmdline", "rb").read():
            return None
        return pid
    except (OSError, ValueError):
        return None


def nginx_stop():
    pid = nginx_pid()
    if pid is None:
        return
    os.kill(pid, signal.SIGQUIT)
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGTERM)


def nginx_start():
    nginx_stop()
    for d in ("logs", "tmp"):
        os.makedirs(os.path.join(RUN, d), exist_ok=True)
    html = os.path.join(RUN, "html")
    if os.path.islink(html):
        os.unlink(html)
    os.symlink(os.path.join(SITE, "doc"), html)
    conf = open(os.path.join(ROOT, "bench", "site", "nginx.conf")).read()
    conf = conf.replace("127.0.0.1:18090", f"127.0.0.1:{PORT}")
    with open(os.path.join(RUN, "nginx.conf"), "w") as f:
        f.write(conf)
    log = os.path.join(RUN, "logs", "access.log")
    if os.path.exists(log):
        os.unlink(log)
    nginx = "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else "nginx"
    subprocess.run([nginx, "-p", RUN + "/", "-c", os.path.join(RUN, "nginx.conf"),
                    "-e", os.path.join(RUN, "logs", "error.log"),
                    "-g", f"worker_processes {os.environ.get('NGINX_WORKERS', '1')};"],
                   check=True)
    for _ in range(50):
        if nginx_pid():
            break
        time.sleep(0.1)
    master = nginx_pid()
    if master is None:
        sys.exit(f"bench-site: nginx did not start; see {RUN}/logs/error.log")
    return master


def nginx_workers_cpu(master):
    """user+sys seconds of the master's children (the workers)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == master:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def log_size():
    try:
        return os.path.getsize(os.path.join(RUN, "logs", "access.log"))
    except OSError:
        return 0


def log_range(start, end):
    with open(os.path.join(RUN, "logs", "access.log"), "rb") as f:
        f.seek(start)
        data = f.read(end - start).decode("utf-8", errors="replace")
    out = []
    for line in data.splitlines():
        parts = line.split(" ", 8)
        if len(parts) == 9:
            out.append((int(parts[5]) if parts[5].isdigit() else 0, unquote(parts[8])))
    return out


# ---------------------------------------------------------------- crawlers

def crawlbox_builds():
    spec = os.environ.get("CRAWLBOX") or os.path.join(ROOT, "target", "release", "crawlbox")
    builds = []
    for i, item in enumerate(s for s in spec.split(",") if s):
        label, sep, path = item.partition("=")
        if not sep:
            label, path = "", item
        builds.append((label, os.path.abspath(path)))
    if len(builds) > 1:
        builds = [(label or f"b{i}", path) for i, (label, path) in enumerate(builds)]
    return builds


def crawlers(workdir):
    """[(name, argv or shell string, out file, warm-up argv or None)]."""
    grant = ["--allow-host", BASE, "--allow-network", "127.0.0.1",
             "-c", str(CONC), "--per-host", str(CONC), "-q"]
    inp = os.path.join(workdir, "input.json")
    warm = os.path.join(workdir, "warm.json")
    with open(inp, "w") as f:
        json.dump({"start": [URL], "max_pages": 100000}, f)
    with open(warm, "w") as f:
        json.dump({"start": [URL], "max_pages": 1}, f)
    # The native-async crawlers keep `concurrency` fetches in flight themselves.
    inp_async = os.path.join(workdir, "input-async.json")
    with open(inp_async, "w") as f:
        json.dump({"start": [URL], "max_pages": 100000, "concurrency": CONC}, f)
    wasm = {
        "example-crawler": os.path.join(GUESTS, "wasm32-wasip2/release/example_crawler.wasm"),
        "example-crawler-guest-parse": os.path.join(
            GUESTS, "wasm32-wasip2/release/example_crawler_guest_parse.wasm"),
        "example-spider": os.path.join(GUESTS, "wasm32-wasip2/release/example_spider.wasm"),
        "python-example": os.path.join(GUESTS, "components/python_example.wasm"),
        "js-example": os.path.join(GUESTS, "components/js_example.wasm"),
        # WASI 0.3, crawlbox:plugin/scraper-async: run with --wasip3.
        "p3-crawler": os.path.join(GUESTS, "wasm32-wasip2/release/p3_crawler.wasm"),
        "python-async": os.path.join(GUESTS, "components/python_async.wasm"),
    }
    native_async = ("p3-crawler", "python-async")
    out = []

    def add(name, argv, warmup=None):
        out.append((name, argv, os.path.join(workdir, name + ".out"), warmup))

    native = os.path.join(SITE, "native-target", "release", "bench-site-native")
    add("native-hyper-lol_html", [native, "-c", str(CONC), "-o", "{out}", URL])
    spider_rs = os.path.join(SITE, "spider-target", "release", "bench-site-spider")
    if os.path.exists(spider_rs):
        add("spider-rs", [spider_rs, "-c", str(CONC), "-o", "{out}", URL])
    for label, crawlbox in crawlbox_builds():
        suffix = "@" + label if label else ""
        for name, path in wasm.items():
            if name == "example-spider":
                argv = [crawlbox, "crawl", path, "--input-file", inp, *grant, "-o", "{out}"]
                warmup = [crawlbox, "crawl", path, "--input-file", warm, *grant,
                          "--max-pages", "1", "-o", "/dev/null"]
            elif name in native_async:
                argv = [crawlbox, "run", "--wasip3", path, "--input-file", inp_async, *grant,
                        "-o", "{out}"]
                warmup = [crawlbox, "run", "--wasip3", path, "--input-file", warm, *grant,
                          "-o", "/dev/null"]
            else:
                argv = [crawlbox, "run", path, "--input-file", inp, *grant, "-o", "{out}"]
                warmup = [crawlbox, "run", path, "--input-file", warm, *grant, "-o", "/dev/null"]
            add(name + suffix, argv, warmup)
    py = os.path.join(SITE, "venv", "bin", "python")
    add("scrapy", [py, os.path.join(ROOT, "bench", "site", "scrapy_crawl.py"), URL, "{out}",
                   str(CONC)])
    for item in (s for s in os.environ.get("EXTRA", "").split(";") if s.strip()):
        name, _, command = item.partition("=")
        add(name.strip(), command)
    only = [s for s in os.environ.get("CRAWLERS", "").split(",") if s]
    if only:
        out = [c for c in out if c[0] in only or c[0].split("@")[0] in only]
    return out


def fill(cmd, outfile):
    values = {"url": URL, "base": BASE, "port": str(PORT), "out": outfile, "conc": str(CONC)}
    if isinstance(cmd, str):
        for k, v in values.items():
            cmd = cmd.replace("{" + k + "}", shlex.quote(v) if k == "out" else v)
        return ["bash", "-c", cmd]
    return [values.get(a[1:-1], a) if a.startswith("{") and a.endswith("}") else a for a in cmd]


def count_records(path):
    try:
        with open(path, "rb") as f:
            return sum(1 for line in f if line.strip())
    except OSError:
        return None


def run_one(name, cmd, outfile, expected, dangling, master, workdir):
    tfile = os.path.join(workdir, name + ".time")
    errfile = os.path.join(workdir, name + ".stderr")
    argv = ["/usr/bin/time", "-f", "%e %U %S %M", "-o", tfile] + fill(cmd, outfile)
    # `crawlbox crawl` appends to its output: each run starts from none.
    if os.path.exists(outfile):
        os.unlink(outfile)
    before, cpu0 = log_size(), nginx_workers_cpu(master)
    t0 = time.monotonic()
    with open(errfile, "wb") as err, open(os.path.join(workdir, name + ".stdout"), "wb") as so:
        rc = subprocess.run(argv, stdout=so, stderr=err, env=dict(os.environ,
                            CRAWLBOX_CACHE_DIR=os.path.join(SITE, "crawlbox-cache"))).returncode
    wall = time.monotonic() - t0
    time.sleep(0.3)  # the last log lines
    after, cpu1 = log_size(), nginx_workers_cpu(master)
    reqs = log_range(before, after)
    try:
        _, user, sys_, rss = open(tfile).read().strip().splitlines()[-1].split()
        cpu, rss_mb = float(user) + float(sys_), int(rss) / 1024
    except (OSError, ValueError):
        cpu, rss_mb = float("nan"), float("nan")
    counts = Counter(uri for _, uri in reqs if uri != "/robots.txt")
    ok = {uri for status, uri in reqs if status == 200}
    found = expected & ok
    note = ""
    if rc != 0:
        tail = open(errfile, "rb").read().decode("utf-8", "replace").strip().splitlines()
        note = f"exit {rc}" + (f": {tail[-1][:150]}" if tail else "")
    return {
        "crawler": name, "pages": len(found), "missing": sorted(expected - found),
        "dup": sum(c - 1 for c in counts.values()),
        "dups": sorted(u for u, c in counts.items() if c > 1),
        "extra": sorted(set(counts) - expected - dangling),
        "404s": len(set(counts) & dangling), "requests": len(reqs),
        "wall": wall, "pages_per_s": len(found) / wall if wall else 0.0,
        "cpu": cpu, "rss_mb": rss_mb, "nginx_cpu": cpu1 - cpu0,
        "out": count_records(outfile), "rc": rc, "note": note,
    }


def main():
    exp = json.load(open(os.path.join(SITE, "expected.json")))
    expected = {unquote(p) for p in exp["pages"]}
    dangling = {unquote(p) for p in exp["dangling"]}
    st = exp["stats"]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    workdir = os.path.join(SITE, "results", stamp)
    os.makedirs(workdir, exist_ok=True)
    # The files nginx serves, into the page cache.
    for p in expected:
        try:
            with open(os.path.join(SITE, "doc", p.lstrip("/")), "rb") as f:
                f.read()
        except OSError:
            pass
    master = nginx_start()
    results = []
    try:
        todo = crawlers(workdir)
        print(f"bench-site: {st['pages']} pages ({st['avg_kb']} KB, {st['avg_links']} links "
              f"on average), {st['dangling']} dangling links, from {URL}; "
              f"{len(todo)} crawlers x {REPEATS}, {CONC} in flight; results in {workdir}",
              file=sys.stderr)
        for _, _, _, warmup in todo:
            if warmup:
                subprocess.run(fill(warmup, "/dev/null"), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=dict(os.environ,
                               CRAWLBOX_CACHE_DIR=os.path.join(SITE, "crawlbox-cache")))
        for rep in range(REPEATS):
            order = todo[rep % len(todo):] + todo[:rep % len(todo)]
            for name, cmd, outfile, _ in order:
                r = run_one(name, cmd, outfile, expected, dangling, master, workdir)
                r["repeat"] = rep
                results.append(r)
                print(json.dumps({k: v for k, v in r.items()
                                  if k not in ("missing", "dups", "extra")}
                                 | {"missing": len(r["missing"]), "extra": len(r["extra"])}),
                      file=sys.stderr)
    finally:
        nginx_stop()
    with open(os.path.join(workdir, "results.jsonl"), "w") as f:
        for r in results:
            f.write(json.dumps(r) + "\n")
    report(results, len(expected))


def report(results, n_expected):
    head = ("crawler", "pages", "missing", "dup", "extra", "404s", "pages/s", "wall s",
            "CPU s", "RSS MB", "nginx CPU s", "out")
    rows = []
    names = list(dict.fromkeys(r["crawler"] for r in results))
    for name in names:
        runs = [r for r in results if r["crawler"] == name]
        med = lambda k: statistics.median(r[k] for r in runs)  # noqa: E731
        rows.append((name, f"{min(r['pages'] for r in runs)}",
                     f"{max(len(r['missing']) for r in runs)}", f"{max(r['dup'] for r in runs)}",
                     f"{max(len(r['extra']) for r in runs)}", f"{min(r['404s'] for r in runs)}",
                     f"{med('pages_per_s'):.0f}" + (
                         f" ({min(r['pages_per_s'] for r in runs):.0f}-"
                         f"{max(r['pages_per_s'] for r in runs):.0f})" if len(runs) > 1 else ""),
                     f"{med('wall'):.2f}", f"{med('cpu'):.2f}", f"{med('rss_mb'):.0f}",
                     f"{med('nginx_cpu'):.2f}",
                     "/".join(str(r["out"]) for r in runs)))
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    line = lambda row: "| " + " | ".join(str(x).ljust(w) for x, w in zip(row, widths)) + " |"  # noqa: E731
    print(f"\nbench-site: {n_expected} expected pages; figures are medians over "
          f"{max(r['repeat'] for r in results) + 1} run(s), pages/dup/extra the worst run")
    print(line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))
    for r in results:
        bits = []
        for k in ("missing", "extra", "dups"):
            if r[k]:
                bits.append(f"{len(r[k])} {k} e.g. {r[k][:3]}")
        if r["note"]:
            bits.append(r["note"])
        if bits:
            print(f"  {r['crawler']} (run {r['repeat'] + 1}): " + "; ".join(bits))


if __name__ == "__main__":
    main()
