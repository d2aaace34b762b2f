// The forms without scripts (as before the bundle loads, or with scripts off):
// register, sign in, send, sign out — and a password never in an address.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  WEB, assertAccessible, assertNoPageErrors, launchBrowser, messageTexts, newPerson, shot,
  signedIn, startDirectChat, startSystem, unique,
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

/** A person whose browser runs no scripts, with every address it visits recorded. */
async function withoutScripts() {
  const person = await newPerson(browser, { javaScriptEnabled: false });
  person.visited = [];
  person.page.on('request', (r) => person.visited.push(r.url()));
  return person;
}

function assertNoSecretInAddresses(person, secret) {
  for (const url of person.visited) {
    assert.ok(!decodeURIComponent(url).includes(secret), `a password in ${url}`);
    assert.ok(!url.includes('password='), `a password field in ${url}`);
  }
}

test('without scripts one can register, sign in, send and sign out', async () => {
  const person = await withoutScripts();
  const { page } = person;
  const username = unique('nojs');
  const password = 'correct horse battery';

  await page.goto('/register');
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('Email', { exact: true }).fill(`${username}@example.com`);
  await page.getByLabel('Display name', { exact: true }).fill('No Script');
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL(`${WEB}/`);
  assert.ok(await page.locator('.me-name', { hasText: 'No Script' }).count(), 'signed in');

  // Someone to talk to, with scripts; then the form sends to them.
  const friend = await signedIn(browser, 'friend', 'Friend');
  const nojsUser = { username };
  const chat = await startDirectChat(friend, nojsUser, { accepted: false });
  // A request from someone new: accepted with a plain form too.
  await page.goto(`/chats/${chat}`);
  assert.match(await page.locator('[data-test=request]').textContent(), /Friend wants to chat with you/);
  await page.getByRole('button', { name: 'Accept' }).click();
  await page.waitForURL(`${WEB}/chats/${chat}`);
  await page.getByLabel('Message', { exact: true }).fill('sent by a plain form');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.waitForURL(`${WEB}/chats/${chat}`);
  assert.deepEqual(await messageTexts(page), ['sent by a plain form']);
  // Posting the same page twice (a resubmitted form) is one message.
  const form = await page.evaluate(() => {
    const f = document.querySelector('form.composer');
    return { action: f.action, after: f.querySelector('[name=after]').value };
  });
  for (let i = 0; i < 2; i++) {
    await page.request.post(form.action, {
      form: { content: 'twice from one page', after: form.after },
      headers: { origin: WEB },
    });
  }
  await page.reload();
  assert.equal((await messageTexts(page)).filter((t) => t === 'twice from one page').length, 1);
  await shot(page, 'no-javascript-sent');

  // Signing out, then in with a wrong password and a right one.
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.waitForURL(`${WEB}/login`);
  await page.getByLabel('Username or email').fill(username);
  await page.getByLabel('Password').fill('wrong password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${WEB}/login`);
  assert.match(await page.locator('.form-error').textContent(), /Wrong username or password/);
  assert.equal(await page.getByLabel('Username or email').inputValue(), username, 'what was typed stays');
  assert.equal(await page.getByLabel('Password').inputValue(), '', 'the password does not');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${WEB}/`);
  assertNoSecretInAddresses(person, password);
  assertNoSecretInAddresses(person, 'wrong password');
});

test('a refused registration without scripts keeps what was typed, except the password', async () => {
  const taken = await signedIn(browser, 'taken', 'Taken');
  const person = await withoutScripts();
  const { page } = person;
  await page.goto('/register');
  await page.getByLabel('Username', { exact: true }).fill(taken.username);
  await page.getByLabel('Email', { exact: true }).fill(`${unique('x')}@example.com`);
  await page.getByLabel('Display name', { exact: true }).fill('Second Try');
  await page.getByLabel('Password', { exact: true }).fill('another good password');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL(`${WEB}/register`);
  assert.match(await page.locator('#field-username-error').textContent(), /exists|taken/);
  assert.equal(await page.getByLabel('Display name', { exact: true }).inputValue(), 'Second Try');
  assert.equal(await page.getByLabel('Password', { exact: true }).inputValue(), '');
  assertNoSecretInAddresses(person, 'another good password');
  await assertAccessibleWithScripts(page.url());
});

test('a signed-out visitor is sent to sign in, and then back where they were going', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann');
  const bo = await signedIn(browser, 'bo', 'Bo');
  const chat = await startDirectChat(ann, bo);
  const password = 'correct horse battery';
  await bo.page.getByRole('button', { name: 'Log out' }).click();
  await bo.page.waitForURL(`${WEB}/login`);
  assert.ok(!(await bo.page.locator('body').textContent()).includes('Offline'), 'no connection talk on the sign-in page');

  await bo.page.goto(`/chats/${chat}`);
  await bo.page.waitForURL(/\/login\?next=/);
  await shot(bo.page, 'sign-in');
  await assertAccessible(bo.page, 'the sign-in page');
  await bo.page.getByLabel('Username or email').fill(bo.username);
  await bo.page.getByLabel('Password').fill(password);
  await bo.page.getByRole('button', { name: 'Sign in' }).click();
  await bo.page.waitForURL(`${WEB}/chats/${chat}`);

  // The same without scripts.
  const person = await withoutScripts();
  await person.page.goto(`/chats/${chat}`);
  await person.page.waitForURL(/\/login\?next=/);
  await person.page.getByLabel('Username or email').fill(ann.username);
  await person.page.getByLabel('Password').fill(password);
  await person.page.getByRole('button', { name: 'Sign in' }).click();
  await person.page.waitForURL(`${WEB}/chats/${chat}`);
  assertNoSecretInAddresses(person, password);
});

test('after signing in, a next address that leads to another site is not followed', async () => {
  // Browsers drop tabs from addresses: `/<TAB>/evil.example/x` is `//evil.example/x`.
  const next = '/\t/evil.example/x';
  const ann = await signedIn(browser, 'ann', 'Ann');
  await ann.page.getByRole('button', { name: 'Log out' }).click();
  await ann.page.waitForURL(`${WEB}/login`);
  // Without scripts: the form's answer sends the browser to the start page.
  const response = await ann.page.request.post('/login', {
    form: { username: ann.username, password: 'correct horse battery', next },
    headers: { origin: WEB },
    maxRedirects: 0,
  });
  assert.equal(response.status(), 303);
  assert.equal(response.headers().location, '/');
  // With scripts: the app goes to the start page too.
  await ann.page.goto(`/login?next=${encodeURIComponent(next)}`);
  await ann.page.locator('html[data-hydrated]').waitFor({ state: 'attached' });
  await ann.page.getByLabel('Username or email').fill(ann.username);
  await ann.page.getByLabel('Password').fill('correct horse battery');
  await ann.page.getByRole('button', { name: 'Sign in' }).click();
  await ann.page.waitForURL(`${WEB}/`);
});

test('pages carry a strict content security policy, and the app runs under it', async () => {
  const person = await newPerson(browser);
  await person.page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective));
  });
  const response = await person.page.goto('/login');
  const policy = response.headers()['content-security-policy'] ?? '';
  for (const part of ["script-src 'self' 'nonce-", "'wasm-unsafe-eval'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'"]) {
    assert.ok(policy.includes(part), `${part} in ${policy}`);
  }
  assert.ok(!policy.includes("'unsafe-inline'"), policy);
  // Registering, starting a chat and talking: everything the app does, under the policy.
  const ann = await signedIn(browser, 'ann', 'Ann');
  await ann.page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective));
  });
  const bo = await signedIn(browser, 'bo', 'Bo');
  const chat = await startDirectChat(ann, bo);
  await ann.page.goto(`/chats/${chat}`);
  await ann.page.locator('html[data-hydrated]').waitFor({ state: 'attached' });
  await ann.page.getByLabel('Message', { exact: true }).fill('under the policy');
  await ann.page.keyboard.press('Enter');
  await ann.page.locator('[data-test=message] .content', { hasText: 'under the policy' }).waitFor();
  assert.deepEqual(await ann.page.evaluate(() => window.__violations), []);
  assert.deepEqual(await person.page.evaluate(() => window.__violations), []);
});

test('another site cannot post the forms', async () => {
  const person = await newPerson(browser);
  const response = await person.page.request.post('/login', {
    form: { username: 'someone', password: 'whatever pass' },
    headers: { origin: 'https://evil.example' },
    maxRedirects: 0,
  });
  assert.equal(response.status(), 403);
});

/** The register page, as a browser with scripts shows it. */
async function assertAccessibleWithScripts(url) {
  const person = await newPerson(browser);
  await person.page.goto(url);
  await assertAccessible(person.page, 'the registration page');
}
