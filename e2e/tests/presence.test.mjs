// Presence: a dot on the avatar of the person in a direct chat and words in its
// header — online while their app is open, offline as soon as it closes — and hidden
// by whoever wants it hidden.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertAccessible, assertNoPageErrors, eventually, hydrated, launchBrowser, shot, signedIn,
  startDirectChat, startSystem,
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

/** How `page`'s chat list shows the other person of chat `id` (`online`, …, or null). */
async function dot(page, id) {
  const found = page.locator(`.chat-item[data-chat="${id}"] [data-test=presence]`);
  if (!(await found.count())) return null;
  return (await found.getAttribute('data-seen')).replace('presence ', '');
}

test('presence: online while the other person has the app open, offline once it closes', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann Lee');
  const bo = await signedIn(browser, 'bo', 'Bo Chen');
  const chat = await startDirectChat(ann, bo);
  await ann.page.goto(`/chats/${chat}`);
  await hydrated(ann.page);
  await eventually('Bo shows online', async () => (await dot(ann.page, chat)) === 'online');
  const subtitle = ann.page.locator('.room-sub');
  await eventually('and the header says so', async () => /· Online$/.test(await subtitle.textContent()));
  await shot(ann.page, 'presence');
  await assertAccessible(ann.page, 'a chat with presence');

  // Bo’s tab hidden: away, at once (the event bubbles to the window, as a browser’s does).
  await bo.page.evaluate(() => {
    Object.defineProperty(Document.prototype, 'visibilityState', { get: () => 'hidden' });
    document.dispatchEvent(new Event('visibilitychange', { bubbles: true }));
  });
  await eventually('Bo shows away', async () => (await dot(ann.page, chat)) === 'away');

  // Bo closes the app: his last connection gone, he is offline without waiting.
  await bo.context.close();
  await eventually('Bo shows offline', async () => (await dot(ann.page, chat)) === 'offline');
  await eventually('last seen, in the header', async () => /· Last seen \d\d:\d\d$/.test(await subtitle.textContent()));
});

test('someone who hides their presence is not shown online', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann Lee');
  const cy = await signedIn(browser, 'cy', 'Cy Park');
  const chat = await startDirectChat(ann, cy);
  await ann.page.goto('/');
  await hydrated(ann.page);
  await eventually('Cy shows online', async () => (await dot(ann.page, chat)) === 'online');
  const setting = cy.page.getByLabel('Show others when I’m online');
  assert.equal(await setting.isChecked(), true);
  await setting.uncheck();
  await eventually('then no longer', async () => (await dot(ann.page, chat)) !== 'online');
  await cy.page.reload();
  await hydrated(cy.page);
  assert.equal(await cy.page.getByLabel('Show others when I’m online').isChecked(), false, 'it stays hidden');
  await ann.page.reload();
  await hydrated(ann.page);
  await ann.page.waitForTimeout(1500);
  assert.equal(await dot(ann.page, chat), null, 'read again, nothing is shown of Cy');
});

test('the person of a chat just started shows at once, on both sides, and changes live', async () => {
  const dee = await signedIn(browser, 'dee', 'Dee Moss');
  const eli = await signedIn(browser, 'eli', 'Eli Ward');
  // Neither page is reloaded: what they know of each other comes with the new chat.
  const chat = await startDirectChat(dee, eli);
  await eventually('Eli shows online to Dee', async () => (await dot(dee.page, chat)) === 'online');
  await eventually('Dee shows online to Eli', async () => (await dot(eli.page, chat)) === 'online');
  await shot(eli.page, 'presence-new-chat');
  await dee.page.evaluate(() => {
    Object.defineProperty(Document.prototype, 'visibilityState', { get: () => 'hidden' });
    document.dispatchEvent(new Event('visibilitychange', { bubbles: true }));
  });
  await eventually('Dee shows away to Eli', async () => (await dot(eli.page, chat)) === 'away');
});
