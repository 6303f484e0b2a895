"""crawlbox's example crawler in async Python: python-example's same-site
crawl, over the `crawlbox:plugin/scraper-async` world. It uses the component
model's native async (WASI 0.3), so run it with `crawlbox run --wasip3`, which
is experimental.

Input: {"start": ["http://host/"], "max_pages": 100, "concurrency": 16}
`run` is an `async def`, and each `fetch_async` (`host-async.fetch`) is a host subtask that
asyncio awaits (componentize-py provides the event loop). The crawler keeps up
to `concurrency` fetches in flight as asyncio tasks, and the host runs them
under its own caps. It handles each page as it completes and starts fetches
for the same-host links it has not seen yet. The host extracts each page's
links and `title::text` (an Extract from the crawlbox SDK, guests/sdk-python),
so no HTML ever enters Python. It emits one record per page, as python-example
does: {"url", "status", "title", "links"} (or {"url", "error", "message"}).
`emit` and `log` are the sync `host` functions, called as they are.
Built with componentize-py against wit/ (world scraper-async), with
`-p ../sdk-python`.
"""

import asyncio
import json
from collections import deque
from urllib.parse import urldefrag, urlparse

from componentize_py_types import Err
import wit_world
from crawlbox import Extract, FetchFailed, emit, fetch_async, log

# Declared once, sent with every request: the host extracts while it fetches.
PAGE = Extract(links=dict(same_host=True), css={"title": "title::text"})


async def fetch(url):
    """The Page of `url`, or its FetchFailed: one `host-async.fetch` subtask."""
    try:
        return await fetch_async(url, extract=PAGE)
    except FetchFailed as failed:
        return failed


class WitWorld(wit_world.WitWorld):
    async def run(self, input: str) -> None:
        try:
            config = json.loads(input)
            start = config["start"]
        except (ValueError, KeyError, TypeError) as e:
            raise Err(f"invalid input {input}: expected {{\"start\": [URL, ...]}} ({e})")
        if not start:
            raise Err("input.start is empty: give at least one URL to start from")
        max_pages = int(config.get("max_pages", 100))
        concurrency = max(1, int(config.get("concurrency", 16)))

        hosts = {urlparse(url).hostname for url in start}
        seen = set()
        waiting = deque()

        def visit(urls):
            """Queues the URLs not seen yet, up to max_pages in all."""
            for url in urls:
                if len(seen) >= max_pages:
                    break
                if url not in seen:
                    seen.add(url)
                    waiting.append(url)

        visit(urldefrag(url)[0] for url in start
              if urlparse(url).scheme in ("http", "https"))
        in_flight = set()
        crawled = 0
        while waiting or in_flight:
            while waiting and len(in_flight) < concurrency:
                in_flight.add(asyncio.create_task(fetch(waiting.popleft())))
            done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                page = task.result()
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
                if urlparse(page.url).hostname in hosts:
                    visit(link.url for link in links)
        log(f"crawled {crawled} pages from {len(start)} start URLs")
