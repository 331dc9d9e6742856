"""An interop client on aiohttp's ClientSession: one session (one connection pool) for the run.

Usage: /usr/bin/python3 client_aiohttp.py REQUESTS.json BASE_URL TIMEOUT_MS
Makes the requests in order and prints one JSON line per request: id, status, len, sha256,
headers (lower-case names), error, ms (to the end of the body) and first_ms (to the first body
byte). aiohttp shows neither trailers nor informational responses (it skips 1xx itself).
A gzip or deflate body is decoded here with zlib, piece by piece as it comes (len, sha256 and
first_ms are of the decoded bytes, raw_len of those that came): a compressed stream that stops
short of its end, or has bytes after it, is an error.
"""

import asyncio
import hashlib
import json
import sys
import time
import zlib

import aiohttp


async def chunks(data):
    """An async generator: aiohttp sends such a body with Transfer-Encoding: chunked."""
    for i in range(0, len(data), 16384):
        yield data[i:i + 16384]


def decoder(coding):
    """A zlib decompressor for a Content-Encoding, None for identity."""
    coding = coding.strip().lower()
    if coding == "":
        return None
    if coding == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return zlib.decompressobj()
    raise ValueError("cannot decode Content-Encoding %r" % coding)


async def one(session, base, r, timeout):
    out = {"id": r["id"], "status": 0, "len": 0, "sha256": "", "raw_len": 0}
    start = time.monotonic()
    ms = lambda: round((time.monotonic() - start) * 1000, 3)
    h = hashlib.sha256()
    try:
        data = None
        if r.get("upload"):
            with open(r["upload"], "rb") as f:
                body = f.read()
            data = chunks(body) if r.get("chunked") else body
        async with session.request(
            r["method"],
            base + r["path"],
            headers=r.get("headers") or {},
            data=data,
            expect100=bool(r.get("expect")),
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            out["status"] = resp.status
            out["headers"] = {k.lower(): v for k, v in reversed(list(resp.headers.items()))}
            dec = decoder(resp.headers.get("Content-Encoding", ""))

            def take(piece):
                if piece and out["len"] == 0:
                    out["first_ms"] = ms()
                h.update(piece)
                out["len"] += len(piece)

            async for piece in resp.content.iter_any():
                out["raw_len"] += len(piece)
                take(dec.decompress(piece) if dec else piece)
            if dec:
                take(dec.flush())
                if not dec.eof:
                    raise EOFError("the compressed stream stops short of its end")
                if dec.unused_data:
                    raise ValueError("%d bytes after the end of the compressed stream" % len(dec.unused_data))
    except asyncio.TimeoutError:
        out["error"] = "TimeoutError: no end within %d ms" % (timeout * 1000)
    except Exception as e:  # a cut body raises ClientPayloadError
        out["error"] = "%s: %s" % (type(e).__name__, e)
    out["sha256"] = h.hexdigest()
    out["ms"] = ms()
    return out


async def main():
    with open(sys.argv[1]) as f:
        plan = json.load(f)
    base, timeout = sys.argv[2], int(sys.argv[3]) / 1000
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        for r in plan["requests"]:
            print(json.dumps(await one(session, base, r, timeout)), flush=True)


asyncio.run(main())
