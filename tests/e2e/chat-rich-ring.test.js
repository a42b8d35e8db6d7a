// Rich messages past the ring (--ring-size 4 here, 1000 by default): pages
// and resumes read from PostgreSQL still show each message as it is now,
// and changes reach the messages the ring holds only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, newRoom, join, sendAcked, closeAll } from './lib/stack.js';

const h = useStack({ sessions: 1, backends: 1, sessionEnv: { SESSION_MAX_ROOMS: '100', SESSION_RING_SIZE: '4' } });

async function change(c, frame) {
	c.send(frame);
	return (await c.next({ type: 'ack', id: frame.id })).seq;
}

test('a resume from before the ring gets new messages as they are and the changes of older ones', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const [alice] = await join(h.stack, 'alice', roomId);
	const m1 = await sendAcked(alice, 'a1', 'one');
	const m2 = await sendAcked(alice, 'a2', 'two');
	const e = await change(alice, { type: 'edit', id: 'e1', seq: m1, text: 'one!' });
	const r = await change(alice, { type: 'react', id: 'r1', seq: m2, emoji: '👍', on: true });
	const later = [];
	for (let i = 3; i <= 6; i++) later.push(await sendAcked(alice, `a${i}`, `m${i}`));
	const m3 = later[0];
	await change(alice, { type: 'edit', id: 'e2', seq: later[3], text: 'm6!' });
	const [bob, welcome] = await join(h.stack, 'bob', roomId, { since: m2 });
	assert.deepEqual(welcome.messages.map((m) => m.seq), later);
	assert.equal(welcome.messages[3].text, 'm6!');
	assert.equal(welcome.messages[3].edited, true);
	assert.deepEqual(welcome.changes.map((c) => [c.type, c.seq, c.target]), [['edit', e, m1], ['reaction', r, m2]]);
	assert.ok(m3 > r);
	// A change to a message the ring no longer holds is refused.
	alice.send({ type: 'edit', id: 'x', seq: m1, text: 'too old' });
	assert.equal((await alice.next({ type: 'error', id: 'x' })).code, 'too_old');
	// A reply to it is not: the message exists.
	alice.send({ type: 'send', id: 'reply', text: 'late reply', replyTo: m1 });
	await alice.next({ type: 'ack', id: 'reply' });
	await closeAll([alice, bob]);
});

test('a history page read from the database shows edits made after it, wherever they are', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const [alice] = await join(h.stack, 'alice', roomId);
	const m1 = await sendAcked(alice, 'a1', 'first');
	await sendAcked(alice, 'a2', 'second');
	await change(alice, { type: 'edit', id: 'e1', seq: m1, text: 'first, edited' });
	await change(alice, { type: 'react', id: 'r1', seq: m1, emoji: '🎉', on: true });
	for (let i = 3; i <= 9; i++) await sendAcked(alice, `a${i}`, `m${i}`);
	alice.send({ type: 'history', before: 2, limit: 1 });
	const page = await alice.next('history');
	assert.equal(page.messages.length, 1);
	assert.equal(page.messages[0].seq, m1);
	assert.equal(page.messages[0].text, 'first, edited');
	assert.equal(page.messages[0].edited, true);
	assert.equal(page.messages[0].reactions[0].emoji, '🎉');
	assert.equal(page.more, false);
	alice.send({ type: 'history', before: 4, limit: 3 });
	const page2 = await alice.next('history');
	assert.deepEqual(page2.messages.map((m) => m.text), ['first, edited', 'second']);
	await closeAll([alice]);
});
