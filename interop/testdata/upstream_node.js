// An interop upstream on Node's http module: res.write/res.end give chunked, res.end(body) with a
// Content-Length gives a length, writeEarlyHints gives 103, and the cuts destroy the socket.
//
// Usage: node upstream_node.js PLAN.json
// Prints the port it bound (127.0.0.1, port 0) as its first stdout line, then serves until killed.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');

const plan = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const bodies = {};
for (const name of fs.readdirSync(plan.bodies)) {
  bodies[name] = fs.readFileSync(path.join(plan.bodies, name));
}

// pieces cuts data into pieces of the given sizes, the last size repeating.
function pieces(data, sizes) {
  const out = [];
  for (let i = 0, k = 0; i < data.length; k++) {
    const n = sizes[Math.min(k, sizes.length - 1)];
    out.push(data.subarray(i, i + n));
    i += n;
  }
  return out;
}

function readAll(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function handle(req, res) {
  res.setHeader('X-Upstream-Conn', String(req.socket.remotePort));
  const key = req.method + ' ' + req.url;
  switch (key) {
    case 'HEAD /cl':
      res.writeHead(200, { 'Content-Length': bodies.cl.length, 'Content-Type': 'text/plain' });
      res.end();
      return;
    case 'GET /cl':
      res.writeHead(200, { 'Content-Length': bodies.cl.length, 'Content-Type': 'text/plain' });
      res.end(bodies.cl);
      return;
    case 'GET /chunked':
    case 'GET /chunked-1m':
    case 'GET /chunked-trailers': {
      const name = req.url.slice(1);
      const headers = { 'Content-Type': 'text/plain' };
      if (name === 'chunked-trailers') headers.Trailer = plan.trailer_name;
      res.writeHead(200, headers);
      for (const piece of pieces(bodies[name], plan.chunks[name])) {
        if (!res.write(piece)) await new Promise((resolve) => res.once('drain', resolve));
      }
      if (name === 'chunked-trailers') res.addTrailers({ [plan.trailer_name]: plan.trailer_value });
      res.end();
      return;
    }
    case 'GET /chunked-empty':
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
      res.end();
      return;
    case 'GET /close':
      // No length and no chunked: the body ends with the connection.
      res.useChunkedEncodingByDefault = false;
      res.writeHead(200, { 'Content-Type': 'text/plain', Connection: 'close' });
      for (const piece of pieces(bodies.close, [1000])) res.write(piece);
      res.end();
      return;
    case 'GET /204':
      res.writeHead(204);
      res.end();
      return;
    case 'GET /304':
      if (req.headers['if-none-match'] === plan.etag) {
        res.writeHead(304, { ETag: plan.etag });
        res.end();
      } else {
        res.writeHead(200, { ETag: plan.etag, 'Content-Length': 0 });
        res.end();
      }
      return;
    case 'GET /early-hints':
      res.writeEarlyHints({ link: plan.link });
      res.writeHead(200, { Link: plan.link, 'Content-Length': bodies['early-hints'].length });
      res.end(bodies['early-hints']);
      return;
    case 'GET /sse':
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      for (let i = 0; i < plan.sse_events.length; i++) {
        if (i) await sleep(plan.sse_pause_ms);
        res.write(plan.sse_events[i]);
      }
      res.end();
      return;
    case 'GET /cut-cl': {
      const data = bodies['cut-cl'];
      res.writeHead(200, { 'Content-Length': data.length, 'Content-Type': 'text/plain' });
      res.write(data.subarray(0, data.length / 2), () => req.socket.destroy()); // FIN at half
      return;
    }
    case 'GET /cut-chunked': {
      const data = bodies['cut-chunked'];
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      const half = pieces(data.subarray(0, data.length / 2), [1000]);
      half.forEach((piece, i) => res.write(piece, i === half.length - 1 ? () => req.socket.destroy() : undefined));
      return; // a FIN without the last chunk
    }
    case 'GET /cut-close': {
      const data = bodies['cut-close'];
      res.useChunkedEncodingByDefault = false;
      res.writeHead(200, { 'Content-Type': 'text/plain', Connection: 'close' });
      res.write(data.subarray(0, data.length / 2), () => req.socket.resetAndDestroy()); // RST at half
      return;
    }
    case 'POST /echo': {
      const data = await readAll(req);
      res.writeHead(200, { 'Content-Length': data.length, 'Content-Type': 'application/octet-stream' });
      res.end(data);
      return;
    }
    case 'POST /continue': {
      // Node answers 100 Continue itself when nobody listens for 'checkContinue'.
      const data = await readAll(req);
      const out = `len=${data.length} sha256=${crypto.createHash('sha256').update(data).digest('hex')}`;
      res.writeHead(200, { 'Content-Length': Buffer.byteLength(out), 'Content-Type': 'text/plain' });
      res.end(out);
      return;
    }
    default:
      res.writeHead(404, { 'Content-Length': 0 });
      res.end();
  }
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error(err);
    req.socket.destroy();
  });
});
server.keepAliveTimeout = 120000;
server.headersTimeout = 130000;
server.listen(0, '127.0.0.1', () => console.log(String(server.address().port)));
