"""{{name}}: a crawlbox spider. The host owns the crawl (which pages are next,
dedup, limits, politeness, resuming); the spider says where to start and what
each page yields.

Input: {"start": ["https://example.com/"]}. Every page yields
{"url", "status", "title", "links"}, and the spider follows the page's links on
its own host. The host parses each page: Python never sees the HTML.
"""

