// Two users chatting over the native protocol (stateroom.v1), as the npm ws
// client sees it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
	useStack, connect, decodeToken, newRoom, ticketFor, tokenFor, join, sendAcked, closeAll,
} from './lib/stack.js';

const h = useStack({ sessions: 1, backends: 1, sessionEnv: { SESSION_MAX_ROOMS: '100' } });

// A user's id in frames: its subject (these users are guests: guest:…).
const idOf = async (user) => decodeToken(await tokenFor(h.stack, user)).claims.sub;

async function pair() {
	const roomId = await newRoom(h.stack, 'alice');
	const [alice, aliceWelcome] = await join(h.stack, 'alice', roomId);
	const [bob, bobWelcome] = await join(h.stack, 'bob', roomId);
	await alice.next({ type: 'presence', joined: 'bob' });
	return { roomId, alice, bob, aliceWelcome, bobWelcome };
}

test('the server picks the stateroom.v1 subprotocol', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const [alice] = await join(h.stack, 'alice', roomId);
	assert.equal(alice.protocol, 'stateroom.v1');
	await closeAll([alice]);
});

test('the first frame is a welcome with the room, the user, the members and the latest seq', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const { host, token } = await ticketFor(h.stack, 'alice', roomId);
	const alice = await connect(host, token, { protocol: 'stateroom.v1' });
	const first = await alice.next();
	assert.equal(first.type, 'welcome');
	assert.equal(first.room, roomId);
	assert.equal(first.user, 'alice');
	assert.equal(first.userId, await idOf('alice'));
	assert.deepEqual(first.members, ['alice']);
	assert.deepEqual(first.memberIds, [await idOf('alice')]);
	assert.equal(first.seq, 0);
	assert.deepEqual(first.messages, []);
	await closeAll([alice]);
});

test('a second user sees both members in the welcome and the first sees them join', async () => {
	const { alice, bob, bobWelcome } = await pair();
	assert.deepEqual([...bobWelcome.members].sort(), ['alice', 'bob']);
	await bob.none('presence', 200);
	await closeAll([alice, bob]);
});

test('sent messages are acked to the sender and delivered to both with seq 1, 2, 3', async () => {
	const { alice, bob } = await pair();
	const before = Date.now();
	for (const n of [1, 2, 3]) alice.send({ type: 'send', id: `m${n}`, text: `hello ${n}` });
	for (const n of [1, 2, 3]) {
		assert.deepEqual(await alice.next('ack'), { type: 'ack', id: `m${n}`, seq: n });
	}
	for (const c of [alice, bob]) {
		for (const n of [1, 2, 3]) {
			const m = await c.next('message');
			assert.equal(m.seq, n);
			assert.equal(m.userId, await idOf('alice'));
			assert.equal(m.id, `m${n}`);
			assert.equal(m.user, 'alice');
			assert.equal(m.text, `hello ${n}`);
			assert.equal(typeof m.ts, 'number');
			assert.ok(m.ts >= before - 5000 && m.ts <= Date.now() + 5000, `ts ${m.ts}`);
		}
	}
	await closeAll([alice, bob]);
});

test('the others see a user leave once their connection closes', async () => {
	const { alice, bob } = await pair();
	await bob.close(1000);
	assert.deepEqual(await alice.next('presence'), { type: 'presence', left: 'bob', userId: await idOf('bob') });
	await closeAll([alice]);
});

test('typing goes to the other members and not back to the typist', async () => {
	const { alice, bob } = await pair();
	alice.send({ type: 'typing' });
	assert.deepEqual(await bob.next('typing'), { type: 'typing', user: 'alice', userId: await idOf('alice') });
	await alice.none('typing', 300);
	await closeAll([alice, bob]);
});

test('a read mark goes to every member', async () => {
	const { alice, bob } = await pair();
	await sendAcked(alice, 'r1', 'read me');
	bob.send({ type: 'read', seq: 1 });
	for (const c of [alice, bob]) {
		assert.deepEqual(await c.next('read'), { type: 'read', user: 'bob', userId: await idOf('bob'), seq: 1 });
	}
	await closeAll([alice, bob]);
});

test('history gives a page of older messages and says whether there are more', async () => {
	const { alice, bob } = await pair();
	for (let n = 1; n <= 5; n++) await sendAcked(alice, `h${n}`, `text ${n}`);
	bob.send({ type: 'history', before: 4, limit: 2 });
	const page = await bob.next('history');
	assert.deepEqual(page.messages.map((m) => m.seq), [2, 3]);
	assert.deepEqual(page.messages.map((m) => m.text), ['text 2', 'text 3']);
	assert.equal(page.more, true);
	bob.send({ type: 'history', before: 2, limit: 50 });
	const last = await bob.next('history');
	assert.deepEqual(last.messages.map((m) => m.seq), [1]);
	assert.equal(last.more, false);
	await closeAll([alice, bob]);
});

test('a message is kept: a later joiner sees it in the welcome', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const [alice] = await join(h.stack, 'alice', roomId);
	await sendAcked(alice, 'k1', 'still here');
	const [carol, welcome] = await join(h.stack, 'carol', roomId);
	assert.equal(welcome.seq, 1);
	assert.deepEqual(welcome.messages.map((m) => [m.seq, m.user, m.text]), [[1, 'alice', 'still here']]);
	await closeAll([alice, carol]);
});

const badFrames = [
	['text that is not JSON', 'hello there', 'bad_json'],
	['a JSON array', '[1,2,3]', 'bad_json'],
	['a JSON string', '"send"', 'bad_json'],
	['an unknown type', { type: 'dance' }, 'unknown_type'],
	['a frame without a type', { id: 'x', text: 'y' }, 'bad_frame'],
	['a send without text', { type: 'send', id: 'x' }, 'bad_frame'],
	['a send without an id', { type: 'send', text: 'x' }, 'bad_frame'],
	['a send whose text is a number', { type: 'send', id: 'x', text: 5 }, 'bad_frame'],
	['a send with an empty text', { type: 'send', id: 'x', text: '' }, 'bad_frame'],
	['a send with an id over 64 bytes', { type: 'send', id: 'i'.repeat(65), text: 'x' }, 'bad_frame'],
	['a send with text over 4000 bytes', { type: 'send', id: 'long', text: 'é'.repeat(2001) }, 'too_long'],
];

for (const [what, frame, code] of badFrames) {
	test(`${what} gets an error frame ${code} and the connection stays up`, async () => {
		const { alice, bob } = await pair();
		alice.send(frame);
		const err = await alice.next('error');
		assert.equal(err.code, code, JSON.stringify(err));
		assert.equal(typeof err.message, 'string');
		if (code === 'too_long' && 'id' in err) assert.equal(err.id, 'long');
		const seq = await sendAcked(alice, 'after', 'still connected');
		assert.equal(seq, 1);
		assert.equal((await bob.next('message')).text, 'still connected');
		await bob.none('error', 100);
		await closeAll([alice, bob]);
	});
}

test('a text of exactly 4000 bytes is accepted', async () => {
	const { alice, bob } = await pair();
	const text = 'é'.repeat(2000);
	await sendAcked(alice, 'max', text);
	assert.equal((await bob.next('message')).text, text);
	await closeAll([alice, bob]);
});

test('a binary frame gets an error frame binary_unsupported and the connection stays up', async () => {
	const { alice, bob } = await pair();
	alice.ws.send(Buffer.from([1, 2, 3]), { binary: true });
	assert.equal((await alice.next('error')).code, 'binary_unsupported');
	await sendAcked(alice, 'b1', 'ok');
	await closeAll([alice, bob]);
});

test('a retried send with the same id gets the same seq and broadcasts nothing new', async () => {
	const { alice, bob } = await pair();
	const first = await sendAcked(alice, 'same', 'once');
	assert.equal((await bob.next('message')).seq, first);
	await alice.next('message');
	const again = await sendAcked(alice, 'same', 'once');
	assert.equal(again, first);
	await bob.none('message', 500);
	await alice.none('message', 0);
	// The next new message takes the next seq: the retry used none.
	assert.equal(await sendAcked(alice, 'other', 'twice'), first + 1);
	await closeAll([alice, bob]);
});

test('the same id from a different user is a different message', async () => {
	const { alice, bob } = await pair();
	assert.equal(await sendAcked(alice, 'dup', 'from alice'), 1);
	assert.equal(await sendAcked(bob, 'dup', 'from bob'), 2);
	await closeAll([alice, bob]);
});

test('two tabs of one user count once: one member, one joined, one left', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const [alice1] = await join(h.stack, 'alice', roomId);
	const [bob] = await join(h.stack, 'bob', roomId);
	await alice1.next({ type: 'presence', joined: 'bob' });
	const [alice2, welcome2] = await join(h.stack, 'alice', roomId);
	assert.deepEqual([...welcome2.members].sort(), ['alice', 'bob']);
	await bob.none('presence', 300);
	const [carol, welcome3] = await join(h.stack, 'carol', roomId);
	assert.deepEqual([...welcome3.members].sort(), ['alice', 'bob', 'carol']);
	await alice2.close(1000);
	await bob.none({ type: 'presence', left: 'alice' }, 300);
	await alice1.close(1000);
	assert.deepEqual(await bob.next({ type: 'presence', left: 'alice' }),
		{ type: 'presence', left: 'alice', userId: await idOf('alice') });
	await closeAll([bob, carol]);
});

// The room's member list holds a tab's strings, not copies (issue 18): when
// the tab that joined first leaves, the one that stays must go on naming it.
test('the first tab leaving while another stays: the user is still listed by name and id', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const [alice1] = await join(h.stack, 'alice', roomId);
	const [alice2] = await join(h.stack, 'alice', roomId);
	const [bob] = await join(h.stack, 'bob', roomId);
	await alice1.close(1000);
	await bob.none({ type: 'presence', left: 'alice' }, 300);
	const [carol, welcome] = await join(h.stack, 'carol', roomId);
	assert.deepEqual(welcome.members, ['alice', 'bob', 'carol']);
	assert.deepEqual(welcome.memberIds, [await idOf('alice'), await idOf('bob'), await idOf('carol')]);
	await alice2.close(1000);
	assert.deepEqual(await carol.next({ type: 'presence', left: 'alice' }),
		{ type: 'presence', left: 'alice', userId: await idOf('alice') });
	const [dave, welcome2] = await join(h.stack, 'dave', roomId);
	assert.deepEqual(welcome2.members, ['bob', 'carol', 'dave']);
	await closeAll([bob, carol, dave]);
});

test('a message from one tab reaches the other tab of the same user', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const [tab1] = await join(h.stack, 'alice', roomId);
	const [tab2] = await join(h.stack, 'alice', roomId);
	await sendAcked(tab1, 't1', 'from tab 1');
	assert.equal((await tab2.next('message')).text, 'from tab 1');
	await tab2.none('ack', 200);
	await closeAll([tab1, tab2]);
});

test('reconnecting with since=N gives exactly the messages after N, then live ones', async () => {
	const { roomId, alice, bob } = await pair();
	for (let n = 1; n <= 5; n++) await sendAcked(alice, `s${n}`, `text ${n}`);
	await bob.terminate();
	const [bob2, welcome] = await join(h.stack, 'bob', roomId, { since: 2 });
	assert.equal(welcome.seq, 5);
	assert.deepEqual(welcome.messages.map((m) => m.seq), [3, 4, 5]);
	assert.deepEqual(welcome.messages.map((m) => m.text), ['text 3', 'text 4', 'text 5']);
	await sendAcked(alice, 's6', 'text 6');
	assert.equal((await bob2.next('message')).seq, 6);
	await closeAll([alice, bob2]);
});

test('since equal to the latest seq gives no messages', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const [alice] = await join(h.stack, 'alice', roomId);
	await sendAcked(alice, 'x1', 'one');
	const [alice2, welcome] = await join(h.stack, 'alice', roomId, { since: 1 });
	assert.equal(welcome.seq, 1);
	assert.deepEqual(welcome.messages, []);
	await closeAll([alice, alice2]);
});

test('messages from two senders are delivered to both in one seq order', async () => {
	const { alice, bob } = await pair();
	for (let n = 0; n < 10; n++) {
		alice.send({ type: 'send', id: `a${n}`, text: `a${n}` });
		bob.send({ type: 'send', id: `b${n}`, text: `b${n}` });
	}
	const seen = { alice: [], bob: [] };
	for (const [name, c] of [['alice', alice], ['bob', bob]]) {
		for (let i = 0; i < 20; i++) seen[name].push(await c.next('message'));
	}
	assert.deepEqual(seen.alice.map((m) => m.seq), Array.from({ length: 20 }, (_, i) => i + 1));
	assert.deepEqual(seen.alice.map((m) => m.id), seen.bob.map((m) => m.id));
	await closeAll([alice, bob]);
});
