// The README's promise, checked against a system someone started with `./run`
// (http://localhost:3000): two people register, one starts a chat and writes, the other
// sees it live. Fails on any page error. `.ci/run` runs it on a fresh clone.
import assert from 'node:assert/strict';
import {
  WEB, assertNoPageErrors, eventually, hydrated, launchBrowser, messageTexts, send, signedIn,
  startDirectChat,
} from './support.mjs';

const deadline = Date.now() + 10 * 60_000;
for (;;) {
  try {
    if ((await fetch(`${WEB}/login`)).ok) break;
  } catch {
    // not up yet
  }
  if (Date.now() > deadline) throw new Error(`${WEB} did not answer`);
  await new Promise((r) => setTimeout(r, 1000));
}

const browser = await launchBrowser();
try {
  const ann = await signedIn(browser, 'ann', 'Ann');
  const bo = await signedIn(browser, 'bo', 'Bo');
  await hydrated(bo.page);
  const chat = await startDirectChat(ann, bo);
  await bo.page.goto(`/chats/${chat}`);
  await hydrated(bo.page);
  await eventually('bo is live', async () =>
    /Live via/.test(await bo.page.locator('[data-test=live-status]').textContent()));
  await send(ann.page, 'hello from the README');
  await eventually('bo sees it live', async () =>
    (await messageTexts(bo.page)).includes('hello from the README'));
  assert.deepEqual(await messageTexts(ann.page), ['hello from the README']);
  assertNoPageErrors();
  console.log('smoke: register → new chat → send → the other person sees it: ok');
} finally {
  await browser.close();
}
