// Chat requests: a chat from someone you have never talked with waits apart in the
// list, with Accept and Decline instead of a composer; until accepted, neither side
// sees the other around, and the writer sees no "Seen".
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  WEB, assertAccessible, assertNoPageErrors, eventually, hydrated, launchBrowser, messageTexts,
  send, shot, signedIn, startSystem,
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

/** `person` starts a direct chat with `other` from the "New chat" dialog, and writes. */
async function request(person, other, text) {
  await person.page.getByRole('button', { name: 'New chat' }).click();
  await person.page.getByLabel('Find people').fill(other.username);
  await person.page.getByRole('button', { name: new RegExp(other.username) }).click();
  await person.page.waitForURL(/\/chats\//);
  await hydrated(person.page);
  await send(person.page, text);
  return new URL(person.page.url()).pathname.split('/').pop();
}

test('a stranger’s chat is a request until accepted, and shows nothing of the reader before', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann Lee');
  const bo = await signedIn(browser, 'bo', 'Bo Chen');
  const chat = await request(ann, bo, 'Hello, we met at the conference');

  // Bo's list has it under Requests, apart from his chats.
  const requests = bo.page.locator('[data-test=requests]');
  await eventually('the request is listed apart', async () =>
    (await requests.locator(`.chat-item[data-chat="${chat}"]`).count()) === 1);
  assert.equal(await bo.page.locator(`[data-test=chat-list] .chat-item[data-chat="${chat}"]`).count(), 0);

  // Opened: the message, and Accept / Decline where the composer would be.
  await requests.locator('a').first().click();
  await eventually('the message', async () =>
    (await messageTexts(bo.page)).includes('Hello, we met at the conference'));
  const bar = bo.page.locator('[data-test=request]');
  assert.match(await bar.textContent(), /Ann Lee wants to chat with you/);
  assert.equal(await bo.page.getByLabel('Message', { exact: true }).count(), 0, 'no composer yet');
  await shot(bo.page, 'request');
  await assertAccessible(bo.page, 'a chat request');

  // Ann is told it waits, and sees no "Seen" although he has read it.
  await eventually('ann is told it waits', async () =>
    /has not accepted your request yet/.test(await ann.page.locator('.room-sub').textContent()));
  const receipt = ann.page.locator('[data-test=receipt]').last();
  await eventually('sent', async () => (await receipt.getAttribute('data-state')) === 'Sent');
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(await receipt.getAttribute('data-state'), 'Sent', 'no Seen before he accepts');

  // He accepts: the composer comes, she sees him read it and online.
  await bar.getByRole('button', { name: 'Accept' }).click();
  await bo.page.getByLabel('Message', { exact: true }).waitFor();
  await eventually('seen', async () => (await receipt.getAttribute('data-state')) === 'Read');
  await eventually('he shows online', async () =>
    /Online/.test(await ann.page.locator('.room-sub').textContent()), 15_000);
  await eventually('out of Requests', async () => (await requests.count()) === 0);
  await send(bo.page, 'Hi Ann!');
  await eventually('she gets his answer', async () => (await messageTexts(ann.page)).includes('Hi Ann!'));
  await shot(ann.page, 'request-accepted');
});

test('a declined request goes away, and its writer is not told', async () => {
  const cy = await signedIn(browser, 'cy', 'Cy Spam');
  const bo = await signedIn(browser, 'bo', 'Bo Chen');
  const chat = await request(cy, bo, 'Buy my course');
  const item = bo.page.locator(`[data-test=requests] .chat-item[data-chat="${chat}"]`);
  await eventually('listed', async () => (await item.count()) === 1);
  await item.locator('a').click();
  await bo.page.locator('[data-test=request]').getByRole('button', { name: 'Decline' }).click();
  await bo.page.waitForURL(`${WEB}/`);
  assert.equal(await bo.page.locator(`.chat-item[data-chat="${chat}"]`).count(), 0);
  // Cy writes on; Bo hears nothing of it.
  await send(cy.page, 'Last chance');
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(await bo.page.locator(`.chat-item[data-chat="${chat}"]`).count(), 0);
  await bo.page.reload();
  await hydrated(bo.page);
  assert.equal(await bo.page.locator(`.chat-item[data-chat="${chat}"]`).count(), 0, 'after a reload too');
  assert.match(await cy.page.locator('.room-sub').textContent(), /has not accepted your request yet/);
});
