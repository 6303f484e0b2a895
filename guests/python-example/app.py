"""crawlbox's example plugin in Python: a same-site crawler.

Input: {"start": ["http://host/"], "max_pages": 100, "batch": 32}
It fetches pages through a host fetch-queue (the host runs them under its
caps and hands each back as it completes), parses the HTML with the
standard library, pushes the links that stay on a start URL's host onto the
same queue, and emits one record per page: {"url", "status", "title", "links"} (or
{"url", "error", "message"}). Built with componentize-py against wit/.
"""

import json
from html.parser import HTMLParser
from urllib.parse import urljoin, urldefrag, urlparse

from componentize_py_types import Err, Ok
import wit_world
from wit_world.imports import host
from wit_world.imports.host import Level, Request


class Page(HTMLParser):
    """Collects the <title> text and every <a href>."""

    def __init__(self):
        super().__init__()
        self.title = ""
        self.links = []
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self._in_title = True
        elif tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.links.append(href)

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def header(response, name):
    """The first value of header `name` in the response's header block."""
    for line in response.headers.splitlines():
        key, _, value = line.partition(": ")
        if key == name:
            return value
    return None


def error_kind(err):
    """`FetchError_Timeout` -> `timeout`, as the WIT case names go."""
    name = type(err).__name__.removeprefix("FetchError_")
    return "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")


def emit(record):
    host.emit(json.dumps(record))


class WitWorld(wit_world.WitWorld):
    def run(self, input: str) -> None:
        try:
            config = json.loads(input)
            start = config["start"]
        except (ValueError, KeyError, TypeError) as e:
            raise Err(f"invalid input {input}: expected {{\"start\": [URL, ...]}} ({e})")
        if not start:
            raise Err("input.start is empty: give at least one URL to start from")
        max_pages = int(config.get("max_pages", 100))
        batch_size = max(1, int(config.get("batch", 32)))

        hosts = {urlparse(url).hostname for url in start}
        seen = set()
        queue = host.FetchQueue()
        urls = []  # the URL of each ticket: tickets count pushes from 0

        def push(url):
            url, _ = urldefrag(url)
            parsed = urlparse(url)
            if (len(seen) < max_pages and parsed.scheme in ("http", "https")
                    and parsed.hostname in hosts and url not in seen):
                seen.add(url)
                urls.append(url)
                queue.push([Request("GET", url, [], None, None, None)])

        for url in start:
            push(url)
        crawled = 0
        while queue.pending() > 0:
            for ticket, result in queue.next(batch_size):
                url = urls[ticket]
                crawled += 1
                if isinstance(result, Ok):
                    response = result.value
                    page = Page()
                    content_type = header(response, "content-type") or "text/html"
                    if "html" in content_type:
                        page.feed(response.body.decode("utf-8", errors="replace"))
                    emit({"url": response.url, "status": response.status,
                          "title": page.title.strip() or None, "links": len(page.links)})
                    for link in page.links:
                        push(urljoin(response.url, link))
                else:
                    err = result.value
                    emit({"url": url, "error": error_kind(err), "message": err.value})
        host.log(Level.INFO, f"crawled {crawled} pages from {len(start)} start URLs")
