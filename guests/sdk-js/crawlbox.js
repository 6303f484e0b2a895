// crawlbox for JavaScript plugins: a small layer over the componentize-js
// bindings of crawlbox:plugin@0.2.1 (`crawlbox:plugin/host@0.2.1` and
// `crawlbox:plugin/html@0.2.1`). Import it next to your app.js:
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
//
// A *spider* (world crawlbox:plugin/spider) leaves the crawl to the host,
// which owns the frontier (dedup, order, limits, resuming): extend `Spider`,
// say where to start and what each page yields, and export its functions:
//
//   import { Extract, Spider } from './crawlbox.js';
//
//   class Shop extends Spider {
//     extract = new Extract({ links: { sameHost: true }, css: { name: 'h1::text' } });
//     start(input) { return input.start; }               // URLs (or this.request(...))
//     *parse(page, meta) {                                // a Page, its follow's meta
//       yield { url: page.url, name: page.css('name').get() };  // an item
//       yield this.followLinks({ meta: { from: page.url } });   // every extracted link
//     }
//   }
//   export const { start, parse } = Shop.export();      // the world's exports

import * as host from 'crawlbox:plugin/host@0.2.1';
import * as html from 'crawlbox:plugin/html@0.2.1';

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
    // A kind newer than the WIT's cases (`not-recorded`, in a replay)
    // arrives as `other`, the kind leading its message.
    const newer = error.tag === 'other' && error.val.startsWith('not-recorded: ');
    super(newer ? 'not-recorded' : error.tag, newer ? error.val.slice('not-recorded: '.length) : error.val);
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
    // A name for what this Extract declares, the same in every instance of
    // the plugin and every run: a spider's follows carry it in their meta
    // (see Spider), so that parse reads each page through its own Extract.
    this.key = fnv64(JSON.stringify([this.linksRule ?? null, this.queries,
      [...this.names].map(([parent, names]) => [parent, [...names]]), this.extraction.keepBody]));
    if (!EXTRACTS.has(this.key)) EXTRACTS.set(this.key, this);
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

const EXTRACTS = new Map(); // Extract.key -> the first Extract made with it

/** The 64-bit FNV-1a hash of `text` (its UTF-16 code units), in hex. */
function fnv64(text) {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) {
    h = BigInt.asUintN(64, (h ^ BigInt(text.charCodeAt(i))) * 0x100000001b3n);
  }
  return h.toString(16).padStart(16, '0');
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

// --- spiders -----------------------------------------------------------------

const REQUEST_OPTIONS = ['method', 'headers', 'body', 'timeout', 'text', 'extract'];

/** A request a spider yields: made by `request()`, `follow()` or
 * `followLinks()` (then `links` is true). */
export class Follow {
  constructor(url, options = {}, meta = undefined, priority = undefined, links = false) {
    const unknown = Object.keys(options).filter((k) => !REQUEST_OPTIONS.includes(k));
    if (unknown.length) {
      throw new TypeError(`unknown request options: ${unknown.join(', ')} (the options are ${REQUEST_OPTIONS.join(', ')})`);
    }
    if (typeof url !== 'string') throw new TypeError(`a URL is a string, not ${show(url)}`);
    if (priority != null && !(Number.isInteger(priority) && priority >= -(2 ** 31) && priority < 2 ** 31)) {
      throw new RangeError(`priority ${show(priority)} is not a 32-bit integer`);
    }
    this.url = url;
    this.options = options;
    this.meta = meta;
    this.priority = priority ?? undefined;
    this.links = links;
  }
}

/**
 * A spider: the host drives the crawl, the spider says where to start
 * (`start`) and what each page yields (`parse`). Export the subclass's
 * functions from app.js, `export const { start, parse } = MySpider.export();`,
 * and build it for the world `spider`.
 *
 * - `extract` (an instance field): the Extract of every request that names
 *   none (unset: no extraction). Make each Extract once, as a field or at
 *   module level: pages are read through their request's Extract, which the
 *   SDK finds again by its content (and the host may parse a page in another
 *   instance of the plugin, or after a restart).
 * - Requests take the options of `fetch` (`method`, `headers`, `body`,
 *   `timeout`, `text`, `extract`; `extract: null`: no extraction).
 * - `meta` is any JSON value (default none): the host keeps its JSON text
 *   ('' for none) and `parse` receives it parsed back, equal to what was
 *   given (a string as a string); none is `null`, as for a start request. (A
 *   request whose Extract is not the spider's also carries the Extract's
 *   `key`, as a `@key:` prefix.)
 * - Both are called synchronously, as every export of a WASI 0.2 component:
 *   no `async` start or parse, no awaiting in them (host calls such as
 *   `fetch` block instead).
 * - Errors: what `start` throws ends the run; what `parse` throws fails that
 *   page (the host logs it, the crawl goes on). The message is the error's
 *   name and text and where it was thrown (a thrown string: itself).
 * - The host may run several instances of the plugin: each has its own
 *   spider (fields set in one are not seen by the others), and each has its
 *   `start` called (only the first's requests are used).
 */
export class Spider {
  /** The first requests, from `input` (the run's input JSON, parsed; null
   * when there is none): URLs (strings) or `request()`s, as an array or
   * yielded by a generator. */
  start(input) {
    throw new TypeError(`${this.constructor.name} defines no start(input)`);
  }

  /** What one page yields: `page` is a Page (with `meta`), `meta` the meta of
   * the follow that led to it (null for a start request). Return an array,
   * or yield, items (any JSON value but null/undefined; usually an object),
   * `follow()`s and at most one `followLinks()`. */
  parse(page, meta) {
    throw new TypeError(`${this.constructor.name} defines no parse(page, meta)`);
  }

  /** A request for `start` (or, with no meta, `parse`). */
  request(url, options = {}) {
    return new Follow(url, options);
  }

  /** A request to make next, with `meta` handed back to `parse` with its
   * page; a higher `priority` (a 32-bit integer, default 0) goes sooner. The
   * host drops the URLs it has seen and those past the crawl's limits. */
  follow(url, { meta, priority, ...options } = {}) {
    return new Follow(url, options, meta, priority);
  }

  /** Follow every link the host extracted from this page (as its Extract's
   * `links` rule kept them), each as this request with the link as its URL;
   * the links never cross into JS. */
  followLinks({ meta, priority, ...options } = {}) {
    return new Follow('', options, meta, priority, true);
  }

  /** The world's exports, `{ start, parse }`. The spider is made at the first
   * call, not at build time. */
  static export() {
    let spider;
    const instance = () => (spider ??= new this());
    return {
      start: (input) => reported(() => startRequests(instance(), input)),
      parse: (response, meta) => reported(() => parseOutput(instance(), response, meta)),
    };
  }
}

/** `call()`, with what it throws turned into the string that becomes the WIT
 * result's err (anything else but a host error would trap the instance). */
function reported(call) {
  try {
    return call();
  } catch (e) {
    throw describe(e);
  }
}

function describe(e) {
  if (typeof e === 'string') return e;
  if (e?.payload !== undefined && !(e instanceof CrawlboxError)) { // a host call's error, as it came
    const p = e.payload;
    return typeof p === 'string' ? p : p?.tag !== undefined ? `${p.tag}: ${p.val}` : show(p);
  }
  if (!(e instanceof Error)) return show(e);
  const text = e instanceof CrawlboxError ? `${e.name}: ${e}` : String(e);
  const at = thrownAt(e.stack);
  return at ? `${text} (at ${at})` : text;
}

/** `file:line, in function` of the first frame of `stack` in the plugin's
 * own code: not this file, nor the bindings componentize-js generates
 * (initializer.js). */
function thrownAt(stack) {
  for (const line of String(stack ?? '').split('\n')) {
    const m = /^(.*)@(.*):(\d+):\d+$/.exec(line.trim());
    if (m && !/(^|\/)(crawlbox|initializer)\.js$/.test(m[2])) {
      return `${m[2].split('/').pop()}:${m[3]}, in ${m[1] || 'the module'}`;
    }
  }
  return undefined;
}

function show(value) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch {
    // a BigInt, a cycle
  }
  text ??= String(value);
  return text.length > 200 ? `${text.slice(0, 200)}... (${text.length} chars)` : text;
}

/** What `start` or `parse` (`name`) gave, as an iterable: an array, a
 * generator, one value, or nothing. */
function each(result, name) {
  if (result === undefined || result === null) return [];
  if (typeof result.then === 'function') {
    throw new TypeError(`${name} returned a Promise: a component's exports are synchronous, so ${name} cannot be async`);
  }
  if (typeof result === 'string' || typeof result[Symbol.iterator] !== 'function') return [result];
  return result;
}

function startRequests(spider, text) {
  let input = null;
  if (text.trim() !== '') {
    try {
      input = JSON.parse(text);
    } catch (e) {
      throw `invalid input ${show(text)}: not JSON (${e.message})`;
    }
  }
  const requests = [];
  for (let x of each(spider.start(input), 'start')) {
    if (typeof x === 'string') x = new Follow(x);
    if (!(x instanceof Follow)) {
      throw new TypeError(`start gave ${show(x)}: a start request is a URL (a string) or this.request(url, options)`);
    }
    if (x.links || x.meta != null || x.priority !== undefined) {
      throw new TypeError('start gave a follow: start requests carry no meta or priority; follow from parse');
    }
    const [request, meta] = wire(spider, x);
    if (meta) {
      throw new TypeError(`start gave a request for ${x.url} with an Extract other than the spider's: ` +
        `the host hands start pages back with no meta, so they are read through ${spider.constructor.name}'s extract; set that one instead`);
    }
    requests.push(request);
  }
  return requests;
}

/** A Follow as [the WIT request, its meta text]. */
function wire(spider, follow) {
  const { extract: given, ...options } = follow.options;
  const extract = given === undefined ? spider.extract : given;
  if (extract != null && !(extract instanceof Extract)) {
    throw new TypeError(`extract: an Extract, or null for no extraction, not ${show(extract)}`);
  }
  let meta = '';
  if (follow.meta != null) {
    meta = JSON.stringify(follow.meta); // throws for a BigInt or a cycle
    if (meta === undefined) throw new TypeError(`meta ${String(follow.meta)} is not a JSON value`);
  }
  const key = extract?.key ?? null;
  if (key !== (spider.extract?.key ?? null)) meta = `@${key ?? '-'}:${meta}`;
  return [request(follow.url, { ...options, extract: extract ?? undefined }), meta];
}

/** [the Extract, the parsed meta] of a follow's meta text. */
function unwire(spider, text) {
  let spec = spider.extract;
  if (text.startsWith('@')) { // never JSON: the Extract's key, then the meta
    const colon = text.indexOf(':');
    const key = text.slice(1, colon < 0 ? undefined : colon);
    text = colon < 0 ? '' : text.slice(colon + 1);
    spec = key === '-' ? undefined : EXTRACTS.get(key);
    if (spec === undefined && key !== '-') {
      throw new Error(`this page was requested with an Extract unknown here (key ${key}): ` +
        'make every Extract a spider uses once, as a field or at module level');
    }
  }
  if (text === '') return [spec, null];
  try {
    return [spec, JSON.parse(text)];
  } catch {
    return [spec, text]; // not made by this SDK: handed over as it came
  }
}

function parseOutput(spider, response, text) {
  const [spec, meta] = unwire(spider, text);
  const page = new Page(response, spec, undefined, meta);
  const items = [];
  const follow = [];
  let followLinks;
  for (const x of each(spider.parse(page, meta), 'parse')) {
    if (x === undefined || x === null) continue;
    if (!(x instanceof Follow)) {
      let json;
      try {
        json = JSON.stringify(x);
      } catch (e) {
        json = e;
      }
      if (typeof json !== 'string') {
        throw new TypeError(`parse yielded ${show(x)}, neither a follow nor a JSON value` +
          (json instanceof Error ? ` (${json.message})` : ''));
      }
      items.push(json);
      continue;
    }
    const [request, wireMeta] = wire(spider, x);
    const out = { request, meta: wireMeta, priority: x.priority };
    if (!x.links) {
      follow.push(out);
    } else if (followLinks !== undefined) {
      throw new TypeError('parse yielded followLinks() twice: one page has one');
    } else if (spec?.linksRule === undefined) {
      throw new TypeError("followLinks() on a page whose Extract asked for no links: give the request an Extract with `links`");
    } else {
      followLinks = out;
    }
  }
  return { items, follow, followLinks };
}
