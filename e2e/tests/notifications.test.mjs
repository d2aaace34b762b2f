// Desktop notifications and muting: offered after you first write (never on load),
// shown while the tab is hidden for direct messages and mentions, not for a muted
// chat, and a click brings you to the chat. The browser's Notification API and the
// tab's visibility are stubbed: a headless browser has neither a desktop nor a prompt.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertAccessible, assertNoPageErrors, eventually, gql, hydrated, launchBrowser, newPerson,
  register, send, sendAll, shot, signedIn, startDirectChat, startGroup, startSystem, unique,
  unreadBadgeOf,
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

/** A Notification that records what it was asked to show; a tab hidden on demand. */
function stubs() {
  window.__shown = [];
  class Shown {
    static permission = 'default';
    static async requestPermission() {
      window.__asked = (window.__asked ?? 0) + 1;
      Shown.permission = 'granted';
      return 'granted';
    }
    constructor(title, options = {}) {
      this.title = title;
      window.__shown.push({ title, body: options.body, tag: options.tag });
      window.__last = this;
    }
    close() {}
  }
  window.Notification = Shown;
  Object.defineProperty(Document.prototype, 'visibilityState', {
    get: () => (window.__hidden ? 'hidden' : 'visible'),
  });
  Object.defineProperty(Document.prototype, 'hidden', { get: () => Boolean(window.__hidden) });
}

const shown = (person) => person.page.evaluate(() => window.__shown.map((n) => `${n.title}: ${n.body}`));
const hide = (person, hidden) => person.page.evaluate((h) => {
  window.__hidden = h;
  document.dispatchEvent(new Event('visibilitychange', { bubbles: true }));
}, hidden);

test('notifications: offered after writing, shown while hidden for direct messages and mentions, not when muted', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann Lee');
  const cy = await signedIn(browser, 'cy', 'Cy Park');
  const bo = await newPerson(browser);
  await bo.page.addInitScript(stubs);
  bo.username = unique('bo');
  await register(bo.page, bo.username, 'Bo Chen');

  const direct = await startDirectChat(ann, bo);
  const group = await startGroup(ann, 'Launch', [bo, cy]);
  await bo.page.goto(`/chats/${direct}`);
  await hydrated(bo.page);
  const offer = bo.page.locator('[data-test=notify-offer]');
  assert.equal(await offer.count(), 0, 'nothing is offered on load');
  await send(bo.page, 'hi Ann');
  await offer.waitFor();
  await shot(bo.page, 'notify-offer');
  await assertAccessible(bo.page, 'the notification offer');
  await offer.getByRole('button', { name: 'Turn on' }).click();
  await eventually('the offer goes once answered', async () => (await offer.count()) === 0);
  assert.equal(await bo.page.evaluate(() => window.__asked), 1, 'the browser was asked, once');

  // In view, nothing; hidden, a direct message and a mention each show one.
  await sendAll(ann, direct, ['are you there?']);
  await eventually('the message is shown', async () =>
    (await bo.page.locator('[data-test=message]').last().textContent()).includes('are you there?'));
  assert.deepEqual(await shown(bo), [], 'no notification while the tab is in view');
  await hide(bo, true);
  await sendAll(ann, direct, ['**lunch** at one?']);
  await eventually('a direct message notifies', async () =>
    (await shown(bo)).includes('Ann Lee: lunch at one?'));
  await sendAll(cy, group, ['just an update']);
  await sendAll(cy, group, [`@${bo.username} can you look?`]);
  await eventually('a mention notifies, a plain group message does not', async () => {
    const notes = await shown(bo);
    return notes.includes(`Cy Park in Launch: @${bo.username} can you look?`)
      && !notes.some((n) => n.includes('just an update'));
  });

  // A click brings the tab back at the chat.
  await hide(bo, false);
  await bo.page.evaluate(() => window.__last.onclick());
  await bo.page.waitForURL(`**/chats/${group}`);

  // Muted: no notification, and its count without emphasis (nor in the tab's title).
  await bo.page.getByRole('button', { name: 'Details' }).click();
  await bo.page.locator('[data-test=mute]').check();
  const row = bo.page.locator(`.chat-item[data-chat="${group}"]`);
  await eventually('the list marks it muted', async () => (await row.locator('[data-test=muted]').count()) === 1);
  await bo.page.keyboard.press('Escape');
  await bo.page.goto('/');
  await hydrated(bo.page);
  await hide(bo, true);
  const before = (await shown(bo)).length;
  await sendAll(cy, group, [`@${bo.username} again?`, 'and more']);
  await eventually('the muted chat counts what is unread', async () => (await unreadBadgeOf(bo.page, group)) === 2);
  assert.equal((await shown(bo)).length, before, 'nothing from a muted chat');
  assert.equal(await row.getAttribute('class').then((c) => /\bunread\b/.test(c)), false, 'not in bold');
  assert.doesNotMatch(await bo.page.title(), /\(2\)/, 'not counted in the tab title');
  await shot(bo.page, 'muted-chat');
  const muted = await gql(bo, 4005, 'query { chats { id muted } }');
  assert.equal(muted.chats.find((c) => c.id === group).muted, true);
});

test('"Not now" is remembered, and a browser without notifications is never offered them', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann Lee');
  const bo = await newPerson(browser);
  await bo.page.addInitScript(stubs);
  bo.username = unique('bo');
  await register(bo.page, bo.username, 'Bo Chen');
  const direct = await startDirectChat(bo, ann);
  await send(bo.page, 'hello');
  const offer = bo.page.locator('[data-test=notify-offer]');
  await offer.getByRole('button', { name: 'Not now' }).click();
  await bo.page.reload();
  await hydrated(bo.page);
  await send(bo.page, 'hello again');
  await eventually('sent', async () =>
    (await bo.page.locator('[data-test=message]').last().textContent()).includes('hello again'));
  assert.equal(await offer.count(), 0, 'not offered again');
  assert.equal(await bo.page.evaluate(() => window.__asked), undefined, 'the browser was never asked');

  const cy = await newPerson(browser);
  await cy.page.addInitScript(() => { delete window.Notification; });
  cy.username = unique('cy');
  await register(cy.page, cy.username, 'Cy Park');
  await startDirectChat(cy, ann);
  await send(cy.page, 'no notifications here');
  await eventually('sent', async () =>
    (await cy.page.locator('[data-test=message]').last().textContent()).includes('no notifications here'));
  assert.equal(await cy.page.locator('[data-test=notify-offer]').count(), 0);
  assert.ok(direct);
});
