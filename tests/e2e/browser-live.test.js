// Live updates in the web client (client/inbox.js), in headless Chromium
// against the real stack: while an account has the lobby open, a friend
// request shows on its People button, a new DM's unread badge on its
// conversation and a friend's online / away / offline in its friends list,
// all without a reload (each waited for with a deadline of a few seconds:
// the lobby's own poll is a minute). Also what the other helpers noticed:
// the top bar shows the display name, and a DM opened from the people panel
// is titled with the other person's name and offers no share link.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { useStack, ROOT, connect, lookup, sendAcked, closeAll } from './lib/stack.js';
import { launch, openPage, WAIT_MS } from './lib/browser.js';
import { register, call, ask, accept } from './lib/friendsapi.js';

const SCREENSHOTS = process.env.STATEROOM_SCREENSHOT_DIR ?? path.join(ROOT, '.run', 'screenshots');
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
// How long a live update may take here: the 2 s, with room for a
// loaded machine. The lobby's safety-net poll (60 s) never comes this soon.
const LIVE_MS = 5000;

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

async function account(prefix, displayName) {
	const user = await register(shared.stack, prefix);
	const res = await call(shared.stack, user, 'PATCH', '/api/me', { displayName });
	assert.equal(res.status, 200, res.text);
	return { ...user, displayName };
}

// A page logged in as user, in the lobby, its inbox connected. query: added
// to the URL the page is loaded with (the idle time: ?idle_ms=).
async function pageOf(user, { viewport = DESKTOP, query = '' } = {}) {
	const context = await browser.newContext({
		viewport, colorScheme: 'light', isMobile: viewport.width < 600, hasTouch: viewport.width < 600,
	});
	context.setDefaultTimeout(WAIT_MS);
	const page = await openPage(browser, `${shared.stack.backendUrl}/${query}`, { context });
	await page.evaluate(({ token, id }) => localStorage.setItem('stateroom.account',
		JSON.stringify({ token, user: id })), user);
	await page.reload();
	await page.getByTestId('lobby-view').waitFor();
	await page.locator('body[data-inbox="connected"]').waitFor();
	return page;
}

async function befriend(a, b) {
	assert.equal((await ask(shared.stack, a, b)).status, 201);
	assert.equal((await accept(shared.stack, b, a)).status, 200);
}

async function startDm(from, to) {
	const res = await call(shared.stack, from, 'POST', '/api/dms', { userId: to.id });
	assert.ok(res.status === 200 || res.status === 201, res.text);
	return res.json.roomId;
}

let sent = 0;
// user says texts in roomId over a native connection, each acked.
async function say(user, roomId, ...texts) {
	const t = await lookup(shared.stack.backendUrl, user.token, roomId);
	assert.equal(t.status, 200, t.text);
	const c = await connect(t.json.host, t.json.token, { protocol: 'stateroom.v1' });
	await c.next('welcome');
	for (const text of texts) await sendAcked(c, `live${++sent}`, text);
	await closeAll([c]);
}

const friendRow = (page, userId) => page.locator(`[data-testid="friend-list"] [data-user="${userId}"]`);

// Resolves once the friend's presence line in page's people panel matches re.
function presenceShown(page, userId, re, timeout = LIVE_MS) {
	return page.waitForFunction(([id, source]) => {
		const sub = document.querySelector(`[data-testid="friend-list"] [data-user="${id}"] [data-testid="person-sub"]`);
		return sub !== null && new RegExp(source).test(sub.textContent);
	}, [userId, re.source], { timeout });
}

test('a friend request and a new DM show in the lobby without a reload; the top bar shows the display name', async () => {
	const ann = await account('ann', 'Ann Live');
	const ben = await account('ben', 'Ben Sender');
	const a = await pageOf(ann, { viewport: PHONE });
	assert.equal((await a.getByTestId('whoami-name').textContent()).trim(), 'Ann Live');
	assert.equal(await a.getByTestId('people-button-count').isVisible(), false);

	assert.equal((await ask(shared.stack, ben, ann)).status, 201);
	const count = a.locator('[data-testid="people-button-count"]:not([hidden])');
	await count.waitFor({ timeout: LIVE_MS });
	assert.equal((await count.textContent()).trim(), '1');

	const roomId = await startDm(ben, ann);
	await say(ben, roomId, 'are you there?');
	const badge = a.locator(`[data-testid="conversation-item"][data-room="${roomId}"] [data-testid="conversation-unread"]:not([hidden])`);
	await badge.waitFor({ timeout: LIVE_MS });
	assert.equal((await badge.textContent()).trim(), '1');
	const item = a.locator(`[data-testid="conversation-item"][data-room="${roomId}"]`);
	assert.equal((await item.getByTestId('conversation-name').textContent()).trim(), 'Ben Sender');
	assert.equal((await item.getByTestId('conversation-last').textContent()).trim(), 'are you there?');

	await say(ben, roomId, 'hello?');
	await a.locator(`[data-testid="conversation-item"][data-room="${roomId}"][data-unread="2"]`)
		.waitFor({ timeout: LIVE_MS });
	await a.screenshot({ path: `${SCREENSHOTS}/live-lobby-phone.png` });
	assert.deepEqual(a.errors, []);
	await a.context().close();
});

test("a friend's online, away and offline reach the friends list without a reload", async () => {
	const cat = await account('cat', 'Cat Watcher');
	const dan = await account('dan', 'Dan Idle');
	await befriend(cat, dan);
	const c = await pageOf(cat);
	await c.getByTestId('people-button').click();
	await friendRow(c, dan.id).waitFor();
	await presenceShown(c, dan.id, /offline/);

	// Dan's page goes away after 4 s without input (the documented
	// ?idle_ms= setting; the default is 5 minutes).
	const d = await pageOf(dan, { query: '?idle_ms=4000' });
	await presenceShown(c, dan.id, /online/);
	await d.locator('body[data-presence="away"]').waitFor({ timeout: 4000 + LIVE_MS });
	await presenceShown(c, dan.id, /away/);
	await d.mouse.move(40, 40);
	await d.mouse.move(60, 80);
	await d.locator('body[data-presence="online"]').waitFor({ timeout: LIVE_MS });
	await presenceShown(c, dan.id, /online/);

	await d.context().close();
	await presenceShown(c, dan.id, /offline · last seen just now/);
	assert.deepEqual(c.errors, []);
	await c.context().close();
});

test('a DM opened from the people panel is titled with the other person and has no share link; a room keeps its link', async () => {
	const eve = await account('eve', 'Eve Opener');
	const fay = await account('fay', 'Fay Peer');
	await befriend(eve, fay);
	const e = await pageOf(eve);
	await e.getByTestId('people-button').click();
	await friendRow(e, fay.id).getByTestId('action-message').click();
	await e.getByTestId('room-view').waitFor();
	assert.equal((await e.getByTestId('room-name').textContent()).trim(), 'Fay Peer');
	assert.equal(await e.getByTestId('share-link').isVisible(), false);
	const roomId = (await e.getByTestId('room-id').textContent()).trim();

	// The same DM from its link: the kind is learnt from the conversations.
	await e.goto(`${shared.stack.backendUrl}/?room=${roomId}`);
	await e.getByTestId('room-view').waitFor();
	await e.waitForFunction(() => document.querySelector('[data-testid="room-name"]').textContent === 'Fay Peer');
	assert.equal(await e.getByTestId('share-link').isVisible(), false);

	// A room of kind room, by its link, shows the link to share.
	const created = await call(shared.stack, eve, 'POST', '/api/rooms', { name: 'open plan' });
	assert.equal(created.status, 200, created.text);
	await e.goto(`${shared.stack.backendUrl}/?room=${created.json.roomId}`);
	await e.getByTestId('share-link').waitFor({ state: 'visible' });
	assert.equal((await e.getByTestId('room-name').textContent()).trim(), 'open plan');
	assert.deepEqual(e.errors, []);
	await e.context().close();
});
