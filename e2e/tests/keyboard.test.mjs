// Everything without a mouse, on a phone, in the dark, and checked by axe.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertAccessible, assertNoPageErrors, eventually, hydrated, launchBrowser, messageTexts,
  newPerson, shot, signedIn, startDirectChat, startGroup, startSystem,
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

/** The focused element's accessible description: tag, id and text. */
const focused = (page) =>
  page.evaluate(() => {
    const e = document.activeElement;
    return `${e.tagName.toLowerCase()}#${e.id} ${(e.getAttribute('aria-label') || e.textContent || '').trim()}`;
  });
const focusInside = (page, selector) =>
  page.evaluate((s) => document.querySelector(s)?.contains(document.activeElement) ?? false, selector);

test('dialogs take the focus, keep Tab inside, close on Escape and give the focus back', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann');
  const bo = await signedIn(browser, 'bo', 'Bo');
  const { page } = ann;
  const opener = page.getByRole('button', { name: 'New chat' });
  await opener.focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'New chat' });
  await dialog.waitFor();
  assert.match(await focused(page), /^input#search-find-people/, 'the search box has the focus');
  await assertAccessible(page, 'the new chat dialog');
  await shot(page, 'dialog-new-chat');
  for (let i = 0; i < 8; i++) {
    await page.keyboard.press('Tab');
    assert.ok(await focusInside(page, 'dialog[open]'), `Tab ${i + 1} stays in the dialog`);
  }
  for (let i = 0; i < 8; i++) {
    await page.keyboard.press('Shift+Tab');
    assert.ok(await focusInside(page, 'dialog[open]'), `Shift+Tab ${i + 1} stays in the dialog`);
  }
  await page.keyboard.press('Escape');
  // Gone from the page, not only closed: opening it again before the app has removed
  // it would find it still marked open.
  await eventually('the dialog closes', async () => (await page.locator('dialog').count()) === 0);
  assert.match(await focused(page), /New chat/, 'the focus is back on “New chat”');

  // Creating a chat and writing in it, keys only.
  await opener.focus();
  await page.keyboard.press('Enter');
  // Keys typed before the box has the focus would go elsewhere.
  await dialog.waitFor();
  await eventually('the search box has the focus again', async () =>
    /^input#search-find-people/.test(await focused(page)));
  await page.keyboard.type(bo.username);
  await eventually('a result', () => page.getByRole('button', { name: new RegExp(bo.username) }).count());
  await page.keyboard.press('Tab');
  assert.match(await focused(page), new RegExp(bo.username));
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/chats\//);
  await page.getByLabel('Message', { exact: true }).waitFor();
  // The skip link goes straight to the message box.
  await page.keyboard.press('Tab');
  assert.match(await focused(page), /Skip to the message box/);
  await page.keyboard.press('Enter');
  assert.match(await focused(page), /^textarea#composer-input/);
  await page.keyboard.type('typed, not clicked');
  await page.keyboard.press('Enter');
  await eventually('sent', async () => (await messageTexts(page)).includes('typed, not clicked'));

  // Details: the same behaviour; its actions reachable by keys.
  const details = page.getByRole('button', { name: 'Details' });
  await details.focus();
  await page.keyboard.press('Enter');
  await page.getByRole('dialog', { name: 'Details' }).waitFor();
  assert.ok(await focusInside(page, 'dialog[open]'), 'the focus moved into Details');
  for (let i = 0; i < 5; i++) {
    await page.keyboard.press('Tab');
    assert.ok(await focusInside(page, 'dialog[open]'), `Tab ${i + 1} stays in Details`);
  }
  await assertAccessible(page, 'the details dialog');
  await page.keyboard.press('Escape');
  await eventually('Details closes', async () => (await page.locator('dialog').count()) === 0);
  assert.match(await focused(page), /Details/);

  // A message's own actions show when reached by Tab.
  // Delivered first: the row is drawn again when it is, and the focus would go with it.
  const mine = page.locator('[data-test=message]:not(.pending)', { hasText: 'typed, not clicked' });
  await mine.waitFor();
  await mine.getByRole('button', { name: 'Edit' }).focus();
  await eventually('the actions show', async () =>
    (await mine.locator('.actions').evaluate((e) => getComputedStyle(e).opacity)) === '1');
});

test('on a phone the header stays small and the picker folds into one control', async () => {
  const phone = { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true };
  const ann = await signedIn(browser, 'ann', 'Ann', phone);
  const bo = await signedIn(browser, 'bo', 'Bo');
  const { page } = ann;
  const header = await page.locator('header.top').boundingBox();
  assert.ok(header.height <= 64, `the header is ${header.height}px high`);
  assert.equal(await page.locator('#instance-receiver').isVisible(), false, 'the picker is folded');
  await page.getByRole('button', { name: /Instances/ }).click();
  assert.equal(await page.locator('#instance-receiver').isVisible(), true, 'and unfolds');
  await shot(page, 'phone-picker-open');
  await page.getByRole('button', { name: /Instances/ }).click();
  await assertAccessible(page, 'the chat list on a phone');

  await startDirectChat(ann, bo);
  const box = page.getByLabel('Message', { exact: true });
  const placeholder = await box.getAttribute('placeholder');
  assert.ok(!/enter/i.test(placeholder), 'no Enter key on a touch screen');
  assert.ok(await box.evaluate((e) => e.scrollWidth <= e.clientWidth), 'the placeholder fits');
  assert.equal(await page.locator('.composer-hint').isVisible(), false, 'no keyboard hint on touch screens');
  assert.match(await page.locator('.empty-chat').textContent(), /No messages yet/);
  await box.fill('from a phone');
  await page.getByRole('button', { name: 'Send' }).click();
  await eventually('sent', async () => (await messageTexts(page)).includes('from a phone'));
  // There is no hover on a touch screen: a tap on a message brings out its actions.
  const mine = page.locator('[data-test=message]:not(.pending)', { hasText: 'from a phone' });
  await mine.waitFor();
  await mine.locator('.bubble').tap();
  await eventually('a tap shows the actions', async () =>
    (await mine.locator('.actions').evaluate((e) => getComputedStyle(e).opacity)) === '1');
  await shot(page, 'phone-conversation');
  await assertAccessible(page, 'a conversation on a phone');
});

test('every main screen passes axe, in light and dark', async () => {
  for (const colorScheme of ['light', 'dark']) {
    const visitor = await newPerson(browser, { colorScheme });
    for (const path of ['/login', '/register']) {
      await visitor.page.goto(path);
      await hydrated(visitor.page);
      await assertAccessible(visitor.page, `${path} (${colorScheme})`);
    }
    const ann = await signedIn(browser, 'ann', 'Ann Lee', { colorScheme });
    const bo = await signedIn(browser, 'bo', 'Bo');
    const group = await startGroup(ann, 'Readers', [bo]);
    await ann.page.getByLabel('Message', { exact: true }).fill('hello readers');
    await ann.page.keyboard.press('Enter');
    await eventually('sent', async () => (await messageTexts(ann.page)).includes('hello readers'));
    await bo.page.goto(`/chats/${group}`);
    await hydrated(bo.page);
    await assertAccessible(ann.page, `a conversation (${colorScheme})`);
    await ann.page.goto('/');
    await hydrated(ann.page);
    await assertAccessible(ann.page, `the chat list (${colorScheme})`);
    if (colorScheme === 'dark') {
      await ann.page.goto(`/chats/${group}`);
      await hydrated(ann.page);
      await shot(ann.page, 'dark-conversation');
    }
  }
});
