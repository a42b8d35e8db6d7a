// An ephemeral room in the web client, in headless Chromium against the real
// stack: a share link shows the room's name, and when the session server
// restarts the room starts over at seq 1; the page says so and shows the new
// messages, although their seqs are the ones the old messages had.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, newRoom } from './lib/stack.js';
import { launch, openPage, signIn, waitState, send, seqsOnScreen, textsOnScreen, atLeastMessages } from './lib/browser.js';

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

async function guestInRoom(name, roomId) {
	const page = await openPage(browser, `${shared.stack.backendUrl}/?room=${roomId}`);
	await signIn(page, 'guest', name);
	await page.getByTestId('room-view').waitFor();
	await waitState(page, 'connected');
	return page;
}

function confirmed(page, text) {
	return page.locator('[data-testid="message"][data-seq]', {
		has: page.locator('[data-testid="message-text"]', { hasText: text }),
	});
}

test('after a restart of an ephemeral room the page starts over and shows the new messages', async () => {
	const roomId = await newRoom(shared.stack, 'owner', { persistent: false, name: 'Scratch pad' });
	const alice = await guestInRoom('alice', roomId);
	const bob = await guestInRoom('bob', roomId);
	// Opened by its share link, the room is shown with its name.
	assert.equal((await alice.getByTestId('room-name').textContent()).trim(), 'Scratch pad');

	for (const text of ['one', 'two', 'three']) {
		await send(bob, text);
		await confirmed(alice, text).waitFor();
	}
	assert.deepEqual(await seqsOnScreen(alice), [1, 2, 3]);

	const session = shared.stack.sessions[0];
	await session.stop('SIGTERM');
	await waitState(alice, 'reconnecting');
	await waitState(bob, 'reconnecting');
	// Written while the server is down: resent into the room's new life.
	await send(alice, 'written while offline');
	await session.start();
	await waitState(alice, 'connected', 60000);
	await waitState(bob, 'connected', 60000);

	// seq 2 now: the page held a message with that seq before the restart.
	await send(bob, 'after the restart');
	await confirmed(alice, 'after the restart').waitFor();
	await confirmed(bob, 'written while offline').waitFor();
	for (const page of [alice, bob]) {
		await page.getByTestId('room-restarted')
			.filter({ hasText: 'This room was restarted; earlier messages were not kept.' }).waitFor();
		await atLeastMessages(page, 2);
		assert.deepEqual(await textsOnScreen(page), ['written while offline', 'after the restart']);
		assert.deepEqual(await seqsOnScreen(page), [1, 2]);
		assert.equal(await page.locator('[data-testid="message"][data-pending]').count(), 0);
	}
	assert.deepEqual([...alice.errors, ...bob.errors], []);
});
