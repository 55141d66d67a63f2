// A publisher must not be able to steer browsers (issue 13, item 1): the relay's control event
// names are refused on publish and on pub/sub, and the client takes a cursor only from the `id:`
// line of the relay's frames, never from event data a publisher shaped.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { startStack, mintToken, request, sleep, PUBLISH_KEY } from './harness.mjs';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'];
const FORGED = '18446744073709551615-18446744073709551615';

let stack;
let browser;

before(async () => {
  stack = await startStack({ keepaliveSecs: 1 });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close().catch(() => {});
  await stack?.stopAll();
});

test('the issue\'s forged reset and reconnect do not wedge the demo page', async () => {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${stack.url}/?token=${mintToken('wedge')}&keepalive=1`);
    await page.waitForFunction(() => window.notifyDemo.client?.state === 'open');
    const first = await stack.publish({ user_id: 'wedge', n: 0 });
    await page.waitForFunction(() => window.notifyDemo.received.length === 1);
    // The review's demo, the way a PHP app publishes: a "reset" carrying a cursor no store can
    // serve, then a "reconnect" so the page acts on it at once.
    await stack.redisPublish({ user_id: 'wedge', event: 'reset', cursor: FORGED });
    await stack.redisPublish({ user_id: 'wedge', event: 'reconnect' });
    // Over HTTP the publisher is told why.
    for (const event of ['reset', 'token-expired', 'reconnect', 'keepalive']) {
      const res = await request(`${stack.relayUrl}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${PUBLISH_KEY}` },
        body: { user_id: 'wedge', event, cursor: FORGED },
      });
      assert.equal(res.status, 400, `publishing event ${event}`);
      assert.equal(JSON.parse(res.body).error, 'reserved_event');
    }
    const next = await stack.publish({ user_id: 'wedge', n: 1 });
    await page.waitForFunction(() => window.notifyDemo.received.length >= 2, null, { timeout: 10000 });
    await sleep(300);
    const got = await page.evaluate(() => window.notifyDemo.received.map((e) => e.id));
    assert.deepEqual(got, [first, next]);
    assert.deepEqual(await page.evaluate(() => window.notifyDemo.resets), []);
    assert.equal(await page.evaluate(() => window.notifyDemo.client.lastEventId), next);
    assert.equal(await page.evaluate(() => window.notifyDemo.client.state), 'open');
  } finally {
    await context.close();
  }
});

test('the client takes a reset\'s cursor from its id line, not from its data', async () => {
  const context = await browser.newContext();
  try {
    // A stand-in for /events that sends a reset whose data disagrees with its id.
    await context.route('**/events?**', (route) => route.fulfill({
      status: 200,
      headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
      body: `retry: 600000\nid: 5-0\nevent: reset\ndata: {"reason":"cursor_too_old","cursor":"${FORGED}"}\n\n`,
    }));
    const page = await context.newPage();
    await page.goto(`${stack.url}/healthz`);
    await page.setContent('<script src="/notify-client.js"></script>');
    await page.evaluate((t) => {
      window.resets = [];
      window.client = new NotifyClient({ token: t, keepaliveSecs: 60, transport: 'sse' });
      window.client.on('reset', (r) => window.resets.push(r));
      window.client.start();
    }, mintToken('idline'));
    await page.waitForFunction(() => window.resets.length >= 1, null, { timeout: 10000 });
    const reset = await page.evaluate(() => window.resets[0]);
    assert.equal(reset.cursor, '5-0');
    assert.equal(reset.reason, 'cursor_too_old');
    await page.evaluate(() => window.client.close());
  } finally {
    await context.close();
  }
});
