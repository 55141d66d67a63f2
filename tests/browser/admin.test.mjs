// The admin page (/admin) in headless Chromium, against the relay (redis broker, mail worker on)
// and a real SMTP server (tests/support/smtp_server.py, aiosmtpd) that answers 550: without the
// key the page shows nothing; with it, it shows live figures, a published event in a user's
// delivery trace, and the email failure (failed emails, the user's log, the trace, recent errors).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startStack, openStream, mintToken, freePort, request, waitFor, ROOT, PUBLISH_KEY } from './harness.mjs';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'];
const ADMIN_KEY = 'browser-admin-key-6502';

let stack;
let browser;
let smtp;
let smtpDir;
const pageErrors = [];

async function startSmtp() {
  const python = path.join(ROOT, '.venv/bin/python');
  if (!existsSync(python)) throw new Error(`${python} is missing: run ./test.sh (it creates .venv)`);
  smtpDir = mkdtempSync(path.join(os.tmpdir(), 'notify-smtp-'));
  const port = await freePort();
  // Every message is refused for good: 550 5.1.1.
  writeFileSync(path.join(smtpDir, 'mode'), 'permfail');
  const child = spawn(python, [path.join(ROOT, 'tests/support/smtp_server.py'), String(port),
    path.join(smtpDir, 'mail'), path.join(smtpDir, 'mode')], { stdio: 'ignore' });
  smtp = { child, port };
  await waitFor(() => new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  }), { what: 'the SMTP server to listen' });
}

before(async () => {
  await startSmtp();
  stack = await startStack({
    keepaliveSecs: 1,
    relayArgs: ['--admin-key', ADMIN_KEY, '--mailer', '--email-grace-secs', '1', '--email-digest-secs', '1',
      '--smtp-host', '127.0.0.1', '--smtp-port', String(smtp.port), '--smtp-tls', 'none',
      '--email-retry-ms', '100', '--email-retry-max-ms', '300'],
  });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close().catch(() => {});
  await stack?.stopAll();
  if (smtp) {
    smtp.child.kill('SIGTERM');
    await new Promise((resolve) => (smtp.child.exitCode !== null ? resolve() : smtp.child.once('exit', resolve)));
  }
  if (smtpDir) rmSync(smtpDir, { recursive: true, force: true });
});

/** Opens /admin on the relay, recording every request URL the page makes. */
async function openAdmin() {
  const page = await browser.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  const urls = [];
  page.on('request', (r) => urls.push(r.url()));
  await page.goto(`${stack.relayUrl}/admin`);
  return { page, urls };
}

async function login(page, key) {
  await page.fill('#key', key);
  await page.click('#open');
}

const text = (page, selector) => page.locator(selector).innerText();
const waitText = (page, selector, needle, timeout = 15000) =>
  page.waitForFunction(([s, n]) => document.querySelector(s)?.innerText.includes(n), [selector, needle], { timeout });

async function lookUp(page, user) {
  await page.fill('#user-id', user);
  await page.click('#lookup');
  await page.waitForSelector('#user-panel:not([hidden])');
}

test('without the key the JSON routes answer 401 and the page shows nothing', async () => {
  const res = await request(`${stack.relayUrl}/admin/overview`);
  assert.equal(res.status, 401);
  assert.equal(JSON.parse(res.body).error, 'bad_admin_key');

  const { page } = await openAdmin();
  assert.equal(await page.locator('#dashboard').isHidden(), true);
  await login(page, 'not-the-key');
  await waitText(page, '#auth-error', 'refused');
  assert.equal(await page.locator('#dashboard').isHidden(), true);
  assert.equal(await text(page, '#instance-figures'), '');
  assert.equal(await text(page, '#cluster-figures'), '');
  await page.close();
});

test('with the key it shows live figures and a published event in a user\'s trace', async () => {
  const { page, urls } = await openAdmin();
  await login(page, ADMIN_KEY);
  await page.waitForSelector('#dashboard:not([hidden])');
  await waitText(page, '#instance-figures', 'tail live');
  assert.match(await text(page, '#instance-figures'), /lease holder\s+yes/);
  assert.match(await text(page, '#cluster-figures'), /email outbox depth\s+0/);

  await lookUp(page, 'web1');
  await page.click('#trace-start');
  await waitText(page, '#trace-state', 'tracing until');
  const stream = openStream(`${stack.relayUrl}/events?token=${mintToken('web1')}`);
  await waitFor(async () => (await stack.relayConnections()) >= 1, { what: 'the stream to open' });
  const id = await stack.publish({ user_id: 'web1', img_url: '/w.jpg' });
  await stream.until((t) => t.includes(id));

  // The page refreshes itself every 2 s.
  await waitText(page, '#trace', 'delivered');
  const trace = await text(page, '#trace');
  assert.ok(trace.includes(id), trace);
  assert.match(trace, /appended[^\n]*source=http/);
  assert.match(trace, /delivered[^\n]*transport=sse/);
  await waitText(page, '#instance-figures', 'SSE streams\t1');
  stream.close();

  // The key went in a header only: never in a URL the page asked for.
  assert.ok(urls.length > 3);
  for (const url of urls) assert.ok(!url.includes(ADMIN_KEY), url);
  assert.equal(page.url(), `${stack.relayUrl}/admin`);
  await page.close();
});

test('it shows an email the SMTP server refused', async () => {
  const contact = await request(`${stack.relayUrl}/users/web2/contact`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${PUBLISH_KEY}` },
    body: { email: 'web2@example.com', email_fallback: true },
  });
  assert.equal(contact.status, 200, contact.body);
  const { page } = await openAdmin();
  await login(page, ADMIN_KEY);
  await page.waitForSelector('#dashboard:not([hidden])');
  await lookUp(page, 'web2');
  await page.click('#trace-start');
  await waitText(page, '#trace-state', 'tracing until');
  await stack.publish({ user_id: 'web2', fallback: 'email', img_url: '/m.jpg' });

  await waitText(page, '#failed-emails', '550');
  assert.match(await text(page, '#failed-emails'), /web2@example\.com/);
  await waitText(page, '#notifications', 'failed');
  assert.match(await text(page, '#notifications'), /\(550\): 5\.1\.1 Mailbox unavailable/);
  await waitText(page, '#trace', 'email_failed');
  assert.match(await text(page, '#trace'), /email_failed[^\n]*smtp=.*550/);
  await waitText(page, '#errors', 'email failed permanently');
  assert.match(await text(page, '#instance-figures'), /emails failed\s+1/);
  assert.deepEqual(pageErrors, []);
  await page.close();
});
