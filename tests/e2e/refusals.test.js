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

test('one user gets at most --max-user-conns (10) sockets into a room; the next is closed 4008', { timeout: 30000 }, async () => {
	const roomId = await newRoom(h.stack, 'many');
	const tabs = [];
	for (let i = 0; i < 10; i++) tabs.push((await join(h.stack, 'many', roomId))[0]);
	const { host, token } = await ticketFor(h.stack, 'many', roomId);
	const extra = await connect(host, token, { protocol: 'stateroom.v1' });
	const info = await extra.closed;
	assert.equal(info.code, 4008);
	assert.match(info.reason, /too many connections/);
	assert.deepEqual(extra.frames, [], 'no welcome before the close');

	// The ten carry on, others still get in, and a closed tab frees a place.
	for (const t of tabs) assert.equal(t.closeInfo, null);
	const [other] = await join(h.stack, 'other', roomId);
	assert.equal(await sendAcked(tabs[0], 'm1', 'still ten'), 1);
	await tabs.pop().close();
	const [again] = await join(h.stack, 'many', roomId);
	assert.equal(await sendAcked(again, 'm2', 'the tenth again'), 2);
	// Another room is another count.
	const room2 = await newRoom(h.stack, 'many');
	const [elsewhere] = await join(h.stack, 'many', room2);
	await closeAll([...tabs, other, again, elsewhere]);
});

test('a WebSocket upgrade over HTTP/1.0 is refused with 400, before the ticket is used', { timeout: 30000 }, async () => {
	const roomId = await newRoom(h.stack, 'old');
	const { host, token } = await ticketFor(h.stack, 'old', roomId);
	const port = Number(host.split(':')[1]);
	const req = [
		`GET /?token=${encodeURIComponent(token)} HTTP/1.0`,
		`Host: ${host}`,
		'Upgrade: websocket',
		'Connection: Upgrade',
		'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
		'Sec-WebSocket-Version: 13',
		'', '',
	].join('\r\n');
	const res = await rawHttp(port, req, { timeoutMs: 2000 });
	assert.equal(res.status, 400, res.text);
	assert.match(res.text, /needs HTTP\/1\.1/);
	assert.doesNotMatch(res.text, /101 Switching/);
	// The same ticket still works over HTTP/1.1.
	const c = await connect(host, token, { protocol: 'stateroom.v1' });
	assert.equal((await c.next('welcome')).user, 'old');
	await closeAll([c]);
});
