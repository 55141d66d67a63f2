// nginx.conf.example against real nginx and the relay (redis broker), without a browser.
// The rendering shortens the /events read timeout to 3 s and the relay's keepalive to 1 s, so
// "keepalives hold a stream open past the proxy's read timeout" takes seconds, not minutes.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, openStream, mintToken, request, sleep, PUBLISH_KEY } from './harness.mjs';

/** Turns the admin routes on, so the test can see nginx keep them from foreign addresses. */
const ADMIN_KEY = 'nginx-test-admin-key-2718';
let stack;

before(async () => {
  stack = await startStack({ keepaliveSecs: 1, eventsReadTimeout: '3s', relayArgs: ['--admin-key', ADMIN_KEY] });
});

after(async () => {
  await stack?.stopAll();
});

const frames = (text) => text.split('\n\n').filter((f) => f.startsWith('id:') && f.includes('data:'));

test('SSE through nginx: headers, and every event arrives as it is published', async () => {
  const token = mintToken(101);
  // Browsers always offer gzip; the stream must come back uncompressed, or gzip would buffer it.
  const s = openStream(`${stack.url}/events?token=${token}`, { headers: { 'accept-encoding': 'gzip, deflate, br' } });
  try {
    await s.until((t) => t.startsWith('retry:'), 5000);
    assert.equal(s.response.statusCode, 200);
    assert.match(s.response.headers['content-type'], /^text\/event-stream/);
    assert.notEqual(s.response.headers['content-encoding'], 'gzip');
    for (let i = 1; i <= 3; i++) {
      const published = Date.now();
      const id = await stack.publish({ user_id: 101, n: i });
      await s.until((t) => t.includes(`id: ${id}\n`), 2000);
      const arrived = s.chunks.find((c) => c.data.includes(`id: ${id}\n`)).at;
      // A buffering proxy would hold a 50-byte frame until its buffer fills or the stream ends.
      assert.ok(arrived - published < 1000, `event ${i} took ${arrived - published} ms`);
    }
    assert.deepEqual(frames(s.text).map((f) => JSON.parse(f.split('data: ')[1]).n), [1, 2, 3]);
  } finally {
    s.close();
  }
});

test('keepalives hold an idle stream open past the proxy read timeout (3 s here)', async () => {
  const s = openStream(`${stack.url}/events?token=${mintToken(102)}`);
  try {
    await s.until((t) => t.startsWith('retry:'), 5000);
    // The point of the test is the passage of time: 10 s idle is over three read timeouts.
    await sleep(10000);
    assert.equal(s.ended, false, `stream was cut: ${JSON.stringify(s.text)}`);
    const keepalives = s.text.split(': keepalive\n\n').length - 1;
    assert.ok(keepalives >= 7, `only ${keepalives} keepalives in 10 s`);
    const id = await stack.publish({ user_id: 102, after: 'idle' });
    await s.until((t) => t.includes(`id: ${id}\n`), 2000);
  } finally {
    s.close();
  }
});

test('/poll through nginx: held until an event, answered at once after, and held past 3 s', async () => {
  const token = mintToken(103);
  const auth = { authorization: `Bearer ${token}` };
  const first = await request(`${stack.url}/poll`, { headers: auth });
  assert.equal(first.status, 200);
  assert.equal(first.headers['cache-control'], 'no-store');
  const { cursor, events } = JSON.parse(first.body);
  assert.deepEqual(events, []);

  // Held: nothing after the cursor yet.
  const before = await stack.relayConnections();
  const started = Date.now();
  const held = request(`${stack.url}/poll?cursor=${cursor}&timeout=20`, { headers: auth });
  // Waits for the relay to count the waiting poll instead of guessing how long nginx takes.
  for (let i = 0; (await stack.relayConnections()) <= before; i++) {
    assert.ok(i < 200, 'the poll never reached the relay');
    await sleep(25);
  }
  const id = await stack.publish({ user_id: 103, img_url: '/p.jpg' });
  const res = await held;
  assert.equal(res.status, 200);
  const body = JSON.parse(res.body);
  assert.deepEqual(body.events.map((e) => e.id), [id]);
  assert.deepEqual(body.events[0].data, { user_id: 103, img_url: '/p.jpg' });
  assert.equal(body.cursor, id);
  assert.ok(Date.now() - started < 15000);

  // An empty poll is held longer than the /events read timeout: /poll has its own.
  const t0 = Date.now();
  const empty = await request(`${stack.url}/poll?cursor=${id}&timeout=5`, { headers: auth });
  assert.equal(empty.status, 200, empty.body);
  assert.deepEqual(JSON.parse(empty.body).events, []);
  assert.ok(Date.now() - t0 >= 4500, `answered after ${Date.now() - t0} ms`);
});

test('/publish through nginx only from the allowed network (127.0.0.2 in this rendering)', async () => {
  const publish = (localAddress) => request(`${stack.url}/publish`, {
    method: 'POST',
    localAddress,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${PUBLISH_KEY}` },
    body: { user_id: 104, img_url: '/deny.jpg' },
  });
  const denied = await publish('127.0.0.1');
  assert.equal(denied.status, 403);
  const allowed = await publish('127.0.0.2');
  assert.equal(allowed.status, 202, allowed.body);
  assert.equal(JSON.parse(allowed.body).recipients, 1);
});

test('every publisher and admin route through nginx only from the allowed network', async () => {
  const key = { authorization: `Bearer ${PUBLISH_KEY}` };
  const json = { ...key, 'content-type': 'application/json' };
  const routes = [
    ['POST', '/publish', json, { user_id: 105 }],
    ['PUT', '/topics/image:105/subscribers/105', key],
    ['GET', '/topics/image:105/subscribers', key],
    ['PUT', '/users/105/contact', json, { email: 'ann@example.com' }],
    ['GET', '/users/105/contact', key],
    ['DELETE', '/users/105/contact', key],
    ['GET', '/notifications?user=105', key],
    ['GET', '/presence/105', key],
    ['GET', '/metrics', {}],
    ['GET', '/admin', {}],
    ['GET', '/admin/overview', { authorization: `Bearer ${ADMIN_KEY}` }],
  ];
  // Spellings nginx normalises onto the same locations: refused the same way.
  const variants = [
    ['POST', '//publish', json, { user_id: 105 }],
    ['GET', '/topics/x/../image:105/subscribers', key],
    ['GET', '/presence/%31%30%35', key],
  ];
  const send = ([method, path, headers, body], localAddress) =>
    request(`${stack.url}${path}`, { method, localAddress, headers, body });
  for (const route of [...routes, ...variants]) {
    const denied = await send(route, '127.0.0.1');
    const what = `${route[0]} ${route[1]}`;
    assert.equal(denied.status, 403, `${what} from a foreign address: ${denied.status}`);
    // nginx's own refusal, not the relay's JSON: the request never reached the relay.
    assert.doesNotMatch(denied.headers['content-type'] ?? '', /json/, what);
  }
  for (const route of routes) {
    const allowed = await send(route, '127.0.0.2');
    assert.ok(allowed.status < 400, `${route[0]} ${route[1]} from the app's network: ${allowed.status} ${allowed.body}`);
  }
  // Subscriber routes and the page stay open to browsers.
  const page = await request(`${stack.url}/`, { localAddress: '127.0.0.1' });
  assert.equal(page.status, 200);
  const poll = await request(`${stack.url}/poll`, {
    localAddress: '127.0.0.1',
    headers: { authorization: `Bearer ${mintToken(105)}` },
  });
  assert.equal(poll.status, 200, poll.body);
});
