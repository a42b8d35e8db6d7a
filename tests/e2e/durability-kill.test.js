// A session server killed with SIGKILL under load and started again, retries
// across reconnects, and what a room shows after a restart: every acked
// message is in PostgreSQL exactly once, in seq order with no gap, every
// client that resumes sees each message once, and a retried id never makes
// a second message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, newRoom, join, sendAcked, closeAll } from './lib/stack.js';
import { Member, until, dbMessages, audit } from './lib/durable.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const h = useStack({ sessions: 1, backends: 1, sessionEnv: { SESSION_MAX_ROOMS: '50' } });

async function killAndRestart() {
	const s = h.stack.sessions[0];
	await s.stop('SIGKILL');
	const t = Date.now();
	await s.start();
	await h.stack.waitRegistered();
	return Date.now() - t;
}

test('SIGKILL under load: acked messages survive once each, and resumed clients see no gap and no duplicate', async (t) => {
	const rooms = [];
	for (let i = 0; i < 3; i++) rooms.push(await newRoom(h.stack, 'alice'));
	const members = rooms.flatMap((roomId) => ['alice', 'bob', 'carol'].map((u) => new Member(h.stack, u, roomId)));
	for (const m of members) await m.connect();
	let n = 0;
	let acksAtKill = 0;
	const timer = setInterval(() => {
		n++;
		for (const m of members) m.send(`${m.user}-${n}`);
	}, 10);
	await sleep(700);
	acksAtKill = members.reduce((k, m) => k + m.acked.size, 0);
	const restartMs = await killAndRestart();
	const back = Date.now();
	let firstAck = 0;
	for (const m of members) m.onAck = () => { firstAck ||= Date.now(); };
	await until(() => firstAck > 0, 30000, 'an ack after the restart');
	await sleep(700);
	clearInterval(timer);
	// Everything sent gets its answer; what got `unavailable` goes again.
	await until(() => {
		for (const m of members) m.retryUnavailable();
		return members.every((m) => m.pending.size === 0 && m.unavailable.size === 0);
	}, 30000, () => members.map((m) => `${m.user}@${m.roomId}: ${m.pending.size} pending`).join('; '));
	assert.ok(acksAtKill > 0);
	for (const m of members) assert.ok(m.closes.length >= 1, `${m.user} was cut off by the kill`);

	let total = 0;
	for (const roomId of rooms) {
		const rows = await dbMessages(h.stack, roomId);
		const inRoom = members.filter((m) => m.roomId === roomId);
		await until(() => inRoom.every((m) => m.last === rows.length), 5000,
			() => `members of ${roomId} at ${inRoom.map((m) => m.last)} of ${rows.length}`);
		audit(rows, inRoom, assert);
		total += rows.length;
	}
	for (const m of members) await m.close();
	t.diagnostic(`restart took ${restartMs} ms to ready; first ack ${firstAck - back} ms after ready; ${total} messages in 3 rooms, ${acksAtKill} acked before the kill`);
});

// The first message frame with this id that c received, and how many.
function seenWithId(c, id) {
	const ms = c.frames.filter((f) => f?.type === 'message' && f.id === id);
	return { first: ms[0], count: ms.length };
}

test('a send retried on a new connection after its ack was received gets the original seq and no new message', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const [alice] = await join(h.stack, 'alice', roomId);
	const [bob] = await join(h.stack, 'bob', roomId);
	const seq = await sendAcked(alice, 'once', 'only once');
	await bob.next({ type: 'message', id: 'once' });
	await alice.terminate();
	const [alice2] = await join(h.stack, 'alice', roomId, { since: seq });
	assert.equal(await sendAcked(alice2, 'once', 'only once'), seq);
	await bob.none('message', 500);
	assert.equal(await sendAcked(alice2, 'next', 'the next one'), seq + 1);
	await closeAll([alice2, bob]);
});

test('a send whose connection dropped before the ack, retried on a new connection, makes one message', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const [bob] = await join(h.stack, 'bob', roomId);
	const [alice] = await join(h.stack, 'alice', roomId);
	await bob.next({ type: 'presence', joined: 'alice' });
	alice.send({ type: 'send', id: 'lost-ack', text: 'did it arrive?' });
	// Cut at once: whether the server read the frame is up to the race.
	await alice.terminate();
	assert.equal(alice.frames.filter((f) => f?.type === 'ack').length, 0, 'the ack came before the cut');
	const [alice2] = await join(h.stack, 'alice', roomId, { since: 0 });
	const seq = await sendAcked(alice2, 'lost-ack', 'did it arrive?');
	await sleep(300);
	const { first, count } = seenWithId(bob, 'lost-ack');
	assert.equal(count, 1, 'bob saw the message once');
	assert.equal(first.seq, seq);
	const [[rows]] = await h.stack.sql(`SELECT count(*) FROM messages WHERE room_id = '${roomId}' AND client_id = 'lost-ack'`);
	assert.equal(Number(rows), 1);
	await closeAll([alice2, bob]);
});

test('a send retried after the server was killed and restarted gets the original seq', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const [alice] = await join(h.stack, 'alice', roomId);
	const seq = await sendAcked(alice, 'before-kill', 'written before the kill');
	await killAndRestart();
	await alice.closed;
	const [bob] = await join(h.stack, 'bob', roomId);
	const [alice2, welcome] = await join(h.stack, 'alice', roomId, { since: seq });
	assert.equal(welcome.seq, seq);
	assert.deepEqual(welcome.messages, []);
	await bob.next({ type: 'presence', joined: 'alice' });
	assert.equal(await sendAcked(alice2, 'before-kill', 'written before the kill'), seq);
	await bob.none('message', 500);
	await closeAll([alice2, bob]);
});

test('after a restart a compat client gets the room\'s last 100 messages from PostgreSQL in its snapshot', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const [alice] = await join(h.stack, 'alice', roomId);
	for (let i = 1; i <= 120; i++) alice.send({ type: 'send', id: `c${i}`, text: `compat ${i}` });
	await alice.next({ type: 'ack', id: 'c120' }, 10000);
	await closeAll([alice]);
	await h.stack.sessions[0].stop('SIGTERM');
	await h.stack.sessions[0].start();
	await h.stack.waitRegistered();
	const [carol] = await join(h.stack, 'carol', roomId, { protocol: null });
	const snap = await carol.next((f) => Array.isArray(f?.messages));
	assert.equal(snap.messages.length, 100);
	assert.deepEqual(snap.messages.map((m) => m.msg), Array.from({ length: 100 }, (_, i) => `compat ${i + 21}`));
	assert.deepEqual(Object.keys(snap.messages[0]), ['userId', 'msg', 'ts']);
	assert.ok(snap.messages.every((m) => m.userId === 'alice' && Number.isInteger(m.ts)));
	assert.deepEqual(snap.connectedUsers, ['carol']);
	await closeAll([carol]);
});
