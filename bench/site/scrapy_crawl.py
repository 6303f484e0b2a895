"""Scrapy's side of `just bench-site`: a CrawlSpider over the bench site.

    python scrapy_crawl.py START_URL OUT.jsonl [CONCURRENCY]

One Rule: every `<a href>` (LinkExtractor, tags=("a",), no extension
filter, as the examples do) on the start URL's host, followed; each page
yields {"url", "status"}. rustdoc's redirect pages are meta refreshes:
Scrapy follows them, so their items carry the target's URL and there are
fewer items than pages. 64 requests in flight (per domain too), no delay,
no robots.txt, no cookies, no retries, no telnet console.
"""

import sys
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import CrawlerProcess
from scrapy.linkextractors import LinkExtractor
from scrapy.spiders import CrawlSpider, Rule


def main():
    start, out = sys.argv[1], sys.argv[2]
    conc = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    host = urlsplit(start).hostname
    # LinkExtractor's allow_domains compares the netloc (port included),
    # the offsite check the host name.
    netloc = urlsplit(start).netloc

    class Site(CrawlSpider):
        name = "bench-site"
        allowed_domains = [host]
        rules = (
            Rule(
                LinkExtractor(allow_domains=[netloc], tags=("a",), attrs=("href",),
                              deny_extensions=[]),
                callback="parse_page",
                follow=True,
            ),
        )

        async def start(self):
            # Scrapy's default start request has dont_filter=True, so the
            # start page, linked from the pages, would be fetched twice.
            yield Request(start)

        def parse_start_url(self, response):
            return self.parse_page(response)

        def parse_page(self, response):
            yield {"url": response.url, "status": response.status}

    process = CrawlerProcess(settings={
        "CONCURRENT_REQUESTS": conc,
        "CONCURRENT_REQUESTS_PER_DOMAIN": conc,
        "DOWNLOAD_DELAY": 0,
        "ROBOTSTXT_OBEY": False,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "RETRY_ENABLED": False,
        "LOG_LEVEL": "WARNING",
        "FEEDS": {out: {"format": "jsonlines", "overwrite": True}},
    })
    process.crawl(Site)
    process.start()


if __name__ == "__main__":
    main()
