"""crawlbox's example spider in Python: the crawl of guests/example-spider
(Rust), in the world crawlbox:plugin/spider. The host owns the frontier
(dedup, order, page and depth limits) and parses each page; the spider says
where to start and what a page yields.

Input: {"start": ["http://host/"]}. Every request asks the host for the
page's same-host links and its `title::text`, and for no body. Each page
yields one item {"url", "status", "title", "links"} and one follow_links():
the host follows the links it extracted, which never enter Python.
Built with componentize-py against wit/, with `-p ../sdk-python`.
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
