// The browser client in headless Chromium (Debian's, driven by playwright-core), against the relay
// (redis broker) behind nginx rendered from nginx.conf.example. The demo page (static/index.html)
// hosts the client and records what it delivers in window.notifyDemo.
//
// The relay runs with --keepalive-secs 1 and pages pass keepalive=1, so the client's stall
// window is 1 * 1.5 + 2 = 3.5 s.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { startStack, openStream, mintToken, sleep, waitFor } from './harness.mjs';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'];

// The broken proxy of the fallback test lives only here, never in the example: it compresses the
// stream (gzip waits for a full block before it writes anything, headers included) and ignores
// the relay's X-Accel-Buffering: no. See CRATE-NOTES: buffering alone does not stall nginx 1.22.
const brokenProxy = (s) => `
    server {
        listen 127.0.0.1:${s.extraPorts[0]};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location / {
            proxy_pass http://notify_relay;
            proxy_buffering on;
            proxy_ignore_headers X-Accel-Buffering;
            proxy_hide_header Content-Encoding;
            gzip on;
            gzip_types text/event-stream;
            gzip_min_length 0;
        }
    }`;

let stack;
let browser;
const pageErrors = [];

before(async () => {
  // A short history (the relay trims per-user history in whole blocks of ~100 entries) lets the
  // reset test push a cursor out of history with a few hundred events.
  stack = await startStack({ keepaliveSecs: 1, extraPorts: 1, extraHttp: brokenProxy, relayArgs: ['--history-len', '10'] });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close().catch(() => {});
  await stack?.stopAll();
});

async function openDemo(context, base, user, extra = '') {
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.goto(`${base}/?token=${mintToken(user)}&keepalive=1${extra}`);
  return page;
}

const received = (page) => page.evaluate(() => window.notifyDemo.received.map((e) => ({ id: e.id, data: e.data, transport: e.transport })));
const waitCount = (page, n, timeout = 15000) =>
  page.waitForFunction((k) => window.notifyDemo.received.length >= k, n, { timeout });

test('a page gets an event published to Redis over EventSource, image shown', async () => {
  const context = await browser.newContext();
  try {
    const page = await openDemo(context, stack.url, 42);
    await page.waitForFunction(() => window.notifyDemo.client?.state === 'open');
    assert.equal(await page.evaluate(() => window.notifyDemo.client.transport), 'sse');
    assert.equal(await stack.redisPublish({ user_id: 42, img_url: '/x.jpg' }), 1);
    await waitCount(page, 1, 5000);
    const [evt] = await received(page);
    assert.deepEqual(evt.data, { user_id: 42, img_url: '/x.jpg' });
    assert.equal(evt.transport, 'sse');
    assert.equal(await page.getAttribute('#events li img', 'src'), '/x.jpg');
    assert.equal(await page.textContent('#transport'), 'sse');
    assert.deepEqual(pageErrors, []);
  } finally {
    await context.close();
  }
});

test('behind a proxy that buffers the stream, the client falls back to long-poll, losing nothing', async () => {
  const broken = `http://127.0.0.1:${stack.extraPorts[0]}`;
  // First make sure the proxy really is broken: not one byte, not even headers, in 4 s of
  // keepalives every second. Otherwise this test would prove nothing.
  const probe = openStream(`${broken}/events?token=${mintToken(43)}`, { headers: { 'accept-encoding': 'gzip' } });
  await sleep(4000);
  const leaked = probe.chunks.length + (probe.response ? 1 : 0);
  probe.close();
  assert.equal(leaked, 0, 'the broken proxy let the stream through');

  const context = await browser.newContext();
  try {
    const requests = [];
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(`${broken}/?token=${mintToken(43)}&keepalive=1`);
    // An event published while the stream is stuck (the EventSource exists, the watchdog has not
    // fired yet) must still arrive after the switch.
    await page.waitForFunction(() => window.notifyDemo.client?.lastEventId);
    await waitFor(() => requests.some((u) => u.includes('/events?')), { what: 'the EventSource request' });
    const ids = [await stack.publish({ user_id: 43, n: 1 })];
    await page.waitForFunction(() => window.notifyDemo.client.transport === 'poll', null, { timeout: 10000 });
    ids.push(await stack.publish({ user_id: 43, n: 2 }));
    ids.push(await stack.publish({ user_id: 43, n: 3 }));
    await waitCount(page, 3);
    await sleep(500); // a duplicate would arrive right behind the third event
    const got = await received(page);
    assert.deepEqual(got.map((e) => e.id), ids, 'every event once, in order');
    assert.deepEqual(got.map((e) => e.data.n), [1, 2, 3]);
    assert.ok(got.every((e) => e.transport === 'poll'));
    assert.deepEqual(pageErrors, []);
  } finally {
    await context.close();
  }
});

test('the relay restarts mid-session: the page resumes from its last id, every event once, in order', async () => {
  const context = await browser.newContext();
  try {
    const page = await openDemo(context, stack.url, 44);
    const eventsRequests = [];
    page.on('request', (r) => { if (r.url().includes('/events?')) eventsRequests.push(r.url()); });
    await page.waitForFunction(() => window.notifyDemo.client?.state === 'open');
    const ids = [await stack.publish({ user_id: 44, n: 1 })];
    await waitCount(page, 1);

    await stack.stopRelay('SIGTERM');
    await page.waitForFunction(() => window.notifyDemo.client.state === 'reconnecting');
    // Keep the page from reconnecting until the events below are published, so they are
    // certainly published "before the page has reconnected" and must come from history.
    const block = (route) => route.abort('connectionrefused');
    await page.route(/\/(events|poll)\?/, block);
    await stack.startRelay();
    ids.push(await stack.publish({ user_id: 44, n: 2 }));
    ids.push(await stack.publish({ user_id: 44, n: 3 }));
    assert.equal(await stack.relayConnections(), 0, 'the page reconnected before the publishes');
    const before = eventsRequests.length;
    await page.unroute(/\/(events|poll)\?/, block);

    await waitCount(page, 3, 20000);
    await page.waitForFunction(() => window.notifyDemo.client.state === 'open');
    ids.push(await stack.publish({ user_id: 44, n: 4 }));
    await waitCount(page, 4);
    await sleep(500);
    const got = await received(page);
    assert.deepEqual(got.map((e) => e.id), ids, 'every event once, in order');
    assert.deepEqual(got.map((e) => e.data.n), [1, 2, 3, 4]);
    const resumed = eventsRequests.slice(before).map((u) => new URL(u).searchParams.get('last_event_id'));
    assert.ok(resumed.length > 0 && resumed[0] === ids[0], `resumed with ${JSON.stringify(resumed)}, want ${ids[0]}`);
    assert.deepEqual(pageErrors, []);
  } finally {
    await context.close();
  }
});

test('two tabs with `shared` get every event over one relay connection, and survive the leader closing', async () => {
  const context = await browser.newContext();
  try {
    // The previous test's tabs are gone, but the relay learns of it asynchronously.
    await waitFor(async () => (await stack.relayConnections()) === 0, { what: 'no relay connection left' });
    const a = await openDemo(context, stack.url, 45, '&shared=u45');
    await a.waitForFunction(() => window.notifyDemo.client?.state === 'open');
    const b = await openDemo(context, stack.url, 45, '&shared=u45');
    await b.waitForFunction(() => window.notifyDemo.client?.state === 'open');
    const roles = [await a.evaluate(() => window.notifyDemo.client.role), await b.evaluate(() => window.notifyDemo.client.role)];
    assert.deepEqual(roles, ['leader', 'follower']);
    await waitFor(async () => (await stack.relayConnections()) === 1, { what: 'one relay connection' });

    const ids = [await stack.publish({ user_id: 45, n: 1 }), await stack.publish({ user_id: 45, n: 2 })];
    await Promise.all([waitCount(a, 2), waitCount(b, 2)]);
    assert.equal(await stack.relayConnections(), 1, 'the follower tab opened its own connection');
    assert.deepEqual((await received(a)).map((e) => e.id), ids);
    assert.deepEqual((await received(b)).map((e) => e.id), ids);

    // The leader goes away; the other tab takes over from the last id it saw, so an event
    // published in between is not lost.
    await a.close();
    ids.push(await stack.publish({ user_id: 45, n: 3 }));
    await b.waitForFunction(() => window.notifyDemo.client.role === 'leader');
    ids.push(await stack.publish({ user_id: 45, n: 4 }));
    await waitCount(b, 4);
    await sleep(500);
    assert.deepEqual((await received(b)).map((e) => e.id), ids, 'every event once, in order');
    await waitFor(async () => (await stack.relayConnections()) === 1, { what: 'one relay connection after takeover' });
    assert.deepEqual(pageErrors, []);
  } finally {
    await context.close();
  }
});

test('the client also loads with a module import (import "/notify-client.js", then the global)', async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    // /healthz: a page of this origin that does not load the client itself.
    await page.goto(`${stack.url}/healthz`);
    assert.equal(await page.evaluate(() => typeof globalThis.NotifyClient), 'undefined');
    const kind = await page.evaluate(async () => {
      await import('/notify-client.js');
      const c = new globalThis.NotifyClient({ token: 'x' });
      return [typeof globalThis.NotifyClient, c.transport, c.state];
    });
    assert.deepEqual(kind, ['function', null, 'idle']);
  } finally {
    await context.close();
  }
});

test('without EventSource the client long-polls from the start', async () => {
  const context = await browser.newContext();
  try {
    await context.addInitScript(() => { delete window.EventSource; });
    const page = await openDemo(context, stack.url, 46);
    await page.waitForFunction(() => window.notifyDemo.client?.state === 'open');
    assert.equal(await page.evaluate(() => window.notifyDemo.client.transport), 'poll');
    const id = await stack.publish({ user_id: 46, img_url: '/p.jpg' });
    await waitCount(page, 1);
    assert.deepEqual((await received(page)).map((e) => [e.id, e.transport]), [[id, 'poll']]);
  } finally {
    await context.close();
  }
});

test('when /events fails before opening (a proxy answering 502), the client long-polls', async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    let tries = 0;
    await page.route(/\/events\?/, (route) => { tries++; return route.fulfill({ status: 502, body: 'bad gateway' }); });
    await page.goto(`${stack.url}/?token=${mintToken(47)}&keepalive=1`);
    await page.waitForFunction(() => window.notifyDemo.client?.transport === 'poll');
    const ids = [await stack.publish({ user_id: 47, n: 1 }), await stack.publish({ user_id: 47, n: 2 })];
    await waitCount(page, 2);
    await sleep(300);
    assert.deepEqual((await received(page)).map((e) => e.id), ids);
    // One failure may be the relay restarting; the second in a row, with polls working, means
    // SSE is blocked on the way: the client stops trying it for a while.
    assert.equal(tries, 2);
  } finally {
    await context.close();
  }
});

test('a token function is called again on reconnect: an expired first token is replaced', async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    let calls = 0;
    // The first token is already expired, as after a laptop wakes up; a string token could
    // never recover from that, a function can.
    await page.exposeFunction('getToken', () => mintToken(48, { ttlSecs: calls++ === 0 ? -60 : 600 }));
    await page.goto(`${stack.url}/healthz`);
    await page.setContent('<script src="/notify-client.js"></script>');
    await page.evaluate(() => {
      window.got = [];
      window.client = new NotifyClient({ token: () => window.getToken(), keepaliveSecs: 1, retryMinMs: 200 });
      window.client.on('message', (e) => window.got.push(e.id));
      window.client.start();
    });
    await page.waitForFunction(() => window.client.state === 'open' && window.client.transport === 'sse');
    assert.ok(calls >= 2, `token function called ${calls} times`);
    const id = await stack.publish({ user_id: 48, n: 1 });
    await page.waitForFunction(() => window.got.length === 1);
    assert.deepEqual(await page.evaluate(() => window.got), [id]);
    await page.evaluate(() => window.client.close());
    assert.equal(await page.evaluate(() => [window.client.state, window.client.transport].join()), 'closed,');
  } finally {
    await context.close();
  }
});

test('a cursor that fell out of history is reported as a reset, then delivery goes on', async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${stack.url}/healthz`);
    await page.setContent('<script src="/notify-client.js"></script>');
    const connect = (token, lastEventId) => page.evaluate(([t, last]) => {
      window.got = [];
      window.resets = [];
      window.client = new NotifyClient({ token: t, keepaliveSecs: 1, lastEventId: last });
      window.client.on('message', (e) => window.got.push(e.id));
      window.client.on('reset', (r) => window.resets.push(r));
      window.client.start();
    }, [token, lastEventId]);
    const token = mintToken(49);
    await connect(token, null);
    await page.waitForFunction(() => window.client.state === 'open');
    const first = await stack.publish({ user_id: 49, n: 0 });
    await page.waitForFunction(() => window.got.length === 1);
    // The user goes away while far more events than the history holds are published, then
    // comes back with the last id it saw.
    await page.evaluate(() => window.client.close());
    let last;
    for (let i = 1; i <= 250; i++) last = await stack.publish({ user_id: 49, n: i });
    await connect(token, first);
    await page.waitForFunction(() => window.resets.length === 1);
    const reset = await page.evaluate(() => window.resets[0]);
    assert.equal(reset.reason, 'cursor_too_old');
    assert.equal(reset.cursor, last);
    assert.equal(await page.evaluate(() => window.client.lastEventId), last);
    const next = await stack.publish({ user_id: 49, n: 251 });
    await page.waitForFunction(() => window.got.length === 1);
    await sleep(300);
    assert.deepEqual(await page.evaluate(() => window.got), [next]);
  } finally {
    await context.close();
  }
});

test('named events listed in `events` arrive with their name, in order with unnamed ones', async () => {
  const context = await browser.newContext();
  try {
    const page = await openDemo(context, stack.url, 50, '&events=image_ready');
    await page.waitForFunction(() => window.notifyDemo.client?.state === 'open');
    const ids = [
      await stack.publish({ user_id: 50, event: 'image_ready', img_url: '/a.jpg' }),
      await stack.publish({ user_id: 50, img_url: '/b.jpg' }),
      await stack.publish({ user_id: 50, event: 'not_listened', img_url: '/c.jpg' }),
      await stack.publish({ user_id: 50, event: 'image_ready', img_url: '/d.jpg' }),
    ];
    await waitCount(page, 3);
    await sleep(300);
    const got = await page.evaluate(() => window.notifyDemo.received.map((e) => [e.id, e.event, e.data.img_url]));
    assert.deepEqual(got, [
      [ids[0], 'image_ready', '/a.jpg'],
      [ids[1], 'message', '/b.jpg'],
      [ids[3], 'image_ready', '/d.jpg'],
    ]);
  } finally {
    await context.close();
  }
});
