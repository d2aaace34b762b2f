// The bundle a page loads: the dialogs' code is not in it, and arrives (under the
// content security policy) the first time each dialog opens.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertNoPageErrors, eventually, hydrated, launchBrowser, send, signedIn, startDirectChat,
  startSystem,
} from '../support.mjs';

let system;
let browser;

before(async () => {
  system = await startSystem();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await system?.stop();
});

afterEach(assertNoPageErrors);

test('each dialog’s code arrives when it first opens, not with the page', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann Lee');
  const bo = await signedIn(browser, 'bo', 'Bo Chen');
  const chat = await startDirectChat(ann, bo);
  await send(ann.page, 'pieces');
  const fetched = [];
  ann.page.on('request', (r) => {
    const piece = new URL(r.url()).pathname.match(/^\/pkg\/split_([a-z_]+?)_\d+\.wasm$/);
    if (piece) fetched.push(piece[1]);
  });
  await ann.page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective));
  });
  await ann.page.goto(`/chats/${chat}`);
  await hydrated(ann.page);
  assert.deepEqual(fetched, [], 'no dialog with the page');

  const opens = [
    ['new_chat', () => ann.page.getByRole('button', { name: 'New chat' }).click(), 'New chat'],
    ['details', () => ann.page.getByRole('button', { name: 'Details' }).click(), 'Details'],
    ['reaction_picker', async () => {
      const message = ann.page.locator('[data-test=message]').first();
      await message.hover();
      await message.getByRole('button', { name: 'React' }).click();
    }, 'React'],
  ];
  for (const [piece, open, title] of opens) {
    await open();
    const dialog = ann.page.getByRole('dialog', { name: title });
    await dialog.waitFor();
    assert.ok(fetched.includes(piece), `${piece} fetched when opened (${fetched})`);
    await ann.page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
  }
  // Once fetched, a piece is not fetched again.
  const before = fetched.length;
  await ann.page.getByRole('button', { name: 'New chat' }).click();
  await ann.page.getByRole('dialog', { name: 'New chat' }).waitFor();
  await eventually('no second fetch', async () => fetched.length === before);
  assert.deepEqual(await ann.page.evaluate(() => window.__violations), []);
});
