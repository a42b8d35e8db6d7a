// Rich messages in the web client, two users in headless Chromium (and a
// third speaking the native protocol): a reply's quote jumps to the
// original, loading older history; an edit shows with its mark and earlier
// versions; a deletion leaves a tombstone; reactions count live with who
// reacted; links are made for http(s) URLs only.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, join, sendAcked, closeAll } from './lib/stack.js';
import { launch, openPage, signIn, waitState, send, WAIT_MS } from './lib/browser.js';

let browser;

before(async () => {
	browser = await launch();
});

after(async () => {
	await browser?.close();
});

const shared = useStack({ sessions: 1, backends: 1 });

async function guest(name) {
	const page = await openPage(browser, `${shared.stack.backendUrl}/`);
	await signIn(page, 'guest', name);
	await page.getByTestId('lobby-view').waitFor();
	return page;
}

async function createRoom(page) {
	await page.getByTestId('create-room').click();
	await waitState(page, 'connected');
	return (await page.getByTestId('room-id').textContent()).trim();
}

async function joinById(page, roomId) {
	await page.getByTestId('join-input').fill(roomId);
	await page.getByTestId('join-button').click();
	await waitState(page, 'connected');
}

const item = (page, text) => page.locator('[data-testid="message"]', { hasText: text });

test('reply, edit, delete, react and links, as two users see them', async () => {
	const alice = await guest('alice');
	const roomId = await createRoom(alice);
	const [carol] = await join(shared.stack, 'carol', roomId);

	// An original far back, a reply to it at the end: bob must load older
	// history to reach it.
	const original = await sendAcked(carol, 'o', 'the original: https://example.com/a?b=1. and javascript:alert(1)');
	for (let i = 0; i < 110; i++) carol.send({ type: 'send', id: `f${i}`, text: `filler ${i}` });
	await carol.next({ type: 'ack', id: 'f109' });
	carol.send({ type: 'send', id: 'r', text: 'the answer', replyTo: original });
	await carol.next({ type: 'ack', id: 'r' });
	// bob comes later: his welcome holds the latest 50 messages only.
	const bob = await guest('bob');
	await joinById(bob, roomId);

	const reply = item(bob, 'the answer');
	await reply.getByTestId('reply-quote').waitFor();
	assert.equal(await bob.locator(`[data-testid="message"][data-seq="${original}"]`).count(), 0,
		'the original is not on screen yet');
	await reply.getByTestId('reply-quote').click();
	const orig = bob.locator(`[data-testid="message"][data-seq="${original}"]`);
	await orig.and(bob.locator('[data-flash="true"]')).waitFor();
	assert.match(await reply.getByTestId('reply-quote').textContent(), /carol: the original/);

	// Links: the http(s) URL is a safe link, the javascript: one is text.
	const links = orig.getByTestId('message-link');
	assert.equal(await links.count(), 1);
	assert.equal(await links.getAttribute('href'), 'https://example.com/a?b=1');
	assert.equal(await links.getAttribute('rel'), 'noopener noreferrer');
	assert.equal(await links.getAttribute('target'), '_blank');
	assert.equal(await orig.locator('a[href^="javascript:"]').count(), 0);
	assert.match(await orig.getByTestId('message-text').textContent(), /javascript:alert\(1\)/);

	// Edit: alice's own message, inline; bob sees the new text and the mark.
	await send(alice, 'helo wrold');
	const mine = item(alice, 'helo wrold');
	await alice.locator(".message[data-seq]", { hasText: "helo wrold" }).waitFor();
	await mine.getByTestId('action-edit').click();
	await alice.getByTestId('edit-input').fill('hello world');
	await alice.getByTestId('edit-save').click();
	const edited = item(bob, 'hello world');
	await edited.getByTestId('message-edited').waitFor();
	assert.equal(await item(bob, 'helo wrold').count(), 0);
	await edited.getByTestId('message-edited').click();
	await edited.getByTestId('versions').waitFor();
	assert.deepEqual((await edited.locator('[data-testid="versions"] li span').allTextContents()),
		['helo wrold', 'hello world']);
	// bob cannot edit or delete alice's message.
	assert.equal(await edited.getByTestId('action-edit').count(), 0);
	assert.equal(await edited.getByTestId('action-delete').count(), 0);

	// Reactions: bob reacts, alice sees the count and who, live.
	await edited.getByTestId('action-react').click();
	await bob.getByTestId('emoji-choice').first().click();
	const aliceReaction = item(alice, 'hello world').getByTestId('reaction');
	await aliceReaction.waitFor();
	assert.equal((await aliceReaction.textContent()).trim(), '👍 1');
	assert.match(await aliceReaction.getAttribute('title'), /bob/);
	await aliceReaction.click(); // alice adds hers by the count's toggle
	await bob.waitForFunction(() => [...document.querySelectorAll('[data-testid="reaction"]')]
		.some((b) => b.textContent.trim() === '👍 2'), null, { timeout: WAIT_MS });
	await item(bob, 'hello world').getByTestId('reaction').click(); // bob takes his back
	await alice.waitForFunction(() => [...document.querySelectorAll('[data-testid="reaction"]')]
		.some((b) => b.textContent.trim() === '👍 1'), null, { timeout: WAIT_MS });

	// Delete: two clicks (the second confirms); bob sees a tombstone.
	const seq = await item(alice, 'hello world').getAttribute('data-seq');
	const del = item(alice, 'hello world').getByTestId('action-delete');
	await del.click();
	await del.click();
	await bob.locator(`[data-testid="message"][data-seq="${seq}"] [data-testid="message-tombstone"]`).waitFor();
	assert.equal(await item(bob, 'hello world').count(), 0);
	assert.equal(await bob.locator(`[data-testid="message"][data-seq="${seq}"] [data-testid="reaction"]`).count(), 0);

	assert.deepEqual(alice.errors, []);
	assert.deepEqual(bob.errors, []);
	await closeAll([carol]);
	await alice.context().close();
	await bob.context().close();
});
