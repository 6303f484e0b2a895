// crawlbox's example plugin in JavaScript: a same-site crawler over a host
// fetch-queue (the host runs the requests under its caps and hands each back
// as it completes). The host also parses each page, natively and before
// handing it back: every request asks (through the crawlbox SDK,
// guests/sdk-js/crawlbox.js, copied beside this file to build) for the
// page's same-host links and its `title::text`, and for no body, so no HTML
// ever enters JS memory.
//
// Input: {"start": ["http://host/"], "max_pages": 100, "batch": 16}
// Emits {"url", "status", "title", "links"} per page, or {"url", "error"}.
// Built with componentize-js against wit/ (world crawlbox:plugin/scraper).

import { Extract, FetchQueue, emit, log } from './crawlbox.js';

// Declared once, sent with every request: the host extracts while it fetches.
const PAGE = new Extract({ links: { sameHost: true }, css: { title: 'title::text' } });

function crawl(config) {
  const start = config.start;
  if (!Array.isArray(start) || start.length === 0) {
    throw 'input.start is empty: give at least one URL to start from';
  }
  const maxPages = config.max_pages ?? 100;
  const batchSize = Math.max(1, config.batch ?? 16);
  const hosts = new Set(start.map((u) => new URL(u).host));
  const seen = new Set();
  const queue = new FetchQueue();
  // Queues, in one host call, the URLs not seen yet, up to max_pages.
  const push = (urls) => {
    const fresh = [];
    for (const url of urls) {
      if (seen.size >= maxPages) break;
      if (!seen.has(url)) {
        seen.add(url);
        fresh.push(url);
      }
    }
    queue.pushAll(fresh, { extract: PAGE });
  };

  push(start.flatMap((s) => {
    const u = new URL(s);
    u.hash = '';
    return u.protocol === 'http:' || u.protocol === 'https:' ? [u.href] : [];
  }));
  let crawled = 0;
  for (const [, page] of queue.results(batchSize)) {
    crawled += 1;
    if (!page.ok) {
      emit({ url: page.url, error: `${page.kind}: ${page.message}` });
      continue;
    }
    if (page.error !== undefined) { // the response came, its extraction failed
      log(`${page.url}: ${page.error}`, 'warn');
      emit({ url: page.requestUrl, status: page.status, title: null, links: 0 });
      continue;
    }
    // The host kept the links on the page's own host, resolved,
    // fragment-free, each once: dedup across pages is ours.
    const links = page.links();
    const title = page.css('title').get();
    emit({ url: page.requestUrl, status: page.status, title: title === null ? null : title.trim(), links: links.length });
    // A redirect may have left the start hosts: follow none of its links.
    if (seen.size < maxPages && hosts.has(new URL(page.url).host)) {
      push(links.map((l) => l.url));
    }
  }
  log(`crawled ${crawled} pages from ${start.length} start URLs`);
}

export function run(input) {
  let config;
  try {
    config = JSON.parse(input);
  } catch (e) {
    throw `invalid input ${input}: ${e}`;
  }
  try {
    crawl(config);
  } catch (e) {
    // A string or a host error (with its `payload`) ends the run as an Err;
    // anything else would trap, so it becomes its message.
    throw typeof e === 'string' || e?.payload !== undefined ? e : String(e);
  }
}
