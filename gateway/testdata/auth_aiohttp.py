"""A forward-auth service on aiohttp.web, for gateway's forward auth test.

Usage: /usr/bin/python3 auth_aiohttp.py
Prints the port it bound (127.0.0.1, port 0) as its first stdout line, then serves until killed.

GET /verify decides by the Authorization field the gateway passed on:
  Bearer good  -> 200, X-User: alice, X-Role: admin (and a body, which the gateway drops)
  Bearer bad   -> 401, WWW-Authenticate: Bearer realm="fg", X-Auth-Reason: bad-token, a JSON body
  none         -> 302 to a login page naming the X-Forwarded-Uri it was given
GET /seen answers the /verify requests seen so far, as JSON: method, headers (names as sent), the
length of the body received, and the peer port of the connection each came on.
"""

import json
import socket
import sys
from urllib.parse import quote

from aiohttp import web

SEEN = []


async def verify(request):
    body = await request.read()
    SEEN.append({
        "method": request.method,
        "headers": [[k, v] for k, v in request.headers.items()],
        "body_len": len(body),
        "port": request.transport.get_extra_info("peername")[1],
    })
    auth = request.headers.get("Authorization", "")
    if auth == "Bearer good":
        return web.Response(text="welcome", headers={"X-User": "alice", "X-Role": "admin"})
    if auth:
        return web.json_response({"error": "bad token"}, status=401, headers={
            "WWW-Authenticate": 'Bearer realm="fg"', "X-Auth-Reason": "bad-token"})
    uri = request.headers.get("X-Forwarded-Uri", "")
    raise web.HTTPFound("https://login.example/?rd=" + quote(uri, safe=""))


async def seen(request):
    return web.json_response(SEEN)


def main():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    app = web.Application()
    app.router.add_get("/verify", verify)
    app.router.add_get("/seen", seen)
    web.run_app(app, sock=sock, print=None, access_log=None)


if __name__ == "__main__":
    sys.exit(main())
