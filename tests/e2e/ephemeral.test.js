// Ephemeral rooms ("persistent": false): chat works in both protocols with
// seqs as usual, nothing reaches the messages table, resumes and history
// reach back as far as the session server's ring, HTTP history is empty, and
// a restart starts the room over at seq 1.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, connect, request, tokenFor, newRoom, ticketFor, join, sendAcked, closeAll } from './lib/stack.js';

const RING = 5;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function stored(stack, roomId) {
	const rows = await stack.sql(`SELECT count(*) FROM messages WHERE room_id = '${roomId}'`);
	return Number(rows[0][0]);
}

async function roomEntry(stack, user, roomId) {
	const res = await request(stack.backendUrl, '/api/rooms', { token: await tokenFor(stack, user) });
	assert.equal(res.status, 200, res.text);
	return res.json.rooms.find((r) => r.roomId === roomId);
}

describe('an ephemeral room', () => {
	const h = useStack({ sessionEnv: { SESSION_RING_SIZE: String(RING) } });

	test('is created with persistent false, listed so, and a bad value is invalid_room', async () => {
		const roomId = await newRoom(h.stack, 'alice', { persistent: false });
		assert.equal((await roomEntry(h.stack, 'alice', roomId)).persistent, false);
		const kept = await newRoom(h.stack, 'alice', { persistent: true });
		assert.equal((await roomEntry(h.stack, 'alice', kept)).persistent, true);
		assert.equal((await roomEntry(h.stack, 'alice', await newRoom(h.stack, 'alice'))).persistent, true);
		const rows = await h.stack.sql(`SELECT persistent FROM rooms WHERE id = '${roomId}'`);
		assert.deepEqual(rows, [['f']]);
		for (const bad of [0, 'false', []]) {
			const res = await request(h.stack.backendUrl, '/api/rooms',
				{ method: 'POST', token: await tokenFor(h.stack, 'alice'), body: { persistent: bad } });
			assert.equal(res.status, 400, JSON.stringify(bad));
			assert.equal(res.json.error.code, 'invalid_room');
		}
	});

	test('chat works in both protocols, and the messages table stays empty', async () => {
		const roomId = await newRoom(h.stack, 'alice', { persistent: false });
		const [alice, welcome] = await join(h.stack, 'alice', roomId);
		assert.equal(welcome.seq, 0);
		const [bob] = await join(h.stack, 'bob', roomId);
		const { host, token } = await ticketFor(h.stack, 'carol', roomId);
		const carol = await connect(host, token);
		await carol.next((f) => Array.isArray(f?.connectedUsers));

		assert.equal(await sendAcked(alice, 'a1', 'one'), 1);
		assert.equal(await sendAcked(bob, 'b1', 'two'), 2);
		carol.send('three');
		for (const c of [alice, bob]) {
			const got = [await c.next('message'), await c.next('message'), await c.next('message')];
			assert.deepEqual(got.map((m) => [m.seq, m.user, m.text]),
				[[1, 'alice', 'one'], [2, 'bob', 'two'], [3, 'carol', 'three']]);
			assert.equal(got[2].id, null);
		}
		const snap = await carol.next((f) => f?.messages?.length === 3);
		assert.deepEqual(snap.messages.map((m) => m.msg), ['one', 'two', 'three']);

		// A retried id is still acked with its seq and not repeated.
		assert.equal(await sendAcked(alice, 'a1', 'one'), 1);
		await bob.none('message', 300);

		await sleep(500);
		assert.equal(await stored(h.stack, roomId), 0);
		await closeAll([alice, bob, carol]);
	});

	test('since and history reach back as far as the ring; HTTP history is empty', async () => {
		const roomId = await newRoom(h.stack, 'alice', { persistent: false });
		const [alice] = await join(h.stack, 'alice', roomId);
		for (let i = 1; i <= 8; i++) assert.equal(await sendAcked(alice, `m${i}`, `text ${i}`), i);

		// Within the ring: exactly the messages after since.
		const [r1, w1] = await join(h.stack, 'bob', roomId, { since: 5 });
		assert.equal(w1.seq, 8);
		assert.deepEqual(w1.messages.map((m) => m.seq), [6, 7, 8]);
		assert.equal(w1.more, undefined);
		// From before the ring: what it holds; the rest is gone.
		const [r2, w2] = await join(h.stack, 'bob', roomId, { since: 1 });
		assert.deepEqual(w2.messages.map((m) => m.seq), [4, 5, 6, 7, 8]);
		assert.equal(w2.more, undefined);

		alice.send({ type: 'history', before: 7, limit: 2 });
		let page = await alice.next('history');
		assert.deepEqual(page.messages.map((m) => m.seq), [5, 6]);
		assert.equal(page.more, true);
		alice.send({ type: 'history', before: 6, limit: 50 });
		page = await alice.next('history');
		assert.deepEqual(page.messages.map((m) => m.seq), [4, 5]);
		assert.equal(page.more, false);
		alice.send({ type: 'history', before: 3 });
		page = await alice.next('history');
		assert.deepEqual(page, { type: 'history', messages: [], more: false });

		const res = await request(h.stack.backendUrl, `/api/rooms/${roomId}/messages`,
			{ token: await tokenFor(h.stack, 'alice') });
		assert.equal(res.status, 200, res.text);
		assert.deepEqual(res.json, { messages: [], more: false });
		assert.equal((await roomEntry(h.stack, 'alice', roomId)).lastSeq, 0);
		assert.equal(await stored(h.stack, roomId), 0);
		await closeAll([alice, r1, r2]);
	});

	test('a restart starts it over at seq 1: a resuming client sees a lower welcome seq', async () => {
		const roomId = await newRoom(h.stack, 'alice', { persistent: false });
		const [alice] = await join(h.stack, 'alice', roomId);
		for (let i = 1; i <= 3; i++) await sendAcked(alice, `m${i}`, `before ${i}`);
		const s = h.stack.sessions[0];
		await s.stop('SIGKILL');
		await alice.closed;
		await s.start();
		await h.stack.waitRegistered();

		const [again, welcome] = await join(h.stack, 'alice', roomId, { since: 3 });
		assert.equal(welcome.seq, 0, 'a new life of the room');
		assert.deepEqual(welcome.messages, []);
		assert.equal(await sendAcked(again, 'n1', 'after'), 1);
		assert.equal(await stored(h.stack, roomId), 0);
		await closeAll([again]);
	});
});
