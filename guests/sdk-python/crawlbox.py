"""crawlbox for Python plugins: a small layer over the componentize-py bindings
of ``crawlbox:plugin@0.2.1`` (``wit_world.imports.host`` and ``.html``).

The host parses pages for the plugin, natively and while the response is still
on its way, so what to extract is declared *with the request*, before the
fetch: an :class:`Extract` names the links to keep and the CSS queries to run,
and ``page.css(...)`` then reads the answers. Asking a page for a query the
request did not declare raises :class:`UndeclaredQuery`, naming it::

    from crawlbox import Extract, FetchQueue, emit, log

    spec = Extract(
        links=dict(same_host=True),             # or True: every http(s) link
        css={
            "title": "title::text",             # a name for a selector
            "product": (".product", {           # nested: runs inside each .product
                "name": ".name::text",
                "href": "a::attr(href)",
            }),
        },
    )
    q = FetchQueue()
    q.push("https://example.com/", extract=spec)
    for ticket, page in q.results():            # as each response completes
        if not page.ok:                         # a FetchFailed: .kind, .message, .url
            emit({"url": page.url, "error": page.kind})
            continue
        title = page.css("title").get()         # by name, or by selector: "title::text"
        for p in page.css("product"):           # each .product ...
            emit({"name": p.css("name").get(), "href": p.css("href").get()})
        q.push_all([link.url for link in page.links()], extract=spec)   # (dedup them)
    log("crawl done")

Queries may also be given as a list of selectors (``css=["title::text",
(".product", [".name::text", "a::attr(href)"])]``) and are then looked up by
their selector. Selectors are parsel-style, with an optional ``::text``,
``::attr(name)``, ``::inner-html`` or ``::outer-html`` suffix (none: the outer
HTML); see the ``html`` interface in the WIT for the selectors supported.

By default a request with an extraction brings no body into the plugin
(``Extract(..., keep_body=True)`` to get it as well), which is what keeps a
Python crawler fast: Python never sees the HTML.

In the ``scraper-async`` world (native async, WASI 0.3: ``crawlbox run
--wasip3``, experimental), ``run`` is an ``async def`` and
:func:`fetch_async` an awaitable, so plain asyncio keeps many requests in
flight (``guests/python-async``)::

    import asyncio, wit_world
    from crawlbox import Extract, emit, fetch_async

    class WitWorld(wit_world.WitWorld):
        async def run(self, input):
            pages = await asyncio.gather(*(fetch_async(u, extract=spec) for u in urls),
                                         return_exceptions=True)   # Page or FetchFailed

A *spider* (world ``crawlbox:plugin/spider``) leaves the crawl to the host,
which owns the frontier (dedup, order, limits, resuming): subclass
:class:`Spider`, say where to start and what each page yields, and export it::

    from crawlbox import Extract, Spider

    class Shop(Spider):
        extract = Extract(links=dict(same_host=True), css={"name": "h1::text"})

        def start(self, input):                  # the input JSON, decoded
            return input["start"]                # URLs (or self.request(...))

        def parse(self, page, meta):             # a Page, and its follow's meta
            yield {"url": page.url, "name": page.css("name").get()}   # an item
            yield self.follow_links(meta={"from": page.url})          # every extracted link

    WitWorld = Shop.export()                     # what componentize-py runs
"""

import json
import os
import traceback
from urllib.parse import urlparse

from componentize_py_types import Err, Ok
from wit_world.imports import host, html
from wit_world.imports.host import Level, Request, TextDecoding_Charset, TextDecoding_Detect

try:  # Only the scraper-async world has it; imported now, as the build
    # snapshots the modules imported at start-up and no others.
    from wit_world.imports import host_async
except ImportError:
    host_async = None

__all__ = [
    "Extract", "FetchQueue", "Page", "Parsed", "Selector", "SelectorList",
    "CrawlboxError", "FetchFailed", "ExtractionFailed", "UndeclaredQuery",
    "fetch", "fetch_all", "parse", "emit", "log", "Spider", "Follow",
]


# --- errors ------------------------------------------------------------------

def _kind(value):
    """`FetchError_TooManyRedirects` -> `too-many-redirects`, as the WIT names go."""
    name = type(value).__name__.partition("_")[2]
    return "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")


class CrawlboxError(Exception):
    """A failure the host reported: `kind` is the WIT case name
    (``"timeout"``, ``"invalid-selector"``, ...), `message` its text."""

    def __init__(self, kind, message):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


class FetchFailed(CrawlboxError):
    """A request that got no response. Returned in place of a :class:`Page`
    by :meth:`FetchQueue.results` and :func:`fetch_all` (``ok`` is False),
    raised by :func:`fetch`. `url` is the URL requested; `meta` what was
    pushed with it."""

    ok = False

    def __init__(self, error, url, meta=None):
        kind, message = _kind(error), error.value
        # A kind newer than the WIT's cases (`not-recorded`, in a replay)
        # arrives as `other`, the kind leading its message.
        if kind == "other" and message.startswith("not-recorded: "):
            kind, message = "not-recorded", message[len("not-recorded: "):]
        super().__init__(kind, message)
        self.error = error  # the binding's FetchError_* value
        self.url = url
        self.meta = meta


class ExtractionFailed(CrawlboxError):
    """The host could not extract from a page (an invalid selector or
    pattern, a page too large or too slow to parse): raised by
    :meth:`Parsed.css` and :meth:`Parsed.links`."""


class UndeclaredQuery(CrawlboxError, LookupError):
    """``css(key)`` named a query the request's :class:`Extract` did not
    declare (in that scope)."""

    def __init__(self, key, scope, declared):
        where = f"inside {scope!r}" if scope is not None else "at the top level"
        listed = ", ".join(repr(d) for d in declared) or "none"
        super().__init__(
            "undeclared-query",
            f"css({key!r}) was not declared {where} of the request's Extract "
            f"(declared there: {listed}). The host extracts while the page is "
            "fetched, so every query must be in Extract(css=...) before the push.",
        )
        self.key = key


# --- what to extract ---------------------------------------------------------

class Extract:
    """What the host extracts from each page of a request.

    `links`: None (no links), True (every http(s) link) or a dict of the WIT
    ``link-rule``: ``same_host`` (bool), ``allow`` / ``deny`` (regular
    expressions, a string or a list), ``skip_nofollow`` (bool).

    `css`: the queries, as a selector, a list of items or a dict
    ``{name: item}``; an item is a selector, or ``(selector, css)`` for a
    query whose children run inside each of its matches. A query is found
    again by its name, or by its selector, within its parent.

    `keep_body`: also hand the body to the plugin (``page.body``).

    Build it once and push it with every request: the WIT record is made
    once (``spec.extraction``).
    """

    def __init__(self, links=None, css=(), keep_body=False):
        self.links_rule = _link_rule(links)
        self._queries = []  # html.Query, in declaration order
        self._names = {}  # parent index (None: top level) -> {name: index}
        self._selectors = {}  # parent index -> {selector: index of its first query}
        self._labels = []  # the name (or selector) of each query, for messages
        self._declare(css, None)
        self.extraction = html.Extraction(self.links_rule, self._queries, bool(keep_body))
        # A name for what this Extract declares, the same in every instance of
        # the plugin and every run: a spider's follows carry it in their meta
        # (see Spider), so that parse reads each page through its own Extract.
        rule = self.links_rule
        self.key = _fnv64(repr((
            rule and (rule.same_host, rule.allow, rule.deny, rule.skip_nofollow),
            [(q.selector, q.parent) for q in self._queries], self._names, self.extraction.keep_body,
        )))
        _EXTRACTS.setdefault(self.key, self)

    def _declare(self, css, parent):
        if isinstance(css, str):
            css = [css]
        items = css.items() if isinstance(css, dict) else ((None, item) for item in css)
        names = self._names.setdefault(parent, {})
        selectors = self._selectors.setdefault(parent, {})
        for name, item in items:
            selector, children = (item, None) if isinstance(item, str) else item
            if not isinstance(selector, str):
                raise TypeError(f"a query is a selector or (selector, children), not {item!r}")
            if name is not None and name in names:
                raise ValueError(f"query name {name!r} declared twice in one scope")
            index = len(self._queries)
            self._queries.append(html.Query(selector, parent))
            self._labels.append(name or selector)
            selectors.setdefault(selector, index)
            if name is not None:
                names[name] = index
            if children:
                self._declare(children, index)

    def _find(self, key, parent):
        """The index of query `key` (a name, else a selector) in the scope of
        query `parent` (None: the top level)."""
        index = self._names.get(parent, {}).get(key)
        if index is None:
            index = self._selectors.get(parent, {}).get(key)
        if index is None:
            declared = sorted(
                set(self._names.get(parent, {}).values()) | set(self._selectors.get(parent, {}).values())
            )
            raise UndeclaredQuery(
                key, None if parent is None else self._labels[parent], [self._labels[i] for i in declared]
            )
        return index

    def __repr__(self):
        queries = ", ".join(
            f"{q.selector!r}" + (f" in #{q.parent}" if q.parent is not None else "")
            for q in self._queries
        )
        return f"Extract(links={self.links_rule}, queries=[{queries}], keep_body={self.extraction.keep_body})"


_EXTRACTS = {}  # Extract.key -> the first Extract made with it


def _fnv64(text):
    """The 64-bit FNV-1a hash of `text`, in hex: stable, unlike ``hash()``."""
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def _link_rule(links):
    if links is None or links is False:
        return None
    if links is True:
        links = {}
    if isinstance(links, html.LinkRule):
        return links
    unknown = set(links) - {"same_host", "allow", "deny", "skip_nofollow"}
    if unknown:
        raise TypeError(f"unknown link rule fields {sorted(unknown)}")

    def patterns(p):
        return [p] if isinstance(p, str) else list(p or ())

    return html.LinkRule(
        bool(links.get("same_host", False)),
        patterns(links.get("allow")),
        patterns(links.get("deny")),
        bool(links.get("skip_nofollow", False)),
    )


# --- reading what was extracted ----------------------------------------------

class Parsed:
    """What the host extracted from one page, read through its :class:`Extract`."""

    def __init__(self, extracted, spec, url):
        # extracted: html.Extracted, an html.ExtractError_* value, or None
        self._extracted = extracted
        self._spec = spec
        self._groups = {}  # query index -> {parent hit index: [(hit index, hit)]}
        self.url = url

    @property
    def error(self):
        """The :class:`ExtractionFailed` of this page, or None."""
        e = self._extracted
        if e is None or isinstance(e, html.Extracted):
            return None
        return ExtractionFailed(_kind(e), e.value)

    def _result(self):
        e = self._extracted
        if isinstance(e, html.Extracted):
            return e
        if e is None:
            raise ExtractionFailed("not-requested", f"the request for {self.url} asked for no extraction (push it with extract=Extract(...))")
        raise self.error

    @property
    def truncated(self):
        """The host's output limit for the page was reached: lists are partial."""
        return self._result().truncated

    def links(self, same_host=False):
        """The page's links (``html.Link``: `url`, `text`, `rel`) as the request's
        link rule kept them: absolute, fragment-free, each once, in page order.
        `same_host=True` keeps those on the page's own host (free when the rule
        already said so)."""
        result = self._result()
        rule = self._spec.links_rule if self._spec else None
        if rule is None:
            raise ExtractionFailed("not-requested", "links() of a page whose Extract asked for no links (Extract(links=...))")
        if same_host and not rule.same_host:
            own = urlparse(self.url).hostname
            return [link for link in result.links if urlparse(link.url).hostname == own]
        return result.links

    def css(self, key):
        """The matches of the declared query `key` (its name or selector) in
        page order, as a :class:`SelectorList`."""
        matches = self._result().matches  # raises when nothing was extracted
        index = self._spec._find(key, None)
        return SelectorList(self, index, matches[index], None)

    def _children(self, index, parent_hit):
        groups = self._groups.get(index)
        if groups is None:
            groups = self._groups[index] = {}
            for i, hit in enumerate(self._result().matches[index]):
                groups.setdefault(hit.parent, []).append((i, hit))
        return groups.get(parent_hit, ())


class Page(Parsed):
    """A response and what the host extracted from it.

    ``ok`` (True), ``status``, ``url`` (the final URL), ``request_url``,
    ``headers`` (one ``name: value`` line each; see :meth:`header`), ``body``
    (bytes; empty unless the Extract said ``keep_body``), ``text`` (the body
    decoded, when asked for with ``text=``), ``elapsed`` (seconds), ``meta``
    (what was pushed with the request), ``response`` (the binding's record);
    and from :class:`Parsed`: ``css()``, ``links()``, ``error``, ``truncated``.
    """

    ok = True

    def __init__(self, response, spec, request_url=None, meta=None):
        extracted = response.extracted
        if extracted is not None:
            extracted = extracted.value  # Ok(extracted) or Err(extract-error)
        super().__init__(extracted, spec, response.url)
        self.response = response
        self.status = response.status
        self.request_url = request_url if request_url is not None else response.url
        self.meta = meta

    headers = property(lambda self: self.response.headers)
    body = property(lambda self: self.response.body)
    text = property(lambda self: self.response.text.text if self.response.text else None)
    elapsed = property(lambda self: self.response.elapsed / 1e9)

    def header(self, name, default=None):
        """The first value of header `name` (case-insensitive)."""
        name = name.lower()
        for line in self.response.headers.splitlines():
            key, _, value = line.partition(": ")
            if key == name:
                return value
        return default

    def __repr__(self):
        return f"<Page {self.status} {self.url}>"


class Selector:
    """One match of a query: ``get()`` (or ``value``) is what it took; ``css(key)``
    the matches of a query declared inside it."""

    __slots__ = ("_page", "_index", "_hit_index", "value")

    def __init__(self, page, index, hit_index, value):
        self._page, self._index, self._hit_index, self.value = page, index, hit_index, value

    def get(self, default=None):
        return self.value

    def css(self, key):
        index = self._page._spec._find(key, self._index)
        pairs = self._page._children(index, self._hit_index)
        return SelectorList(self._page, index, [h for _, h in pairs], [i for i, _ in pairs])

    def __str__(self):
        return self.value

    def __repr__(self):
        return f"<Selector {self._page._spec._labels[self._index]!r} {self.value[:40]!r}>"


class SelectorList:
    """The matches of one query (in one parent match, for a nested query):
    ``get(default=None)`` the first value, ``getall()`` every value; iterate
    for :class:`Selector` s; ``css(key)`` the matches of a child query in any
    of them."""

    __slots__ = ("_page", "_index", "_hits", "_positions")

    def __init__(self, page, index, hits, positions):
        self._page, self._index, self._hits = page, index, hits
        self._positions = positions  # each hit's index in its query's list; None: 0..n

    def get(self, default=None):
        return self._hits[0].value if self._hits else default

    def getall(self):
        return [hit.value for hit in self._hits]

    def _position(self, i):
        return i if self._positions is None else self._positions[i]

    def __iter__(self):
        for i, hit in enumerate(self._hits):
            yield Selector(self._page, self._index, self._position(i), hit.value)

    def __getitem__(self, i):
        hit = self._hits[i]  # IndexError as a list would
        return Selector(self._page, self._index, self._position(i % len(self._hits)), hit.value)

    def __len__(self):
        return len(self._hits)

    def __bool__(self):
        return bool(self._hits)

    def css(self, key):
        out = SelectorList(self._page, self._page._spec._find(key, self._index), [], [])
        for selector in self:
            child = selector.css(key)
            out._hits.extend(child._hits)
            out._positions.extend(child._positions)
        return out

    def __repr__(self):
        return f"<SelectorList {self._page._spec._labels[self._index]!r} {self.getall()!r:.80}>"


# --- fetching ----------------------------------------------------------------

def _request(url, method="GET", headers=(), body=None, timeout=None, text=None, extract=None):
    """A WIT request. `timeout` in seconds; `text`: True (detect the charset)
    or a charset label; `extract`: an :class:`Extract`."""
    if text is True:
        text = TextDecoding_Detect()
    elif isinstance(text, str):
        text = TextDecoding_Charset(text)
    return Request(
        method, url, list(headers.items()) if isinstance(headers, dict) else list(headers),
        body, None if timeout is None else int(timeout * 1e9), text,
        None if extract is None else extract.extraction,
    )


class FetchQueue:
    """Requests in flight whose results come back as they complete (the host's
    ``fetch-queue``). Push while iterating :meth:`results`: the queue stays full.

    The keyword arguments of :meth:`push` are those of every request: `method`,
    `headers` (dict or pairs), `body` (bytes), `timeout` (seconds), `text`
    (True or a charset), `extract` (an :class:`Extract`), `meta` (anything,
    handed back on the page).
    """

    def __init__(self):
        self._queue = host.FetchQueue()
        self._requests = {}  # ticket -> (url, extract, meta), until its result is taken

    def push(self, url, *, meta=None, **request):
        """Adds one request; returns its ticket (0, 1, 2, ... in push order)."""
        return self.push_all([url], meta=meta, **request)[0]

    def push_all(self, urls, *, meta=None, **request):
        """Adds a request per URL in one host call; returns their tickets (a range)."""
        urls = list(urls)
        if not urls:
            return range(0)
        extract = request.get("extract")
        first = self._queue.push([_request(url, **request) for url in urls])
        for i, url in enumerate(urls):
            self._requests[first + i] = (url, extract, meta)
        return range(first, first + len(urls))

    def pending(self):
        """Requests pushed whose results were not taken yet."""
        return self._queue.pending()

    def __len__(self):
        return self._queue.pending()

    def next(self, max=64):
        """Waits for at least one result; returns up to `max` as
        ``(ticket, Page or FetchFailed)``, in the order they completed
        (``[]`` at once when nothing is pending)."""
        out = []
        for ticket, result in self._queue.next(max):
            url, extract, meta = self._requests.pop(ticket)
            if isinstance(result, Ok):
                out.append((ticket, Page(result.value, extract, url, meta)))
            else:
                out.append((ticket, FetchFailed(result.value, url, meta)))
        return out

    def results(self, batch=64):
        """Every ``(ticket, Page or FetchFailed)`` until nothing is pending,
        including those of requests pushed meanwhile; `batch` results are
        taken per host call."""
        while self._queue.pending():
            yield from self.next(batch)


def fetch(url, **request):
    """Fetches one URL; returns its :class:`Page`, raises :class:`FetchFailed`."""
    try:
        return Page(host.fetch(_request(url, **request)), request.get("extract"), url)
    except Err as e:
        raise FetchFailed(e.value, url) from None


async def fetch_async(url, **request):
    """Fetches one URL without blocking the plugin (``host-async.fetch``, an
    ``async func``): await it, or run many with ``asyncio.wait``/``gather``.
    Returns its :class:`Page`, raises :class:`FetchFailed`. Only in the
    ``scraper-async`` world (an ``async def run``, ``crawlbox run --wasip3``).

    Do not cancel a task awaiting it (``task.cancel()``, a ``TaskGroup``
    that fails, ``wait_for``): componentize-py 0.25 cannot cancel a pending
    host call, and the plugin traps. Timers (``asyncio.sleep(s)`` with s > 0)
    are not implemented by its event loop either."""
    if host_async is None:
        raise RuntimeError(
            "fetch_async needs the scraper-async world: build with "
            "`-w crawlbox:plugin/scraper-async` and run with `crawlbox run --wasip3`"
        )
    try:
        return Page(await host_async.fetch(_request(url, **request)), request.get("extract"), url)
    except Err as e:
        raise FetchFailed(e.value, url) from None


def fetch_all(urls, **request):
    """Fetches URLs concurrently; a :class:`Page` or :class:`FetchFailed` per URL, in order."""
    urls = list(urls)
    extract = request.get("extract")
    results = host.fetch_all([_request(url, **request) for url in urls])
    return [
        Page(r.value, extract, url) if isinstance(r, Ok) else FetchFailed(r.value, url)
        for url, r in zip(urls, results)
    ]


def parse(html_text, url, spec):
    """Extracts `spec` (an :class:`Extract`) from HTML the plugin holds, as if
    fetched from `url`; raises :class:`ExtractionFailed`."""
    try:
        return Parsed(html.parse(html_text, url, spec.extraction), spec, url)
    except Err as e:
        raise ExtractionFailed(_kind(e.value), e.value.value) from None


# --- output ------------------------------------------------------------------

def emit(record):
    """Emits one output record, any JSON-serialisable value (usually a dict).
    Raises ``Err(message)`` when the host refuses it (output limits): let it
    end ``run``."""
    host.emit(json.dumps(record))


_LEVELS = {level.name.lower(): level for level in Level}


def log(message, level="info"):
    """Writes to the host's log; `level` is trace, debug, info, warn or error."""
    host.log(_LEVELS[level] if isinstance(level, str) else level, str(message))


# --- spiders -----------------------------------------------------------------

_SPIDER_EXTRACT = object()  # a request's `extract` not given: the spider's
_REQUEST_OPTIONS = ("method", "headers", "body", "timeout", "text", "extract")


class Follow:
    """A request a spider yields: made by :meth:`Spider.request`,
    :meth:`Spider.follow` or :meth:`Spider.follow_links` (``links`` True)."""

    __slots__ = ("url", "options", "meta", "priority", "links")

    def __init__(self, url, options, meta=None, priority=None, links=False):
        unknown = set(options) - set(_REQUEST_OPTIONS)
        if unknown:
            raise TypeError(f"unknown request options {sorted(unknown)} (the options are {', '.join(_REQUEST_OPTIONS)})")
        if not isinstance(url, str):
            raise TypeError(f"a URL is a str, not {url!r}")
        if priority is not None and not (isinstance(priority, int) and -2**31 <= priority < 2**31):
            raise ValueError(f"priority {priority!r} is not a 32-bit integer")
        self.url, self.options, self.meta, self.priority, self.links = url, options, meta, priority, links

    def __repr__(self):
        what = "follow_links" if self.links else self.url
        return f"<Follow {what} meta={self.meta!r} priority={self.priority}>"


class Spider:
    """A spider: the host drives the crawl, the spider says where to start
    (:meth:`start`) and what each page yields (:meth:`parse`). Export the
    subclass from ``app.py`` as ``WitWorld = MySpider.export()`` and build it
    for the world ``crawlbox:plugin/spider``.

    `extract`: the :class:`Extract` of every request that names none (None: no
    extraction). Declare each Extract once, at class or module level: pages
    are read through their request's Extract, which the SDK finds again by
    its content (and the host may parse a page in another instance of the
    plugin, or after a restart).

    Requests take the keyword options of :func:`fetch` (`method`, `headers`,
    `body`, `timeout`, `text`, `extract`; ``extract=None``: no extraction).

    `meta` is any JSON-serialisable value (None by default): the host keeps
    it as text, its JSON (``""`` for None), and :meth:`parse` receives it
    decoded, so what was given comes back equal (a str as a str). Start
    requests carry none: their meta is None. (A request whose Extract is not
    the spider's also carries the Extract's ``key``: a ``@key:`` prefix.)

    Errors: an exception raised by :meth:`start` ends the run; one raised by
    :meth:`parse` fails that page (the host logs it, the crawl goes on). The
    message is the exception's type and text, and the line it came from.

    The host may run several instances of the plugin: each has its own
    spider (attributes set in one are not seen by the others), and each has
    its :meth:`start` called (only the first's requests are used).
    """

    extract = None

    def start(self, input):
        """The first requests, from `input` (the run's input JSON decoded;
        None when there is none): URLs (str) or :meth:`request` s, yielded or
        returned as a list."""
        raise NotImplementedError(f"{type(self).__name__} defines no start(self, input)")

    def parse(self, page, meta):
        """What one page yields: `page` is a :class:`Page` (its ``meta`` too),
        `meta` the meta of the follow that led to it (None for a start
        request). Yield (or return a list of) items, any JSON-serialisable
        value but None (usually a dict), and :meth:`follow` s, and at most
        one :meth:`follow_links`."""
        raise NotImplementedError(f"{type(self).__name__} defines no parse(self, page, meta)")

    def request(self, url, **options):
        """A request for :meth:`start` (or, with no meta, :meth:`parse`)."""
        return Follow(url, options)

    def follow(self, url, *, meta=None, priority=None, **options):
        """A request to make next, with `meta` handed back to :meth:`parse`
        with its page; higher `priority` (a 32-bit int, default 0) goes
        sooner. The host drops the URLs it has seen and those past the
        crawl's limits."""
        return Follow(url, options, meta, priority)

    def follow_links(self, *, meta=None, priority=None, **options):
        """Follow every link the host extracted from this page (as its
        Extract's ``links`` rule kept them), each as this request with the
        link as its URL; the links never cross into Python."""
        return Follow("", options, meta, priority, links=True)

    @classmethod
    def export(cls):
        """The class componentize-py exports: ``WitWorld = MySpider.export()``.
        The spider is made at the first call, not at build time."""
        import wit_world  # the bindings of the world built: a spider's WitWorld has start and parse

        spider = None

        def instance():
            nonlocal spider
            if spider is None:
                spider = cls()
            return spider

        class WitWorld(wit_world.WitWorld):
            def start(self, input):
                return _reported(lambda: _start(instance(), input))

            def parse(self, resp, meta):
                return _reported(lambda: _parse(instance(), resp, meta))

        return WitWorld


def _reported(call):
    """`call()`, with any exception turned into the ``Err(message)`` the WIT
    result wants (an uncaught one would trap the instance)."""
    try:
        return call()
    except Err as e:
        if isinstance(e.value, str):
            raise
        value = e.value  # a host error raised as it came: FetchError_Timeout(...)
        raise Err(f"{_kind(value)}: {getattr(value, 'value', value)}") from None
    except Exception as e:
        raise Err(_describe(e)) from None


_STDLIB = os.path.dirname(getattr(os, "__file__", "") or "")


def _describe(e):
    """``Type: text (at file:line, in function)``, the place being the last
    frame of the traceback in the plugin's own code (not the SDK or stdlib)."""
    message = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    frames = [
        f for f in traceback.StackSummary.extract(traceback.walk_tb(e.__traceback__), lookup_lines=False)
        if f.filename != __file__ and not (_STDLIB and f.filename.startswith(_STDLIB))
    ]
    if frames:
        f = frames[-1]
        message += f" (at {os.path.basename(f.filename)}:{f.lineno}, in {f.name})"
    return message


def _each(result, name):
    """What `start` or `parse` (`name`) gave, as an iterable: a list, a
    generator, one value or None (nothing)."""
    if result is None:
        return ()
    if hasattr(result, "__await__"):
        getattr(result, "close", lambda: None)()
        raise TypeError(f"{name} is async: a component's exports are called synchronously, so {name} cannot be")
    if isinstance(result, (str, bytes, dict, Follow)) or not hasattr(result, "__iter__"):
        return (result,)
    return result


def _clip(text, n=200):
    return text if len(text) <= n else text[:n] + f"... ({len(text)} chars)"


def _start(spider, text):
    try:
        input = json.loads(text) if text.strip() else None
    except ValueError as e:
        raise Err(f"invalid input {_clip(text)!r}: not JSON ({e})") from None
    requests = []
    for x in _each(spider.start(input), "start"):
        if isinstance(x, str):
            x = Follow(x, {})
        if not isinstance(x, Follow):
            raise TypeError(f"start gave {x!r}: a start request is a URL (str) or self.request(url, ...)")
        if x.links or x.meta is not None or x.priority is not None:
            raise TypeError(f"start gave {x!r}: start requests carry no meta or priority; yield those follows from parse")
        request, meta = _wire(spider, x)
        if meta:
            raise TypeError(
                f"start gave a request for {x.url} with an Extract other than the spider's: "
                "the host hands start pages back with no meta, so they are read through "
                f"{type(spider).__name__}.extract; set that one instead"
            )
        requests.append(request)
    return requests


def _wire(spider, follow):
    """A Follow as the WIT request and its meta text."""
    options = dict(follow.options)
    extract = options.pop("extract", _SPIDER_EXTRACT)
    if extract is _SPIDER_EXTRACT:
        extract = spider.extract
    if extract is not None and not isinstance(extract, Extract):
        raise TypeError(f"extract={extract!r}: an Extract, or None for no extraction")
    meta = "" if follow.meta is None else json.dumps(follow.meta, separators=(",", ":"))
    key = None if extract is None else extract.key
    if key != (None if spider.extract is None else spider.extract.key):
        meta = f"@{key or '-'}:{meta}"
    return _request(follow.url, extract=extract, **options), meta


def _unwire(spider, text):
    """The Extract and the decoded meta of a follow's meta text."""
    spec = spider.extract
    if text.startswith("@"):  # never JSON: the Extract's key, then the meta
        key, _, text = text[1:].partition(":")
        spec = None if key == "-" else _EXTRACTS.get(key)
        if spec is None and key != "-":
            raise LookupError(
                f"this page was requested with an Extract unknown here (key {key}): "
                "declare every Extract a spider uses once, at class or module level"
            )
    if not text:
        return spec, None
    try:
        return spec, json.loads(text)
    except ValueError:
        return spec, text  # not made by this SDK: handed over as it came


def _parse(spider, resp, text):
    from wit_world.imports.spider_types import Follow as WitFollow, ParseOutput

    spec, meta = _unwire(spider, text)
    page = Page(resp, spec, meta=meta)
    items, follows, links = [], [], None
    for x in _each(spider.parse(page, meta), "parse"):
        if x is None:
            continue
        if not isinstance(x, Follow):
            try:
                items.append(json.dumps(x, allow_nan=False))
            except (TypeError, ValueError) as e:
                raise TypeError(f"parse yielded {x!r:.100}, neither a follow nor a JSON-serialisable item ({e})") from None
            continue
        request, wire_meta = _wire(spider, x)
        follow = WitFollow(request, wire_meta, x.priority)
        if not x.links:
            follows.append(follow)
        elif links is not None:
            raise ValueError("parse yielded follow_links() twice: one page has one")
        elif spec is None or spec.links_rule is None:
            raise ValueError(
                "follow_links() on a page whose Extract asked for no links: "
                "give the request an Extract(links=...)"
            )
        else:
            links = follow
    return ParseOutput(items, follows, links)
