// peer.js — a small HTTP + WebSocket peer for the net layer's test (loopback only).
// Prints {"port":N} when listening. WS: requires "Authorization: Bearer t"; greets, echoes,
// closes with 4000 on "bye", sends an oversized message on "big", drops the TCP connection on
// "drop". HTTP: echoes method/url/body/auth as JSON with a rate-limit header; /slow answers
// after 3 s; /big answers 5 MiB.
const http = require('http');
const { WebSocketServer } = require('../emulators/node_modules/ws');

const srv = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    if (req.url === '/slow') return setTimeout(() => res.end('late'), 3000);
    if (req.url === '/big') return res.end(Buffer.alloc(5 << 20, 'x'));
    res.writeHead(201, { 'Content-Type': 'application/json', 'X-RateLimit-Remaining': '7' });
    res.end(JSON.stringify({ method: req.method, url: req.url, body, auth: req.headers.authorization || null }));
  });
});
const wss = new WebSocketServer({ noServer: true });
srv.on('upgrade', (req, sock, head) => {
  if (req.headers.authorization !== 'Bearer t') {
    sock.write('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nX-Error-Message: Invalid access token\r\nContent-Length: 0\r\n\r\n');
    return sock.destroy();
  }
  wss.handleUpgrade(req, sock, head, (ws) => {
    ws.send(JSON.stringify({ hello: 'world', path: req.url }));
    ws.on('message', (m) => {
      const s = String(m);
      if (s === 'big') return ws.send('y'.repeat(2 << 20));
      if (s === 'drop') return sock.destroy();
      ws.send('echo:' + s);
      if (s === 'bye') ws.close(4000, 'bye now');
    });
  });
});
srv.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: srv.address().port })));
