// What the session server refuses at its edge, and how the client hears of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, connect, newRoom, ticketFor, join, sendAcked, closeAll, rawHttp } from './lib/stack.js';

const h = useStack({ sessionEnv: { SESSION_MAX_ROOMS: '50' } });

test('native: a frame with a duplicate key is bad_json and is not acted on', { timeout: 30000 }, async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const [alice] = await join(h.stack, 'alice', roomId);
	const [bob] = await join(h.stack, 'bob', roomId);
	await alice.next({ type: 'presence', joined: 'bob' });

	bob.send('{"type":"nope","type":"typing"}');
	assert.equal((await bob.next('error')).code, 'bad_json');
	bob.send('{"type":"send","id":"x1","text":"one","text":"two"}');
	assert.equal((await bob.next('error')).code, 'bad_json');
	// Neither was acted on: no typing, no message; the connection carries on.
	assert.equal(await sendAcked(bob, 'x2', 'fine'), 1);
	const m = await alice.next('message');
	assert.equal(m.text, 'fine');
	assert.deepEqual(alice.frames.filter((f) => f?.type === 'typing'), []);
	await closeAll([alice, bob]);
});

test('compat: the same bytes are a chat message like any other text', { timeout: 30000 }, async () => {
	const roomId = await newRoom(h.stack, 'carl');
	const { host, token } = await ticketFor(h.stack, 'carl', roomId);
	const carl = await connect(host, token);
	await carl.next((f) => Array.isArray(f?.messages));
	const text = '{"type":"nope","type":"typing"}';
	carl.send(text);
	const snap = await carl.next((f) => Array.isArray(f?.messages) && f.messages.length === 1);
	assert.equal(snap.messages[0].msg, text);
	await closeAll([carl]);
});
