// What a message can carry beyond its text, as two people on different instances see
// it: a reply's quote (leading back to what it answers), reactions, edit history,
// pins, formatting and mentions.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertAccessible, assertNoPageErrors, eventually, gql, hydrated, inView, launchBrowser,
  messageWith, send, sendAll, shot, signedIn, startDirectChat, startGroup, startSystem,
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

/** `[emoji, count, pressed]` of each reaction chip of a message. */
async function chips(message) {
  const found = [];
  for (const chip of await message.locator('[data-test=reaction]').all()) {
    const [emoji, count] = (await chip.textContent()).trim().split(/\s+/);
    found.push([emoji, Number(count), (await chip.getAttribute('aria-pressed')) === 'true']);
  }
  return found;
}

test('a reply quotes what it answers, and the quote leads back to it', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann Lee');
  const bo = await signedIn(browser, 'bo', 'Bo Chen');
  const chat = await startDirectChat(ann, bo);
  await sendAll(ann, chat, ['Where do we meet on Friday?\nI can do after six']);
  const first = await gql(ann, 4005, 'query($chatId: ID!) { messages(chatId: $chatId) { messages { id } } }', { chatId: chat });
  const question = first.messages.messages[0].id;
  // Far enough back that Bo's first page does not hold it.
  await sendAll(ann, chat, Array.from({ length: 120 }, (_, i) => `filler ${i + 1}`));
  await gql(ann, 4002, 'mutation($input: CreateMessageInput!) { createMessage(input: $input) { seq } }',
    { input: { chatId: chat, content: 'Still need an answer', replyTo: question } });
  await gql(bo, 4004, 'mutation($chatId: ID!) { markAsRead(chatId: $chatId) { unreadCount } }', { chatId: chat });

  await bo.page.goto(`/chats/${chat}`);
  await hydrated(bo.page);
  const answer = messageWith(bo.page, 'Still need an answer');
  const quote = answer.locator('[data-test=quote]');
  await eventually('the reply shows its quote', async () =>
    /Ann Lee\s*Where do we meet on Friday\?…/.test(await quote.textContent()));
  assert.equal(await messageWith(bo.page, 'filler 1').count(), 0, 'the original is not loaded yet');
  await quote.click();
  const original = bo.page.locator('[data-test=message][data-seq="1"]');
  await eventually('the original is loaded, in view and highlighted', async () =>
    (await original.count()) === 1 && (await inView(bo.page, original))
      && /highlight/.test(await original.getAttribute('class')));

  // Bo answers the newest message from its Reply button; Ann sees it live with its quote.
  await ann.page.goto(`/chats/${chat}`);
  await hydrated(ann.page);
  await answer.hover();
  await answer.getByRole('button', { name: 'Reply', exact: true }).click();
  const banner = bo.page.locator('[data-test=replying]');
  assert.match(await banner.textContent(), /Ann Lee\s*Still need an answer/);
  assert.equal(await bo.page.evaluate(() => document.activeElement.id), 'composer-input', 'the box takes the focus');
  await send(bo.page, 'At the station, 18:30');
  await eventually('the banner goes once sent', async () => (await banner.count()) === 0);
  const onAnn = messageWith(ann.page, 'At the station, 18:30');
  await eventually('ann sees the reply live, quoting her message', async () =>
    (await onAnn.count()) === 1 && /You\s*Still need an answer/.test(await onAnn.locator('[data-test=quote]').textContent()));
  await shot(ann.page, 'reply');
  await assertAccessible(ann.page, 'a conversation with replies');

  // Escape lets go of a reply before sending.
  await onAnn.hover();
  await onAnn.getByRole('button', { name: 'Reply', exact: true }).click();
  await ann.page.locator('[data-test=replying]').waitFor();
  await ann.page.keyboard.press('Escape');
  await eventually('Escape cancels the reply', async () => (await ann.page.locator('[data-test=replying]').count()) === 0);

  // Deleting the original leaves the quote saying so.
  await gql(ann, 4002, 'mutation($id: ID!) { removeMessage(id: $id) { id } }', { id: question });
  await bo.page.reload();
  await hydrated(bo.page);
  await eventually('the quote says the message was deleted', async () =>
    /Deleted message/.test(await messageWith(bo.page, 'Still need an answer').locator('[data-test=quote]').textContent()));
});

test('a quote far back opens the history around it; scrolling and the jump lead back to the newest', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann Lee');
  const bo = await signedIn(browser, 'bo', 'Bo Chen');
  const chat = await startDirectChat(ann, bo);
  await sendAll(ann, chat, ['The very first plan']);
  const first = await gql(ann, 4005, 'query($chatId: ID!) { messages(chatId: $chatId) { messages { id } } }', { chatId: chat });
  // Farther back than it is worth loading every page between.
  await sendAll(ann, chat, Array.from({ length: 450 }, (_, i) => `filler ${i + 1}`));
  await gql(ann, 4002, 'mutation($input: CreateMessageInput!) { createMessage(input: $input) { seq } }',
    { input: { chatId: chat, content: 'About that first plan', replyTo: first.messages.messages[0].id } });
  await gql(bo, 4004, 'mutation($chatId: ID!) { markAsRead(chatId: $chatId) { unreadCount } }', { chatId: chat });

  await bo.page.goto(`/chats/${chat}`);
  await hydrated(bo.page);
  await messageWith(bo.page, 'About that first plan').locator('[data-test=quote]').click();
  const original = bo.page.locator('[data-test=message][data-seq="1"]');
  await eventually('the original is shown, in view and highlighted', async () =>
    (await original.count()) === 1 && (await inView(bo.page, original))
      && /highlight/.test(await original.getAttribute('class')));
  const shown = await bo.page.locator('[data-test=message]').count();
  assert.ok(shown <= 60, `only the history around it is loaded, not ${shown} messages`);
  assert.equal(await messageWith(bo.page, 'About that first plan').count(), 0, 'the newest are not under it');
  const jump = bo.page.locator('[data-test=jump]');
  await jump.waitFor();
  await shot(bo.page, 'history-window');

  // A message arriving meanwhile waits below, counted on the button.
  await sendAll(ann, chat, ['Are you still there?']);
  await eventually('the button counts it', async () => /1 new message/.test(await jump.textContent()));
  assert.equal(await messageWith(bo.page, 'Are you still there?').count(), 0);
  // Scrolling down brings the next page of the history.
  await bo.page.locator('.messages').evaluate((el) => { el.scrollTop = el.scrollHeight; });
  await eventually('the next page comes on the way down', async () =>
    (await messageWith(bo.page, 'filler 60').count()) === 1);
  // The button goes straight to the newest.
  await jump.click();
  const latest = messageWith(bo.page, 'Are you still there?');
  await eventually('the newest messages are back, the last in view', async () =>
    (await latest.count()) === 1 && (await inView(bo.page, latest)));
  await eventually('the button goes', async () => (await jump.count()) === 0);
  await send(bo.page, 'Yes, here');
  await eventually('and what he writes goes in at the end', async () =>
    (await messageWith(bo.page, 'Yes, here').count()) === 1
      && (await bo.page.locator('[data-test=message]').last().textContent()).includes('Yes, here'));
});

test('reactions: picked by name, seen live on the other side, pressed again to take back', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann Lee');
  const bo = await signedIn(browser, 'bo', 'Bo Chen');
  const chat = await startDirectChat(ann, bo);
  await send(ann.page, 'Ship it on Friday?');
  await bo.page.goto(`/chats/${chat}`);
  await hydrated(bo.page);
  const onBo = messageWith(bo.page, 'Ship it on Friday?');
  const onAnn = messageWith(ann.page, 'Ship it on Friday?');
  await onBo.waitFor();

  await onBo.hover();
  await onBo.getByRole('button', { name: 'React' }).click();
  const picker = bo.page.getByRole('dialog', { name: 'React' });
  await picker.waitFor();
  assert.equal(await bo.page.evaluate(() => document.activeElement.id), 'emoji-search', 'the search box takes the focus');
  assert.equal(await picker.locator('[data-test=emoji-choice]').count(), 8, 'the most used first');
  await bo.page.keyboard.type('rock');
  await eventually('the search finds the rocket', async () =>
    (await picker.locator('[data-test=emoji-choice]').allTextContents()).map((t) => t.trim()).includes('🚀'));
  await shot(bo.page, 'reaction-picker');
  await assertAccessible(bo.page, 'the emoji picker');
  await picker.getByRole('button', { name: 'rocket' }).click();
  await eventually('bo’s reaction shows, pressed', async () =>
    JSON.stringify(await chips(onBo)) === JSON.stringify([['🚀', 1, true]]));
  await eventually('ann sees it live, not pressed', async () =>
    JSON.stringify(await chips(onAnn)) === JSON.stringify([['🚀', 1, false]]));
  assert.equal(await onAnn.locator('[data-test=reaction]').getAttribute('title'), 'Bo Chen reacted with 🚀');
  // Where there is no tooltip (a long press on a phone is a context menu), it says who.
  await onAnn.locator('[data-test=reaction]').click({ button: 'right' });
  assert.equal(await onAnn.locator('[data-test=reaction-who]').textContent(), 'Bo Chen reacted with 🚀');
  await onAnn.locator('[data-test=reaction]').click({ button: 'right' });
  await eventually('a second one hides it', async () => (await onAnn.locator('[data-test=reaction-who]').count()) === 0);

  // Ann joins in from the chip; Bo takes his back.
  await onAnn.locator('[data-test=reaction]').click();
  await eventually('two on both sides', async () =>
    JSON.stringify(await chips(onBo)) === JSON.stringify([['🚀', 2, true]])
      && JSON.stringify(await chips(onAnn)) === JSON.stringify([['🚀', 2, true]]));
  await shot(ann.page, 'reactions');
  await onBo.locator('[data-test=reaction]').click();
  await eventually('one again, Ann’s', async () =>
    JSON.stringify(await chips(onBo)) === JSON.stringify([['🚀', 1, false]])
      && JSON.stringify(await chips(onAnn)) === JSON.stringify([['🚀', 1, true]]));

  // Bo has seen it: in a direct chat Ann's message says when.
  await eventually('ann’s message says seen, with the time', async () =>
    /^Seen \d{1,2}:\d{2}/.test((await onAnn.locator('.seen').textContent()) ?? ''));
});

test('an edited message shows its earlier versions', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann Lee');
  const bo = await signedIn(browser, 'bo', 'Bo Chen');
  const chat = await startDirectChat(ann, bo);
  await send(ann.page, 'Meet at 6');
  const mine = messageWith(ann.page, 'Meet at 6');
  await eventually('stored', async () => !/pending/.test(await mine.getAttribute('class')));
  await mine.hover();
  await mine.getByRole('button', { name: 'Edit' }).click();
  const box = ann.page.getByLabel('Edit message');
  await box.fill('Meet at 7, by the fountain');
  await box.press('Enter');

  await bo.page.goto(`/chats/${chat}`);
  await hydrated(bo.page);
  const theirs = messageWith(bo.page, 'Meet at 7, by the fountain');
  await theirs.getByRole('button', { name: 'edited' }).click();
  const dialog = bo.page.getByRole('dialog', { name: 'Edit history' });
  await eventually('both versions, oldest first', async () =>
    JSON.stringify(await dialog.locator('[data-test=version] .content').allTextContents())
      === JSON.stringify(['Meet at 6', 'Meet at 7, by the fountain']));
  await shot(bo.page, 'edit-history');
  await assertAccessible(bo.page, 'the edit history');
  await bo.page.keyboard.press('Escape');
  await eventually('Escape closes it', async () => (await bo.page.locator('dialog').count()) === 0);
});

test('formatting shows as people write it, and script in it stays text', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann Lee');
  const bo = await signedIn(browser, 'bo', 'Bo Chen');
  const chat = await startDirectChat(ann, bo);
  const content = [
    '**bold** *slanted* ~~old~~ `npm ci` — see https://example.com/docs, not javascript:alert(1)',
    '> a quoted line',
    '```',
    'let total = **1** + 2;',
    '```',
    '**<img src=x onerror="window.__xss=1">**',
  ].join('\n');
  await sendAll(ann, chat, [content]);
  const html = await (await bo.page.request.get(`/chats/${chat}`)).text();
  assert.ok(/<strong>bold/.test(html) && html.includes('<blockquote'), 'the server renders the formatting');
  assert.ok(!html.includes('<img src=x'), 'and the payload as text');

  await bo.page.goto(`/chats/${chat}`);
  await hydrated(bo.page);
  const body = bo.page.locator('[data-test=message] .content').first();
  await body.waitFor();
  assert.deepEqual(await body.locator('strong').allTextContents(), ['bold', '<img src=x onerror="window.__xss=1">']);
  assert.deepEqual(await body.locator('em').allTextContents(), ['slanted']);
  assert.deepEqual(await body.locator('del').allTextContents(), ['old']);
  assert.deepEqual(await body.locator('p code').allTextContents(), ['npm ci']);
  assert.deepEqual(await body.locator('blockquote').allTextContents(), ['a quoted line']);
  assert.deepEqual(await body.locator('pre code').allTextContents(), ['let total = **1** + 2;']);
  const links = body.locator('a');
  assert.equal(await links.count(), 1, 'only the web address is a link');
  assert.equal(await links.getAttribute('href'), 'https://example.com/docs');
  assert.equal(await links.getAttribute('rel'), 'noopener noreferrer');
  assert.equal(await links.getAttribute('target'), '_blank');
  assert.equal(await body.locator('img').count(), 0);
  assert.equal(await bo.page.evaluate(() => window.__xss), undefined);
  // The chat list previews it without the markers.
  assert.match(await bo.page.locator('.chat-item', { hasText: 'Ann Lee' }).textContent(), /bold slanted old npm ci/);
  await shot(bo.page, 'formatting');
});

test('a pinned message is marked, listed in Details, and leads back to it', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann Lee');
  const bo = await signedIn(browser, 'bo', 'Bo Chen');
  const chat = await startDirectChat(ann, bo);
  await sendAll(ann, chat, ['Pin me: the meeting is at 10', ...Array.from({ length: 40 }, (_, i) => `later ${i + 1}`)]);
  const onAnn = messageWith(ann.page, 'Pin me: the meeting is at 10');
  await onAnn.waitFor();
  await bo.page.goto(`/chats/${chat}`);
  await hydrated(bo.page);
  const onBo = messageWith(bo.page, 'Pin me: the meeting is at 10');
  await onBo.waitFor();

  await onAnn.hover();
  await onAnn.getByRole('button', { name: 'Pin', exact: true }).click();
  await eventually('ann sees it pinned', async () => (await onAnn.locator('[data-test=pinned-mark]').count()) === 1);
  await eventually('bo sees it pinned, live', async () => (await onBo.locator('[data-test=pinned-mark]').count()) === 1);

  await bo.page.locator('.messages').evaluate((el) => { el.scrollTop = el.scrollHeight; });
  await bo.page.getByRole('button', { name: 'Details' }).click();
  const item = bo.page.locator('[data-test=pinned]');
  await eventually('Details lists it', async () => /Ann Lee\s*Pin me: the meeting is at 10/.test(await item.textContent()));
  await shot(bo.page, 'pinned-in-details');
  await assertAccessible(bo.page, 'details with a pinned message');
  await item.getByRole('button').click();
  await eventually('the dialog closes and the message is in view', async () =>
    (await bo.page.locator('dialog').count()) === 0 && (await inView(bo.page, onBo)));

  // Unpinned from the message again, it leaves the list.
  await onAnn.hover();
  await onAnn.getByRole('button', { name: 'Unpin', exact: true }).click();
  await eventually('bo sees it unpinned', async () => (await onBo.locator('[data-test=pinned-mark]').count()) === 0);
});

test('mentioning someone: picked from a list by keyboard, marked for them until read', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann Lee');
  const bo = await signedIn(browser, 'bo', 'Bo Chen');
  const cy = await signedIn(browser, 'cy', 'Cy Park');
  const group = await startGroup(ann, 'Launch', [bo, cy]);
  const direct = await startDirectChat(cy, bo);
  await bo.page.goto('/');
  await hydrated(bo.page);

  const box = ann.page.getByLabel('Message', { exact: true });
  await box.click();
  await box.pressSequentially('Ready? @bo');
  const options = ann.page.locator('[data-test=mention-option]');
  await eventually('the list offers Bo', async () =>
    (await options.count()) === 1 && (await options.textContent()).includes(bo.username));
  await shot(ann.page, 'mention-picker');
  await assertAccessible(ann.page, 'the mention list');
  // A screen reader is told which option the arrows are on.
  assert.equal(await box.getAttribute('aria-activedescendant'), 'mention-option-0');
  assert.equal(await box.getAttribute('aria-controls'), 'mention-list');
  await box.press('Enter');
  assert.equal(await box.inputValue(), `Ready? @${bo.username} `, 'Enter picks, it does not send');
  // Escape closes the list for a name being written.
  await box.pressSequentially('and @cy');
  await eventually('the list offers Cy', async () =>
    (await options.count()) === 1 && (await options.textContent()).includes(cy.username));
  await box.press('Escape');
  await eventually('Escape closes it', async () => (await options.count()) === 0);
  assert.equal(await box.getAttribute('aria-activedescendant'), null, 'nothing to announce when closed');
  for (let i = 0; i < 3; i++) await box.press('Backspace');
  await box.pressSequentially('ship it');
  await box.press('Enter');

  const row = bo.page.locator(`.chat-item[data-chat="${group}"]`);
  await eventually('bo’s list marks the mention', async () => (await row.locator('[data-test=mentions]').count()) === 1);
  assert.equal(await cy.page.locator(`.chat-item[data-chat="${group}"] [data-test=mentions]`).count(), 0);
  // A newer message elsewhere does not push the mention down the list.
  await send(cy.page, 'lunch later?');
  await eventually('the direct chat is unread', async () => (await unreadBadgeOf(bo.page, direct)) === 1);
  const first = () => bo.page.locator('.chat-item').first().getAttribute('data-chat');
  assert.equal(await first(), group, 'the chat that mentions him comes first');
  await shot(bo.page, 'mention-badge');
  await row.locator('a').click();
  await hydrated(bo.page);
  const chip = bo.page.locator('[data-test=message] .mention.of-you');
  await eventually('his name stands out in the message', async () =>
    (await chip.count()) === 1 && (await chip.textContent()) === `@${bo.username}`);
  await eventually('reading it clears the mark', async () => (await row.locator('[data-test=mentions]').count()) === 0);
  await eventually('then the newest activity leads again', async () => (await first()) === direct);
});

test('the owner’s @all marks the chat for everyone; "Seen by" says who has read', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann Lee');
  const bo = await signedIn(browser, 'bo', 'Bo Chen');
  const cy = await signedIn(browser, 'cy', 'Cy Park');
  const group = await startGroup(ann, 'Standup', [bo, cy]);
  for (const person of [bo, cy]) {
    await person.page.goto('/');
    await hydrated(person.page);
  }

  const box = ann.page.getByLabel('Message', { exact: true });
  await box.click();
  await box.pressSequentially('@al');
  const options = ann.page.locator('[data-test=mention-option]');
  await eventually('the list offers everyone', async () =>
    (await options.count()) === 1 && (await options.textContent()).includes('Everyone'));
  await box.press('Enter');
  await box.pressSequentially('standup in 5');
  await box.press('Enter');
  const sent = messageWith(ann.page, '@all standup in 5');
  await eventually('@all is a chip', async () =>
    (await sent.locator('.mention').textContent()) === '@all');

  for (const person of [bo, cy]) {
    const row = person.page.locator(`.chat-item[data-chat="${group}"]`);
    await eventually(`${person.username}’s list marks the mention`, async () =>
      (await row.locator('[data-test=mentions]').count()) === 1);
  }
  await bo.page.locator(`.chat-item[data-chat="${group}"] a`).click();
  await hydrated(bo.page);

  const seenBy = sent.locator('[data-test=seen-by]');
  await eventually('ann’s message says one has seen it', async () =>
    (await seenBy.count()) === 1 && (await seenBy.locator('summary').textContent()) === 'Seen by 1');
  await seenBy.locator('summary').click();
  const names = seenBy.locator('li');
  await eventually('a click names him', async () =>
    (await names.count()) === 1 && (await names.textContent()).startsWith('Bo Chen'));
  await shot(ann.page, 'seen-by');
  await assertAccessible(ann.page, 'the open "Seen by" list');
});
