// The web client in headless Chromium against the real stack: what a user
// sees when two people chat, follow a share link, lose their session server,
// or mistype a room id.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { startStack, useStack } from './lib/stack.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOT = process.env.STATEROOM_SCREENSHOT ?? '/tmp/stateroom-room.png';
const WAIT_MS = 20000;

let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
});

after(async () => {
  await browser?.close();
});

// After the browser's hooks: a failed stop (a server that died) skips the
// after-hooks registered later, and the browser must still close.
const shared = useStack({ sessions: 1, backends: 1 });

// A fresh browser profile (its own sessionStorage) on the given page, with
// every uncaught page error collected so that a test can insist on none.
async function openUser(path = '/', base = shared.stack.backendUrl) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (error) => page.errors.push(error.message));
  await page.goto(base + path);
  return page;
}

async function logIn(page, name) {
  await page.getByTestId('login-user').fill(name);
  await page.getByTestId('login-submit').click();
}

async function user(name, path = '/', base = undefined) {
  const page = await openUser(path, base);
  await logIn(page, name);
  await page.getByTestId(path === '/' ? 'lobby-view' : 'room-view').waitFor();
  return page;
}

async function createRoom(page) {
  await page.getByTestId('create-room').click();
  await waitConnected(page);
  const roomId = (await page.getByTestId('room-id').textContent()).trim();
  assert.match(roomId, /^[a-z0-9]{12}$/);
  return roomId;
}

async function joinById(page, roomId) {
  await page.getByTestId('join-input').fill(roomId);
  await page.getByTestId('join-button').click();
  await waitConnected(page);
}

function waitState(page, state, timeout = WAIT_MS) {
  return page.locator(`[data-testid="status"][data-state="${state}"]`).waitFor({ timeout });
}

function waitConnected(page) {
  return waitState(page, 'connected');
}

async function send(page, text) {
  await page.getByTestId('composer-input').fill(text);
  await page.getByTestId('send-button').click();
}

// A message as confirmed by the server: it has a seq.
function confirmed(page, text) {
  return page.locator('[data-testid="message"][data-seq]', {
    has: page.locator('[data-testid="message-text"]', { hasText: text }),
  });
}

async function member(page, name) {
  await page.locator(`[data-testid="member-list"] [data-testid="member"][data-user="${name}"]`).waitFor();
}

async function messageTexts(page) {
  return page.locator('[data-testid="message-list"] [data-testid="message-text"]').allTextContents();
}

async function seqs(page) {
  return page.locator('[data-testid="message"][data-seq]')
    .evaluateAll((items) => items.map((li) => Number(li.dataset.seq)));
}

test('two users in two browsers chat and see each other in the member list', async () => {
  const alice = await user('alice');
  const roomId = await createRoom(alice);
  const bob = await user('bob');
  await joinById(bob, roomId);
  assert.equal((await bob.getByTestId('room-id').textContent()).trim(), roomId);

  await send(alice, 'hello from alice');
  await confirmed(bob, 'hello from alice').waitFor();
  await confirmed(alice, 'hello from alice').waitFor();
  await send(bob, 'hi alice, bob here <b>not bold</b>');
  await confirmed(alice, 'hi alice, bob here').waitFor();

  for (const page of [alice, bob]) {
    await member(page, 'alice');
    await member(page, 'bob');
    assert.deepEqual(await messageTexts(page),
      ['hello from alice', 'hi alice, bob here <b>not bold</b>']);
    const [first] = await confirmed(page, 'hello from alice').locator('[data-testid="message-user"]').allTextContents();
    assert.equal(first, 'alice');
  }
  // Text from the network is shown as text, never parsed as HTML.
  assert.equal(await alice.locator('[data-testid="message-text"] b').count(), 0);

  await bob.getByTestId('composer-input').fill('typing something');
  await alice.getByTestId('typing').filter({ hasText: 'bob is typing' }).waitFor();

  await alice.screenshot({ path: SCREENSHOT });
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});

test('the share link opens the room, before or after logging in', async () => {
  const alice = await user('alice2');
  const roomId = await createRoom(alice);
  const link = await alice.getByTestId('share-link').inputValue();
  assert.equal(new URL(link).searchParams.get('room'), roomId);

  // Already logged in: following the link goes straight into the room.
  const bob = await user('bob2');
  await bob.goto(link);
  await waitConnected(bob);
  assert.equal((await bob.getByTestId('room-id').textContent()).trim(), roomId);
  await member(bob, 'alice2');

  // Not logged in yet: the login comes first, then the room.
  const carol = await openUser(new URL(link).pathname + new URL(link).search);
  await carol.getByTestId('login-view').waitFor();
  await logIn(carol, 'carol');
  await waitConnected(carol);
  assert.equal((await carol.getByTestId('room-id').textContent()).trim(), roomId);
  await member(alice, 'carol');
  assert.deepEqual([...alice.errors, ...bob.errors, ...carol.errors], []);
});

test('after the session server restarts the page reconnects by itself, without duplicates', async () => {
  const alice = await user('alice3');
  const roomId = await createRoom(alice);
  const bob = await user('bob3');
  await joinById(bob, roomId);
  await send(alice, 'before the restart');
  await confirmed(bob, 'before the restart').waitFor();

  const session = shared.stack.sessions[0];
  await session.stop('SIGTERM');
  await waitState(alice, 'reconnecting');
  await waitState(bob, 'reconnecting');
  // Written while the server is down: kept pending, sent on reconnect.
  await send(bob, 'written while offline');
  await bob.locator('[data-testid="message"][data-pending]').waitFor();
  await session.start();

  await waitState(alice, 'connected', 60000);
  await waitState(bob, 'connected', 60000);
  await send(alice, 'after the restart');
  await confirmed(bob, 'after the restart').waitFor();

  const expected = ['after the restart', 'before the restart', 'written while offline'];
  for (const page of [alice, bob]) {
    // Wait for all of them, then compare, so that a failure names what is missing.
    await page.waitForFunction((n) => document.querySelectorAll(
      '[data-testid="message"][data-seq]').length >= n, expected.length, { timeout: 10000 })
      .catch(() => {});
    const texts = await messageTexts(page);
    assert.deepEqual([...texts].sort(), expected,
      'each message on screen exactly once, none lost across the restart');
    const shown = await seqs(page);
    assert.equal(new Set(shown).size, shown.length, `duplicate seq on screen: ${shown}`);
    assert.deepEqual(shown, [...shown].sort((a, b) => a - b));
    assert.equal(await page.locator('[data-testid="message"][data-pending]').count(), 0);
  }
  assert.deepEqual([...alice.errors, ...bob.errors], []);
});

test('an unknown or malformed room id gets a clear message in the lobby', async () => {
  const dave = await user('dave');
  await dave.getByTestId('join-input').fill('zzzzzzzzzzzz');
  await dave.getByTestId('join-button').click();
  const error = dave.getByTestId('lobby-error');
  await error.filter({ hasText: 'no room with the ID “zzzzzzzzzzzz”' }).waitFor();
  assert.equal(await dave.getByTestId('room-view').isVisible(), false);

  await dave.getByTestId('join-input').fill('not a room!');
  await dave.getByTestId('join-button').click();
  await error.filter({ hasText: 'is not a room ID' }).waitFor();

  // The same through a share link.
  await dave.goto(`${shared.stack.backendUrl}/?room=yyyyyyyyyyyy`);
  await dave.getByTestId('lobby-error').filter({ hasText: 'no room with the ID “yyyyyyyyyyyy”' }).waitFor();
  assert.deepEqual(dave.errors, []);
});

test('the login form shows the name rule and refuses bad names', async () => {
  const page = await openUser('/');
  const rule = await page.getByTestId('login-rule').textContent();
  assert.match(rule, /1 to 32/);
  await logIn(page, 'no spaces allowed');
  await page.getByTestId('login-error').filter({ hasText: 'not a valid name' }).waitFor();
  await logIn(page, 'slash/name');
  await page.getByTestId('login-error').filter({ hasText: 'not a valid name' }).waitFor();
  assert.equal(await page.getByTestId('lobby-view').isVisible(), false);
  await logIn(page, 'ok_name-1.2');
  await page.getByTestId('lobby-view').waitFor();
  assert.equal((await page.getByTestId('whoami-name').textContent()).trim(), 'ok_name-1.2');
});

test('a full room says so once, takes no text, and lets the user in on a retry once there is room', async () => {
  const small = await startStack({ sessions: 1, backends: 1, backendEnv: { STATEROOM_ROOM_CAPACITY: '1' } });
  try {
    const erin = await user('erin', '/', small.backendUrl);
    const roomId = await createRoom(erin);
    const frank = await user('frank', '/', small.backendUrl);
    await frank.getByTestId('join-input').fill(roomId);
    await frank.getByTestId('join-button').click();
    await waitState(frank, 'offline');
    await frank.getByTestId('room-error').filter({ hasText: 'room is full' }).waitFor();
    // Said once: the status line does not repeat the banner.
    assert.equal(await frank.getByText(/room is full/i).count(), 1);
    assert.doesNotMatch(await frank.getByTestId('status-text').textContent(), /full/i);
    assert.equal(await frank.getByTestId('composer-input').isDisabled(), true);
    assert.equal(await frank.getByTestId('send-button').isDisabled(), true);
    await member(erin, 'erin');
    assert.equal(await erin.locator('[data-testid="member"][data-user="frank"]').count(), 0);

    // Erin leaves; frank tries again, gets in and can write.
    await erin.getByTestId('leave-room').click();
    await erin.getByTestId('lobby-view').waitFor();
    await frank.getByTestId('status-retry').click();
    await waitConnected(frank);
    assert.equal(await frank.getByTestId('room-error').isVisible(), false);
    assert.equal(await frank.getByTestId('composer-input').isDisabled(), false);
    await send(frank, 'there was room after all');
    await confirmed(frank, 'there was room after all').waitFor();
    assert.deepEqual([...erin.errors, ...frank.errors], []);
  } finally {
    await small.stop();
  }
});
