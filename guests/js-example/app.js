// crawlbox's example plugin in JavaScript: a breadth-first, same-site crawler
// that fetches with plain `fetch()` (standard wasi:http, through the host's
// pool and caps) and emits records through the crawlbox:plugin host interface.
//
// Input: {"start": ["http://host/"], "max_pages": 100, "batch": 16}
// Emits {"url", "status", "title", "links"} per page, or {"url", "error"}.
// Built with componentize-js against wit/ (world crawlbox:plugin/scraper).

import { emit, log } from 'crawlbox:plugin/host@0.1.0';

function parse(html) {
  const title = /<title[^>]*>([^<]*)<\/title>/i.exec(html);
  const links = [...html.matchAll(/<a\s[^>]*href\s*=\s*["']([^"']+)["']/gi)].map((m) => m[1]);
  return { title: title ? title[1].trim() : null, links };
}

async function crawl(config) {
  const start = config.start;
  if (!Array.isArray(start) || start.length === 0) {
    throw 'input.start is empty: give at least one URL to start from';
  }
  const maxPages = config.max_pages ?? 100;
  const batchSize = Math.max(1, config.batch ?? 16);
  const hosts = new Set(start.map((u) => new URL(u).host));
  const seen = new Set();
  const queue = [];
  const push = (url) => {
    const u = new URL(url);
    u.hash = '';
    const key = u.href;
    if (seen.size < maxPages && (u.protocol === 'http:' || u.protocol === 'https:')
        && hosts.has(u.host) && !seen.has(key)) {
      seen.add(key);
      queue.push(key);
    }
  };
  start.forEach(push);
  let crawled = 0;
  while (queue.length > 0) {
    const batch = queue.splice(0, batchSize);
    const results = await Promise.all(batch.map(async (url) => {
      try {
        const response = await fetch(url);
        const text = await response.text();
        return { url, response, text };
      } catch (e) {
        return { url, error: String(e) };
      }
    }));
    for (const { url, response, text, error } of results) {
      crawled += 1;
      if (error !== undefined) {
        emit(JSON.stringify({ url, error }));
        continue;
      }
      const type = response.headers.get('content-type') ?? 'text/html';
      const page = type.includes('html') ? parse(text) : { title: null, links: [] };
      emit(JSON.stringify({ url, status: response.status, title: page.title, links: page.links.length }));
      for (const link of page.links) {
        try {
          push(new URL(link, url).href);
        } catch {
          // not a URL: skip it
        }
      }
    }
  }
  log('info', `crawled ${crawled} pages from ${start.length} start URLs`);
}

export async function run(input) {
  let config;
  try {
    config = JSON.parse(input);
  } catch (e) {
    throw `invalid input ${input}: ${e}`;
  }
  await crawl(config);
}
