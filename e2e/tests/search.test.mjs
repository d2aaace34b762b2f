// The search over the chat list: chats by name, people by name, messages by the
// starts of their words (in your chats only), by keyboard, a message opening its chat
// there; what a message holds shows as text.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertAccessible, assertNoPageErrors, eventually, gql, hydrated, inView, launchBrowser,
  sendAll, shot, signedIn, startDirectChat, startSystem,
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

const hitTexts = (page) => page.locator('[data-test=search-hit] .hit-text').allTextContents();

test('search finds messages by the starts of their words, opens the chat there, and by keyboard', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann Lee');
  const bo = await signedIn(browser, 'bo', 'Bo Chen');
  const cy = await signedIn(browser, 'cy', 'Cy Park');
  const chat = await startDirectChat(ann, bo);
  const theirs = await startDirectChat(cy, bo);
  await sendAll(ann, chat, ['The **deployment** is at nine']);
  // Far enough back that the chat's first page does not hold it.
  await sendAll(ann, chat, Array.from({ length: 120 }, (_, i) => `filler ${i + 1}`));
  await sendAll(ann, chat, ['<img src=x onerror="window.__owned=1"> deploy notes']);
  await sendAll(cy, theirs, ['deploy the secret plans']);

  await ann.page.goto('/');
  await hydrated(ann.page);
  const box = ann.page.getByRole('searchbox', { name: 'Search chats, people and messages' });
  await box.fill('DEPLO');
  const hits = ann.page.locator('[data-test=search-hit]');
  await eventually('the two messages of her chats, newest first', async () =>
    JSON.stringify(await hitTexts(ann.page)) === JSON.stringify([
      'You: <img src=x onerror="window.__owned=1"> deploy notes',
      'You: The deployment is at nine',
    ]));
  assert.deepEqual(await hits.locator('mark').allTextContents(), ['deploy', 'deployment'], 'the matches are marked');
  assert.equal(await ann.page.evaluate(() => window.__owned), undefined, 'markup in a message stays text');
  await shot(ann.page, 'search');
  await assertAccessible(ann.page, 'search results');

  // By keyboard: down from the box to the results, Enter opens the older one.
  await box.press('ArrowDown');
  await ann.page.keyboard.press('ArrowDown');
  assert.match(await ann.page.evaluate(() => document.activeElement.textContent), /deployment is at nine/);
  await ann.page.keyboard.press('Enter');
  await ann.page.waitForURL(/\/chats\/.*\?at=1$/);
  const found = ann.page.locator('[data-test=message][data-seq="1"]');
  await eventually('the chat opens at the message, highlighted and in view', async () =>
    (await found.count()) === 1 && (await inView(ann.page, found))
      && /highlight/.test(await found.getAttribute('class')));
  assert.equal(await box.inputValue(), '', 'the box is empty again, the list back');
  await ann.page.locator('.chat-list .chat-item').first().waitFor();

  // Chats and people by name; Escape clears the box.
  await box.fill('Bo Ch');
  const results = ann.page.locator('[data-test=search-results]');
  await eventually('her chat with Bo, and Bo', async () => {
    const text = await results.textContent();
    return /Chats\s*BC\s*Bo Chen/.test(text) && /People\s*BC\s*Bo Chen\s*@/.test(text);
  });
  await box.press('Escape');
  assert.equal(await box.inputValue(), '');
  await eventually('the list is back', async () => (await results.count()) === 0);
});

test('a search for nothing findable says so, and nobody else’s messages are found', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann Lee');
  const bo = await signedIn(browser, 'bo', 'Bo Chen');
  const cy = await signedIn(browser, 'cy', 'Cy Park');
  const theirs = await startDirectChat(bo, cy);
  await sendAll(bo, theirs, ['zebra crossing at noon']);
  const box = ann.page.getByRole('searchbox', { name: 'Search chats, people and messages' });
  await box.fill('zebra');
  const results = ann.page.locator('[data-test=search-results]');
  await eventually('no messages found', async () => /No messages found/.test(await results.textContent()));
  assert.equal(await ann.page.locator('[data-test=search-hit]').count(), 0);
  const bobs = await gql(bo, 4005, 'query { searchMessages(query: "zebra") { hits { message { content } } } }');
  assert.equal(bobs.searchMessages.hits.length, 1, 'while Bo finds his own');
});
