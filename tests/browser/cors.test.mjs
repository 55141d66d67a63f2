// A page on another origin than the relay, in headless Chromium: the relay runs with
// --cors-origins naming one page origin, and a tiny node server serves the same page on two
// ports, so one origin is allowed and the other is not. The page talks to the relay directly
// (http://127.0.0.1:<relay port>); the relay's own test suite covers the headers, this one shows
// a real browser accepts them: credentials, preflight, and the token-expiry reconnect.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { chromium } from 'playwright-core';
import { startStack, mintToken, sleep } from './harness.mjs';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'];

let stack;
let browser;
let pages;
let allowedOrigin;
let otherOrigin;

/**
 * Serves one page that loads the relay's client, on `count` ports the kernel picks (bound at
 * once, so no other server can take them first); `relayUrl()` is read per request, since the
 * relay starts after the pages (its --cors-origins names their origins).
 */
async function startPageServers(count, relayUrl) {
  const servers = await Promise.all(Array.from({ length: count }, () => new Promise((resolve, reject) => {
    const srv = http.createServer((req, res) => {
      const html = `<!doctype html><html><head><meta charset="utf-8">
<script src="${relayUrl()}/notify-client.js"></script></head><body>app page</body></html>`;
      res.writeHead(req.url === '/' ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
      res.end(req.url === '/' ? html : 'not found');
    });
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  })));
  return {
    ports: servers.map((s) => s.address().port),
    close: () => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))),
  };
}

before(async () => {
  pages = await startPageServers(2, () => stack.relayUrl);
  const [allowedPort, otherPort] = pages.ports;
  allowedOrigin = `http://127.0.0.1:${allowedPort}`;
  otherOrigin = `http://127.0.0.1:${otherPort}`;
  stack = await startStack({ keepaliveSecs: 1, relayArgs: ['--cors-origins', allowedOrigin] });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close().catch(() => {});
  await pages?.close();
  await stack?.stopAll();
});

/** A page on `origin` whose relay cookie (sent only with credentials) is a token for `user`. */
async function openPage(origin, user) {
  const context = await browser.newContext();
  await context.addCookies([{ name: 'notify_token', value: mintToken(user), url: stack.relayUrl }]);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${origin}/`);
  return { context, page, errors };
}

/** Opens `new EventSource(relay/events, {withCredentials: true})`, no token in the URL. */
const openEventSource = (page, relayUrl) => page.evaluate((relay) => {
  window.got = [];
  window.sseErrors = 0;
  const es = new EventSource(`${relay}/events`, { withCredentials: true });
  es.onopen = () => { window.sseOpen = true; };
  es.onmessage = (e) => window.got.push({ id: e.lastEventId, data: JSON.parse(e.data) });
  es.onerror = () => { window.sseErrors += 1; };
  window.es = es;
}, relayUrl);

test('a page on an allowed origin gets events over EventSource with credentials (the cookie)', async () => {
  const { context, page, errors } = await openPage(allowedOrigin, 61);
  try {
    await openEventSource(page, stack.relayUrl);
    await page.waitForFunction(() => window.sseOpen === true, null, { timeout: 5000 });
    const id = await stack.publish({ user_id: 61, img_url: '/a.jpg' });
    await page.waitForFunction(() => window.got.length >= 1, null, { timeout: 5000 });
    assert.deepEqual(await page.evaluate(() => window.got), [{ id, data: { user_id: 61, img_url: '/a.jpg' } }]);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('a page on an origin not in the list is refused: the EventSource fails and gets nothing', async () => {
  const { context, page } = await openPage(otherOrigin, 62);
  try {
    await openEventSource(page, stack.relayUrl);
    // A CORS failure is fatal for an EventSource: it errors and stays closed (readyState 2).
    await page.waitForFunction(() => window.sseErrors > 0 && window.es.readyState === 2, null, { timeout: 5000 });
    await stack.publish({ user_id: 62, n: 1 });
    await sleep(500); // an event that got through would arrive within this
    assert.deepEqual(await page.evaluate(() => window.got), []);
    assert.equal(await page.evaluate(() => window.sseOpen ?? false), false);
  } finally {
    await context.close();
  }
});

test('a preflighted poll (Authorization header) works from the allowed origin and fails from another', async () => {
  const poll = (page, token) => page.evaluate(async ({ relay, token }) => {
    try {
      const res = await fetch(`${relay}/poll`, { headers: { Authorization: `Bearer ${token}` }, credentials: 'include', cache: 'no-store' });
      return { status: res.status, body: await res.json() };
    } catch (e) {
      return { failed: String(e) };
    }
  }, { relay: stack.relayUrl, token });
  const allowed = await openPage(allowedOrigin, 63);
  const other = await openPage(otherOrigin, 63);
  try {
    const ok = await poll(allowed.page, mintToken(63));
    assert.equal(ok.status, 200, JSON.stringify(ok));
    assert.match(ok.body.cursor, /^\d+-\d+$/);
    const refused = await poll(other.page, mintToken(63));
    assert.ok(refused.failed, `a poll from ${otherOrigin} got through: ${JSON.stringify(refused)}`);
  } finally {
    await allowed.context.close();
    await other.context.close();
  }
});

test('a stream whose token expires ends with token-expired; the client resumes with a fresh token, losing nothing', async () => {
  const { context, page, errors } = await openPage(allowedOrigin, 64);
  try {
    // The page's token callback: the first token lives 3 s; later ones an hour, but each later
    // call waits until the test lets it go, so the test can publish while no stream is open.
    await page.exposeFunction('mint', (ttlSecs) => mintToken(64, { ttlSecs }));
    await page.evaluate((relay) => {
      window.tokenCalls = 0;
      window.received = [];
      window.ends = [];
      let release;
      window.gate = new Promise((r) => { release = r; });
      window.release = () => release();
      const client = new NotifyClient({
        baseUrl: relay,
        transport: 'sse',
        keepaliveSecs: 1,
        token: async () => {
          window.tokenCalls += 1;
          if (window.tokenCalls === 1) return window.mint(3);
          await window.gate;
          return window.mint(3600);
        },
      });
      client.on('message', (e) => window.received.push({ id: e.id, n: e.data.n }));
      client.on('end', (r) => window.ends.push({ ...r, at: Date.now() }));
      window.client = client;
      window.startedAt = Date.now();
      client.start();
    }, stack.relayUrl);
    await page.waitForFunction(() => window.client.state === 'open', null, { timeout: 5000 });
    const ids = [await stack.publish({ user_id: 64, n: 1 })];
    await page.waitForFunction(() => window.received.length >= 1, null, { timeout: 5000 });

    await page.waitForFunction(() => window.ends.length >= 1 && window.tokenCalls >= 2, null, { timeout: 8000 });
    const [end] = await page.evaluate(() => window.ends);
    assert.equal(end.reason, 'token_expired');
    const lived = end.at - (await page.evaluate(() => window.startedAt));
    assert.ok(lived < 4500, `the stream outlived its 3 s token: ${lived} ms`);

    // No stream is open now (the client waits for its token): this one must come from history.
    ids.push(await stack.publish({ user_id: 64, n: 2 }));
    await page.evaluate(() => window.release());
    await page.waitForFunction(() => window.received.length >= 2, null, { timeout: 8000 });
    await page.waitForFunction(() => window.client.state === 'open', null, { timeout: 5000 });
    ids.push(await stack.publish({ user_id: 64, n: 3 }));
    await page.waitForFunction(() => window.received.length >= 3, null, { timeout: 5000 });
    await sleep(500); // a duplicate would arrive right behind the third event
    const got = await page.evaluate(() => window.received);
    assert.deepEqual(got.map((e) => e.id), ids, 'every event once, in order');
    assert.deepEqual(got.map((e) => e.n), [1, 2, 3]);
    assert.equal(await page.evaluate(() => window.client.transport), 'sse');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
