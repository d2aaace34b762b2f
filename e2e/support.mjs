// Starts the whole system (`chat up` on a fresh data folder, from the build ./run
// serves) and drives Chromium. Every page a test opens is watched: a page error
// or a console error fails the test (see `assertNoPageErrors`).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);

export const WEB = 'http://localhost:3000';
export const SCREENSHOTS = process.env.SCREENSHOT_DIR ?? join(process.cwd(), 'screenshots');
const PORTS = [3000, 4001, 4002, 4003, 4004, 4005, 4006];

/** Runs `chat up` with an empty data folder until `stop()` is called. */
export async function startSystem() {
  const bin = process.env.CHAT_BIN;
  if (!bin) throw new Error('set CHAT_BIN to the chat binary (./test does)');
  const dataDir = mkdtempSync(join(tmpdir(), 'chat-e2e-'));
  const child = spawn(bin, ['up', '--data-dir', dataDir, '--database-url', `sqlite://${dataDir}/chat.db`], {
    // Every test user registers from 127.0.0.1: the per-address limits are for
    // strangers, and the Rust tests cover them.
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn', CHAT_RATE_LIMITS: 'off' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`chat up exited early:\n${output}`);
    if (await allUp()) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the system did not come up within 60 s:\n${output}`);
    }
    await sleep(200);
  }
  return {
    output: () => output,
    async stop() {
      child.kill('SIGINT');
      await Promise.race([exited, sleep(10_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

async function allUp() {
  const urls = PORTS.map((p) => (p === 3000 ? `${WEB}/login` : `http://127.0.0.1:${p}/healthz`));
  try {
    const answers = await Promise.all(urls.map((u) => fetch(u).then((r) => r.ok)));
    return answers.every(Boolean);
  } catch {
    return false;
  }
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Chromium from the system (Debian's package), headless and quiet. */
export async function launchBrowser() {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
    ],
  });
}

/** Everyone `newPerson` made since the last `assertNoPageErrors`. */
const watched = [];

/**
 * What the browser itself logs when the network fails (an instance taken down, the
 * context set offline): not the page's errors.
 */
const NETWORK_NOISE = [/^Failed to load resource/, /^WebSocket connection to .* failed/];

/** A fresh browser context (its own cookies) with a page that records errors. */
export async function newPerson(browser, options = {}) {
  const context = await browser.newContext({ baseURL: WEB, ...options });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !NETWORK_NOISE.some((n) => n.test(m.text()))) {
      errors.push(`console error: ${m.text()}`);
    }
  });
  const person = { context, page, errors };
  watched.push(person);
  return person;
}

/** Fails if any page opened since the last call logged an error (call it in afterEach). */
export function assertNoPageErrors() {
  const errors = watched.flatMap((p) => p.errors);
  watched.length = 0;
  assert.deepEqual(errors, [], 'the pages logged errors');
}

/** Runs axe-core on the page; fails on any serious or critical violation. */
export async function assertAccessible(page, what) {
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) {
    // Evaluated by the test driver, not added as a <script>: the page's CSP refuses
    // inline scripts, as it should.
    await page.evaluate(readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8'));
  }
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const serious = result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join('; ')}`);
  assert.deepEqual(serious, [], `accessibility of ${what}`);
}

/** The session token of a person's browser (an HttpOnly cookie the page never sees). */
export async function tokenOf(person) {
  const cookie = (await person.context.cookies()).find((c) => c.name === 'chat_session');
  return cookie?.value;
}

/** A GraphQL call as `person`, straight to a service instance (for setting scenes). */
export async function gql(person, port, query, variables = {}) {
  const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenOf(person)}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

/** Sends `texts` as `person` through sender 4002, one after another. */
export async function sendAll(person, chatId, texts) {
  for (const content of texts) {
    await gql(person, 4002, 'mutation($input: CreateMessageInput!) { createMessage(input: $input) { seq } }',
      { input: { chatId, content } });
  }
}

/** The id of the open chat, from the address. */
export function chatIdOf(page) {
  return new URL(page.url()).pathname.split('/').pop();
}

/** Polls `check` until it returns a truthy value or `timeout` ms pass. */
export async function eventually(what, check, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last})`);
    await sleep(50);
  }
}

/** Chooses instance `index` (0-based) of `service` in the picker. */
export async function pickInstance(page, service, index) {
  await page.locator(`#instance-${service}`).selectOption(String(index));
}

/** A name no other test uses. */
export const unique = (name) => `${name}${Date.now().toString(36)}${Math.floor(Math.random() * 1000)}`;

export async function register(page, username, displayName) {
  await page.goto('/register');
  await hydrated(page);
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('Email', { exact: true }).fill(`${username}@example.com`);
  await page.getByLabel('Display name', { exact: true }).fill(displayName);
  await page.getByLabel('Password', { exact: true }).fill('correct horse battery');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL(`${WEB}/`);
  await hydrated(page);
}

/** Waits until the page is interactive. */
export async function hydrated(page) {
  await page.locator('html[data-hydrated]').waitFor({ state: 'attached', timeout: 30_000 });
}

/** A person registered and signed in, on the chats page. */
export async function signedIn(browser, name, displayName = name, options = {}) {
  const person = await newPerson(browser, options);
  person.username = unique(name);
  await register(person.page, person.username, displayName);
  return person;
}

/**
 * Starts a direct chat with `other` from the "New chat" dialog; returns its id. The two
 * have never talked, so it is a request to `other`, who accepts it (as the request
 * bar's Accept does) unless `accepted` is false: the tests that follow talk as people
 * who know each other.
 */
export async function startDirectChat(person, other, { accepted = true } = {}) {
  const before = person.page.url();
  await person.page.getByRole('button', { name: 'New chat' }).click();
  await person.page.getByLabel('Find people').fill(other.username);
  await person.page.getByRole('button', { name: new RegExp(other.username) }).click();
  await person.page.waitForURL((url) => url.pathname.startsWith('/chats/') && url.href !== before);
  const chat = chatIdOf(person.page);
  if (accepted) await accept(other, chat);
  return chat;
}

/** `person` accepts chat `chatId`, a request to them. */
export async function accept(person, chatId) {
  await gql(person, 4002, 'mutation($chatId: ID!) { acceptChat(chatId: $chatId) { id } }', { chatId });
}

/** Starts a group named `name` with `others` (who each accept it); returns its id. */
export async function startGroup(person, name, others) {
  const before = person.page.url();
  await person.page.getByRole('button', { name: 'New chat' }).click();
  await person.page.getByRole('radio', { name: 'Group' }).click();
  await person.page.getByLabel('Group name').fill(name);
  for (const other of others) {
    await person.page.getByLabel('Find people').fill(other.username);
    await person.page.getByRole('button', { name: new RegExp(other.username) }).click();
  }
  await person.page.getByRole('button', { name: 'Create group' }).click();
  await person.page.waitForURL((url) => url.pathname.startsWith('/chats/') && url.href !== before);
  const chat = chatIdOf(person.page);
  for (const other of others) await accept(other, chat);
  return chat;
}

/** The unread count the chat list shows for the chat titled `title` (0 without a badge). */
export async function unreadBadge(page, title) {
  return badgeCount(page.locator('.chat-item', { hasText: title }).locator('[data-test=unread]'));
}

/** The same for chat `id` (titles can repeat, and previews name people). */
export async function unreadBadgeOf(page, id) {
  return badgeCount(page.locator(`.chat-item[data-chat="${id}"] [data-test=unread]`));
}

async function badgeCount(badge) {
  return (await badge.count()) ? Number(await badge.getAttribute('data-count')) : 0;
}

/** The texts of the open chat's messages. */
export async function messageTexts(page) {
  return page.locator('[data-test=message] .content').allTextContents();
}

/** Sends a message from the composer with Enter. */
export async function send(page, text) {
  const box = page.getByLabel('Message', { exact: true });
  await box.fill(text);
  await box.press('Enter');
}

export async function shot(page, name) {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: false });
}

/** The message of the open chat whose text is exactly `text`. */
export const messageWith = (page, text) =>
  page.locator('[data-test=message]').filter({ has: page.locator('.content').getByText(text, { exact: true }) });

/** Whether `locator` is inside the visible part of the message list. */
export async function inView(page, locator) {
  const box = await locator.boundingBox();
  const list = await page.locator('.messages').boundingBox();
  return box !== null && box.y >= list.y - 1 && box.y + box.height <= list.y + list.height + 1;
}
