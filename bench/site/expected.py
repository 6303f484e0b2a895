#!/usr/bin/env python3
"""The page set a correct crawler finds on the bench site (stdlib only).

    expected.py DOC_ROOT [--start /syn/index.html] [--json OUT] [--quiet]

A breadth-first walk over the files under DOC_ROOT, as nginx serves them:
from the start page, every `<a href>` is resolved against the page's URL
(urljoin), its fragment dropped, and followed if it stays on the site (same
scheme and host). The rule is the examples' rule (guests/example-crawler,
example-spider, python-example, js-example): every same-host http(s) link,
whatever its extension. A link to a file that exists is a page of the set; a
link to no file is "dangling" (a crawler fetches it and gets a 404). Only
`.html` files are parsed (nginx gives the rest another content type).

`<a>` inside `<noscript>` is not a link here: an HTML5 parser with
scripting on (html5ever in the Rust guests, lol_html, browsers) reads the
contents of `<noscript>` as text. `--noscript-links` follows them (as
Python's html.parser and lxml do); the summary says how many pages that
adds either way.

Prints the site's figures (pages, average size, average links) on stderr and
writes {"start", "pages": [path...], "dangling": [path...], "stats"} to
--json. Paths are request URIs (path and query), as nginx logs them.
"""

import argparse
import json
import os
import sys
from collections import deque
from html.parser import HTMLParser
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

BASE = "http://site.invalid"


class Links(HTMLParser):
    """Every <a href> of one page, with or without those in <noscript>."""

    def __init__(self, noscript_links):
        super().__init__()
        self.noscript_links = noscript_links
        self.in_noscript = 0
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        if tag == "noscript":
            self.in_noscript += 1
        elif tag == "a" and (self.noscript_links or not self.in_noscript):
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)

    def handle_endtag(self, tag):
        if tag == "noscript" and self.in_noscript:
            self.in_noscript -= 1


def request_uri(url):
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def file_of(root, url):
    """The file nginx serves for `url`, or None."""
    path = unquote(urlsplit(url).path)
    if path.endswith("/"):
        path += "index.html"
    full = os.path.normpath(os.path.join(root, path.lstrip("/")))
    if not full.startswith(root + os.sep) or not os.path.isfile(full):
        return None
    return full


def walk(root, start, noscript_links):
    site = urlsplit(BASE)
    start_url = urljoin(BASE, start)
    seen = {start_url}
    queue = deque([start_url])
    pages, dangling = [], []
    html_pages = total_bytes = hrefs = followable = 0
    while queue:
        url = queue.popleft()
        path = file_of(root, url)
        if path is None:
            dangling.append(request_uri(url))
            if os.path.isdir(os.path.join(root, unquote(urlsplit(url).path).lstrip("/"))):
                # nginx answers 301 to the slash: not modelled, say so.
                print(f"expected.py: link to a directory without its slash: {url}",
                      file=sys.stderr)
            continue
        pages.append(request_uri(url))
        if not path.endswith(".html"):
            continue
        with open(path, "rb") as f:
            body = f.read()
        html_pages += 1
        total_bytes += len(body)
        parser = Links(noscript_links)
        parser.feed(body.decode("utf-8", errors="replace"))
        parser.close()
        hrefs += len(parser.hrefs)
        for href in parser.hrefs:
            link, _ = urldefrag(urljoin(url, href))
            parts = urlsplit(link)
            if parts.scheme not in ("http", "https") or parts.netloc != site.netloc:
                continue
            followable += 1
            if link not in seen:
                seen.add(link)
                queue.append(link)
    stats = {
        "pages": len(pages),
        "html_pages": html_pages,
        "non_html_pages": len(pages) - html_pages,
        "dangling": len(dangling),
        "avg_kb": round(total_bytes / max(html_pages, 1) / 1024, 1),
        "total_mb": round(total_bytes / 1e6, 1),
        "avg_links": round(hrefs / max(html_pages, 1), 1),
        "avg_site_links": round(followable / max(html_pages, 1), 1),
    }
    return pages, dangling, stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("--start", default="/syn/index.html")
    ap.add_argument("--json")
    ap.add_argument("--noscript-links", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    root = os.path.realpath(args.root)
    pages, dangling, stats = walk(root, args.start, args.noscript_links)
    other, _, _ = walk(root, args.start, not args.noscript_links)
    diff = sorted(set(other) ^ set(pages))
    stats["noscript_difference"] = diff
    files = sum(1 for _, _, fs in os.walk(root) for f in fs if f.endswith(".html"))
    stats["html_files"] = files
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"start": args.start, "pages": sorted(pages),
                       "dangling": sorted(dangling), "stats": stats}, f)
    if not args.quiet:
        print(f"site: {stats['pages']} pages reachable from {args.start} "
              f"({stats['non_html_pages']} not HTML) of {files} HTML files, "
              f"{stats['avg_kb']} KB and {stats['avg_links']} <a href> "
              f"({stats['avg_site_links']} to the site) per page on average, "
              f"{stats['total_mb']} MB; {stats['dangling']} dangling links; "
              f"{'following' if not args.noscript_links else 'ignoring'} "
              f"<noscript> links changes {len(diff)} pages {diff[:5]}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
