// A conversation as people expect to read one: opened where they left off, grouped,
// with days and changes in it, drafts kept, and messages written offline sent later.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertAccessible, assertNoPageErrors, chatIdOf, eventually, gql, hydrated, inView, launchBrowser,
  messageTexts, messageWith, send, sendAll, shot, signedIn, sleep, startDirectChat, startGroup, startSystem,
  unreadBadge, unreadBadgeOf,
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

test('a chat with unread messages opens at the first unread one, under a "New messages" line', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann Lee');
  const bo = await signedIn(browser, 'bo', 'Bo Chen');
  const chat = await startDirectChat(ann, bo);
  await sendAll(ann, chat, Array.from({ length: 30 }, (_, i) => `read ${i + 1}`));
  // Bo reads those, then Ann writes 80 more while he is away.
  await bo.page.locator('.chat-item', { hasText: 'Ann Lee' }).locator('a').click();
  await eventually('bo sees the first 30', async () => (await messageTexts(bo.page)).includes('read 30'));
  await bo.page.goto('/');
  await hydrated(bo.page);
  await sendAll(ann, chat, Array.from({ length: 80 }, (_, i) => `unread ${i + 1}`));
  await eventually('bo’s badge says 80', async () => (await unreadBadge(bo.page, 'Ann Lee')) === 80);
  assert.match(await bo.page.title(), /^\(80\) /, 'the tab title counts what is unread');
  const icon = () => bo.page.locator('link[rel=icon]').getAttribute('href');
  // The count drawn on the icon: the text of the SVG it is made of.
  const iconCount = async () => {
    const href = await icon();
    if (!href.startsWith('data:image/svg+xml,')) return null;
    return decodeURIComponent(href.slice('data:image/svg+xml,'.length)).match(/<text[^>]*>([^<]*)<\/text>/)?.[1];
  };
  assert.equal(await iconCount(), '80', 'the tab icon shows the count');
  assert.ok(
    await bo.page.locator('.chat-item.unread', { hasText: 'Ann Lee' }).count(),
    'an unread chat is marked (bold) in the list',
  );

  // Rendered by the server around the first unread: the line is there before any
  // script runs, with some of what was read above it.
  const html = await (await bo.page.request.get(`/chats/${chat}`)).text();
  assert.ok(html.includes('New messages'), 'the server renders the line');
  assert.ok(html.includes('unread 1<') && html.includes('read 30<'), 'the page holds what is around it');

  await bo.page.locator('.chat-item', { hasText: 'Ann Lee' }).locator('a').click();
  await hydrated(bo.page);
  const marker = bo.page.locator('.new-marker');
  await eventually('the line is in view', () => inView(bo.page, marker));
  assert.equal(await marker.count(), 1);
  const firstUnread = messageWith(bo.page, 'unread 1');
  await eventually('the first unread message is in view', () => inView(bo.page, firstUnread));
  // It follows the line directly.
  assert.equal(
    await bo.page.evaluate(() => document.querySelector('.new-marker').nextElementSibling.textContent.includes('unread 1')),
    true,
  );
  // The newest ones are further down, and a button says how to get there.
  await eventually('the jump button', () => bo.page.locator('[data-test=jump]').isVisible());
  assert.match(await bo.page.locator('[data-test=jump]').textContent(), /Jump to latest/);
  await shot(bo.page, 'conversation-new-messages-line');
  await assertAccessible(bo.page, 'a conversation opened at its first unread message');
  // Opening it read it.
  await eventually('the badge clears', async () => (await unreadBadge(bo.page, 'Ann Lee')) === 0);
  assert.doesNotMatch(await bo.page.title(), /^\(/);
  await eventually('the icon loses its count', async () => (await icon()) === '/favicon.svg');

  // Reading further up, a new message shows as a button, not a jump.
  await bo.page.locator('.messages').evaluate((el) => { el.scrollTop = 0; });
  await sleep(300);
  await sendAll(ann, chat, ['while bo reads above']);
  const jump = bo.page.locator('[data-test=jump]');
  await eventually('“1 new message”', async () => /1 new message/.test(await jump.textContent()));
  await jump.click();
  const newest = messageWith(bo.page, 'while bo reads above');
  await eventually('the newest is in view', () => inView(bo.page, newest));
  await eventually('the button goes', async () => !(await jump.isVisible()));
});

test('messages arriving while you look get no "New messages" line', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann');
  const bo = await signedIn(browser, 'bo', 'Bo');
  const chat = await startDirectChat(ann, bo);
  await bo.page.goto(`/chats/${chat}`);
  await hydrated(bo.page);
  await eventually('bo is live', async () =>
    /Live via/.test(await bo.page.locator('[data-test=live-status]').textContent()));
  for (const text of ['hello', 'one', 'two', 'three']) await send(ann.page, text);
  await eventually('bo sees three', async () => (await messageTexts(bo.page)).includes('three'));
  await sleep(300);
  assert.equal(await bo.page.locator('.new-marker').count(), 0);
});

test('runs of messages are grouped; days, avatars and changes read as people expect', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann Lee');
  const bo = await signedIn(browser, 'bo', 'Bo Chen');
  const cy = await signedIn(browser, 'cy', 'Cy Diaz');
  const group = await startGroup(ann, 'Project 03', [bo, cy]);
  await sendAll(bo, group, ['first from bo', 'second from bo', 'third from bo']);
  await sendAll(cy, group, ['cy replies']);
  await eventually('ann sees them', async () => (await messageTexts(ann.page)).includes('cy replies'));

  // One name and one time for Bo's three messages, one for Cy's.
  const heads = ann.page.locator('[data-test=message] .message-head');
  assert.deepEqual(await ann.page.locator('[data-test=message] .author').allTextContents(), ['Bo Chen', 'Cy Diaz']);
  assert.equal(await heads.count(), 2);
  assert.match(await heads.first().locator('time').textContent(), /^\d\d:\d\d$/);
  assert.deepEqual(await ann.page.locator('.day h3').allTextContents(), ['Today']);
  assert.deepEqual(await ann.page.locator('[data-test=message] .avatar').allTextContents(), ['BC', 'CD']);
  // The group's own avatar: initials from words, not numbers.
  assert.equal(await ann.page.locator('.chat-item', { hasText: 'Project 03' }).locator('.avatar').textContent(), 'P');
  assert.deepEqual(await ann.page.locator('[data-test=change]').allTextContents(), ['You created the group']);

  // Renames, additions and removals are lines in the chat, live on the other side.
  await bo.page.goto(`/chats/${group}`);
  await hydrated(bo.page);
  await ann.page.getByRole('button', { name: 'Details' }).click();
  await ann.page.getByLabel('Group name').fill('Project 04');
  await ann.page.getByRole('button', { name: 'Rename' }).click();
  await ann.page.getByRole('button', { name: 'Remove Cy Diaz' }).click();
  await ann.page.keyboard.press('Escape');
  const changes = ['Ann Lee created the group', 'Ann Lee renamed the group to “Project 04”', 'Ann Lee removed Cy Diaz'];
  await eventually('bo sees the changes live', async () =>
    JSON.stringify(await bo.page.locator('[data-test=change]').allTextContents()) === JSON.stringify(changes));
  await eventually('the new name in bo’s header', async () =>
    (await bo.page.locator('[data-test=room-title]').textContent()) === 'Project 04');

  // Cy's message keeps Cy's name after Cy is gone, also on a fresh load.
  await bo.page.reload();
  await hydrated(bo.page);
  assert.ok((await bo.page.locator('[data-test=message] .author').allTextContents()).includes('Cy Diaz'));
  assert.deepEqual(await bo.page.locator('[data-test=change]').allTextContents(), changes);
  await shot(bo.page, 'conversation-grouped-with-changes');
});

test('a draft stays with its chat; the box grows and counts toward the limit', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann');
  const bo = await signedIn(browser, 'bo', 'Bo');
  const cy = await signedIn(browser, 'cy', 'Cy');
  const withBo = await startDirectChat(ann, bo);
  const box = ann.page.getByLabel('Message', { exact: true });
  await box.fill('half a thought for Bo');
  const withCy = await startDirectChat(ann, cy);
  assert.equal(await box.inputValue(), '', 'another chat has its own draft');
  await box.fill('something for Cy');
  await ann.page.goto(`/chats/${withBo}`);
  await hydrated(ann.page);
  await eventually('bo’s draft is back after a reload', async () =>
    (await ann.page.getByLabel('Message', { exact: true }).inputValue()) === 'half a thought for Bo');
  await ann.page.locator('.chat-item', { hasText: 'Cy' }).locator('a').click();
  await eventually('cy’s draft is back', async () => (await box.inputValue()) === 'something for Cy');
  await box.press('Enter');
  await eventually('sent', async () => (await messageTexts(ann.page)).includes('something for Cy'));
  await ann.page.reload();
  await hydrated(ann.page);
  assert.equal(await ann.page.getByLabel('Message', { exact: true }).inputValue(), '', 'a sent draft is gone');
  assert.equal(chatIdOf(ann.page), withCy);

  // Grows with its text.
  const composer = ann.page.getByLabel('Message', { exact: true });
  const oneLine = (await composer.boundingBox()).height;
  await composer.pressSequentially('one');
  for (const line of ['two', 'three', 'four']) {
    await composer.press('Shift+Enter');
    await composer.pressSequentially(line);
  }
  assert.ok((await composer.boundingBox()).height > oneLine * 1.8, 'the box grew');
  // A counter near the limit, and the limit said before sending.
  await composer.fill('x'.repeat(3600));
  await composer.press('Space');
  await eventually('the counter', async () => /3,?60\d \/ 4,?000/.test(await ann.page.locator('.counter').textContent()));
  await composer.fill('y'.repeat(4010));
  await composer.press('Space');
  await eventually('over the limit', async () => /over the limit/.test(await ann.page.locator('.counter').textContent()));
  await composer.press('Enter');
  await eventually('the limit is said', async () => /4000|4,000/.test(await ann.page.locator('#composer-error').textContent()));
  assert.ok(!(await messageTexts(ann.page)).some((t) => t.startsWith('yyy')), 'nothing over the limit was sent');
  await shot(ann.page, 'composer-over-limit');
});

test('messages written offline go out by themselves, once, when the connection is back', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann');
  const bo = await signedIn(browser, 'bo', 'Bo');
  const chat = await startDirectChat(ann, bo);
  await bo.page.goto(`/chats/${chat}`);
  await hydrated(bo.page);
  await eventually('ann is live', async () => /Live via/.test(await ann.page.locator('[data-test=live-status]').textContent()));

  await ann.context.setOffline(true);
  await send(ann.page, 'written offline 1');
  await send(ann.page, 'written offline 2');
  await eventually('they wait, and say so plainly', async () =>
    (await ann.page.locator('.state.waiting').count()) === 2);
  assert.ok(!(await ann.page.locator('body').textContent()).includes('did not answer'));
  // The status line and the picker agree that the receiver cannot be reached.
  await eventually('the status line says so', async () =>
    /not answering/.test(await ann.page.locator('[data-test=live-status]').textContent()));
  await eventually('and so does the picker', async () =>
    (await ann.page.locator('#instance-receiver + .dot').getAttribute('class')).includes('down'));
  await shot(ann.page, 'offline-waiting');

  await ann.context.setOffline(false);
  await eventually('bo gets both', async () => {
    const texts = await messageTexts(bo.page);
    return texts.includes('written offline 1') && texts.includes('written offline 2');
  }, 20_000);
  await eventually('ann’s are sent', async () => (await ann.page.locator('.state.waiting').count()) === 0, 20_000);
  await sleep(1000);
  const texts = await messageTexts(bo.page);
  assert.equal(texts.filter((t) => t === 'written offline 1').length, 1, 'once');
  assert.equal(texts.filter((t) => t === 'written offline 2').length, 1, 'once');
  assert.deepEqual(texts.slice(-2), ['written offline 1', 'written offline 2'], 'in order');
  const stored = await gql(bo, 4005, 'query($chatId: ID!) { messages(chatId: $chatId) { messages { content } } }', { chatId: chat });
  assert.equal(stored.messages.messages.filter((m) => m.content.startsWith('written offline')).length, 2);
});

test('a reader who was offline sees what changed meanwhile, without reloading', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann');
  const bo = await signedIn(browser, 'bo', 'Bo');
  const chat = await startDirectChat(ann, bo);
  const ids = [];
  for (const content of ['keep me', 'edit me', 'delete me']) {
    const sent = await gql(ann, 4002, 'mutation($input: CreateMessageInput!) { createMessage(input: $input) { id } }',
      { input: { chatId: chat, content } });
    ids.push(sent.createMessage.id);
  }
  await bo.page.goto(`/chats/${chat}`);
  await hydrated(bo.page);
  await eventually('bo is live', async () => /Live via/.test(await bo.page.locator('[data-test=live-status]').textContent()));
  await eventually('bo reads all three', async () => (await messageTexts(bo.page)).includes('delete me'));

  await bo.context.setOffline(true);
  await eventually('bo’s page knows it is offline', async () =>
    /not answering/.test(await bo.page.locator('[data-test=live-status]').textContent()));
  // Through the second sender (4004), while bo cannot hear.
  await gql(ann, 4004, 'mutation($id: ID!, $content: String!) { updateMessage(id: $id, content: $content) { id } }',
    { id: ids[1], content: 'edited while you were away' });
  await gql(ann, 4004, 'mutation($id: ID!) { removeMessage(id: $id) { id } }', { id: ids[2] });
  await sendAll(ann, chat, ['sent while you were away']);

  await bo.context.setOffline(false);
  // The picker says so at once, not at its next health poll (every 5 s).
  await eventually('the picker sees every instance up again', async () =>
    !(await bo.page.locator('header.top').textContent()).includes('(down)'), 2_000);
  const expected = ['keep me', 'edited while you were away', 'Message deleted', 'sent while you were away'];
  await eventually('bo’s page shows the chat as it is now', async () =>
    JSON.stringify(await messageTexts(bo.page)) === JSON.stringify(expected), 20_000);
  assert.equal(await messageWith(bo.page, 'edited while you were away').locator('.edited').count(), 1, 'marked edited');
  await shot(bo.page, 'back-online-caught-up');
});

test('the chat list catches up with what happened while the page was offline', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann');
  const bo = await signedIn(browser, 'bo', 'Bo');
  const direct = await startDirectChat(ann, bo);
  await sendAll(ann, direct, ['hello']);
  await bo.page.goto('/');
  await hydrated(bo.page);
  await eventually('bo is live', async () => /Live via/.test(await bo.page.locator('[data-test=live-status]').textContent()));
  await eventually('bo sees ann’s chat, one unread', async () => (await unreadBadgeOf(bo.page, direct)) === 1);

  await bo.context.setOffline(true);
  await eventually('bo’s page knows it is offline', async () =>
    /not answering/.test(await bo.page.locator('[data-test=live-status]').textContent()));
  const { me } = await gql(bo, 4001, 'query { me { id } }');
  const group = await gql(ann, 4002, 'mutation($input: CreateChatInput!) { createChat(input: $input) { id } }',
    { input: { kind: 'GROUP', name: 'Made while you were away', participantIds: [me.id] } });
  await sendAll(ann, group.createChat.id, ['welcome']);
  await sendAll(ann, direct, ['two', 'three']);

  await bo.context.setOffline(false);
  await eventually('the new group is listed, with its message', async () =>
    (await unreadBadgeOf(bo.page, group.createChat.id)) === 1, 20_000);
  await eventually('the direct chat counts what came meanwhile', async () => (await unreadBadgeOf(bo.page, direct)) === 3);
  const first = bo.page.locator('.chat-item').first();
  assert.equal(await first.getAttribute('data-chat'), direct, 'the chat with the latest message first');
  assert.match(await first.textContent(), /three/, 'with its latest message');
  await shot(bo.page, 'back-online-list-caught-up');
});

test('an empty chat says what to do', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann');
  const bo = await signedIn(browser, 'bo', 'Bo');
  await startDirectChat(ann, bo);
  assert.match(await ann.page.locator('.empty-chat').textContent(), /No messages yet/);
});
