"""{{name}}: a crawlbox spider. The host owns the crawl (which pages are next,
dedup, limits, politeness, resuming); the spider says where to start and what
each page yields.

Input: {"start": ["https://example.com/"]}. Every page yields
{"url", "status", "title", "links"}, and the spider follows the page's links on
its own host. The host parses each page: Python never sees the HTML.
"""

from crawlbox import Extract, Spider


class Site(Spider):
    # Sent with every request: the host extracts while it fetches.
    extract = Extract(links=dict(same_host=True), css={"title": "title::text"})

    def start(self, input):
        start = input.get("start") if isinstance(input, dict) else None
        if not start:
            raise ValueError('input.start is missing or empty: give at least one URL to start from, as {"start": ["http://host/"]}')
        return start

    def parse(self, page, meta):
        if page.error:  # not HTML, or too large to parse: nothing was extracted
            title, links = None, []
        else:
            title, links = page.css("title").get(), page.links()
        yield {"url": page.url, "status": page.status,
               "title": (title or "").strip() or None, "links": len(links)}
        yield self.follow_links()


WitWorld = Site.export()
