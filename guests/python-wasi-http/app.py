"""A crawlbox plugin in Python that fetches only through standard wasi:http,
with its own concurrency (asyncio over wasi:io/poll, componentize-py's
poll_loop).

Input: {"urls": [...], "concurrency": 16}. Emits {"url", "status", "bytes"}
per URL, or {"url", "error"}.
"""

import asyncio
import json
from urllib.parse import urlparse

import poll_loop
from componentize_py_types import Err
import wit_world
from wit_world.imports import host
from wit_world.imports.types import (
    Fields,
    Method_Get,
    OutgoingRequest,
    Scheme_Http,
    Scheme_Https,
)


async def get(url):
    parsed = urlparse(url)
    request = OutgoingRequest(Fields.from_list([]))
    request.set_method(Method_Get())
    request.set_scheme(Scheme_Https() if parsed.scheme == "https" else Scheme_Http())
    request.set_authority(parsed.netloc)
    request.set_path_with_query(parsed.path + (f"?{parsed.query}" if parsed.query else ""))
    response = await poll_loop.send(request)
    status = response.status()
    stream = poll_loop.Stream(response.consume())
    size = 0
    while True:
        chunk = await stream.next()
        if chunk is None:
            break
        size += len(chunk)
    return status, size


async def fetch_all(urls, concurrency):
    limit = asyncio.Semaphore(concurrency)

    async def one(url):
        async with limit:
            try:
                status, size = await get(url)
                return {"url": url, "status": status, "bytes": size}
            except Exception as e:  # a wasi:http error code
                return {"url": url, "error": repr(e)}

    return await asyncio.gather(*(one(url) for url in urls))


class WitWorld(wit_world.WitWorld):
    def run(self, input: str) -> None:
        try:
            config = json.loads(input)
            urls = config["urls"]
        except (ValueError, KeyError, TypeError) as e:
            raise Err(f"invalid input {input}: expected {{\"urls\": [URL, ...]}} ({e})")
        concurrency = max(1, int(config.get("concurrency", 16)))
        records = poll_loop.PollLoop().run_until_complete(fetch_all(urls, concurrency))
        for record in records:
            host.emit(json.dumps(record))
