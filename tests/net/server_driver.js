// server_driver.js — drives tests/net/test_net_server.c's server (net/server.c) from outside:
// HTTP through fetch and raw sockets, WebSocket through the `ws` package, garbage through raw
// sockets. Usage: node server_driver.js PORT PORT2 (PORT2: the second server, whose allowed
// Origin is http://console.test). Prints "ok NAME" / "FAIL NAME: why"; exits 1 on any failure.
// The last step asks the server to free itself with clients connected.
'use strict';
const net = require('net');
const WebSocket = require('../emulators/node_modules/ws');

const port = Number(process.argv[2]);
const port2 = Number(process.argv[3]);
const base = `http://127.0.0.1:${port}`;
const wsUrl = `ws://127.0.0.1:${port}/ws`;
const goodOrigin = `http://127.0.0.1:${port}`;
let failures = 0;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function check(cond, what) {
  if (!cond) throw new Error(what);
}

async function step(name, fn) {
  try {
    await Promise.race([
      fn(),
      sleep(20000).then(() => {
        throw new Error('timed out');
      }),
    ]);
    console.log(`ok   ${name}`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
  }
}

async function stats() {
  const r = await fetch(`${base}/stats`);
  return r.json();
}

// ---- raw HTTP over one socket ---------------------------------------------------------------

// A socket with a buffer and helpers to read whole responses (Content-Length framed).
function rawConnect(p = port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(p, '127.0.0.1');
    const st = { s, buf: Buffer.alloc(0), closed: false, waiters: [] };
    const wake = () => {
      const w = st.waiters;
      st.waiters = [];
      w.forEach((f) => f());
    };
    s.on('data', (d) => {
      st.buf = Buffer.concat([st.buf, d]);
      wake();
    });
    s.on('close', () => {
      st.closed = true;
      wake();
    });
    s.on('error', () => {});
    s.on('connect', () => resolve(st));
    s.once('error', reject);
  });
}

function waitChange(st) {
  return new Promise((r) => st.waiters.push(r));
}

async function readResponse(st, head = false) {
  for (;;) {
    const i = st.buf.indexOf('\r\n\r\n');
    if (i >= 0) {
      const headText = st.buf.subarray(0, i).toString('latin1');
      const lines = headText.split('\r\n');
      const status = Number(lines[0].split(' ')[1]);
      const headers = {};
      for (const l of lines.slice(1)) {
        const c = l.indexOf(':');
        headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
      }
      if (status === 100) {
        st.buf = st.buf.subarray(i + 4);
        return { status, headers, body: '' };
      }
      const len = head ? 0 : Number(headers['content-length'] || 0);
      if (st.buf.length >= i + 4 + len) {
        const body = st.buf.subarray(i + 4, i + 4 + len).toString('utf8');
        st.buf = st.buf.subarray(i + 4 + len);
        return { status, headers, body };
      }
    }
    if (st.closed) return null;
    await waitChange(st);
  }
}

async function waitClosed(st, ms) {
  const t0 = Date.now();
  while (!st.closed && Date.now() - t0 < ms) await Promise.race([waitChange(st), sleep(50)]);
  return st.closed;
}

// ---- WebSocket helpers ----------------------------------------------------------------------

function openWs(opts = {}, url = wsUrl) {
  const ws = new WebSocket(url, opts);
  const st = { ws, msgs: [], closeCode: null, status: null, opened: false, waiters: [] };
  const wake = () => {
    const w = st.waiters;
    st.waiters = [];
    w.forEach((f) => f());
  };
  ws.on('open', () => {
    st.opened = true;
    wake();
  });
  ws.on('message', (m) => {
    st.msgs.push(String(m));
    wake();
  });
  ws.on('unexpected-response', (req, res) => {
    st.status = res.statusCode;
    st.closeCode = -1;
    res.resume();
    req.destroy();
    wake();
  });
  ws.on('close', (code) => {
    if (st.closeCode === null) st.closeCode = code;
    wake();
  });
  ws.on('error', () => {
    if (st.closeCode === null) st.closeCode = -2;
    wake();
  });
  return st;
}

async function until(st, pred, ms = 5000) {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error('condition not met in time');
    await Promise.race([new Promise((r) => st.waiters.push(r)), sleep(50)]);
  }
}

// ---- the scenarios --------------------------------------------------------------------------

async function main() {
  await step('GET with query args, headers, cookies, extra headers', async () => {
    const r = await fetch(`${base}/echo?a=1&b=hello%20world&c=x%26y%3Dz`, {
      headers: { 'X-Test': 'yes', Cookie: 'sid=abc; other="q v"', 'User-Agent': 'drv/1' },
    });
    check(r.status === 200, `status ${r.status}`);
    const j = await r.json();
    check(j.method === 'GET' && j.path === '/echo', JSON.stringify(j));
    check(j.a === '1' && j.b === 'hello world' && j.c === 'x&y=z', `args ${JSON.stringify(j)}`);
    check(j.query === 'a=1&b=hello%20world&c=x%26y%3Dz', `query ${j.query}`);
    check(j.xtest === 'yes' && j.xtest_again === 'yes' && j.missing === null, 'custom header');
    check(j.ua === 'drv/1', `ua ${j.ua}`);
    check(j.sid === 'abc' && j.other === 'q v', `cookies ${j.sid} ${j.other}`);
    check(j.peer === '127.0.0.1', `peer ${j.peer}`);
    check(r.headers.get('content-security-policy') === "default-src 'self'", 'CSP header');
    check(r.headers.get('x-frame-options') === 'DENY', 'extra header');
    check(r.headers.get('x-handler') === 'echo', 'handler header');
    check(r.headers.get('content-type') === 'application/json', 'content-type');
  });

  await step('POST/PUT/PATCH/DELETE with JSON bodies', async () => {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      const body = JSON.stringify({ hello: 'wörld', method, n: [1, 2, 3] });
      const r = await fetch(`${base}/echo`, {
        method,
        body,
        headers: { 'Content-Type': 'application/json' },
      });
      check(r.status === 200, `${method} status ${r.status}`);
      const j = await r.json();
      check(j.method === method, `method ${j.method}`);
      check(j.body === body, `${method} body ${j.body}`);
      check(j.bodylen === Buffer.byteLength(body), 'bodylen');
      check(j.ctype === 'application/json', 'ctype');
    }
  });

  await step('HEAD: headers only', async () => {
    const st = await rawConnect();
    st.s.write('HEAD /echo HTTP/1.1\r\nHost: x\r\n\r\n');
    const r = await readResponse(st, true);
    check(r && r.status === 200 && Number(r.headers['content-length']) > 0, 'head response');
    await sleep(100);
    check(st.buf.length === 0, `HEAD sent a body (${st.buf.length} bytes)`);
    st.s.destroy();
  });

  await step('413 on an oversize body (fetch)', async () => {
    const r = await fetch(`${base}/echo`, { method: 'POST', body: 'x'.repeat(200 * 1024) });
    check(r.status === 413, `status ${r.status}`);
    check(r.headers.get('content-security-policy') === "default-src 'self'", 'CSP on 413');
  });

  await step('413 with Expect: 100-continue, body never read', async () => {
    const st = await rawConnect();
    st.s.write(
      'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\nExpect: 100-continue\r\n\r\n',
    );
    const r = await readResponse(st);
    check(r && r.status === 413, `status ${r && r.status}`);
    check(await waitClosed(st, 2000), 'connection not closed after 413');
  });

  await step('100-continue then body', async () => {
    const st = await rawConnect();
    st.s.write(
      'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n',
    );
    const c = await readResponse(st);
    check(c && c.status === 100, `interim ${c && c.status}`);
    st.s.write('hello');
    const r = await readResponse(st);
    check(r && r.status === 200 && JSON.parse(r.body).body === 'hello', 'body after 100');
    st.s.destroy();
  });

  await step('chunked request bodies (bounded)', async () => {
    let st = await rawConnect();
    st.s.write('POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
    st.s.write('6\r\nhello \r\n');
    await sleep(30);
    st.s.write('5;ext=1\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n');
    let r = await readResponse(st);
    check(r && r.status === 200, `status ${r && r.status}`);
    check(JSON.parse(r.body).body === 'hello world', `body ${r.body}`);
    st.s.destroy();

    st = await rawConnect();
    st.s.write('POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
    const big = 'y'.repeat(16 * 1024);
    for (let i = 0; i < 8 && !st.closed; i++) st.s.write(`${big.length.toString(16)}\r\n${big}\r\n`);
    r = await readResponse(st);
    check(r && r.status === 413, `oversize chunked: ${r && r.status}`);
    st.s.destroy();

    st = await rawConnect(); // chunked, answered later
    st.s.write('POST /defer?ms=100 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
    st.s.write('3\r\nabc\r\n0\r\n\r\n');
    r = await readResponse(st);
    check(r && r.status === 200 && r.body === 'deferred:100', `deferred chunked ${r && r.body}`);
    st.s.destroy();

    st = await rawConnect();
    st.s.write('POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
    r = await readResponse(st);
    check(r && r.status === 400, `bad chunk: ${r && r.status}`);
    st.s.destroy();
  });

  await step('keep-alive: two requests on one connection, then pipelined', async () => {
    const st = await rawConnect();
    st.s.write('GET /echo?a=first HTTP/1.1\r\nHost: x\r\n\r\n');
    const r1 = await readResponse(st);
    check(r1 && r1.status === 200 && JSON.parse(r1.body).a === 'first', 'first');
    st.s.write('POST /echo?a=second HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc');
    const r2 = await readResponse(st);
    check(r2 && r2.status === 200 && JSON.parse(r2.body).body === 'abc', 'second');
    st.s.write(
      'GET /echo?a=p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /defer?ms=50 HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    const r3 = await readResponse(st);
    const r4 = await readResponse(st);
    check(r3 && JSON.parse(r3.body).a === 'p1', 'pipelined 1');
    check(r4 && r4.body === 'deferred:50', `pipelined 2 ${r4 && r4.body}`);
    check(!st.closed, 'connection closed');
    st.s.destroy();
  });

  await step('deferred response from a timer', async () => {
    const t0 = Date.now();
    const r = await fetch(`${base}/defer?ms=300`, { headers: { 'X-Test': 'later' } });
    const dt = Date.now() - t0;
    check(r.status === 200 && (await r.text()) === 'deferred:300', 'body');
    check(r.headers.get('x-deferred') === 'yes', 'header');
    check(r.headers.get('x-echo-test') === 'later', 'custom header read at answer time');
    check(r.headers.get('x-echo-ms') === '300', 'arg read at answer time');
    check(r.headers.get('x-frame-options') === 'DENY', 'extra header');
    check(dt >= 250, `answered too early (${dt} ms)`);
  });

  await step('client gone before the deferred answer → on_request_gone', async () => {
    const before = await stats();
    const st = await rawConnect();
    st.s.write('GET /hold HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(150);
    st.s.destroy();
    const st2 = await rawConnect();
    st2.s.write('GET /defer?ms=400 HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(100);
    st2.s.end(); // half-close counts as gone too
    let after;
    for (let i = 0; i < 40; i++) {
      await sleep(50);
      after = await stats();
      if (after.gone >= before.gone + 2) break;
    }
    check(after.gone === before.gone + 2, `gone ${before.gone} → ${after.gone}`);
    check(after.held === before.held, 'held count');
    await sleep(400); // the deferred timer fires and finds its request gone
    check((await fetch(`${base}/echo`)).status === 200, 'server still fine');
  });

  await step('large response (2 MB JSON) intact', async () => {
    const r = await fetch(`${base}/big`);
    const text = await r.text();
    check(r.status === 200, `status ${r.status}`);
    check(Number(r.headers.get('content-length')) === Buffer.byteLength(text), 'length');
    check(text.length > 2 * 1024 * 1024, `size ${text.length}`);
    const a = JSON.parse(text);
    check(a.every((o, i) => o.i === i && o.pad === String(i).padStart(8, '0')), 'content');
    // and a slow reader on a raw socket
    const st = await rawConnect();
    st.s.pause();
    st.s.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(300);
    st.s.resume();
    const rr = await readResponse(st);
    check(rr && rr.body === text, 'slow reader got it all');
    st.s.destroy();
  });

  await step('upgrade request off the ws path is plain HTTP', async () => {
    const st = await rawConnect();
    st.s.write(
      'GET /echo?a=up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    const r = await readResponse(st);
    check(r && r.status === 200 && JSON.parse(r.body).a === 'up', `status ${r && r.status}`);
    st.s.destroy();
    const g = await fetch(`${base}/ws`);
    check(g.status === 404, `GET /ws without upgrade → handler (${g.status})`);
  });

  await step('WebSocket: good Origin, greeting, echo, fragments, push, close', async () => {
    const c = openWs({ origin: goodOrigin, headers: { Cookie: 'sid=wsx' } });
    await until(c, () => c.msgs.length >= 1);
    check(c.msgs[0] === 'hello sid=wsx path=/ws', `greeting ${c.msgs[0]}`);
    c.ws.send('hi');
    await until(c, () => c.msgs.length >= 2);
    check(c.msgs[1] === 'echo:hi', c.msgs[1]);
    c.ws.send('part1-', { fin: false });
    c.ws.send('part2', { fin: true });
    await until(c, () => c.msgs.length >= 3);
    check(c.msgs[2] === 'echo:part1-part2', c.msgs[2]);
    const big = 'z'.repeat(30 * 1024);
    c.ws.send(big);
    await until(c, () => c.msgs.length >= 4);
    check(c.msgs[3] === 'echo:' + big, 'big echo');
    c.ws.send('push');
    await until(c, () => c.msgs.length >= 5);
    check(c.msgs[4] === 'pushed', c.msgs[4]);
    const pong = new Promise((r) => c.ws.once('pong', r));
    c.ws.ping('p');
    await Promise.race([pong, sleep(2000).then(() => Promise.reject(new Error('no pong')))]);
    c.ws.send('close');
    await until(c, () => c.closeCode !== null);
    check(c.closeCode === 1000, `close ${c.closeCode}`);
  });

  await step('WebSocket: bad or missing Origin → 403', async () => {
    for (const opts of [{ origin: 'http://evil.example' }, {}, { origin: 'null' }]) {
      const c = openWs(opts);
      await until(c, () => c.closeCode !== null);
      check(c.status === 403, `origin ${opts.origin}: status ${c.status}`);
    }
    const c = openWs({ origin: `http://127.0.0.1:${port + 1}` });
    await until(c, () => c.closeCode !== null);
    check(c.status === 403, `other port: ${c.status}`);
  });

  await step('WebSocket: ws_accept refusal → 403', async () => {
    const c = openWs({ origin: goodOrigin, headers: { 'X-Deny': '1' } });
    await until(c, () => c.closeCode !== null);
    check(c.status === 403, `status ${c.status}`);
    const d = openWs({ origin: goodOrigin, headers: { Cookie: 'a=1; deny=yes' } });
    await until(d, () => d.closeCode !== null);
    check(d.status === 403, `cookie refusal: ${d.status}`);
  });

  await step('WebSocket: explicit Origin on the second server', async () => {
    const url = `ws://127.0.0.1:${port2}/live`;
    const ok = openWs({ origin: 'http://console.test' }, url);
    await until(ok, () => ok.msgs.length >= 1);
    check(ok.msgs[0] === 'hello sid=- path=/live', ok.msgs[0]);
    ok.ws.close();
    const bad = openWs({ origin: `http://127.0.0.1:${port2}` }, url);
    await until(bad, () => bad.closeCode !== null);
    check(bad.status === 403, `host origin on explicit server: ${bad.status}`);
    const r = await fetch(`http://127.0.0.1:${port2}/echo?a=2`);
    check(r.status === 200 && (await r.json()).a === '2', 'HTTP on second server');
    check(r.headers.get('content-security-policy') === null, 'no extra headers there');
    await until(ok, () => ok.closeCode !== null);
  });

  await step('WebSocket: oversize inbound message → 1009', async () => {
    const c = openWs({ origin: goodOrigin });
    await until(c, () => c.msgs.length >= 1);
    c.ws.send('q'.repeat(40 * 1024));
    await until(c, () => c.closeCode !== null);
    check(c.closeCode === 1009, `close ${c.closeCode}`);
    const f = openWs({ origin: goodOrigin }); // fragments adding up over the limit
    await until(f, () => f.msgs.length >= 1);
    for (let i = 0; i < 5; i++) f.ws.send('r'.repeat(10 * 1024), { fin: i === 4 });
    await until(f, () => f.closeCode !== null);
    check(f.closeCode === 1009, `fragmented close ${f.closeCode}`);
  });

  await step('WebSocket: slow consumer over ws_queue_max → TOOBIG, close 1008', async () => {
    const c = openWs({ origin: goodOrigin });
    await until(c, () => c.msgs.length >= 1);
    c.ws.send('flood');
    await until(c, () => c.closeCode !== null);
    check(c.closeCode === 1008, `close ${c.closeCode}`);
  });

  await step('WebSocket: 50 concurrent clients, broadcast reaches each', async () => {
    const cs = [];
    for (let i = 0; i < 50; i++) cs.push(openWs({ origin: goodOrigin }));
    for (const c of cs) await until(c, () => c.msgs.length >= 1);
    const r = await fetch(`${base}/broadcast?tag=one`);
    check(Number(await r.text()) === 50, 'sent to 50');
    for (const c of cs) await until(c, () => c.msgs.length >= 2);
    check(cs.every((c) => c.msgs[1] === 'bcast:one'), 'each got it');
    const before = await stats();
    cs.forEach((c) => c.ws.close());
    for (const c of cs) await until(c, () => c.closeCode !== null);
    let s;
    for (let i = 0; i < 40; i++) {
      s = await stats();
      if (s.open === before.open - 50) break;
      await sleep(50);
    }
    check(s.open === before.open - 50, `open ${before.open} → ${s.open}`);
    check(s.closed === s.accepted - s.open, `closed ${s.closed} accepted ${s.accepted}`);
    check(s.double_close === 0, 'double close');
  });

  await step('abrupt disconnects', async () => {
    const before = await stats();
    const cs = [];
    for (let i = 0; i < 5; i++) cs.push(openWs({ origin: goodOrigin }));
    for (const c of cs) await until(c, () => c.msgs.length >= 1);
    cs.forEach((c) => c.ws._socket.destroy());
    const st = await rawConnect();
    st.s.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\npartial');
    await sleep(50);
    st.s.destroy();
    for (const wait of [0, 30]) {
      // an upgrade request, then gone before (0) or right after (30 ms) the 101
      const u = await rawConnect();
      u.s.write(
        `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nOrigin: ${goodOrigin}\r\n` +
          'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      );
      if (wait) await sleep(wait);
      u.s.destroy();
    }
    let s;
    for (let i = 0; i < 40; i++) {
      await sleep(50);
      s = await stats();
      if (s.open === before.open) break;
    }
    check(s.open === before.open, `open ${before.open} → ${s.open}`);
    check(s.double_close === 0, 'double close');
  });

  await step('garbage, oversize headers, traversal, slowloris', async () => {
    const junk = [
      'GARBAGE\r\n\r\n',
      '\x00\x01\x02\x03\xff\xfe\r\n\r\n',
      'GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: ' + 'h'.repeat(20000) + '\r\n\r\n',
      'GET /' + 'u'.repeat(9000) + ' HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n',
      'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n',
      'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n',
      'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
      'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    ];
    for (const j of junk) {
      const st = await rawConnect();
      st.s.write(Buffer.from(j, 'latin1'));
      const r = await Promise.race([readResponse(st), sleep(3000).then(() => 'timeout')]);
      check(r !== 'timeout', `no answer and no close for ${JSON.stringify(j.slice(0, 40))}`);
      check(r === null || r.status >= 400, `accepted junk ${JSON.stringify(j.slice(0, 40))}`);
      st.s.destroy();
    }
    // lws folds ".." segments before we see the path: it cannot escape "/"
    const st = await rawConnect();
    st.s.write('GET /x/../echo?a=t HTTP/1.1\r\nHost: x\r\n\r\n');
    const r = await readResponse(st);
    check(r && r.status === 200 && JSON.parse(r.body).path === '/echo', 'dot-dot folded');
    st.s.destroy();
    // slowloris: headers never finish → dropped after header_timeout_secs (2 s)
    const slow = await rawConnect();
    const t0 = Date.now();
    slow.s.write('GET /echo HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => !slow.closed && slow.s.write('X-A: b\r\n'), 300);
    const ok = await fetch(`${base}/echo?a=meanwhile`);
    check(ok.status === 200, 'served meanwhile');
    const closed = await waitClosed(slow, 6000);
    clearInterval(drip);
    check(closed, 'slowloris not dropped');
    check(Date.now() - t0 < 5000, `dropped late (${Date.now() - t0} ms)`);
    // a body that never completes
    const slowBody = await rawConnect();
    slowBody.s.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab');
    check(await waitClosed(slowBody, 12000), 'stalled body not dropped');
    const s = await stats();
    check(s.double_close === 0, 'double close');
    check((await fetch(`${base}/echo`)).status === 200, 'still serving');
  });

  await step('sb_server_free with clients connected', async () => {
    const cs = [];
    for (let i = 0; i < 3; i++) cs.push(openWs({ origin: goodOrigin }));
    for (const c of cs) await until(c, () => c.msgs.length >= 1);
    const hold = await rawConnect();
    hold.s.write('GET /hold HTTP/1.1\r\nHost: x\r\n\r\n');
    const half = await rawConnect(); // a request whose headers are not finished yet
    half.s.write('GET /echo HTTP/1.1\r\n');
    await sleep(100);
    const r = await fetch(`${base}/shutdown`);
    check(r.status === 200, 'shutdown answered');
    for (const c of cs) await until(c, () => c.closeCode !== null, 5000);
    check(cs.every((c) => c.closeCode === 1001 || c.closeCode === 1006), 'ws closed');
    check(await waitClosed(hold, 5000), 'held request closed');
    check(await waitClosed(half, 5000), 'half request closed');
    let refused = false;
    try {
      await fetch(`${base}/echo`);
    } catch (e) {
      refused = true;
    }
    check(refused, 'still accepting after sb_server_free');
  });

  console.log(failures ? `${failures} driver step(s) failed` : 'driver: all steps passed');
  process.exit(failures ? 1 : 0);
}

main().catch((e) => {
  console.log(`FAIL driver: ${e.stack}`);
  process.exit(1);
});
