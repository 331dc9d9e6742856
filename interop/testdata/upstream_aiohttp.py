"""An interop upstream on aiohttp.web (the seed's own framework).

Usage: /usr/bin/python3 upstream_aiohttp.py PLAN.json
Prints the port it bound (127.0.0.1, port 0) as its first stdout line, then serves until killed.
Responses with a length are web.Response; chunked ones are StreamResponse with chunked encoding on.
aiohttp.web cannot send trailers, 1xx informational answers or close-delimited HTTP/1.1 bodies, so
those paths answer 501 here and the Go test skips them by name.
"""

import asyncio
import hashlib
import json
import os
import socket
import struct
import sys

from aiohttp import web

with open(sys.argv[1]) as f:
    PLAN = json.load(f)

BODIES = {}
for name in os.listdir(PLAN["bodies"]):
    with open(os.path.join(PLAN["bodies"], name), "rb") as f:
        BODIES[name] = f.read()


def pieces(data, sizes):
    """Cuts data into pieces of the given sizes, the last size repeating."""
    out, i, k = [], 0, 0
    while i < len(data):
        n = sizes[min(k, len(sizes) - 1)]
        out.append(data[i:i + n])
        i += n
        k += 1
    return out


def conn(request):
    return {"X-Upstream-Conn": str(request.transport.get_extra_info("peername")[1])}


async def stream(request, parts, pause=0.0, content_type="text/plain"):
    resp = web.StreamResponse(headers={**conn(request), "Content-Type": content_type})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    for i, part in enumerate(parts):
        if i and pause:
            await asyncio.sleep(pause)
        await resp.write(part)
    await resp.write_eof()
    return resp


async def cl(request):
    # aiohttp answers HEAD with the headers of the GET and no body.
    return web.Response(body=BODIES["cl"], headers=conn(request), content_type="text/plain")


async def chunked(request):
    name = request.path[1:]
    return await stream(request, pieces(BODIES[name], PLAN["chunks"][name]))


async def chunked_empty(request):
    return await stream(request, [])


async def no_content(request):
    return web.Response(status=204, headers=conn(request))


async def not_modified(request):
    if request.headers.get("If-None-Match") == PLAN["etag"]:
        return web.Response(status=304, headers={**conn(request), "ETag": PLAN["etag"]})
    return web.Response(status=200, headers={**conn(request), "ETag": PLAN["etag"]})


async def sse(request):
    events = [e.encode() for e in PLAN["sse_events"]]
    return await stream(request, events, PLAN["sse_pause_ms"] / 1000, "text/event-stream")


async def cut_cl(request):
    data = BODIES["cut-cl"]
    resp = web.StreamResponse(headers={**conn(request), "Content-Type": "text/plain"})
    resp.content_length = len(data)
    await resp.prepare(request)
    await resp.write(data[: len(data) // 2])
    await resp.drain()
    request.transport.close()  # a FIN at half the announced length
    return resp


async def cut_chunked(request):
    data = BODIES["cut-chunked"]
    resp = web.StreamResponse(headers={**conn(request), "Content-Type": "text/plain"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    for piece in pieces(data[: len(data) // 2], [1000]):
        await resp.write(piece)
    await resp.drain()
    request.transport.close()  # a FIN without the last chunk
    return resp


async def echo(request):
    data = await request.read()
    return web.Response(body=data, headers=conn(request), content_type="application/octet-stream")


async def cont(request):
    # aiohttp sends 100 Continue itself for Expect: 100-continue (the route's expect handler).
    data = await request.read()
    text = "len=%d sha256=%s" % (len(data), hashlib.sha256(data).hexdigest())
    return web.Response(text=text, headers=conn(request))


async def unsupported(request):
    return web.Response(status=501, text="aiohttp.web cannot produce this framing", headers=conn(request))


async def main():
    app = web.Application()
    app.router.add_get("/cl", cl)  # add_get also routes HEAD
    for name in ("/chunked", "/chunked-1m"):
        app.router.add_get(name, chunked)
    app.router.add_get("/chunked-empty", chunked_empty)
    app.router.add_get("/204", no_content)
    app.router.add_get("/304", not_modified)
    app.router.add_get("/sse", sse)
    app.router.add_get("/cut-cl", cut_cl)
    app.router.add_get("/cut-chunked", cut_chunked)
    app.router.add_post("/echo", echo)
    app.router.add_post("/continue", cont)
    for name in ("/chunked-trailers", "/close", "/early-hints", "/cut-close"):
        app.router.add_get(name, unsupported)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=120)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
