// Starts the whole system (`chat up` on a fresh data folder) and drives Chromium.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

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

/** A fresh browser context (its own cookies) with a page that records errors. */
export async function newPerson(browser, options = {}) {
  const context = await browser.newContext({ baseURL: WEB, ...options });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().includes('Failed to load resource')) errors.push(m.text());
  });
  return { context, page, errors };
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
