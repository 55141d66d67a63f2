// The browser client as a package: its ES module entry works, and its types and the docs name
// exactly the options and events the code has. Run by test.sh: node --test clients/js/test/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.join(here, '..');
const read = (p) => readFileSync(path.join(pkg, p), 'utf8');
const source = read('notify-client.js');
const types = read('index.d.ts');
const docs = readFileSync(path.join(pkg, '../../docs/BROWSER.md'), 'utf8');

/** The members of `interface name { ... }` in index.d.ts. */
function members(name) {
  const body = types.match(new RegExp(`interface ${name}[^{]*\\{([\\s\\S]*?)\\n\\}`))[1];
  return [...body.matchAll(/^ {2}(\w+)\??:/gm)].map((m) => m[1]).sort();
}

const emitted = [...new Set([...source.matchAll(/_emit\('([\w-]+)'/g)].map((m) => m[1]))].sort();

test('the ES module entry exports the client as a named and a default export', async () => {
  const mod = await import('../index.mjs');
  assert.equal(typeof mod.NotifyClient, 'function');
  assert.equal(mod.default, mod.NotifyClient);
  const client = new mod.NotifyClient({ baseUrl: 'http://relay.invalid' });
  assert.equal(client.state, 'idle');
  assert.equal(client.options.stallTimeoutMs, 15 * 1500 + 2000);
});

test('require() of the package gives the same client (CommonJS bundlers)', () => {
  const NotifyClient = createRequire(import.meta.url)('../notify-client.js');
  assert.equal(typeof NotifyClient, 'function');
  assert.equal(new NotifyClient().role, null);
});

test('the declared options are exactly the options the client has', () => {
  const NotifyClient = createRequire(import.meta.url)('../notify-client.js');
  assert.deepEqual(members('NotifyClientOptions'), Object.keys(new NotifyClient().options).sort());
});

test('the declared events are exactly the events the client emits', () => {
  assert.ok(emitted.includes('message') && emitted.includes('end'), `read from the code: ${emitted}`);
  assert.deepEqual(members('NotifyClientEventMap'), emitted);
});

test('docs/BROWSER.md lists exactly the events the client emits', () => {
  const api = docs.slice(docs.indexOf('### API'), docs.indexOf('### Delivery'));
  const listed = [...api.matchAll(/^ {2}- `'([\w-]+)'`/gm)].map((m) => m[1]).sort();
  assert.deepEqual(listed, emitted);
});

test('the type-checked example sets every option and listens to every event', () => {
  const example = read('example/app.ts');
  for (const option of members('NotifyClientOptions')) assert.match(example, new RegExp(`\\b${option}\\b`), option);
  for (const event of emitted) assert.match(example, new RegExp(`\\.on\\('${event}'`), event);
});
