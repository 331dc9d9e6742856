// An interop client on Node's built-in fetch (undici), with one connection pool for the run.
//
// Usage: node client_fetch.js REQUESTS.json BASE_URL TIMEOUT_MS
// Makes the requests in order and prints one JSON line per request: id, status, len, sha256,
// headers, error, ms (to the end of the body) and first_ms (to the first body byte). fetch shows
// neither trailers nor informational responses, and refuses an Expect header. It decodes gzip,
// deflate and br bodies itself: len and sha256 are of the decoded bytes, and those that came are
// not to be had (no raw_len).
'use strict';
const crypto = require('crypto');
const fs = require('fs');

const [planPath, base, timeoutMs] = process.argv.slice(2);
const plan = JSON.parse(fs.readFileSync(planPath, 'utf8'));
let dispatcher; // set before the first request: see the end

function describe(e) {
  let s = `${e.name}: ${e.message}`;
  if (e.cause) s += ` (${e.cause.code || e.cause.name}: ${e.cause.message})`;
  return s;
}

async function one(r) {
  const out = { id: r.id, status: 0, len: 0, sha256: '' };
  const start = performance.now();
  const ms = () => Math.round((performance.now() - start) * 1000) / 1000;
  const hash = crypto.createHash('sha256');
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error(`no end within ${timeoutMs} ms`)), Number(timeoutMs));
  // The timeout ends the request even when undici leaves a read pending after the abort (a body
  // being decoded can): with nothing else to wait for, Node would exit at once, silently, with 0.
  const aborted = new Promise((_, reject) => abort.signal.addEventListener('abort', () => reject(abort.signal.reason)));
  aborted.catch(() => {});
  try {
    const work = exchange(r, out, ms, hash, abort);
    work.catch(() => {}); // what it does after the timeout is no longer this request's result
    await Promise.race([work, aborted]);
  } catch (e) {
    out.error = describe(e);
  } finally {
    clearTimeout(timer);
  }
  out.sha256 = hash.digest('hex');
  out.ms = ms();
  return out;
}

// exchange makes request r and reads its body into out and hash.
async function exchange(r, out, ms, hash, abort) {
  const init = { method: r.method, headers: r.headers || {}, signal: abort.signal, dispatcher };
  if (r.upload) {
    const data = fs.readFileSync(r.upload);
    if (r.chunked) {
      // A stream has no length: fetch sends it chunked.
      init.body = new ReadableStream({
        start(c) {
          for (let i = 0; i < data.length; i += 16384) c.enqueue(data.subarray(i, i + 16384));
          c.close();
        },
      });
      init.duplex = 'half';
    } else {
      init.body = data;
    }
  }
  const resp = await fetch(base + r.path, init);
  out.status = resp.status;
  out.headers = {};
  for (const [k, v] of resp.headers) out.headers[k] = v;
  if (resp.body) {
    for await (const piece of resp.body) {
      if (piece.length && out.len === 0) out.first_ms = ms();
      hash.update(piece);
      out.len += piece.length;
    }
  }
}

(async () => {
  // One connection per origin, as Go's client gets with MaxConnsPerHost 1: fetch's default pool
  // opens a second connection whenever the first is not back from its last response yet, so that
  // a new connection would tell nothing. undici's Agent class is not exported by Node, but the
  // global dispatcher that the first fetch creates is one.
  const probe = await fetch(base + '/interop-probe').catch((e) => e);
  if (probe.body) await probe.arrayBuffer();
  const global = globalThis[Symbol.for('undici.globalDispatcher.1')];
  if (!global || typeof global.constructor !== 'function') {
    console.error('client_fetch.js: no undici global dispatcher to take the Agent class from');
    process.exit(2);
  }
  dispatcher = new global.constructor({ connections: 1 });
  for (const r of plan.requests) {
    process.stdout.write(JSON.stringify(await one(r)) + '\n');
  }
  finished = true;
})();

// A run that stops short of its last request must not pass for a whole one.
let finished = false;
process.on('exit', (code) => {
  if (!finished && code === 0) {
    console.error('client_fetch.js: exited before its last request: a promise was left pending');
    process.exitCode = 3;
  }
});
