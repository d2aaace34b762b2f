// The bundle a page loads: the dialogs' code is not in it. It arrives when a dialog
// first opens, or in the background a few seconds after the chats screen is up (so the
// dialogs open offline too), under the content security policy; a piece that cannot be
// fetched is said, and fetched again at the next try.
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

const PIECES = ['details', 'edit_history', 'new_chat', 'reaction_picker', 'search_results'];

/** Records the dialog pieces `page` fetches, by name. */
function piecesFetched(page) {
  const fetched = [];
  page.on('request', (r) => {
    const piece = new URL(r.url()).pathname.match(/^\/pkg\/split_([a-z_]+?)(?:_\d+)?\.wasm$/);
    if (piece) fetched.push(piece[1]);
  });
  return fetched;
}

test('the dialogs’ code comes after the page: on first use, or in the background', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann Lee');
  const bo = await signedIn(browser, 'bo', 'Bo Chen');
  const chat = await startDirectChat(ann, bo);
  await send(ann.page, 'pieces');
  // Off the chats screen first: by now its own background fetch may have started, and
  // its requests must not count as the next page's.
  await ann.page.goto('about:blank');
  const fetched = piecesFetched(ann.page);
  await ann.page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective));
  });
  await ann.page.goto(`/chats/${chat}`);
  await hydrated(ann.page);
  assert.deepEqual(fetched, [], 'no dialog with the page');

  // Opened at once, New chat brings its own piece.
  await ann.page.getByRole('button', { name: 'New chat' }).click();
  const dialog = ann.page.getByRole('dialog', { name: 'New chat' });
  await dialog.waitFor();
  assert.ok(fetched.includes('new_chat'), `fetched: ${fetched}`);
  await ann.page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });

  // The rest come by themselves, each once; then the dialogs open offline.
  await eventually('every piece, in the background', async () =>
    PIECES.every((p) => fetched.includes(p)), 15_000);
  assert.equal(fetched.length, new Set(fetched).size, `each once: ${fetched}`);
  await ann.context.setOffline(true);
  await ann.page.getByRole('button', { name: 'Details' }).click();
  await ann.page.getByRole('dialog', { name: 'Details' }).waitFor();
  await ann.page.keyboard.press('Escape');
  const message = ann.page.locator('[data-test=message]').first();
  await message.hover();
  await message.getByRole('button', { name: 'React' }).click();
  await ann.page.getByRole('dialog', { name: 'React' }).waitFor();
  await ann.page.keyboard.press('Escape');
  await ann.context.setOffline(false);
  assert.deepEqual(await ann.page.evaluate(() => window.__violations), []);
});

test('a dialog whose code cannot be fetched says so, and the next try fetches it', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann Lee');
  const bo = await signedIn(browser, 'bo', 'Bo Chen');
  await startDirectChat(ann, bo);
  await ann.page.route('**/pkg/split_new_chat*', (route) => route.abort());
  await ann.page.reload();
  await hydrated(ann.page);

  await ann.page.getByRole('button', { name: 'New chat' }).click();
  const refused = ann.page.locator('[data-test=load-error]');
  await refused.waitFor();
  assert.match(await refused.textContent(), /could not be opened/);
  await refused.getByRole('button', { name: 'OK' }).click();
  await refused.waitFor({ state: 'detached' });

  await ann.page.unroute('**/pkg/split_new_chat*');
  await ann.page.getByRole('button', { name: 'New chat' }).click();
  await ann.page.getByRole('dialog', { name: 'New chat' }).waitFor();
  // The failed fetch, as the pieces' loader (wasm-split's) reports it, and nothing else.
  const unexpected = ann.errors.filter((e) => !/^(page|console) error: (TypeError: )?Failed to fetch/.test(e));
  ann.errors.length = 0;
  assert.deepEqual(unexpected, []);
});
