// crawlbox's example spider in JavaScript: the crawl of guests/example-spider
// (Rust), in the world crawlbox:plugin/spider. The host owns the frontier
// (dedup, order, page and depth limits) and parses each page; the spider says
// where to start and what a page yields.
//
// Input: {"start": ["http://host/"]}. Every request asks the host for the
// page's same-host links and its `title::text`, and for no body. Each page
// yields one item {"url", "status", "title", "links"} and one followLinks():
// the host follows the links it extracted, which never enter JS.
// Built with componentize-js against wit/ (world spider), with the SDK
// (guests/sdk-js/crawlbox.js) copied beside this file.

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
