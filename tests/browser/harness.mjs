// Test harness: on free ports, a throwaway redis-server, the relay binary, and a real nginx
// rendered from nginx.conf.example. Everything it starts is killed by pid in stopAll(), which the
// tests call from after() so it runs on failure too; an exit hook is the last resort.
//
// Rendering nginx.conf.example is plain substitution of the values marked "SET:" there:
//   '127.0.0.1:8080'              -> 127.0.0.1:<relay port>
//   'listen 80;'                  -> listen 127.0.0.1:<nginx port>;
//   '/var/lib/nginx/', '/var/log/nginx/', '/run/nginx-notify.pid'  -> inside a temp dir
//   'allow 10.0.0.0/8;'           -> allow 127.0.0.2;   (so 127.0.0.1 is a "foreign" address)
//   'proxy_read_timeout 60s;'     -> the test's /events read timeout, if it asks for one
// Tests may add whole server {} blocks of their own (extraHttp), inserted before the final '}'
// of http {}; the example itself is never edited.

import { spawn, execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import net from 'node:net';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const RELAY_BIN = path.join(ROOT, 'target/debug/notify-relay');
export const JWT_SECRET = 'browser-test-secret';
export const PUBLISH_KEY = 'browser-test-publish-key';

const children = new Set();
process.on('exit', () => {
  for (const c of children) {
    // SIGTERM, not SIGKILL: nginx's master must live long enough to take its workers down.
    try { process.kill(c.pid, 'SIGTERM'); } catch { /* already gone */ }
  }
});

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `check` until it returns a truthy value; the value is returned. */
export async function waitFor(check, { timeoutMs = 10000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastErr;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out waiting for ${what}${lastErr ? `: ${lastErr.message}` : ''}`);
}

function track(name, child) {
  const logs = [];
  const keep = (chunk) => {
    logs.push(chunk.toString());
    if (logs.length > 400) logs.splice(0, 100);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => {
    children.delete(child);
    resolve({ code, signal });
  }));
  children.add(child);
  return { name, child, pid: child.pid, logs, exited };
}

async function stopProc(proc, signal = 'SIGTERM', graceMs = 5000) {
  if (!proc || !children.has(proc.child)) return proc ? proc.exited : undefined;
  try { process.kill(proc.pid, signal); } catch { /* gone */ }
  const done = await Promise.race([proc.exited, sleep(graceMs).then(() => null)]);
  if (done) return done;
  try { process.kill(proc.pid, 'SIGKILL'); } catch { /* gone */ }
  return proc.exited;
}

function tcpOpen(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** A minimal HTTP client: resolves {status, headers, body}. */
export function request(url, { method = 'GET', headers = {}, body, localAddress, timeoutMs = 30000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, localAddress, agent: false }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on('error', reject);
    if (body !== undefined) req.end(typeof body === 'string' ? body : JSON.stringify(body));
    else req.end();
  });
}

/**
 * Opens a raw streaming GET and records every chunk with its arrival time, so a test can tell
 * "arrived promptly" from "held back by a buffer".
 */
export function openStream(url, { headers = {} } = {}) {
  const chunks = [];
  let text = '';
  let res;
  let ended = false;
  const waiters = new Set();
  const notify = () => { for (const w of waiters) w(); };
  const req = http.get(url, { headers, agent: false }, (r) => {
    res = r;
    r.setEncoding('utf8');
    r.on('data', (c) => { chunks.push({ at: Date.now(), data: c }); text += c; notify(); });
    r.on('end', () => { ended = true; notify(); });
    r.on('error', () => { ended = true; notify(); });
    notify();
  });
  req.on('error', () => { ended = true; notify(); });
  return {
    chunks,
    get text() { return text; },
    get ended() { return ended; },
    get response() { return res; },
    /** Resolves once pred(text) holds; rejects if the stream ends first or on timeout. */
    until(pred, timeoutMs = 10000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pred(text)) { cleanup(); resolve(text); } else if (ended) { cleanup(); reject(new Error(`stream ended; got ${JSON.stringify(text)}`)); }
        };
        const timer = setTimeout(() => { cleanup(); reject(new Error(`timeout; got ${JSON.stringify(text)}`)); }, timeoutMs);
        const cleanup = () => { clearTimeout(timer); waiters.delete(check); };
        waiters.add(check);
        check();
      });
    },
    close() { req.destroy(); },
  };
}

/** An HS256 JWT as the relay expects: sub = user id string, exp. */
export function mintToken(userId, { secret = JWT_SECRET, ttlSecs = 3600 } = {}) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const head = b64({ alg: 'HS256', typ: 'JWT' });
  const body = b64({ sub: String(userId), exp: Math.floor(Date.now() / 1000) + ttlSecs });
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

export function renderNginxConf(example, { dir, relayPort, nginxPort, eventsReadTimeout, extraHttp = '' }) {
  let conf = example
    .replaceAll('127.0.0.1:8080', `127.0.0.1:${relayPort}`)
    .replaceAll('listen 80;', `listen 127.0.0.1:${nginxPort};`)
    .replaceAll('/var/lib/nginx/', `${dir}/`)
    .replaceAll('/var/log/nginx/', `${dir}/`)
    .replaceAll('/run/nginx-notify.pid', `${dir}/nginx.pid`)
    .replaceAll('allow 10.0.0.0/8;', 'allow 127.0.0.2;');
  if (eventsReadTimeout) {
    if (!conf.includes('proxy_read_timeout 60s;')) throw new Error('example lost its /events read timeout marker');
    conf = conf.replaceAll('proxy_read_timeout 60s;', `proxy_read_timeout ${eventsReadTimeout};`);
  }
  if (extraHttp) {
    const end = conf.lastIndexOf('}');
    conf = `${conf.slice(0, end)}\n${extraHttp}\n}\n`;
  }
  return conf;
}

/**
 * Starts redis, the relay and nginx. Options:
 *   relayArgs: extra relay flags; keepaliveSecs; eventsReadTimeout ('3s');
 *   extraHttp(ports) -> string: extra server blocks for the test's own nginx config;
 *   extraPorts: how many additional free ports to reserve for extraHttp.
 */
export async function startStack(opts = {}) {
  // A port found free can be taken before its server binds it (the kernel hands out the same
  // range for the local end of outgoing connections): then the stack starts again on new ports.
  for (let attempt = 1; ; attempt++) {
    const stack = new Stack(opts);
    try {
      await stack.start();
      return stack;
    } catch (e) {
      await stack.stopAll();
      if (attempt >= 3 || !String(e.message).includes('Address already in use')) throw e;
    }
  }
}

class Stack {
  constructor(opts) {
    this.opts = opts;
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'notify-browser-'));
  }

  async start() {
    if (!existsSync(RELAY_BIN)) throw new Error(`${RELAY_BIN} is missing: run cargo build first`);
    this.redisPort = await freePort();
    this.relayPort = await freePort();
    this.nginxPort = await freePort();
    this.extraPorts = [];
    for (let i = 0; i < (this.opts.extraPorts ?? 0); i++) this.extraPorts.push(await freePort());
    await this.startRedis();
    await this.startRelay();
    await this.startNginx();
  }

  get relayUrl() { return `http://127.0.0.1:${this.relayPort}`; }
  get url() { return `http://127.0.0.1:${this.nginxPort}`; }

  async startRedis() {
    const child = spawn('redis-server', [
      '--port', String(this.redisPort), '--bind', '127.0.0.1',
      '--save', '', '--appendonly', 'no', '--dir', this.dir,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.redis = track('redis', child);
    const exitedEarly = this.redis.exited.then(() => { throw new Error(`redis exited: ${this.redis.logs.join('')}`); });
    await Promise.race([waitFor(() => tcpOpen(this.redisPort), { what: 'redis to listen' }), exitedEarly]);
    exitedEarly.catch(() => {});
  }

  async stopRedis() { await stopProc(this.redis, 'SIGKILL'); }

  async startRelay() {
    const args = [
      '--listen', `127.0.0.1:${this.relayPort}`,
      '--redis-url', `redis://127.0.0.1:${this.redisPort}`,
      '--jwt-secret', JWT_SECRET,
      '--publish-key', PUBLISH_KEY,
      '--keepalive-secs', String(this.opts.keepaliveSecs ?? 15),
      '--workers', '2',
      // nginx.conf.example's advice: nginx (on this host) names the client in X-Forwarded-For.
      '--trusted-proxies', '127.0.0.1',
      ...(this.opts.relayArgs ?? []),
    ];
    const child = spawn(RELAY_BIN, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' },
    });
    this.relay = track('relay', child);
    const exitedEarly = this.relay.exited.then(() => { throw new Error(`relay exited: ${this.relay.logs.join('')}`); });
    await Promise.race([
      waitFor(async () => (await request(`${this.relayUrl}/readyz`, { timeoutMs: 2000 })).status === 200,
        { what: 'relay /readyz' }),
      exitedEarly,
    ]);
    exitedEarly.catch(() => {});
    // Ready over HTTP is not yet subscribed to Redis; a PUBLISH before that reaches nobody.
    await waitFor(() => new Promise((resolve) => {
      execFile('redis-cli', ['-p', String(this.redisPort), 'PUBSUB', 'NUMSUB', 'image_update'],
        (err, out) => resolve(!err && Number(out.trim().split('\n')[1]) >= 1));
    }), { what: 'relay to subscribe to image_update' });
  }

  /** SIGTERM, as a deployment would: the relay ends its streams and exits. */
  async stopRelay(signal = 'SIGTERM') { return stopProc(this.relay, signal); }

  async startNginx() {
    const example = readFileSync(path.join(ROOT, 'nginx.conf.example'), 'utf8');
    const extraHttp = this.opts.extraHttp ? this.opts.extraHttp(this) : '';
    const conf = renderNginxConf(example, {
      dir: this.dir,
      relayPort: this.relayPort,
      nginxPort: this.nginxPort,
      eventsReadTimeout: this.opts.eventsReadTimeout,
      extraHttp,
    });
    this.confFile = path.join(this.dir, 'nginx.conf');
    writeFileSync(this.confFile, conf);
    const child = spawn('nginx', ['-p', this.dir, '-c', this.confFile, '-g', 'daemon off;'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    this.nginx = track('nginx', child);
    const ports = [this.nginxPort, ...this.extraPorts];
    const exitedEarly = this.nginx.exited.then(() => {
      let log = '';
      try { log = readFileSync(path.join(this.dir, 'notify-relay.error.log'), 'utf8'); } catch { /* none */ }
      throw new Error(`nginx exited: ${this.nginx.logs.join('')} ${log}`);
    });
    await Promise.race([
      waitFor(async () => (await Promise.all(ports.map((p) => tcpOpen(p)))).every(Boolean), { what: 'nginx to listen' }),
      exitedEarly,
    ]);
    exitedEarly.catch(() => {});
  }

  /** Publishes over Redis pub/sub, the way the PHP app does. */
  redisPublish(message) {
    return new Promise((resolve, reject) => {
      execFile('redis-cli', ['-p', String(this.redisPort), 'PUBLISH', 'image_update', JSON.stringify(message)],
        (err, stdout) => (err ? reject(err) : resolve(Number(stdout.trim()))));
    });
  }

  /** Publishes over HTTP straight to the relay; resolves the assigned id. */
  async publish(message) {
    const res = await request(`${this.relayUrl}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${PUBLISH_KEY}` },
      body: message,
    });
    if (res.status !== 202) throw new Error(`publish: ${res.status} ${res.body}`);
    return JSON.parse(res.body).id;
  }

  /** Open streams and polls on the relay, from /readyz. */
  async relayConnections() {
    const res = await request(`${this.relayUrl}/readyz`, { timeoutMs: 2000 });
    return JSON.parse(res.body).connections;
  }

  logs() {
    let nginxErr = '';
    try { nginxErr = readFileSync(path.join(this.dir, 'notify-relay.error.log'), 'utf8'); } catch { /* none */ }
    return `--- relay\n${this.relay?.logs.join('') ?? ''}\n--- nginx\n${nginxErr}`;
  }

  async stopAll() {
    await Promise.all([stopProc(this.nginx, 'SIGTERM', 3000), stopProc(this.relay, 'SIGTERM', 3000)]);
    await stopProc(this.redis, 'SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
