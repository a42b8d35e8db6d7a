// The web client with accounts, the room list, scrollback and resume, in
// headless Chromium against the real stack: what a user sees when they
// register and come back, watch the unread counts of the lobby, scroll back
// to a room's first message, and lose their session server mid-conversation.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
	useStack, newRoom, join, sendAcked, mintToken, nowSeconds, closeAll,
} from './lib/stack.js';
import {
	launch, openPage, chooseMode, signIn, waitState, send, seqsOnScreen, textsOnScreen,
	atLeastMessages, roomItem, range, WAIT_MS,
} from './lib/browser.js';

const SCREENSHOTS = process.env.STATEROOM_SCREENSHOT_DIR ?? null;

let browser;

before(async () => {
	browser = await launch();
});

after(async () => {
	await browser?.close();
});

// After the browser's hooks: a failed stop (a server that died) skips the
// after-hooks registered later, and the browser must still close.
const shared = useStack({ sessions: 1, backends: 1 });

const url = (path = '/') => shared.stack.backendUrl + path;

async function screenshot(page, name) {
	if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/${name}.png` });
}

async function whoami(page) {
	await page.getByTestId('whoami').waitFor();
	return (await page.getByTestId('whoami-name').textContent()).trim();
}

async function guest(name, path = '/') {
	const page = await openPage(browser, url(path));
	await signIn(page, 'guest', name);
	await page.getByTestId(path === '/' ? 'lobby-view' : 'room-view').waitFor();
	return page;
}

test('an account survives a reload and a new tab until it logs out; a wrong password is refused', async () => {
	const page = await openPage(browser, url());
	await page.getByTestId('login-view').waitFor();
	await screenshot(page, 'login');

	// Client-side checks come first and name the field to fix.
	await signIn(page, 'register', 'reggie', 'short');
	await page.getByTestId('login-error').filter({ hasText: 'at least 8 characters' }).waitFor();
	assert.equal(await page.evaluate(() => document.activeElement.id), 'login-password');

	await signIn(page, 'register', 'reggie', 'correct horse battery');
	await page.getByTestId('lobby-view').waitFor();
	assert.equal(await whoami(page), 'reggie');
	await screenshot(page, 'lobby-empty');

	await page.reload();
	await page.getByTestId('lobby-view').waitFor();
	assert.equal(await whoami(page), 'reggie', 'still logged in after a reload');

	const tab = await openPage(browser, url(), { context: page.context() });
	await tab.getByTestId('lobby-view').waitFor();
	assert.equal(await whoami(tab), 'reggie', 'logged in in a new tab of the same browser');

	await page.getByTestId('logout').click();
	await page.getByTestId('login-view').waitFor();
	assert.equal(await page.getByTestId('whoami').isVisible(), false);
	// Every tab of the browser is logged out with it.
	await tab.getByTestId('login-error').filter({ hasText: 'logged out in another tab' }).waitFor();
	assert.equal(await tab.getByTestId('whoami').isVisible(), false);
	await tab.close();
	// Logging out offers to log back in, with the name filled in.
	assert.equal(await page.getByTestId('login-mode-login').isChecked(), true);
	assert.equal(await page.getByTestId('login-user').inputValue(), 'reggie');
	await page.reload();
	await page.getByTestId('login-view').waitFor();
	assert.equal(await page.getByTestId('whoami').isVisible(), false, 'logged out for good');

	await signIn(page, 'login', 'reggie', 'correct horse battery staple');
	await page.getByTestId('login-error').filter({ hasText: 'Wrong name or password' }).waitFor();
	assert.equal(await page.getByTestId('lobby-view').isVisible(), false);
	await screenshot(page, 'login-error');
	await signIn(page, 'login', 'nosuchuser', 'correct horse battery');
	await page.getByTestId('login-error').filter({ hasText: 'Wrong name or password' }).waitFor();
	await signIn(page, 'login', 'reggie', 'correct horse battery');
	await page.getByTestId('lobby-view').waitFor();
	assert.equal(await whoami(page), 'reggie');

	// The name is the account's: neither a guest nor a second account gets it.
	const other = await openPage(browser, url());
	await signIn(other, 'guest', 'reggie');
	await other.getByTestId('login-error').filter({ hasText: '“reggie” belongs to an account' }).waitFor();
	await signIn(other, 'register', 'reggie', 'another good password');
	await other.getByTestId('login-error').filter({ hasText: 'The name “reggie” is taken' }).waitFor();
	assert.equal(await other.getByTestId('lobby-view').isVisible(), false);
	assert.deepEqual([...page.errors, ...other.errors], []);
});

test('an expired login is not offered again after a reload', async () => {
	const page = await openPage(browser, url());
	const expired = mintToken(shared.stack.secret, {
		sub: 'old_timer', name: 'old_timer', typ: 'user', iat: nowSeconds() - 7200, exp: nowSeconds() - 60,
	});
	await page.evaluate((token) => localStorage.setItem('stateroom.account',
		JSON.stringify({ token, user: 'old_timer' })), expired);
	await page.reload();
	await page.getByTestId('login-view').waitFor();
	assert.equal(await page.getByTestId('whoami').isVisible(), false);
	assert.equal(await page.evaluate(() => localStorage.getItem('stateroom.account')), null);
	assert.deepEqual(page.errors, []);
});

test('the room list shows public rooms with unread counts that follow what the user read', async () => {
	const stack = shared.stack;
	const roomId = await newRoom(stack, 'bob_lists', { name: 'Bob’s corner ☕', visibility: 'public' });
	const hidden = await newRoom(stack, 'bob_lists', { name: 'Unlisted by bob', visibility: 'unlisted' });

	const alice = await guest('alice_lists');
	const item = roomItem(alice, roomId);
	await item.waitFor();
	assert.equal((await item.getByTestId('room-item-name').textContent()).trim(), 'Bob’s corner ☕');
	assert.equal(await item.getAttribute('data-unread'), '0');
	assert.equal(await item.getByTestId('room-unread').isVisible(), false);
	assert.equal(await roomItem(alice, hidden).count(), 0, 'another user’s unlisted room is not listed');

	// Bob talks while alice looks at the lobby: the count goes up by itself.
	const [bob] = await join(stack, 'bob_lists', roomId);
	for (const i of range(3)) await sendAcked(bob, `b${i}`, `bob says ${i}`);
	await alice.locator(`[data-testid="room-item"][data-room="${roomId}"][data-unread="3"]`)
		.waitFor({ timeout: WAIT_MS });
	assert.equal((await item.getByTestId('room-unread').textContent()).trim(), '3');
	assert.equal(await item.getAttribute('data-members'), '1');
	await screenshot(alice, 'lobby-rooms');

	await item.click();
	await waitState(alice, 'connected');
	assert.equal((await alice.getByTestId('room-name').textContent()).trim(), 'Bob’s corner ☕');
	assert.equal((await alice.getByTestId('room-id').textContent()).trim(), roomId);
	await atLeastMessages(alice, 3);
	assert.deepEqual(await textsOnScreen(alice), ['bob says 1', 'bob says 2', 'bob says 3']);
	await screenshot(alice, 'room');

	await alice.getByTestId('leave-room').click();
	await alice.locator(`[data-testid="room-item"][data-room="${roomId}"][data-unread="0"]`).waitFor();
	assert.equal(await item.getByTestId('room-unread').isVisible(), false);
	// Not only this page's memory: the server kept the read mark (it writes
	// them within a second or so, and the list catches up by itself).
	await alice.reload();
	await alice.getByTestId('lobby-view').waitFor();
	await alice.locator(`[data-testid="room-item"][data-room="${roomId}"][data-unread="0"]`).waitFor();

	for (const i of [4, 5]) await sendAcked(bob, `b${i}`, `bob says ${i}`);
	await alice.locator(`[data-testid="room-item"][data-room="${roomId}"][data-unread="2"]`).waitFor();
	await closeAll([bob]);
	assert.deepEqual(alice.errors, []);
});

test('read marks go out at most once a second, for the newest message on screen', async () => {
	const stack = shared.stack;
	const roomId = await newRoom(stack, 'speaker', { name: 'Marks', visibility: 'public' });
	const page = await openPage(browser, url(`/?room=${roomId}`));
	const reads = [];
	page.on('websocket', (ws) => ws.on('framesent', ({ payload }) => {
		const frame = JSON.parse(payload);
		if (frame.type === 'read') reads.push({ seq: frame.seq, at: Date.now() });
	}));
	await signIn(page, 'guest', 'listener');
	await waitState(page, 'connected');

	const [speaker] = await join(stack, 'speaker', roomId);
	for (const i of range(30)) {
		await sendAcked(speaker, `m${i}`, `line ${i}`);
		await new Promise((r) => setTimeout(r, 40));
	}
	const lastRead = () => reads.at(-1)?.seq;
	for (let waited = 0; lastRead() !== 30 && waited < WAIT_MS; waited += 100) {
		await new Promise((r) => setTimeout(r, 100));
	}
	assert.equal(lastRead(), 30, `the newest message on screen is read: ${JSON.stringify(reads)}`);
	for (let i = 1; i < reads.length; i++) {
		assert.ok(reads[i].seq > reads[i - 1].seq, `read marks only go forward: ${JSON.stringify(reads)}`);
		// Frames are timed here, not in the page: allow for the relay's jitter.
		assert.ok(reads[i].at - reads[i - 1].at >= 800, `read marks less than a second apart: ${JSON.stringify(reads)}`);
	}

	// Scrolled up to the first messages: what arrives below is not read...
	await page.locator('#messages-scroll').evaluate((el) => {
		el.scrollTop = 0;
	});
	const count = reads.length;
	for (const i of [31, 32, 33]) await sendAcked(speaker, `m${i}`, `line ${i}`);
	await atLeastMessages(page, 33);
	await new Promise((r) => setTimeout(r, 1500));
	assert.deepEqual(reads.slice(count).filter((r) => r.seq > 30), [], 'no read mark for messages off screen');
	// ...until the reader scrolls down to it.
	await page.locator('#messages-scroll').evaluate((el) => {
		el.scrollTop = el.scrollHeight;
	});
	for (let waited = 0; lastRead() !== 33 && waited < WAIT_MS; waited += 100) {
		await new Promise((r) => setTimeout(r, 100));
	}
	assert.equal(lastRead(), 33);
	await closeAll([speaker]);
	assert.deepEqual(page.errors, []);
});

test('scrolling up loads older pages down to the first message, each once and in order, without moving the view', async () => {
	const stack = shared.stack;
	const total = 320;
	const roomId = await newRoom(stack, 'archivist', { name: 'Archive', visibility: 'unlisted' });
	// Written straight into the table before anyone joins: the session server
	// loads the room, with its last seq, on the first join.
	await stack.sql(`INSERT INTO messages (room_id, seq, client_id, user_id, body, created_at)
		SELECT '${roomId}', g, 'c' || g, CASE WHEN g % 3 = 0 THEN 'archivist' ELSE 'scribe' END,
		       'message ' || g, now() - (${total} - g) * interval '1 minute'
		FROM generate_series(1, ${total}) AS g`);

	const reader = await guest('reader', `/?room=${roomId}`);
	await waitState(reader, 'connected');
	const first = await seqsOnScreen(reader);
	assert.ok(first.length > 0 && first.length < total, `the room opens on its latest page, got ${first.length}`);
	assert.equal(first.at(-1), total);

	const pane = reader.locator('#messages-scroll');
	for (let round = 0; round < 40; round++) {
		if (await reader.getByTestId('history-status').getAttribute('data-state') === 'done') break;
		// Scroll to the top and note where the oldest message is on screen...
		const before = await pane.evaluate((el) => {
			el.scrollTop = 0;
			const oldest = el.querySelector('[data-testid="message"][data-seq]');
			return { seq: Number(oldest.dataset.seq), top: oldest.getBoundingClientRect().top };
		});
		// ...then, once the page above it is in, it is still there.
		await reader.waitForFunction((seq) => {
			const oldest = document.querySelector('[data-testid="message"][data-seq]');
			const state = document.querySelector('[data-testid="history-status"]').dataset.state;
			return Number(oldest.dataset.seq) < seq || state === 'done' || state === 'error';
		}, before.seq);
		const after = await pane.evaluate((el, seq) => {
			const li = el.querySelector(`[data-seq="${seq}"]`);
			return li.getBoundingClientRect().top;
		}, before.seq);
		assert.ok(Math.abs(after - before.top) <= 2,
			`seq ${before.seq} moved from ${before.top} to ${after} when older messages came in`);
	}
	assert.equal(await reader.getByTestId('history-status').getAttribute('data-state'), 'done');
	await reader.getByTestId('history-text').filter({ hasText: 'beginning of the room' }).waitFor();
	await screenshot(reader, 'scrollback-top');

	const seqs = await seqsOnScreen(reader);
	assert.deepEqual(seqs, range(total), 'every seq exactly once, in order');
	const texts = await textsOnScreen(reader);
	assert.deepEqual(texts, range(total).map((i) => `message ${i}`));
	assert.deepEqual(reader.errors, []);
});

test('messages sent while the page’s session server restarts are all on screen once it is back, once each, in order', async () => {
	const stack = shared.stack;
	const session = stack.sessions[0];
	const roomId = await newRoom(stack, 'talker', { name: 'Resume', visibility: 'public' });
	let [talker] = await join(stack, 'talker', roomId);
	const sent = [];
	const say = async (c, text) => {
		await sendAcked(c, `id-${text}`, text);
		sent.push(text);
	};
	for (const i of range(5)) await say(talker, `before ${i}`);

	const watcher = await guest('watcher', `/?room=${roomId}`);
	await waitState(watcher, 'connected');
	await atLeastMessages(watcher, 5);

	// The page's look-ups wait at this gate, so the talker gets to speak
	// while the page is away, and again while it catches up.
	let open;
	const gate = new Promise((resolve) => {
		open = resolve;
	});
	await watcher.route(`**/api/rooms/${roomId}`, async (routed) => {
		await gate;
		await routed.continue();
	});

	await session.stop('SIGKILL');
	await waitState(watcher, 'reconnecting');
	await talker.closed;
	await session.start();
	await stack.waitRegistered();

	[talker] = await join(stack, 'talker', roomId);
	for (const i of range(10)) await say(talker, `while away ${i}`);
	open();
	for (const i of range(10)) {
		await say(talker, `meanwhile ${i}`);
		await new Promise((r) => setTimeout(r, 30));
	}
	await waitState(watcher, 'connected');
	await send(watcher, 'watcher is back');
	await talker.next({ type: 'message', text: 'watcher is back' });
	sent.push('watcher is back');

	await atLeastMessages(watcher, sent.length);
	assert.deepEqual(await textsOnScreen(watcher), sent, 'every message once, in the order sent');
	assert.deepEqual(await seqsOnScreen(watcher), range(sent.length), 'seqs 1..n, no gap, no duplicate');
	assert.equal(await watcher.locator('[data-testid="message"][data-pending]').count(), 0);
	await closeAll([talker]);
	assert.deepEqual(watcher.errors, []);
});

test('the login form switches between guest, log in and register, with a label on every field', async () => {
	const page = await openPage(browser, url());
	for (const [mode, submit, password] of [
		['login', 'Log in', true], ['register', 'Create account', true], ['guest', 'Continue as guest', false],
	]) {
		await chooseMode(page, mode);
		assert.equal((await page.getByTestId('login-submit').textContent()).trim(), submit);
		assert.equal(await page.getByLabel('Password', { exact: true }).isVisible(), password);
	}
	assert.equal(await page.getByLabel('Your name').isVisible(), true);
	// The password can be shown while typing it.
	await chooseMode(page, 'register');
	await page.getByTestId('login-password').fill('visible words');
	await page.getByTestId('show-password').click();
	assert.equal(await page.getByTestId('login-password').getAttribute('type'), 'text');
	assert.equal(await page.getByTestId('show-password').getAttribute('aria-pressed'), 'true');
	assert.deepEqual(page.errors, []);
});
