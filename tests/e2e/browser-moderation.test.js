// Moderation in the web client (issue 13), two accounts in headless
// Chromium: the room's owner bans the other from the user card; the banned
// user's page says so and does not reconnect; the owner sees the action as
// a system line, with role badges beside the members' names.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.js';
import { register } from './lib/friendsapi.js';
import { launch, openPage, signIn, waitState, send } from './lib/browser.js';

let browser;

before(async () => {
	browser = await launch();
});

after(async () => {
	await browser?.close();
});

const shared = useStack({ sessions: 1, backends: 1 });

async function signedIn(prefix) {
	const user = await register(shared.stack, prefix);
	const page = await openPage(browser, shared.stack.backendUrl);
	await signIn(page, 'login', user.id, 'correct horse battery');
	await page.getByTestId('lobby-view').waitFor();
	return { user, page };
}

const member = (page, userId) => page.locator(`[data-testid="member"][data-user-id="${userId}"]`);

test('the owner bans a member from the user card: the member is told and stays out, the owner sees the system line', async () => {
	const { user: owner, page: op } = await signedIn('own');
	const { user: other, page: xp } = await signedIn('oth');
	await op.getByTestId('create-room').click();
	await waitState(op, 'connected');
	const roomId = (await op.getByTestId('room-id').textContent()).trim();
	await xp.getByTestId('join-input').fill(roomId);
	await xp.getByTestId('join-button').click();
	await waitState(xp, 'connected');
	await send(xp, 'hello from the other');

	// Role badges: the owner's, seen by both.
	await member(xp, owner.id).getByTestId('role-badge').waitFor();
	assert.equal(await member(xp, owner.id).getByTestId('role-badge').textContent(), 'owner');
	assert.equal(await member(op, other.id).getByTestId('role-badge').count(), 0);
	// A member's card offers no moderation.
	await member(xp, owner.id).locator('.member-name').click();
	await xp.getByTestId('user-card-name').waitFor();
	assert.equal(await xp.getByTestId('moderation').count(), 0);
	await xp.getByTestId('user-card-close').click();

	let sockets = 0;
	xp.on('websocket', () => { sockets++; });
	await member(op, other.id).locator('.member-name').click();
	await op.getByTestId('moderation').waitFor();
	await op.getByTestId('mod-reason').fill('spam');
	await op.getByTestId('mod-duration').selectOption('');
	await op.getByTestId('mod-ban').click();

	// The banned user: told why, composer closed, offline for good.
	await xp.locator('[data-testid="room-error"][data-reason="banned"]').waitFor();
	assert.match(await xp.getByTestId('room-error').textContent(), /banned/);
	await waitState(xp, 'offline');
	assert.equal(await xp.getByTestId('composer-input').isDisabled(), true);
	await xp.waitForTimeout(2500);
	assert.equal(sockets, 0, 'no new connection after the ban');
	assert.equal(await xp.locator('[data-testid="status"]').getAttribute('data-state'), 'offline');

	// The owner: the action as a system line, once.
	const line = op.locator('[data-testid="system-line"][data-action="ban"]');
	await line.waitFor();
	assert.equal(await line.count(), 1);
	assert.match(await line.textContent(), new RegExp(`${owner.id} banned ${other.id} for spam`));
	await member(op, other.id).waitFor({ state: 'detached' });
	assert.deepEqual(op.errors, []);
	assert.deepEqual(xp.errors, []);
});
