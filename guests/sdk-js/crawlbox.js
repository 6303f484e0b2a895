// crawlbox for JavaScript plugins: a small layer over the componentize-js
// bindings of crawlbox:plugin@0.2.0 (`crawlbox:plugin/host@0.2.0` and
// `crawlbox:plugin/html@0.2.0`). Import it next to your app.js:
//
//   import { Extract, FetchQueue, emit, log } from './crawlbox.js';
//
// componentize-js follows relative ES module imports from the entry file's
// folder at build time, so this file only has to sit beside app.js.
//
// The host parses pages for the plugin, natively and while the response is
// still on its way, so what to extract is declared *with the request*, before
// the fetch: an `Extract` names the links to keep and the CSS queries to run,
// and `page.css(...)` then reads the answers. Asking a page for a query the
// request did not declare throws an `UndeclaredQuery` naming it.
//
//   const spec = new Extract({
//     links: { sameHost: true },          // or true: every http(s) link
//     css: {
//       title: 'title::text',             // a name for a selector
//       product: ['.product', {           // nested: runs inside each .product
//         name: '.name::text',
//         href: 'a::attr(href)',
//       }],
//     },
//   });
//   const q = new FetchQueue();
//   q.push('https://example.com/', { extract: spec });
//   for (const [ticket, page] of q.results()) {  // as each response completes
//     if (!page.ok) { emit({ url: page.url, error: page.kind }); continue; }  // a FetchFailed
//     const title = page.css('title').get();     // by name, or by selector 'title::text'
//     for (const p of page.css('product')) {     // each .product ...
//       emit({ name: p.css('name').get(), href: p.css('href').get() });
//     }
//     q.pushAll(page.links().map((l) => l.url), { extract: spec });  // (dedup them)
//   }
//
// Queries may also be an array of selectors (`css: ['title::text',
// ['.product', ['.name::text', 'a::attr(href)']]]`), found again by their
// selector. Selectors are parsel-style, with an optional `::text`,
// `::attr(name)`, `::inner-html` or `::outer-html` suffix (none: the outer
// HTML); see the `html` interface in the WIT for the selectors supported.
//
// By default a request with an extraction brings no body into the plugin
// (`keepBody: true` to get it as well): no page enters JS memory, which keeps
// the plugin small and fast. Don't hold on to pages: take what you need and
// let them go.

import * as host from 'crawlbox:plugin/host@0.2.0';
import * as html from 'crawlbox:plugin/html@0.2.0';

// --- errors ------------------------------------------------------------------

/** A failure the host reported: `kind` is the WIT case name ('timeout',
 * 'invalid-selector', ...), `message` its text. */
export class CrawlboxError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = new.target.name;
    this.kind = kind;
  }

  toString() {
    return `${this.kind}: ${this.message}`;
  }
}

/** A request that got no response: handed back in place of a Page by
 * `FetchQueue.results()`/`next()` and `fetchAll` (`ok` is false), thrown by
 * `fetch`. `url` is the URL requested, `meta` what was pushed with it. */
export class FetchFailed extends CrawlboxError {
  constructor(error, url, meta) {
    super(error.tag, error.val);
    this.url = url;
    this.meta = meta;
  }

  get ok() {
    return false;
  }
}

/** The host could not extract from a page (an invalid selector or pattern, a
 * page too large or too slow to parse): thrown by `css()` and `links()`. */
export class ExtractionFailed extends CrawlboxError {}

/** `css(key)` named a query the request's Extract did not declare there. */
export class UndeclaredQuery extends CrawlboxError {
  constructor(key, scope, declared) {
    const where = scope === undefined ? 'at the top level' : `inside '${scope}'`;
    const listed = declared.map((d) => `'${d}'`).join(', ') || 'none';
    super('undeclared-query',
      `css('${key}') was not declared ${where} of the request's Extract (declared there: ${listed}). ` +
      'The host extracts while the page is fetched, so every query must be in ' +
      'new Extract({ css }) before the push.');
    this.key = key;
  }
}

// --- what to extract ---------------------------------------------------------

/**
 * What the host extracts from each page of a request.
 *
 * - `links`: absent (no links), `true` (every http(s) link) or the WIT
 *   `link-rule`: `{ sameHost, allow, deny, skipNofollow }` (`allow`/`deny`:
 *   regular expressions, a string or an array).
 * - `css`: the queries, as a selector, an array of items or an object
 *   `{ name: item }`; an item is a selector, or `[selector, css]` for a query
 *   whose children run inside each of its matches. A query is found again by
 *   its name, or by its selector, within its parent.
 * - `keepBody`: also hand the body to the plugin (`page.body`).
 *
 * Build it once and push it with every request (`spec.extraction` is the WIT
 * record).
 */
export class Extract {
  constructor({ links, css = [], keepBody = false } = {}) {
    this.linksRule = linkRule(links);
    this.queries = []; // { selector, parent }, in declaration order
    this.labels = []; // the name (or selector) of each query, for messages
    this.names = new Map(); // parent index (-1: top level) -> Map(name -> index)
    this.selectors = new Map(); // parent index -> Map(selector -> index of its first query)
    this.#declare(css, -1);
    this.extraction = { links: this.linksRule, queries: this.queries, keepBody: Boolean(keepBody) };
  }

  #declare(css, parent) {
    if (typeof css === 'string') css = [css];
    const items = Array.isArray(css) ? css.map((item) => [undefined, item]) : Object.entries(css);
    const names = scope(this.names, parent);
    const selectors = scope(this.selectors, parent);
    for (const [name, item] of items) {
      const [selector, children] = typeof item === 'string' ? [item, undefined] : item;
      if (typeof selector !== 'string') {
        throw new TypeError(`a query is a selector or [selector, children], not ${JSON.stringify(item)}`);
      }
      if (name !== undefined && names.has(name)) {
        throw new TypeError(`query name '${name}' declared twice in one scope`);
      }
      const index = this.queries.length;
      this.queries.push(parent < 0 ? { selector } : { selector, parent });
      this.labels.push(name ?? selector);
      if (!selectors.has(selector)) selectors.set(selector, index);
      if (name !== undefined) names.set(name, index);
      if (children !== undefined) this.#declare(children, index);
    }
  }

  /** The index of query `key` (a name, else a selector) inside query
   * `parent` (-1: the top level). */
  find(key, parent = -1) {
    const index = this.names.get(parent)?.get(key) ?? this.selectors.get(parent)?.get(key);
    if (index === undefined) {
      const declared = new Set([...(this.names.get(parent)?.values() ?? []),
        ...(this.selectors.get(parent)?.values() ?? [])]);
      throw new UndeclaredQuery(key, parent < 0 ? undefined : this.labels[parent],
        [...declared].sort((a, b) => a - b).map((i) => this.labels[i]));
    }
    return index;
  }
}

function scope(map, parent) {
  let m = map.get(parent);
  if (m === undefined) map.set(parent, (m = new Map()));
  return m;
}

function linkRule(links) {
  if (links === undefined || links === null || links === false) return undefined;
  if (links === true) links = {};
  const unknown = Object.keys(links).filter((k) => !['sameHost', 'allow', 'deny', 'skipNofollow'].includes(k));
  if (unknown.length) throw new TypeError(`unknown link rule fields: ${unknown.join(', ')}`);
  const patterns = (p) => (p === undefined ? [] : typeof p === 'string' ? [p] : [...p]);
  return {
    sameHost: Boolean(links.sameHost),
    allow: patterns(links.allow),
    deny: patterns(links.deny),
    skipNofollow: Boolean(links.skipNofollow),
  };
}

// --- reading what was extracted ----------------------------------------------

/** What the host extracted from one page, read through its Extract. */
export class Parsed {
  #groups = new Map(); // query index -> Map(parent hit index -> [[hit index, hit]])

  /** `extracted`: `{ tag: 'ok', val }`, `{ tag: 'err', val }` or undefined. */
  constructor(extracted, spec, url) {
    this.extracted = extracted;
    this.spec = spec;
    this.url = url;
  }

  /** The ExtractionFailed of this page, or undefined. */
  get error() {
    const e = this.extracted;
    return e?.tag === 'err' ? new ExtractionFailed(e.val.tag, e.val.val) : undefined;
  }

  #result() {
    const e = this.extracted;
    if (e === undefined) {
      throw new ExtractionFailed('not-requested',
        `the request for ${this.url} asked for no extraction (push it with { extract: new Extract(...) })`);
    }
    if (e.tag === 'err') throw this.error;
    return e.val;
  }

  /** The host's output limit for the page was reached: lists are partial. */
  get truncated() {
    return this.#result().truncated;
  }

  /** The page's links (`{ url, text, rel }`) as the request's link rule kept
   * them: absolute, fragment-free, each once, in page order. `sameHost: true`
   * keeps those on the page's own host name (free when the rule said so). */
  links({ sameHost = false } = {}) {
    const result = this.#result();
    const rule = this.spec?.linksRule;
    if (rule === undefined) {
      throw new ExtractionFailed('not-requested', "links() of a page whose Extract asked for no links (new Extract({ links }))");
    }
    if (sameHost && !rule.sameHost) {
      const own = new URL(this.url).hostname;
      return result.links.filter((l) => new URL(l.url).hostname === own);
    }
    return result.links;
  }

  /** The matches of the declared query `key` (its name or selector), in page
   * order, as a SelectorList. */
  css(key) {
    const matches = this.#result().matches; // throws when nothing was extracted
    const index = this.spec.find(key);
    return new SelectorList(this, index, matches[index], undefined);
  }

  /** [hit index, hit] of query `index` inside hit `parentHit` of its parent. */
  children(index, parentHit) {
    let groups = this.#groups.get(index);
    if (groups === undefined) {
      groups = new Map();
      this.#result().matches[index].forEach((hit, i) => {
        let g = groups.get(hit.parent);
        if (g === undefined) groups.set(hit.parent, (g = []));
        g.push([i, hit]);
      });
      this.#groups.set(index, groups);
    }
    return groups.get(parentHit) ?? [];
  }
}

/**
 * A response and what the host extracted from it: `ok` (true), `status`,
 * `url` (the final URL), `requestUrl`, `meta` (pushed with the request),
 * `headers` (one `name: value` line each; see `header()`), `body` (a
 * Uint8Array, empty unless the Extract said `keepBody`), `text` (the body
 * decoded, when asked for with `text`), `elapsed` (seconds), `response` (the
 * binding's record); and from Parsed: `css()`, `links()`, `error`, `truncated`.
 */
export class Page extends Parsed {
  constructor(response, spec, requestUrl, meta) {
    super(response.extracted, spec, response.url);
    this.response = response;
    this.status = response.status;
    this.requestUrl = requestUrl ?? response.url;
    this.meta = meta;
  }

  get ok() {
    return true;
  }

  get headers() {
    return this.response.headers;
  }

  get body() {
    return this.response.body;
  }

  get text() {
    return this.response.text?.text;
  }

  get elapsed() {
    return Number(this.response.elapsed) / 1e9;
  }

  /** The first value of header `name` (case-insensitive), or undefined. */
  header(name) {
    const prefix = `${name.toLowerCase()}: `;
    for (const line of this.response.headers.split('\n')) {
      if (line.startsWith(prefix)) return line.slice(prefix.length);
    }
    return undefined;
  }
}

/** One match of a query: `get()` (or `value`) is what it took; `css(key)` the
 * matches of a query declared inside it. */
export class Selector {
  constructor(page, index, hitIndex, value) {
    this.page = page;
    this.index = index;
    this.hitIndex = hitIndex;
    this.value = value;
  }

  get() {
    return this.value;
  }

  css(key) {
    const index = this.page.spec.find(key, this.index);
    const pairs = this.page.children(index, this.hitIndex);
    return new SelectorList(this.page, index, pairs.map((p) => p[1]), pairs.map((p) => p[0]));
  }

  toString() {
    return this.value;
  }
}

/** The matches of one query (inside one parent match, for a nested query):
 * `get(fallback)` the first value, `getAll()` every value, `length`; iterate
 * for Selectors; `css(key)` the matches of a child query in any of them. */
export class SelectorList {
  constructor(page, index, hits, positions) {
    this.page = page;
    this.index = index;
    this.hits = hits;
    this.positions = positions; // each hit's index in its query's list; undefined: 0..n
  }

  get length() {
    return this.hits.length;
  }

  get(fallback = null) {
    return this.hits.length ? this.hits[0].value : fallback;
  }

  getAll() {
    return this.hits.map((h) => h.value);
  }

  at(i) {
    const hit = this.hits.at(i);
    if (hit === undefined) return undefined;
    const n = i < 0 ? i + this.hits.length : i;
    return new Selector(this.page, this.index, this.positions ? this.positions[n] : n, hit.value);
  }

  *[Symbol.iterator]() {
    for (let i = 0; i < this.hits.length; i++) yield this.at(i);
  }

  css(key) {
    const out = new SelectorList(this.page, this.page.spec.find(key, this.index), [], []);
    for (const selector of this) {
      const child = selector.css(key);
      out.hits.push(...child.hits);
      out.positions.push(...child.positions);
    }
    return out;
  }
}

// --- fetching ----------------------------------------------------------------

/** A WIT request. Options: `method`, `headers` (an object or [name, value]
 * pairs), `body` (Uint8Array), `timeout` (seconds), `text` (true: detect the
 * charset, or a charset label), `extract` (an Extract). */
function request(url, { method = 'GET', headers = [], body, timeout, text, extract } = {}) {
  return {
    method,
    url,
    headers: Array.isArray(headers) ? headers : Object.entries(headers),
    body,
    timeout: timeout === undefined ? undefined : BigInt(Math.round(timeout * 1e9)),
    text: text === true ? { tag: 'detect' } : typeof text === 'string' ? { tag: 'charset', val: text } : undefined,
    extract: extract?.extraction,
  };
}

/**
 * Requests in flight whose results come back as they complete (the host's
 * `fetch-queue`). Push while iterating `results()`: the queue stays full.
 * `push` and `pushAll` take the options of a request (see `request` above)
 * and `meta` (anything, handed back on the page).
 */
export class FetchQueue {
  #queue = new host.FetchQueue();
  #requests = new Map(); // ticket -> [url, extract, meta], until its result is taken

  /** Adds one request; returns its ticket (0, 1, 2, ... in push order). */
  push(url, options = {}) {
    return this.pushAll([url], options);
  }

  /** Adds a request per URL, in one host call; returns the first's ticket
   * (the others follow in order), or -1 when `urls` is empty. */
  pushAll(urls, options = {}) {
    if (urls.length === 0) return -1;
    const { meta, ...rest } = options;
    const first = Number(this.#queue.push(urls.map((url) => request(url, rest))));
    urls.forEach((url, i) => this.#requests.set(first + i, [url, options.extract, meta]));
    return first;
  }

  /** Requests pushed whose results were not taken yet. */
  pending() {
    return this.#queue.pending();
  }

  /** Waits for at least one result; returns up to `max` as [ticket, Page or
   * FetchFailed], in the order they completed ([] at once when nothing is
   * pending). */
  next(max = 64) {
    return this.#queue.next(max).map(([bigTicket, result]) => {
      const ticket = Number(bigTicket);
      const [url, extract, meta] = this.#requests.get(ticket);
      this.#requests.delete(ticket);
      return [ticket, result.tag === 'ok' ? new Page(result.val, extract, url, meta) : new FetchFailed(result.val, url, meta)];
    });
  }

  /** Every [ticket, Page or FetchFailed] until nothing is pending, including
   * those of requests pushed meanwhile; `batch` results per host call. */
  *results(batch = 64) {
    while (this.#queue.pending() > 0) yield* this.next(batch);
  }
}

/** Fetches one URL; returns its Page, throws a FetchFailed. */
export function fetch(url, options = {}) {
  let response;
  try {
    response = host.fetch(request(url, options));
  } catch (e) {
    if (e?.payload?.tag === undefined) throw e;
    throw new FetchFailed(e.payload, url);
  }
  return new Page(response, options.extract, url);
}

/** Fetches URLs concurrently: a Page or FetchFailed per URL, in order. */
export function fetchAll(urls, options = {}) {
  const results = host.fetchAll(urls.map((url) => request(url, options)));
  return results.map((r, i) => (r.tag === 'ok'
    ? new Page(r.val, options.extract, urls[i]) : new FetchFailed(r.val, urls[i])));
}

/** Extracts `spec` (an Extract) from HTML the plugin holds, as if fetched
 * from `url`; throws an ExtractionFailed. */
export function parse(htmlText, url, spec) {
  try {
    return new Parsed({ tag: 'ok', val: html.parse(htmlText, url, spec.extraction) }, spec, url);
  } catch (e) {
    if (e?.payload?.tag === undefined) throw e;
    throw new ExtractionFailed(e.payload.tag, e.payload.val);
  }
}

// --- output ------------------------------------------------------------------

/** Emits one output record, any JSON value (usually an object). Throws (with
 * the host's message as `payload`) when the host refuses it (output limits):
 * let it end `run`. */
export function emit(record) {
  host.emit(JSON.stringify(record));
}

/** Writes to the host's log; `level` is trace, debug, info, warn or error. */
export function log(message, level = 'info') {
  host.log(level, String(message));
}
