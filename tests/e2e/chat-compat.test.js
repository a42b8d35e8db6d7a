// The compat protocol (no subprotocol): byte-compatible with the seed. Every
// join, leave and message sends every member the full snapshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, newRoom, join, sendAcked, closeAll } from './lib/stack.js';

const h = useStack({ sessions: 1, backends: 1, sessionEnv: { SESSION_MAX_ROOMS: '100' } });

// Checks the seed's shape field for field and returns the snapshot.
function assertSnapshot(s) {
	assert.equal(typeof s, 'object', `not JSON: ${s}`);
	assert.deepEqual(Object.keys(s), ['messages', 'connectedUsers']);
	assert.ok(Array.isArray(s.messages));
	assert.ok(Array.isArray(s.connectedUsers));
	for (const m of s.messages) {
		assert.deepEqual(Object.keys(m), ['userId', 'msg', 'ts']);
		assert.equal(typeof m.userId, 'string');
		assert.equal(typeof m.msg, 'string');
		assert.ok(Number.isInteger(m.ts), `ts ${m.ts}`);
		assert.ok(Math.abs(m.ts - Date.now()) < 120000, `ts ${m.ts} is not milliseconds now`);
	}
	for (const u of s.connectedUsers) assert.equal(typeof u, 'string');
	return s;
}

async function joinCompat(roomId, user) {
	const [c] = await join(h.stack, user, roomId, { protocol: null });
	return c;
}

test('no subprotocol is chosen when the client asks for none', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const alice = await joinCompat(roomId, 'alice');
	assert.equal(alice.protocol, '');
	await closeAll([alice]);
});

test('a joiner gets the snapshot with no messages and themself connected', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const alice = await joinCompat(roomId, 'alice');
	assert.deepEqual(assertSnapshot(await alice.next()), { messages: [], connectedUsers: ['alice'] });
	await closeAll([alice]);
});

test('when a second user joins, both get connectedUsers in join order', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const alice = await joinCompat(roomId, 'alice');
	await alice.next();
	const bob = await joinCompat(roomId, 'bob');
	for (const c of [alice, bob]) {
		assert.deepEqual(assertSnapshot(await c.next()).connectedUsers, ['alice', 'bob']);
	}
	await closeAll([alice, bob]);
});

test('a message reaches every member as {userId, msg, ts} in the snapshot', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const alice = await joinCompat(roomId, 'alice');
	await alice.next();
	const bob = await joinCompat(roomId, 'bob');
	await alice.next();
	await bob.next();
	alice.send('hello bob');
	for (const c of [alice, bob]) {
		const s = assertSnapshot(await c.next());
		assert.equal(s.messages.length, 1);
		assert.equal(s.messages[0].userId, 'alice');
		assert.equal(s.messages[0].msg, 'hello bob');
		assert.deepEqual(s.connectedUsers, ['alice', 'bob']);
	}
	await closeAll([alice, bob]);
});

test('messages appear in the order they were sent', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const alice = await joinCompat(roomId, 'alice');
	await alice.next();
	const bob = await joinCompat(roomId, 'bob');
	await alice.next();
	await bob.next();
	// One connection's messages keep their order even sent back to back;
	// across connections, the order is the server's (so wait in between).
	for (let n = 1; n <= 4; n++) alice.send(`line ${n}`);
	for (let n = 1; n <= 4; n++) await bob.next();
	bob.send('line 5');
	const last = assertSnapshot(await bob.next());
	assert.deepEqual(last.messages.map((m) => [m.userId, m.msg]),
		[['alice', 'line 1'], ['alice', 'line 2'], ['alice', 'line 3'], ['alice', 'line 4'], ['bob', 'line 5']]);
	const ts = last.messages.map((m) => m.ts);
	assert.deepEqual(ts, [...ts].sort((a, b) => a - b));
	await closeAll([alice, bob]);
});

test('a leave sends the others the snapshot without the leaver', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const alice = await joinCompat(roomId, 'alice');
	await alice.next();
	const bob = await joinCompat(roomId, 'bob');
	await alice.next();
	await bob.close(1000);
	assert.deepEqual(assertSnapshot(await alice.next()).connectedUsers, ['alice']);
	await closeAll([alice]);
});

test('text that looks like JSON is a chat message like any other', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const alice = await joinCompat(roomId, 'alice');
	await alice.next();
	alice.send('{"type":"send","id":"x","text":"y"}');
	const s = assertSnapshot(await alice.next());
	assert.equal(s.messages[0].msg, '{"type":"send","id":"x","text":"y"}');
	await closeAll([alice]);
});

test('a compat user and a native user chat in the same room', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const alice = await joinCompat(roomId, 'alice');
	await alice.next();
	const [bob, welcome] = await join(h.stack, 'bob', roomId);
	assert.deepEqual([...welcome.members].sort(), ['alice', 'bob']);
	assert.deepEqual(assertSnapshot(await alice.next()).connectedUsers, ['alice', 'bob']);
	alice.send('from compat');
	const m = await bob.next('message');
	assert.equal(m.user, 'alice');
	assert.equal(m.text, 'from compat');
	await sendAcked(bob, 'n1', 'from native');
	let s = assertSnapshot(await alice.next());
	if (s.messages.length < 2) s = assertSnapshot(await alice.next());
	assert.deepEqual(s.messages.map((x) => x.msg), ['from compat', 'from native']);
	await closeAll([alice, bob]);
});

test('a compat message over 4000 bytes closes the connection with 1009', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const alice = await joinCompat(roomId, 'alice');
	await alice.next();
	const bob = await joinCompat(roomId, 'bob');
	await alice.next();
	await bob.next();
	alice.send('x'.repeat(4001));
	assert.equal((await alice.closed).code, 1009);
	// bob sees alice leave and can still chat.
	assert.deepEqual(assertSnapshot(await bob.next()).connectedUsers, ['bob']);
	bob.send('still here');
	assert.equal(assertSnapshot(await bob.next()).messages.at(-1).msg, 'still here');
	await closeAll([bob]);
});

test('a binary frame in compat closes the connection with 1003', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const alice = await joinCompat(roomId, 'alice');
	await alice.next();
	alice.ws.send(Buffer.from([1, 2, 3]), { binary: true });
	assert.equal((await alice.closed).code, 1003);
});
