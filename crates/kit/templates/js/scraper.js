// {{name}}: a crawlbox plugin that drives its own crawl: it fetches through a
// host fetch-queue (the host runs the requests under its caps and hands each
// back as it completes) and emits one record per page.
//
// Input: {"start": ["https://example.com/"], "max_pages": 100}. Every page
// yields {"url", "status", "title", "links"}; the crawl follows links on the
// page's own host. The host parses each page: JS never sees the HTML.

import { Extract, FetchQueue, emit, log } from './crawlbox.js';

// What the host extracts from every page: its links on the same host, its title.
const PAGE = new Extract({ links: { sameHost: true }, css: { title: 'title::text' } });

export function run(input) {
  const config = JSON.parse(input) ?? {};
  const start = config.start ?? [];
  if (start.length === 0) {
    throw 'input.start is empty: give at least one URL to start from';
  }
  const maxPages = config.max_pages ?? 100;

  const seen = new Set(start);
  const queue = new FetchQueue();
  queue.pushAll(start, { extract: PAGE });
  for (const [, page] of queue.results()) {
    if (!page.ok) {
      log(`${page.url}: ${page.kind}: ${page.message}`, 'warn');
      continue;
    }
    const links = page.links();
    const title = page.css('title').get();
    emit({ url: page.url, status: page.status, title: title?.trim() ?? null, links: links.length });
    const fresh = links.map((l) => l.url).filter((url) => !seen.has(url));
    const room = Math.max(0, maxPages - seen.size);
    for (const url of fresh.slice(0, room)) seen.add(url);
    queue.pushAll(fresh.slice(0, room), { extract: PAGE });
  }
}
