"""{{name}}: a crawlbox plugin that drives its own crawl: it fetches through a
host fetch-queue (the host runs the requests under its caps and hands each back
as it completes) and emits one record per page.

Input: {"start": ["https://example.com/"], "max_pages": 100}. Every page yields
{"url", "status", "title", "links"}; the crawl follows links on the page's own
host. The host parses each page: Python never sees the HTML.
"""

import json

from componentize_py_types import Err
import wit_world
from crawlbox import Extract, FetchQueue, emit, log

# What the host extracts from every page: its links on the same host, its title.
PAGE = Extract(links=dict(same_host=True), css={"title": "title::text"})


class WitWorld(wit_world.WitWorld):
    def run(self, input: str) -> None:
        config = json.loads(input) or {}
        start = config.get("start")
        if not start:
            raise Err("input.start is empty: give at least one URL to start from")
        max_pages = int(config.get("max_pages", 100))

        seen = set(start)
        queue = FetchQueue()
        queue.push_all(start, extract=PAGE)
        for _, page in queue.results():
            if not page.ok:
                log(f"{page.url}: {page.kind}: {page.message}", "warn")
                continue
            links = page.links()
            title = page.css("title").get()
            emit({"url": page.url, "status": page.status,
                  "title": title.strip() if title else None, "links": len(links)})
            new = [link.url for link in links if link.url not in seen]
            new = new[:max(0, max_pages - len(seen))]
            seen.update(new)
            queue.push_all(new, extract=PAGE)
