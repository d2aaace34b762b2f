// Files: dropped on the conversation, picked with the paper clip or pasted; an image
// shows as a thumbnail on the other side, any other file as a card that downloads;
// a file over the limit is refused before it is sent.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import {
  assertAccessible, assertNoPageErrors, eventually, hydrated, launchBrowser, shot, signedIn,
  startDirectChat, startSystem,
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

/** A `width`×`height` PNG of stripes, made here (no image files in the repository). */
function png(width, height) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes) => {
    let c = 0xffffffff;
    for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x++) row.set(Math.floor(x / 40) % 2 ? [37, 99, 235] : [250, 204, 21], 1 + x * 3);
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Drops `files` ({ name, mimeType, buffer }) on the open conversation, as a drag from the desktop does. */
async function drop(page, files) {
  const transfer = await page.evaluateHandle((files) => {
    const dt = new DataTransfer();
    for (const f of files) dt.items.add(new File([new Uint8Array(f.bytes)], f.name, { type: f.mimeType }));
    return dt;
  }, files.map((f) => ({ name: f.name, mimeType: f.mimeType, bytes: [...f.buffer] })));
  const room = page.locator('.room');
  await room.dispatchEvent('dragover', { dataTransfer: transfer });
  await room.dispatchEvent('drop', { dataTransfer: transfer });
}

test('a dropped photo shows as a thumbnail on the other side; a document as a card that downloads', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann Lee');
  const bo = await signedIn(browser, 'bo', 'Bo Chen');
  const chat = await startDirectChat(ann, bo);
  await bo.page.goto(`/chats/${chat}`);
  await hydrated(bo.page);

  await drop(ann.page, [{ name: 'harbour.png', mimeType: 'image/png', buffer: png(640, 400) }]);
  const chip = ann.page.locator('[data-test=pending-file]');
  await eventually('the photo uploads', async () => /ready|KB/.test((await chip.getAttribute('class')) + (await chip.textContent())));
  await ann.page.getByLabel('Message', { exact: true }).fill('From the pier');
  await ann.page.getByLabel('Message', { exact: true }).press('Enter');
  await eventually('the chip goes with the message', async () => (await chip.count()) === 0);

  const thumbnail = bo.page.locator('[data-test=message] [data-test=thumbnail]');
  await eventually('Bo sees the thumbnail, loaded', async () =>
    (await thumbnail.count()) === 1 && (await thumbnail.evaluate((img) => img.complete && img.naturalWidth)) === 480);
  assert.equal(await thumbnail.getAttribute('alt'), 'harbour.png');
  const link = bo.page.locator('[data-test=message] .file.image a');
  const full = await bo.page.request.get(await link.getAttribute('href'));
  assert.equal(full.status(), 200);
  assert.equal(full.headers()['content-type'], 'image/png');
  // Asked for from another site's page, the web tier passes no session on.
  const foreign = await bo.page.request.get(await link.getAttribute('href'), {
    headers: { origin: 'https://evil.example' },
  });
  assert.equal(foreign.status(), 401);

  // A document, picked with the paper clip.
  await ann.page.locator('[data-test=attach]').setInputFiles({
    name: 'minutes.txt', mimeType: 'text/plain', buffer: Buffer.from('Minutes of the meeting\n'),
  });
  await eventually('the document uploads', async () => /ready/.test(await chip.getAttribute('class')));
  await ann.page.getByRole('button', { name: 'Send' }).click();
  const card = bo.page.locator('[data-test=file-card]');
  await eventually('Bo sees the card', async () => (await card.count()) === 1);
  assert.match(await card.textContent(), /minutes\.txt\s*\d+ B/);
  await eventually('the chat list says what came', async () =>
    (await bo.page.locator(`.chat-item[data-chat="${chat}"] .chat-preview`).textContent()) === '📎 minutes.txt');
  const [download] = await Promise.all([bo.page.waitForEvent('download'), card.click()]);
  assert.equal(download.suggestedFilename(), 'minutes.txt');
  await shot(bo.page, 'files');
  await assertAccessible(bo.page, 'a chat with files');

  // Reloaded, from the history: the same.
  await bo.page.reload();
  await hydrated(bo.page);
  await eventually('after a reload too', async () =>
    (await thumbnail.count()) === 1 && (await card.count()) === 1);
});

test('a file over the limit is refused before it is sent, and says why', async () => {
  const ann = await signedIn(browser, 'ann', 'Ann Lee');
  const bo = await signedIn(browser, 'bo', 'Bo Chen');
  await startDirectChat(ann, bo);
  await ann.page.locator('[data-test=attach]').setInputFiles({
    name: 'huge.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(26 * 1024 * 1024),
  });
  const chip = ann.page.locator('[data-test=pending-file]');
  await eventually('a failed chip', async () => /failed/.test(await chip.getAttribute('class')));
  assert.match(await chip.textContent(), /Over 25 MB/);
  await ann.page.getByRole('button', { name: 'Remove huge.bin' }).click();
  assert.equal(await chip.count(), 0);
});
