// {{name}}: a crawlbox spider. The host owns the crawl (which pages are next,
// dedup, limits, politeness, resuming); the spider says where to start and
// what each page yields.
//
// Input: {"start": ["https://example.com/"]}. Every page yields
// {"url", "status", "title", "links"}, and the spider follows the page's
// links on its own host. The host parses each page: JS never sees the HTML.

import { Extract, Spider } from './crawlbox.js';

class Site extends Spider {
  // Sent with every request: the host extracts while it fetches.
  extract = new Extract({ links: { sameHost: true }, css: { title: 'title::text' } });

  start(input) {
    const start = input?.start;
    if (!Array.isArray(start) || start.length === 0) {
      throw 'input.start is missing or empty: give at least one URL to start from, as {"start": ["http://host/"]}';
    }
    return start;
  }

  *parse(page) {
    // Not HTML, or too large to parse: nothing was extracted.
    const found = page.error === undefined;
    const title = found ? page.css('title').get() : null;
    yield {
      url: page.url,
      status: page.status,
      title: title?.trim() || null,
      links: found ? page.links().length : 0,
    };
    yield this.followLinks();
  }
}

export const { start, parse } = Site.export();
