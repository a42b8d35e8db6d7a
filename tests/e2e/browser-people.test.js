// The web client's people features in headless Chromium against the real
// stack, with two or three accounts at a time: find someone and befriend
// them, decline and cancel, block from a search (the blocked user no longer
// finds the blocker and is refused with the generic message), edit a profile
// and see it in the other's list, start a DM both can chat in; and how the
// people panel and the profile editor look on a phone and on a desktop.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { useStack } from './lib/stack.js';
import { register, call, ask, accept } from './lib/friendsapi.js';
import {
	launch, openPage, signIn, waitState, send, textsOnScreen, atLeastMessages,
} from './lib/browser.js';

const SCREENSHOTS = process.env.STATEROOM_SCREENSHOT_DIR
	?? fileURLToPath(new URL('../../.run/screenshots', import.meta.url));
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

// After the browser's hooks: a failed stop skips the after-hooks registered later.
// Default settings: inboxes take no room slot (docs/protocol.md, "The inbox").
const shared = useStack({ sessions: 1, backends: 1 });

// A new account, logged in through the login form; viewport: a size, or
// the default desktop-ish one.
async function signedIn(prefix, viewport = null) {
	const user = await register(shared.stack, prefix);
	const context = viewport === null ? null : await browser.newContext({
		viewport, isMobile: viewport.width < 600, hasTouch: viewport.width < 600,
	});
	const page = await openPage(browser, shared.stack.backendUrl, { context });
	await signIn(page, 'login', user.id, 'correct horse battery');
	await page.getByTestId('lobby-view').waitFor();
	return { user, page };
}

async function openPeople(page) {
	await page.getByTestId('people-button').click();
	await page.getByTestId('people-panel').waitFor();
}

// The row of userId in one of the panel's lists ('search-results',
// 'friend-list', 'incoming-list', 'outgoing-list', 'block-list').
const row = (page, list, userId) => page.locator(`[data-testid="${list}"] [data-user="${userId}"]`);

async function search(page, q, expect) {
	await page.getByTestId('people-search').fill(q);
	await row(page, 'search-results', expect).waitFor();
}

async function refreshPeople(page) {
	await page.getByTestId('people-refresh').click();
}

async function gone(locator) {
	await locator.waitFor({ state: 'detached' });
	assert.equal(await locator.count(), 0);
}

async function shot(page, name) {
	await page.screenshot({ path: `${SCREENSHOTS}/${name}.png` });
}

// No sideways scrolling: neither the page nor the open dialog's body.
async function assertNoOverflow(page, what) {
	const sizes = await page.evaluate(() => ({
		scroll: document.documentElement.scrollWidth,
		inner: window.innerWidth,
		dialogs: [...document.querySelectorAll('dialog[open] .sheet-body, dialog[open]')]
			.map((d) => ({ id: d.id || d.className, scroll: d.scrollWidth, client: d.clientWidth })),
	}));
	assert.ok(sizes.scroll <= sizes.inner, `${what}: the page is ${sizes.scroll} px wide in ${sizes.inner}`);
	for (const d of sizes.dialogs) {
		assert.ok(d.scroll <= d.client, `${what}: ${d.id} is ${d.scroll} px wide in ${d.client}`);
	}
}

// Tap targets of the open dialog smaller than 40 px high, as "testid: h".
async function smallTargets(page) {
	return page.evaluate(() => [...document.querySelectorAll('dialog[open] button, dialog[open] input')]
		.filter((el) => el.offsetParent !== null && el.type !== 'radio')
		.map((el) => ({ id: el.dataset.testid ?? el.id ?? el.textContent, h: el.getBoundingClientRect().height }))
		.filter((t) => t.h < 40)
		.map((t) => `${t.id}: ${t.h}`));
}

test('a user finds another, asks to be friends, the other accepts; decline, cancel and remove', async () => {
	const { user: alice, page: a } = await signedIn('alice');
	const { user: bob, page: b } = await signedIn('bob');
	const { user: carol, page: c } = await signedIn('carol');

	await openPeople(a);
	assert.equal((await a.getByTestId('friends-empty').textContent()).trim(),
		'No friends yet: find people above and add them.');
	await search(a, bob.id.toUpperCase(), bob.id);
	await row(a, 'search-results', bob.id).getByTestId('action-add').click();
	await row(a, 'outgoing-list', bob.id).waitFor();
	// The search result now offers what fits: the request can be taken back.
	await row(a, 'search-results', bob.id).getByTestId('action-cancel').waitFor();

	// Bob sees the request counted on the button, and in the panel.
	await b.reload();
	await b.locator('[data-testid="people-button-count"]:not([hidden])').waitFor();
	assert.equal((await b.getByTestId('people-button-count').textContent()).trim(), '1');
	await openPeople(b);
	const request = row(b, 'incoming-list', alice.id);
	await request.waitFor();
	assert.match(await request.textContent(), /wants to be your friend/);
	await request.getByTestId('action-accept').click();
	const friendOfBob = row(b, 'friend-list', alice.id);
	await friendOfBob.waitFor();
	await gone(request);
	// A friend shows their online state: alice's page is open (its inbox connected).
	assert.match(await friendOfBob.getByTestId('person-sub').textContent(), /online/);
	assert.equal((await b.getByTestId('friend-count').textContent()).trim(), '1');

	await refreshPeople(a);
	await row(a, 'friend-list', bob.id).waitFor();
	await gone(row(a, 'outgoing-list', bob.id));
	await row(a, 'search-results', bob.id).getByTestId('action-remove').waitFor();

	// Carol asks bob, who declines: gone from both sides.
	await openPeople(c);
	await search(c, bob.id, bob.id);
	await row(c, 'search-results', bob.id).getByTestId('action-add').click();
	await row(c, 'outgoing-list', bob.id).waitFor();
	await refreshPeople(b);
	await row(b, 'incoming-list', carol.id).getByTestId('action-decline').click();
	await gone(row(b, 'incoming-list', carol.id));
	await refreshPeople(c);
	await gone(row(c, 'outgoing-list', bob.id));
	await row(c, 'search-results', bob.id).getByTestId('action-add').waitFor();

	// Carol asks alice and thinks better of it.
	await search(c, alice.id, alice.id);
	await row(c, 'search-results', alice.id).getByTestId('action-add').click();
	await row(c, 'outgoing-list', alice.id).getByTestId('action-cancel').click();
	await gone(row(c, 'outgoing-list', alice.id));
	await refreshPeople(a);
	await a.getByTestId('friend-list').waitFor();
	assert.equal(await row(a, 'incoming-list', carol.id).count(), 0, 'a cancelled request is not shown');

	// Removing a friend asks once more, then ends it for both.
	const friendOfAlice = row(a, 'friend-list', bob.id);
	await friendOfAlice.getByTestId('action-remove').click();
	assert.equal((await friendOfAlice.getByTestId('action-remove').textContent()).trim(), 'Confirm: remove friend');
	assert.equal(await friendOfAlice.count(), 1, 'one tap removes nobody');
	await friendOfAlice.getByTestId('action-remove').click();
	await gone(friendOfAlice);
	await refreshPeople(b);
	await gone(friendOfBob);
	assert.deepEqual([...a.errors, ...b.errors, ...c.errors], []);
	await Promise.all([a, b, c].map((p) => p.context().close()));
});

test('a block from a search: the blocked user no longer finds the blocker and is refused with the generic message', async () => {
	const { user: dave, page: d } = await signedIn('dave');
	const { user: eve, page: e } = await signedIn('eve');

	// Eve has dave on screen when he blocks her.
	await openPeople(e);
	await search(e, dave.id, dave.id);

	await openPeople(d);
	await search(d, eve.id, eve.id);
	const result = row(d, 'search-results', eve.id);
	await result.getByTestId('action-block').click();
	await result.getByTestId('action-block').click();
	await result.getByTestId('action-unblock').waitFor();
	assert.equal(await result.getByTestId('action-add').count(), 0);

	// Her request is refused, and says nothing of a block.
	await row(e, 'search-results', dave.id).getByTestId('action-add').click();
	const error = e.getByTestId('people-error');
	await error.filter({ hasText: 'You cannot send this user a friend request.' }).waitFor();
	assert.doesNotMatch(await error.textContent(), /block/i);
	await row(e, 'search-results', dave.id).getByTestId('action-message').click();
	await error.filter({ hasText: 'You cannot message this user.' }).waitFor();
	assert.equal(await e.getByTestId('lobby-view').isVisible(), true, 'no room was opened');
	// A new search does not find him any more.
	await e.getByTestId('people-search').fill(`${dave.id}x`);
	await e.getByTestId('search-status').filter({ hasText: 'Nobody found' }).waitFor();
	await e.getByTestId('people-search').fill(dave.id);
	await e.getByTestId('search-status').filter({ hasText: `Nobody found for “${dave.id}”.` }).waitFor();
	assert.equal(await row(e, 'search-results', dave.id).count(), 0);

	// Dave's profile editor lists the block; unblocking gives eve her search back.
	await d.getByTestId('people-close').click();
	await d.getByTestId('profile-button').click();
	const blocked = row(d, 'block-list', eve.id);
	await blocked.waitFor();
	await blocked.getByTestId('action-unblock').click();
	await gone(blocked);
	await d.getByTestId('blocks-empty').filter({ hasText: 'You block nobody.' }).waitFor();
	await e.getByTestId('people-search').fill(dave.id.slice(0, -1));
	await search(e, dave.id, dave.id);
	assert.deepEqual([...d.errors, ...e.errors], []);
	await Promise.all([d, e].map((p) => p.context().close()));
});

test('a profile edit shows in the other user’s lists; look-alike names show the login name; limits and who may message', async () => {
	const { user: frank, page: f } = await signedIn('frank');
	const { user: gina, page: g } = await signedIn('gina');
	const harry = await register(shared.stack, 'harry');
	assert.equal((await ask(shared.stack, frank, gina)).status, 201);
	assert.equal((await accept(shared.stack, gina, frank)).status, 200);

	await g.getByTestId('profile-button').click();
	await g.getByTestId('profile-form').waitFor();
	assert.equal((await g.getByTestId('profile-login').textContent()).trim(), `@${gina.id}`);
	// Too long: said before anything is sent, naming the field.
	await g.getByTestId('profile-name').fill('x'.repeat(65));
	assert.equal((await g.getByTestId('profile-name-count').textContent()).trim(), '65/64');
	await g.getByTestId('profile-save').click();
	await g.getByTestId('profile-error').filter({ hasText: 'Display name: at most 64 characters' }).waitFor();

	await g.getByTestId('profile-name').fill('  Gina Smith ');
	await g.getByTestId('profile-status').fill('Out sailing ⛵');
	await g.locator('label:has([data-testid="dm-policy-friends"])').click();
	await g.getByTestId('profile-save').click();
	await g.getByTestId('profile-saved').filter({ hasText: 'Saved.' }).waitFor();
	assert.equal(await g.getByTestId('profile-error').isVisible(), false);
	assert.equal((await g.getByTestId('profile-shown-name').textContent()).trim(), 'Gina Smith');
	assert.equal((await g.locator('[data-testid="profile-avatar"] .avatar').textContent()).trim(), 'GS');
	await shot(g, 'profile-saved');
	// Kept by the server, not just the page.
	await g.reload();
	await g.getByTestId('profile-button').click();
	await g.getByTestId('profile-form').waitFor();
	assert.equal(await g.getByTestId('profile-name').inputValue(), 'Gina Smith');
	assert.equal(await g.getByTestId('dm-policy-friends').isChecked(), true);

	await openPeople(f);
	const friend = row(f, 'friend-list', gina.id);
	await friend.getByTestId('person-name').filter({ hasText: 'Gina Smith' }).waitFor();
	assert.equal(await friend.getByTestId('person-login').count(), 0, 'no look-alike: no login name');

	// Harry calls himself the same: side by side, each shows its login name.
	const patch = await call(shared.stack, harry, 'PATCH', '/api/me', { displayName: 'gina smith' });
	assert.equal(patch.status, 200, patch.text);
	await search(f, 'gina s', harry.id);
	await row(f, 'search-results', gina.id).waitFor();
	assert.equal((await row(f, 'search-results', harry.id).getByTestId('person-login').textContent()).trim(), `@${harry.id}`);
	assert.equal((await row(f, 'search-results', gina.id).getByTestId('person-login').textContent()).trim(), `@${gina.id}`);
	assert.equal((await friend.getByTestId('person-login').textContent()).trim(), `@${gina.id}`);

	// The user card: a click on a name shows the profile and the actions.
	await row(f, 'friend-list', gina.id).locator('.person-button').click();
	await f.getByTestId('user-card').waitFor();
	await f.getByTestId('user-card-status').filter({ hasText: 'Out sailing ⛵' }).waitFor();
	assert.equal((await f.getByTestId('user-card-name').textContent()).trim(), 'Gina Smith');
	await f.locator('[data-testid="user-card"] [data-testid="action-remove"]').waitFor();
	await f.getByTestId('user-card-close').click();

	// Gina takes messages from friends only: harry is refused, frank is not.
	const h = await openPage(browser, shared.stack.backendUrl);
	await signIn(h, 'login', harry.id, 'correct horse battery');
	await h.getByTestId('lobby-view').waitFor();
	await openPeople(h);
	await search(h, gina.id, gina.id);
	await row(h, 'search-results', gina.id).getByTestId('action-message').click();
	await h.getByTestId('people-error').filter({ hasText: 'You cannot message this user.' }).waitFor();
	assert.deepEqual([...f.errors, ...g.errors, ...h.errors], []);
	await Promise.all([f, g, h].map((p) => p.context().close()));
});

test('the message button opens a DM both can chat in, from either side', async () => {
	const { user: ivan, page: i } = await signedIn('ivan');
	const { user: judy, page: j } = await signedIn('judy');

	await openPeople(i);
	await search(i, judy.id, judy.id);
	await row(i, 'search-results', judy.id).getByTestId('action-message').click();
	await waitState(i, 'connected');
	assert.equal(await i.getByTestId('people-panel').isVisible(), false, 'the panel closes');
	const roomId = new URL(i.url()).searchParams.get('room');
	assert.match(roomId ?? '', /^[a-z0-9]{12}$/);

	await openPeople(j);
	await search(j, ivan.id, ivan.id);
	await row(j, 'search-results', ivan.id).getByTestId('action-message').click();
	await waitState(j, 'connected');
	assert.equal(new URL(j.url()).searchParams.get('room'), roomId, 'one conversation for the pair');

	await send(i, 'hello judy');
	await atLeastMessages(j, 1);
	await send(j, 'hi ivan');
	await atLeastMessages(i, 2);
	assert.deepEqual(await textsOnScreen(i), ['hello judy', 'hi ivan']);
	assert.deepEqual(await textsOnScreen(j), ['hello judy', 'hi ivan']);

	// The panel opens over the room, which stays connected under it.
	await openPeople(i);
	await i.getByTestId('people-close').click();
	assert.equal(await i.locator('[data-testid="status"][data-state="connected"]').count(), 1);
	assert.deepEqual([...i.errors, ...j.errors], []);
	await Promise.all([i, j].map((p) => p.context().close()));
});

test('a guest is told to create an account; a throttled search says when to try again', async () => {
	const guest = await openPage(browser, shared.stack.backendUrl);
	await signIn(guest, 'guest', 'drifter');
	await guest.getByTestId('lobby-view').waitFor();
	await openPeople(guest);
	await guest.getByTestId('people-guest').filter({ hasText: 'Create an account to add friends' }).waitFor();
	assert.equal(await guest.getByTestId('people-search').isVisible(), false);
	await guest.getByTestId('people-close').click();
	await guest.getByTestId('profile-button').click();
	await guest.getByTestId('profile-guest').filter({ hasText: 'Create an account' }).waitFor();
	assert.equal(await guest.getByTestId('profile-form').isVisible(), false);

	// The search limit is 60 a minute; what a user sees past it, answered here.
	const { page } = await signedIn('kim');
	await page.route('**/api/users?*', (route) => route.fulfill({
		status: 429,
		headers: { 'Content-Type': 'application/json', 'Retry-After': '7' },
		body: JSON.stringify({ error: { code: 'too_many_requests', message: 'too many searches' } }),
	}));
	await openPeople(page);
	await page.getByTestId('people-search').fill('anyone');
	await page.getByTestId('people-error').filter({ hasText: 'Slow down: try again in 7 s.' }).waitFor();
	assert.deepEqual([...guest.errors, ...page.errors], []);
	await Promise.all([guest, page].map((p) => p.context().close()));
});

for (const [size, viewport] of [['phone', PHONE], ['desktop', DESKTOP]]) {
	test(`the people panel and the profile editor fit a ${size} (${viewport.width}x${viewport.height})`, async () => {
		const { user: me, page } = await signedIn(`me_${size}_`, viewport);
		const others = [];
		for (const name of ['Ana Lopez-Fernández de la Vega y Montes', 'bo', 'Chen Wei']) {
			const u = await register(shared.stack, `pal_${size}_`);
			await call(shared.stack, u, 'PATCH', '/api/me', { displayName: name, status: 'Around all day, ask me anything about the boats' });
			others.push(u);
		}
		assert.equal((await ask(shared.stack, others[0], me)).status, 201);
		assert.equal((await ask(shared.stack, me, others[1])).status, 201);
		assert.equal((await ask(shared.stack, others[2], me)).status, 201);
		assert.equal((await accept(shared.stack, me, others[2])).status, 200);
		await call(shared.stack, me, 'POST', '/api/blocks', { userId: (await register(shared.stack, 'pest')).id });

		await assertNoOverflow(page, `${size} lobby`);
		await shot(page, `lobby-${size}`);
		await openPeople(page);
		await search(page, `pal_${size}_`, others[0].id);
		await row(page, 'friend-list', others[2].id).waitFor();
		await row(page, 'incoming-list', others[0].id).waitFor();
		await assertNoOverflow(page, `${size} people panel`);
		assert.deepEqual(await smallTargets(page), [], 'tap targets at least 40 px high');
		await shot(page, `people-${size}`);

		await page.getByTestId('people-close').click();
		await page.getByTestId('profile-button').click();
		await page.getByTestId('profile-form').waitFor();
		await page.locator('[data-testid="block-list"] [data-testid="blocked-row"]').waitFor();
		await assertNoOverflow(page, `${size} profile editor`);
		assert.deepEqual(await smallTargets(page), [], 'tap targets at least 40 px high');
		await shot(page, `profile-${size}`);
		await page.getByTestId('profile-close').click();

		await openPeople(page);
		await row(page, 'friend-list', others[2].id).locator('.person-button').click();
		await page.locator(`[data-testid="user-card"][data-loaded="${others[2].id}"]`).waitFor();
		assert.match(await page.getByTestId('user-card-status').textContent(), /offline · Around all day/);
		await assertNoOverflow(page, `${size} user card`);
		await shot(page, `user-card-${size}`);
		assert.deepEqual(page.errors, []);
		await page.context().close();
	});
}
