// Notifications in the web client, in headless Chromium: the settings page
// saves what the user picks (the time zone defaults to the browser's);
// muting a room and choosing its level from the room's header; "Remind me"
// under a message, and the reminder, once fired, showing in the bar from the
// inbox and opening the room at that message; the push and email switches
// and the digest's delay. What the page set is read
// back through the API: that is what decides the outbox.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, connect, lookup, createRoom } from './lib/stack.js';
import { launch, openPage, waitState, WAIT_MS } from './lib/browser.js';
import { register, call } from './lib/friendsapi.js';

let browser;

before(async () => {
	browser = await launch();
});

after(async () => {
	await browser?.close();
});

const shared = useStack({ sessions: 1, backends: 1 });

const url = (p = '/') => shared.stack.backendUrl + p;

async function pageOf(user, { mobile = false } = {}) {
	const context = await browser.newContext({
		viewport: mobile ? { width: 390, height: 760 } : { width: 1280, height: 800 },
		hasTouch: mobile, isMobile: mobile, timezoneId: 'Europe/Paris', colorScheme: 'light',
	});
	context.setDefaultTimeout(WAIT_MS);
	const page = await openPage(browser, url(), { context });
	await page.evaluate(({ token, id }) => localStorage.setItem('stateroom.account',
		JSON.stringify({ token, user: id })), user);
	await page.reload();
	await page.getByTestId('lobby-view').waitFor();
	return page;
}

async function roomWithMessage(owner, text) {
	const created = await createRoom(shared.stack.backendUrl, owner.token, { name: 'Plans', visibility: 'unlisted' });
	assert.equal(created.status, 200, created.text);
	const roomId = created.json.roomId;
	const t = await lookup(shared.stack.backendUrl, owner.token, roomId);
	const c = await connect(t.json.host, t.json.token, { protocol: 'stateroom.v1' });
	await c.next('welcome');
	c.send({ type: 'send', id: 'a', text });
	const { seq } = await c.next({ type: 'ack', id: 'a' });
	return { roomId, seq, c };
}

test('push and email: the account switches and the digest delay save at once; the page says what this server and browser can do', async () => {
	const carol = await register(shared.stack, 'carol');
	const page = await pageOf(carol);
	const open = async () => {
		await page.getByTestId('notify-button').click();
		await page.getByTestId('notify-settings').waitFor();
	};
	await open();
	// This stack has no VAPID keys: nothing to subscribe to, and the page says so.
	const push = page.getByTestId('notify-push');
	await push.getByText('This server sends no push notifications.').waitFor();
	assert.equal(await push.getByTestId('push-toggle').isVisible(), false);

	await page.getByTestId('notify-push-on').uncheck();
	await page.getByTestId('notify-email-delay').selectOption('3600');
	await page.getByTestId('notify-email-on').uncheck();
	const saved = async () => (await call(shared.stack, carol, 'GET', '/api/me/notify')).json;
	// Each saves as it changes: poll until the three are in.
	const deadline = Date.now() + WAIT_MS;
	for (let p = await saved(); !(p.push === false && p.email === false && p.emailDelayS === 3600); p = await saved()) {
		assert.ok(Date.now() < deadline, `not saved: ${JSON.stringify(p)}`);
		await new Promise((r) => setTimeout(r, 100));
	}

	// Opened again, the page shows what the server has.
	await page.getByTestId('notify-close').click();
	await open();
	await page.getByTestId('notify-email-delay').waitFor();
	assert.equal(await page.getByTestId('notify-push-on').isChecked(), false);
	assert.equal(await page.getByTestId('notify-email-on').isChecked(), false);
	assert.equal(await page.getByTestId('notify-email-delay').inputValue(), '3600');
	assert.deepEqual(page.errors, []);
	await page.context().close();
});

test('the settings page saves the DM level, do-not-disturb hours and the browser\'s time zone', async () => {
	const bob = await register(shared.stack, 'bob');
	const page = await pageOf(bob);
	await page.getByTestId('notify-button').click();
	const sheet = page.getByTestId('notify-settings');
	await sheet.waitFor();
	// The form is filled once the settings have come (GET /api/me/notify).
	await page.waitForFunction(() => document.querySelector('[data-testid="notify-tz"]').value !== '');
	assert.equal(await page.getByTestId('notify-tz').inputValue(), 'Europe/Paris', 'the browser\'s zone by default');
	assert.equal(await page.getByTestId('notify-dm-level').inputValue(), 'all');
	await page.getByTestId('notify-dm-level').selectOption('mentions');
	await page.getByTestId('notify-dnd-on').check();
	await page.getByTestId('notify-dnd-start').fill('23:00');
	await page.getByTestId('notify-dnd-end').fill('06:30');
	await page.getByTestId('notify-save').click();
	await page.getByText('Saved.').waitFor();

	const res = await call(shared.stack, bob, 'GET', '/api/me/notify');
	assert.equal(res.status, 200, res.text);
	assert.deepEqual(res.json, {
		dmLevel: 'mentions', roomLevel: 'mentions', push: true, email: true, emailDelayS: 900,
		dnd: { start: '23:00', end: '06:30' }, tz: 'Europe/Paris',
	});
	// A bad zone: the server's refusal is shown, nothing changes.
	await page.getByTestId('notify-tz').fill('Mars/Olympus');
	await page.getByTestId('notify-save').click();
	await page.getByTestId('notify-error').getByText(/time zone/).waitFor();
	assert.equal((await call(shared.stack, bob, 'GET', '/api/me/notify')).json.tz, 'Europe/Paris');
	assert.deepEqual(page.errors, []);
});

test('a room is muted for 8 hours and set to every message from its header, on a phone', async () => {
	const alice = await register(shared.stack, 'alice');
	const bob = await register(shared.stack, 'bob');
	const { roomId, c } = await roomWithMessage(alice, 'hello');
	const page = await pageOf(bob, { mobile: true });
	await page.goto(url(`/?room=${roomId}`));
	await waitState(page, 'connected');
	const bell = page.getByTestId('room-notify-button');
	await bell.click();
	await page.getByTestId('room-notify').waitFor();
	await page.getByTestId('room-notify-muted').getByText('Not muted.').waitFor();
	await page.getByTestId('room-mute-8h').click();
	await page.getByTestId('room-notify-muted').getByText(/^Muted until /).waitFor();
	let state = (await call(shared.stack, bob, 'GET', `/api/rooms/${roomId}/notify`)).json;
	assert.equal(state.muted, true);
	const hours = (Date.parse(state.mutedUntil) - Date.now()) / 3600000;
	assert.ok(hours > 7.9 && hours <= 8, state.mutedUntil);

	await page.getByTestId('room-notify-all').check();
	for (const deadline = Date.now() + WAIT_MS; ;) {
		state = (await call(shared.stack, bob, 'GET', `/api/rooms/${roomId}/notify`)).json;
		if (state.level === 'all' || Date.now() > deadline) break;
		await new Promise((r) => setTimeout(r, 100));
	}
	assert.equal(state.level, 'all');

	await page.getByTestId('room-unmute').click();
	await page.getByTestId('room-notify-muted').getByText('Not muted.').waitFor();
	assert.equal((await call(shared.stack, bob, 'GET', `/api/rooms/${roomId}/notify`)).json.muted, false);
	await page.getByTestId('room-notify-close').click();
	assert.equal(await bell.textContent(), '🔔');
	assert.deepEqual(page.errors, []);
	await c.close(1000);
});

test('"Remind me" sets a reminder; once it fires the bar shows it, and Open shows the message', async () => {
	const alice = await register(shared.stack, 'alice');
	const bob = await register(shared.stack, 'bob');
	const { roomId, seq, c } = await roomWithMessage(alice, 'the plan for Friday');
	// More messages after it, so that opening at it is not just the end.
	for (let i = 0; i < 40; i++) {
		c.send({ type: 'send', id: `f${i}`, text: `filler ${i}` });
		await c.next({ type: 'ack', id: `f${i}` });
	}
	const page = await pageOf(bob);
	await page.goto(url(`/?room=${roomId}`));
	await waitState(page, 'connected');
	const message = page.locator(`[data-testid="message"][data-seq="${seq}"]`);
	await message.hover();
	await message.getByTestId('action-remind').click();
	await page.getByTestId('remind-dialog').waitFor();
	await page.getByTestId('remind-1h').click();
	await page.getByTestId('remind-dialog').waitFor({ state: 'hidden' });

	const list = await call(shared.stack, bob, 'GET', '/api/me/reminders');
	assert.equal(list.json.reminders.length, 1, list.text);
	const r = list.json.reminders[0];
	assert.equal(r.roomId, roomId);
	assert.equal(r.seq, seq);
	const inMinutes = (Date.parse(r.at) - Date.now()) / 60000;
	assert.ok(inMinutes > 58 && inMinutes <= 60, r.at);

	// Back in the lobby; the hour passes (the test moves the reminder to
	// now and wakes the firers as a new reminder would).
	await page.getByTestId('leave-room').click();
	await page.getByTestId('lobby-view').waitFor();
	await shared.stack.sql(`UPDATE reminders SET due_at = now() WHERE id = ${r.id};
		SELECT pg_notify('stateroom_reminders', '')`);
	const item = page.getByTestId('reminder-fired');
	await item.waitFor();
	assert.match(await item.textContent(), /Reminder: a message in Plans/);
	assert.equal(await page.getByTestId('notify-button-count').textContent(), '1');
	await item.getByTestId('reminder-open').click();
	await waitState(page, 'connected');
	await page.locator(`[data-testid="message"][data-seq="${seq}"][data-flash="true"]`).waitFor();
	await page.getByTestId('reminders-bar').waitFor({ state: 'hidden' });
	const left = await call(shared.stack, bob, 'GET', '/api/me/reminders');
	assert.deepEqual(left.json.reminders, [], 'opened: dismissed');
	assert.deepEqual(page.errors, []);
	await c.close(1000);
});

test('a notification\'s link (a push\'s url, a digest\'s) opens the room at its message', async () => {
	const dana = await register(shared.stack, 'dana');
	const { roomId, seq, c } = await roomWithMessage(dana, 'the one the link is about');
	// Enough after it that the message is far up, out of the first screen.
	for (let i = 0; i < 60; i++) {
		c.send({ type: 'send', id: `g${i}`, text: `later ${i}` });
		await c.next({ type: 'ack', id: `g${i}` });
	}
	const page = await pageOf(dana);
	await page.goto(url(`/?room=${roomId}&seq=${seq}`));
	await waitState(page, 'connected');
	await page.locator(`[data-testid="message"][data-seq="${seq}"][data-flash="true"]`).waitFor();
	// Once shown, the address is the room's: a reload stays at its end.
	assert.equal(new URL(page.url()).search, `?room=${roomId}`);
	assert.deepEqual(page.errors, []);
	await c.close(1000);
});
