// The lobby and the room-full view in headless Chromium: the member counts
// a user sees in the room list are current, and a full room says so once
// and lets nobody type into it until a retry gets in.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.js';
import { launch, openPage, signIn, waitState, roomItem } from './lib/browser.js';

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

async function guest(name, path = '/') {
	const page = await openPage(browser, shared.stack.backendUrl + path);
	await signIn(page, 'guest', name);
	await page.getByTestId(path === '/' ? 'lobby-view' : 'room-view').waitFor();
	return page;
}

async function createPublicRoom(page) {
	await page.getByTestId('visibility-public').check();
	await page.getByTestId('create-room').click();
	await waitState(page, 'connected');
	return (await page.getByTestId('room-id').textContent()).trim();
}

test('the lobby shows a room with its member, not "nobody here"', async () => {
	// Bob looks at the lobby first, then alice creates a room and goes in.
	const bob = await guest('bob_lobby');
	const alice = await guest('alice_lobby');
	const roomId = await createPublicRoom(alice);
	const item = roomItem(bob, roomId);
	await bob.locator(`[data-testid="room-item"][data-room="${roomId}"][data-members="1"]`).waitFor();
	assert.match(await item.textContent(), /1 here/);
	assert.doesNotMatch(await item.textContent(), /nobody here/);
	assert.deepEqual([...alice.errors, ...bob.errors], []);
});

test('a room-list request that never answers does not leave the lobby stale', async () => {
	const bob = await openPage(browser, shared.stack.backendUrl);
	// The lobby's first GET /api/rooms is never answered (a stalled proxy,
	// a network switch on a phone); later ones are.
	let asked = 0;
	await bob.route('**/api/rooms', (route) => {
		if (asked++ > 0) route.continue();
	});
	await signIn(bob, 'guest', 'bob_stalled');
	await bob.getByTestId('lobby-view').waitFor();
	const alice = await guest('alice_stalled');
	const roomId = await createPublicRoom(alice);
	await bob.locator(`[data-testid="room-item"][data-room="${roomId}"][data-members="1"]`).waitFor();
	assert.match(await roomItem(bob, roomId).textContent(), /1 here/);
	assert.deepEqual([...alice.errors, ...bob.errors], []);
});
