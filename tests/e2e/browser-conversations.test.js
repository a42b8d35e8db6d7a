// Your conversations in the web client, in headless Chromium against the
// real stack, with three accounts: the lobby lists an account's rooms and
// DMs (a DM by the other person's display name and avatar) with the latest
// message, its time and an unread badge; opening a DM reads it and clears
// the badge; leaving for good takes one off the list; and in a shared room
// a blocked user's messages are hidden behind a toggle, for the blocker only.
// Friendships, DMs and blocks are made through the HTTP API here: their UI
// is the people panel's.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import {
	useStack, ROOT, request, connect, lookup, createRoom, sendAcked, closeAll,
} from './lib/stack.js';
import { launch, openPage, waitState, atLeastMessages, WAIT_MS } from './lib/browser.js';
import { register, call, block } from './lib/friendsapi.js';

const SCREENSHOTS = process.env.STATEROOM_SCREENSHOT_DIR ?? path.join(ROOT, '.run', 'screenshots');
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };

let browser;

before(async () => {
	browser = await launch();
	mkdirSync(SCREENSHOTS, { recursive: true });
});

after(async () => {
	await browser?.close();
});

// After the browser's hooks: a failed stop skips the after-hooks registered
// later, and the browser must still close.
// Default settings: inboxes take no room slot (docs/protocol.md, "The inbox").
const shared = useStack({ sessions: 1, backends: 1 });

const url = (p = '/') => shared.stack.backendUrl + p;

async function account(prefix, displayName) {
	const user = await register(shared.stack, prefix);
	const res = await call(shared.stack, user, 'PATCH', '/api/me', { displayName });
	assert.equal(res.status, 200, res.text);
	return { ...user, displayName };
}

// A page logged in as user (its saved session, as logging in leaves it).
async function pageOf(user, viewport = DESKTOP) {
	const context = await browser.newContext({ viewport, colorScheme: 'light' });
	context.setDefaultTimeout(WAIT_MS);
	const page = await openPage(browser, url(), { context });
	await page.evaluate(({ token, id }) => localStorage.setItem('stateroom.account',
		JSON.stringify({ token, user: id })), user);
	await page.reload();
	await page.getByTestId('lobby-view').waitFor();
	return page;
}

async function startDm(from, to) {
	const res = await call(shared.stack, from, 'POST', '/api/dms', { userId: to.id });
	assert.ok(res.status === 200 || res.status === 201, res.text);
	return res.json.roomId;
}

// A native connection of user to roomId, after its welcome.
async function joinAs(user, roomId) {
	const t = await lookup(shared.stack.backendUrl, user.token, roomId);
	assert.equal(t.status, 200, t.text);
	const c = await connect(t.json.host, t.json.token, { protocol: 'stateroom.v1' });
	await c.next('welcome');
	return c;
}

let sent = 0;
async function say(user, roomId, ...texts) {
	const c = await joinAs(user, roomId);
	for (const text of texts) await sendAcked(c, `m${++sent}`, text);
	await closeAll([c]);
}

const item = (page, roomId) => page.locator(`[data-testid="conversation-item"][data-room="${roomId}"]`);

async function shot(page, name) {
	await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
}

async function noHorizontalOverflow(page, what) {
	const { scroll, client } = await page.evaluate(() => ({
		scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth,
	}));
	assert.ok(scroll <= client, `${what}: the page is ${scroll} px wide in a ${client} px viewport`);
}

test('a DM is listed by the other person’s name with its unread badge, which reading clears', async () => {
	const alice = await account('ann', 'Ann Lee');
	const bob = await account('bert', 'Bert Ölund');
	const dm = await startDm(bob, alice);

	const page = await pageOf(alice);
	const row = item(page, dm);
	await row.waitFor();
	assert.equal(await row.getAttribute('data-kind'), 'dm');
	assert.equal((await row.getByTestId('conversation-name').textContent()).trim(), 'Bert Ölund');
	assert.equal((await row.locator('.avatar').textContent()).trim(), 'BÖ');
	assert.equal((await row.getByTestId('conversation-last').textContent()).trim(), 'No messages yet');
	assert.equal(await row.getByTestId('conversation-unread').isVisible(), false);

	await say(bob, dm, 'hi Ann', 'are you there?');
	await page.getByTestId('conversations-refresh').click();
	await page.locator(`[data-testid="conversation-item"][data-room="${dm}"][data-unread="2"]`).waitFor();
	assert.equal((await row.getByTestId('conversation-unread').textContent()).trim(), '2');
	assert.equal((await row.getByTestId('conversation-last').textContent()).trim(), 'are you there?');
	assert.equal((await row.getByTestId('conversation-time').textContent()).trim(), 'now');

	await row.click();
	await waitState(page, 'connected');
	assert.equal((await page.getByTestId('room-name').textContent()).trim(), 'Bert Ölund');
	await atLeastMessages(page, 2);
	assert.deepEqual(await page.getByTestId('message-text').allTextContents(), ['hi Ann', 'are you there?']);
	assert.deepEqual(await page.getByTestId('message-user').allTextContents(), ['Bert Ölund', 'Bert Ölund']);
	await page.getByTestId('composer-input').fill('yes, hello Bert');
	await page.getByTestId('send-button').click();
	await page.locator('[data-testid="message"].mine[data-seq]').waitFor();

	await page.getByTestId('leave-room').click();
	await page.locator(`[data-testid="conversation-item"][data-room="${dm}"][data-unread="0"]`).waitFor();
	assert.equal((await row.getByTestId('conversation-last').textContent()).trim(), 'You: yes, hello Bert');
	// The server kept the read mark: a fresh page shows no badge either.
	await page.reload();
	await page.getByTestId('lobby-view').waitFor();
	await page.locator(`[data-testid="conversation-item"][data-room="${dm}"][data-unread="0"]`).waitFor();
	assert.equal(await row.getByTestId('conversation-unread').isVisible(), false);

	// Opened from its link, the DM still has the other person's name.
	await page.goto(url(`/?room=${dm}`));
	await waitState(page, 'connected');
	await page.getByTestId('room-name').filter({ hasText: 'Bert Ölund' }).waitFor();
	assert.deepEqual(page.errors, []);
});

test('rooms stay listed after leaving them until left for good; the lobby fits a phone', async () => {
	const alice = await account('cat', 'Cat Ng');
	const bob = await account('dan', 'Dan Ruiz');
	const created = await createRoom(shared.stack.backendUrl, bob.token, { name: 'Plans for the summer', visibility: 'unlisted' });
	assert.equal(created.status, 200, created.text);
	const roomId = created.json.roomId;
	const dm = await startDm(alice, bob);
	await say(bob, dm, 'a long message that has to be cut short on a narrow phone screen, and then some more words');
	await say(bob, roomId, 'first idea');

	const page = await pageOf(alice, PHONE);
	// A guest's lobby has no conversations at all.
	const guest = await openPage(browser, url());
	await guest.getByTestId('login-view').waitFor();

	// Alice joins the unlisted room by its id and leaves: it stays hers.
	await page.getByTestId('join-input').fill(roomId);
	await page.getByTestId('join-button').click();
	await waitState(page, 'connected');
	await atLeastMessages(page, 1);
	await page.getByTestId('leave-room').click();
	const row = item(page, roomId);
	await row.waitFor();
	assert.equal(await row.getAttribute('data-kind'), 'room');
	assert.equal((await row.getByTestId('conversation-name').textContent()).trim(), 'Plans for the summer');
	assert.equal((await row.getByTestId('conversation-last').textContent()).trim(), 'Dan Ruiz: first idea');
	await item(page, dm).waitFor();
	// Newest activity first: the room's message is newer than the DM's.
	const order = await page.getByTestId('conversation-item').evaluateAll((els) => els.map((e) => e.dataset.room));
	assert.deepEqual(order, [roomId, dm]);
	await page.reload();
	await row.waitFor();

	await noHorizontalOverflow(page, 'lobby at phone size');
	await shot(page, 'conversations-lobby-phone');
	await page.setViewportSize(DESKTOP);
	await shot(page, 'conversations-lobby-desktop');
	await page.setViewportSize(PHONE);

	await item(page, dm).click();
	await waitState(page, 'connected');
	await atLeastMessages(page, 1);
	await noHorizontalOverflow(page, 'DM at phone size');
	await shot(page, 'conversations-dm-phone');
	await page.setViewportSize(DESKTOP);
	await shot(page, 'conversations-dm-desktop');
	await page.getByTestId('leave-room').click();

	// Leave for good: asked first; a no keeps it.
	const leave = page.locator('.conversation-row', { has: row }).getByTestId('conversation-leave');
	page.once('dialog', (dialog) => dialog.dismiss());
	await leave.click();
	let asked = '';
	page.once('dialog', (dialog) => {
		asked = dialog.message();
		dialog.accept();
	});
	await leave.click();
	await row.waitFor({ state: 'detached' });
	assert.match(asked, /Leave “Plans for the summer” for good\?/);
	await page.reload();
	await item(page, dm).waitFor();
	assert.equal(await row.count(), 0, 'left for good stays gone after a reload');
	const listed = await call(shared.stack, alice, 'GET', '/api/me/rooms');
	assert.deepEqual(listed.json.rooms.map((r) => r.roomId), [dm]);

	// A guest's lobby is as it was: no conversations.
	await guest.locator('label[for="mode-guest"]').click();
	await guest.getByTestId('login-user').fill('guest_conv');
	await guest.getByTestId('login-submit').click();
	await guest.getByTestId('lobby-view').waitFor();
	assert.equal(await guest.getByTestId('conversations').isVisible(), false);
	assert.deepEqual([...page.errors, ...guest.errors], []);
});

test('a blocked user’s messages are hidden from the blocker only, each one revealable', async () => {
	const alice = await account('eve', 'Eve Park');
	const bob = await account('fay', 'Fay Wu');
	const carol = await account('gus', 'Gus Troll');
	const created = await createRoom(shared.stack.backendUrl, bob.token, { name: 'Shared room' });
	const roomId = created.json.roomId;
	await say(carol, roomId, 'old noise from Gus');
	await say(bob, roomId, 'Fay here');
	const res = await block(shared.stack, alice, { id: carol.id });
	assert.equal(res.status, 204, res.text);

	const a = await pageOf(alice);
	const b = await pageOf(bob);
	for (const page of [a, b]) {
		await page.goto(url(`/?room=${roomId}`));
		await waitState(page, 'connected');
		await atLeastMessages(page, 2);
	}
	// Live too: Gus talks while both look.
	await say(carol, roomId, 'live noise from Gus');
	await say(bob, roomId, 'Fay again');
	for (const page of [a, b]) await atLeastMessages(page, 4);

	const gus = (page) => page.locator('[data-testid="message"][data-user="Gus Troll"]');
	// Bob sees everything.
	assert.equal(await b.locator('[data-testid="message"][data-blocked]').count(), 0);
	assert.deepEqual(await gus(b).getByTestId('message-text').allInnerTexts(), ['old noise from Gus', 'live noise from Gus']);
	// Alice sees a note in place of each of Gus's messages, not their text.
	assert.equal(await gus(a).count(), 2);
	assert.equal(await a.locator('[data-testid="message"][data-blocked]').count(), 2);
	for (const i of [0, 1]) {
		assert.equal(await gus(a).nth(i).getByTestId('message-text').isVisible(), false);
		assert.match(await gus(a).nth(i).getByTestId('blocked-note').innerText(), /Message from a blocked user/);
	}
	assert.deepEqual(await a.locator('[data-testid="message"]:not([data-blocked])').getByTestId('message-text').allInnerTexts(),
		['Fay here', 'Fay again']);
	// "show" reveals that one message only, and "hide" hides it again.
	await gus(a).nth(1).getByTestId('blocked-toggle').click();
	assert.equal(await gus(a).nth(1).getByTestId('message-text').innerText(), 'live noise from Gus');
	assert.equal(await gus(a).nth(0).getByTestId('message-text').isVisible(), false);
	await gus(a).nth(1).getByTestId('blocked-toggle').click();
	assert.equal(await gus(a).nth(1).getByTestId('message-text').isVisible(), false);
	assert.deepEqual([...a.errors, ...b.errors], []);
});

test('blocking from an author’s name in a room hides their messages at once; unblocking shows them', async () => {
	const alice = await account('hal', 'Hal Moss');
	const carol = await account('ivy', 'Ivy Loud');
	const created = await createRoom(shared.stack.backendUrl, alice.token, { name: 'Name menu room' });
	const roomId = created.json.roomId;
	await say(carol, roomId, 'Ivy speaking');
	await say(alice, roomId, 'Hal answering');

	const a = await pageOf(alice);
	await a.goto(url(`/?room=${roomId}`));
	await waitState(a, 'connected');
	await atLeastMessages(a, 2);
	const ivy = a.locator('[data-testid="message"][data-user="Ivy Loud"]');
	assert.equal(await a.locator('[data-testid="message"][data-blocked]').count(), 0);
	// Her name opens her card; Block asks once more, then hides her at once.
	await ivy.getByTestId('message-user').click();
	const card = a.getByTestId('user-card');
	await card.getByTestId('action-block').waitFor();
	await card.getByTestId('action-block').click();
	await card.getByTestId('action-block').click();
	await a.locator('[data-testid="message"][data-blocked]').first().waitFor();
	assert.equal(await ivy.getByTestId('message-text').isVisible(), false);
	assert.equal((await call(shared.stack, alice, 'GET', '/api/blocks')).json.blocks[0].userId, carol.id);
	// Alice's own name is plain, no menu.
	assert.equal(await a.locator('[data-testid="message"][data-user="Hal Moss"] [data-user-menu]').count(), 0);
	// Unblock from the same card: her message is back without a reload.
	if (!(await card.isVisible())) await ivy.getByTestId('message-user').click();
	await card.getByTestId('action-unblock').click();
	await ivy.getByTestId('message-text').filter({ hasText: 'Ivy speaking' }).waitFor();
	assert.equal(await a.locator('[data-testid="message"][data-blocked]').count(), 0);
	assert.deepEqual(a.errors, []);
});

test('a third user opening a DM by its link, and a blocked member, are turned back to the lobby', async () => {
	const alice = await account('jo', 'Jo Field');
	const bob = await account('kit', 'Kit Vale');
	const carol = await account('lu', 'Lu Nosy');
	const dm = await startDm(alice, bob);
	await say(alice, dm, 'for Kit only');

	const c = await pageOf(carol);
	await c.goto(url(`/?room=${dm}`));
	await c.getByTestId('lobby-error').filter({ hasText: /no such room|does not exist/i }).waitFor();
	assert.equal(await c.getByTestId('room-view').isVisible(), false);
	assert.equal(await c.getByText('for Kit only').count(), 0);

	const res = await block(shared.stack, alice, { id: bob.id });
	assert.equal(res.status, 204, res.text);
	const b = await pageOf(bob);
	await b.goto(url(`/?room=${dm}`));
	await b.getByTestId('lobby-error').filter({ hasText: 'you cannot message this user' }).waitFor();
	assert.equal(await b.getByTestId('room-view').isVisible(), false);
	assert.deepEqual([...c.errors, ...b.errors].filter((e) => !/404|403/.test(e)), []);
});

test('two users showing one name are told apart by @id, and a block hides exactly the blocked one’s messages', async () => {
	const alice = await account('hal', 'Hal Ek');
	const bob = await account('ike', 'Bobby');
	const carol = await account('jo', 'sam');
	const created = await createRoom(shared.stack.backendUrl, bob.token, { name: 'Namesakes' });
	assert.equal(created.status, 200, created.text);
	const roomId = created.json.roomId;
	await say(bob, roomId, 'bob before his rename');
	// Bob takes Carol's name (but for case): only the id tells them apart.
	const renamed = await call(shared.stack, bob, 'PATCH', '/api/me', { displayName: 'Sam' });
	assert.equal(renamed.status, 200, renamed.text);
	await say(bob, roomId, 'bob as Sam');
	await say(carol, roomId, 'carol as sam');
	const res = await block(shared.stack, alice, { id: bob.id });
	assert.equal(res.status, 204, res.text);
	const [b, c] = [await joinAs(bob, roomId), await joinAs(carol, roomId)];

	const page = await pageOf(alice);
	await page.goto(url(`/?room=${roomId}`));
	await waitState(page, 'connected');
	await atLeastMessages(page, 3);
	await sendAcked(b, 'live-b', 'bob live');
	await sendAcked(c, 'live-c', 'carol live');
	await atLeastMessages(page, 5);

	const from = (user) => page.locator(`[data-testid="message"][data-user-id="${user.id}"]`);
	// Every message of Bob's is hidden, under either name; none of Carol's.
	assert.equal(await from(bob).count(), 3);
	assert.equal(await from(bob).and(page.locator('[data-blocked]')).count(), 3);
	for (let i = 0; i < 3; i++) assert.equal(await from(bob).nth(i).getByTestId('message-text').isVisible(), false);
	assert.equal(await page.locator('[data-testid="message"][data-blocked]').count(), 3);
	assert.deepEqual(await from(carol).getByTestId('message-text').allInnerTexts(), ['carol as sam', 'carol live']);

	// "Sam" and "sam" are one name to a reader: each gets its @id; "Bobby" is nobody else's.
	assert.deepEqual(await from(bob).getByTestId('message-user').allTextContents(),
		['Bobby', `Sam @${bob.id}`, `Sam @${bob.id}`]);
	assert.deepEqual(await from(carol).getByTestId('message-user').allTextContents(),
		[`sam @${carol.id}`, `sam @${carol.id}`]);
	const member = (user) => page.locator(`[data-testid="member"][data-user-id="${user.id}"]`);
	assert.equal((await member(bob).locator('.member-name').textContent()), `Sam @${bob.id}`);
	assert.equal((await member(carol).locator('.member-name').textContent()), `sam @${carol.id}`);
	assert.equal((await member(alice).locator('.member-name').textContent()), 'Hal Ek');
	await shot(page, 'namesakes-desktop');
	await closeAll([b, c]);
	assert.deepEqual(page.errors, []);
});
