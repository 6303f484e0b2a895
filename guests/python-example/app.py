"""crawlbox's example plugin in Python: a same-site crawler.

Input: {"start": ["http://host/"], "max_pages": 100, "batch": 32}
It fetches pages through a host fetch-queue (the host runs them under its
caps and hands each back as it completes). The host also parses each page,
natively and before handing it back: every request asks (through the crawlbox
SDK, guests/sdk-python) for the page's same-host links and its `title::text`,
and for no body, so no HTML ever enters Python. The crawler pushes the links
that stay on a start URL's host onto the same queue and emits one record per
page: {"url", "status", "title", "links"} (or {"url", "error", "message"}).
Built with componentize-py against wit/, with `-p ../sdk-python`.
"""

import json
from urllib.parse import urldefrag, urlparse

from componentize_py_types import Err
import wit_world
from crawlbox import Extract, FetchQueue, emit, log

# Declared once, sent with every request: the host extracts while it fetches.
PAGE = Extract(links=dict(same_host=True), css={"title": "title::text"})


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
        queue = FetchQueue()

        def push(urls):
            """Queues, in one host call, the URLs not seen yet, up to max_pages."""
            new = []
            for url in urls:
                if len(seen) >= max_pages:
                    break
                if url not in seen:
                    seen.add(url)
                    new.append(url)
            queue.push_all(new, extract=PAGE)

        push(urldefrag(url)[0] for url in start
             if urlparse(url).scheme in ("http", "https"))
        crawled = 0
        for _, page in queue.results(batch_size):
            crawled += 1
            if not page.ok:
                emit({"url": page.url, "error": page.kind, "message": page.message})
                continue
            if page.error is not None:  # the response came, its extraction failed
                log(f"{page.url}: {page.error}", "warn")
                emit({"url": page.url, "status": page.status, "title": None, "links": 0})
                continue
            # The host kept the links on the page's own host, resolved,
            # fragment-free, each once: dedup across pages is ours.
            links = page.links()
            emit({"url": page.url, "status": page.status,
                  "title": (page.css("title").get() or "").strip() or None,
                  "links": len(links)})
            # A redirect may have left the start hosts: follow none of its links.
            if len(seen) < max_pages and urlparse(page.url).hostname in hosts:
                push(link.url for link in links)
        log(f"crawled {crawled} pages from {len(start)} start URLs")
