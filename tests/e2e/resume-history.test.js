// Resuming with since from several points, and history paging, beyond the
// ring of recent messages a room keeps in memory (made small here with
// --ring-size 20): what the ring no longer holds comes from PostgreSQL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, newRoom, join, sendAcked, closeAll } from './lib/stack.js';

const RING = 20;
const h = useStack({ sessions: 1, backends: 1, sessionEnv: { SESSION_MAX_ROOMS: '50', SESSION_RING_SIZE: String(RING) } });

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

// Writes messages 1..n into a room that no server has loaded yet, as a
// session server would have (so the room is hydrated from them).
async function prefill(roomId, n) {
	await h.stack.sql(`INSERT INTO messages (room_id, seq, client_id, user_id, body)
		SELECT '${roomId}', g, 'p' || g, CASE WHEN g % 2 = 0 THEN 'alice' ELSE 'bob' END, 'message ' || g
		FROM generate_series(1, ${n}) g`);
}

// Sends messages from..to as c, at most 10 unacknowledged at a time (the
// ring must hold every message not yet committed).
async function sendRange(c, from, to) {
	for (let i = from; i <= to; i += 10) {
		const last = Math.min(i + 9, to);
		for (let k = i; k <= last; k++) c.send({ type: 'send', id: `m${k}`, text: `text ${k}` });
		assert.equal((await c.next({ type: 'ack', id: `m${last}` }, 10000)).seq, last);
	}
}

// A room with messages 1..n sent through the server (acked), and alice
// still connected.
async function roomWith(n) {
	const roomId = await newRoom(h.stack, 'alice');
	const [alice] = await join(h.stack, 'alice', roomId);
	await sendRange(alice, 1, n);
	alice.drain();
	return { roomId, alice };
}

for (const [since, what] of [[0, 'the start'], [25, 'the middle, older than the ring'], [50, 'inside the ring'], [60, 'the latest']]) {
	test(`since=${since} (${what}) gives exactly the messages after it, then live ones`, async () => {
		const { roomId, alice } = await roomWith(60);
		const [bob, welcome] = await join(h.stack, 'bob', roomId, { since });
		assert.equal(welcome.seq, 60);
		assert.deepEqual(welcome.messages.map((m) => m.seq), since < 60 ? range(since + 1, 60) : []);
		assert.deepEqual(welcome.messages.map((m) => m.text), welcome.messages.map((m) => `text ${m.seq}`));
		assert.deepEqual(welcome.messages.map((m) => m.id), welcome.messages.map((m) => `m${m.seq}`));
		assert.equal(welcome.more, undefined);
		await sendAcked(alice, 'live', 'live one');
		const live = await bob.next('message');
		assert.equal(live.seq, 61);
		assert.deepEqual(bob.frames.map((f) => f.type), ['welcome', 'message'], 'nothing before the welcome, nothing twice');
		await closeAll([alice, bob]);
	});
}

test('a resume from before the ring while messages keep coming sees each message once, in order', async () => {
	const { roomId, alice } = await roomWith(60);
	// 300 more while bob's catch-up is read from the database.
	const sending = sendRange(alice, 61, 360);
	const [bob, welcome] = await join(h.stack, 'bob', roomId, { since: 10 });
	await sending;
	const seqs = welcome.messages.map((m) => m.seq);
	assert.equal(seqs.at(-1), welcome.seq);
	while (seqs.at(-1) < 360) seqs.push((await bob.next('message')).seq);
	assert.deepEqual(seqs, range(11, 360));
	await bob.none('message', 200);
	await closeAll([alice, bob]);
});

test('a resume from further back than 1000 messages gets the latest 1000 and more:true, and history fills the rest', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	await prefill(roomId, 1500);
	const [bob, welcome] = await join(h.stack, 'bob', roomId, { since: 100 });
	assert.equal(welcome.seq, 1500);
	assert.equal(welcome.more, true);
	assert.deepEqual(welcome.messages.map((m) => m.seq), range(501, 1500));
	const got = [];
	let before = welcome.messages[0].seq;
	while (before > 101) {
		bob.send({ type: 'history', before, limit: 100 });
		const page = await bob.next('history');
		got.unshift(...page.messages.map((m) => m.seq));
		before = page.messages[0].seq;
	}
	assert.deepEqual(got.filter((s) => s > 100), range(101, 500));
	await closeAll([bob]);
});

test('history pages backwards through a 10 000-message room from the database', async (t) => {
	const roomId = await newRoom(h.stack, 'alice');
	await prefill(roomId, 10000);
	const [bob, welcome] = await join(h.stack, 'bob', roomId);
	assert.equal(welcome.seq, 10000);
	assert.deepEqual(welcome.messages.map((m) => m.seq), range(10000 - RING + 1, 10000), 'the welcome holds what the ring has');
	const started = Date.now();
	const seen = [];
	let before = 10001;
	let pages = 0;
	for (;;) {
		bob.send({ type: 'history', before, limit: 100 });
		const page = await bob.next('history');
		pages++;
		const seqs = page.messages.map((m) => m.seq);
		assert.deepEqual(seqs, range(Math.max(1, before - 100), before - 1), `page before ${before}`);
		assert.equal(page.more, seqs[0] > 1, `more on the page before ${before}`);
		for (const m of page.messages) {
			assert.equal(m.text, `message ${m.seq}`);
			assert.equal(m.id, `p${m.seq}`);
			assert.equal(m.user, m.seq % 2 === 0 ? 'alice' : 'bob');
			assert.equal(typeof m.ts, 'number');
		}
		seen.unshift(...seqs);
		if (!page.more) break;
		before = seqs[0];
	}
	assert.equal(pages, 100);
	assert.deepEqual(seen, range(1, 10000));
	t.diagnostic(`100 pages of 100 in ${Date.now() - started} ms`);
	await closeAll([bob]);
});

test('history defaults to 50, says more:false at the start of the room, and refuses a limit outside 1..100', async () => {
	const { roomId, alice } = await roomWith(60);
	alice.send({ type: 'history' });
	let page = await alice.next('history');
	assert.deepEqual(page.messages.map((m) => m.seq), range(11, 60));
	assert.equal(page.more, true);
	alice.send({ type: 'history', before: 11 });
	page = await alice.next('history');
	assert.deepEqual(page.messages.map((m) => m.seq), range(1, 10));
	assert.equal(page.more, false);
	alice.send({ type: 'history', before: 2, limit: 1 });
	page = await alice.next('history');
	assert.deepEqual(page.messages.map((m) => m.seq), [1]);
	assert.equal(page.more, false);
	alice.send({ type: 'history', before: 1 });
	page = await alice.next('history');
	assert.deepEqual(page.messages, []);
	assert.equal(page.more, false);
	alice.send({ type: 'history', before: 1000 });
	page = await alice.next('history');
	assert.deepEqual(page.messages.map((m) => m.seq), range(11, 60), 'before past the end means from the latest');
	for (const limit of [0, 101, 'ten']) {
		alice.send({ type: 'history', limit });
		assert.equal((await alice.next('error')).code, 'bad_frame', `limit ${limit}`);
	}
	await closeAll([alice]);
	assert.ok(roomId);
});
