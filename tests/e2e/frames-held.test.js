// Every frame a client sends is processed, in order, however early or fast
// it sends: frames sent before the welcome wait (unread) until the room is
// ready for the client, and a client over the rate limit is slowed down (its
// socket is not read until its bucket refills), not refused.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, connect, newRoom, ticketFor, join, sendAcked, closeAll, request, rawConnect, buildFrame, OP } from './lib/stack.js';

const N = 5;
const RING = 10;

async function metric(stack, name) {
	const res = await request(`http://${stack.sessions[0].address}`, '/metrics');
	const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(res.text);
	assert.ok(m, `${name} in /metrics`);
	return Number(m[1]);
}

// Connects natively and sends frames at once, before any welcome can have
// arrived; resolves with [client, welcome].
async function joinSending(stack, user, roomId, frames, opts = {}) {
	const { host, token } = await ticketFor(stack, user, roomId);
	const c = await connect(host, token, { protocol: 'stateroom.v1', ...opts });
	for (const f of frames) c.send(f);
	return [c, await c.next('welcome')];
}

const sends = (prefix, n, from = 0) =>
	Array.from({ length: n }, (_, i) => ({ type: 'send', id: `${prefix}${from + i}`, text: `${prefix}${from + i}` }));

// The acks for frames, in the order they come; each must be for the next id.
async function acksInOrder(c, frames) {
	const seqs = [];
	for (const f of frames) {
		const ack = await c.next('ack', 10000);
		assert.equal(ack.id, f.id, 'acks in the order sent');
		seqs.push(ack.seq);
	}
	return seqs;
}

describe('frames sent before the welcome', () => {
	const h = useStack({ sessionEnv: { SESSION_RING_SIZE: String(RING), SESSION_MAX_ROOMS: '50' } });

	test('native: sends made as the socket opens, while the room loads, are all acked in order', { timeout: 30000 }, async () => {
		// Several rooms, as the loss depended on how the frames met the load.
		for (let r = 0; r < 4; r++) {
			const roomId = await newRoom(h.stack, 'early');
			const frames = sends(`r${r}-`, N);
			const [c, welcome] = await joinSending(h.stack, 'early', roomId, frames);
			assert.equal(welcome.seq, 0);
			assert.deepEqual(await acksInOrder(c, frames), [1, 2, 3, 4, 5]);
			const msgs = [];
			for (let i = 0; i < N; i++) msgs.push(await c.next('message'));
			assert.deepEqual(msgs.map((m) => m.text), frames.map((f) => f.text));
			assert.deepEqual(c.frames.filter((f) => f?.type === 'error'), []);
			await closeAll([c]);
		}
	});

	// The frames below go out in the same write as the upgrade request: they
	// reach the server before it has even answered.
	const early = (frames) => Buffer.concat(frames.map((f) =>
		buildFrame({ opcode: OP.TEXT, payload: typeof f === 'string' ? f : JSON.stringify(f) })));

	test('native with since: sends that come with the upgrade, while the missed messages are read from PostgreSQL, are all acked in order', { timeout: 30000 }, async () => {
		const roomId = await newRoom(h.stack, 'alice');
		const [alice] = await join(h.stack, 'alice', roomId);
		for (let i = 1; i <= 3 * RING; i++) await sendAcked(alice, `a${i}`, `a${i}`);
		// since=1 is older than the ring: the welcome waits for a database read.
		const frames = sends('b', N);
		const { host, token } = await ticketFor(h.stack, 'bob', roomId);
		const { client: bob } = await rawConnect(host, {
			ticket: token, protocol: 'stateroom.v1', query: `token=${encodeURIComponent(token)}&since=1`, early: early(frames),
		});
		const welcome = await bob.nextJson('welcome');
		assert.deepEqual(welcome.messages.map((m) => m.seq), Array.from({ length: 3 * RING - 1 }, (_, i) => i + 2));
		const acks = [];
		for (let i = 0; i < N; i++) acks.push(await bob.nextJson('ack'));
		assert.deepEqual(acks.map((a) => a.id), frames.map((f) => f.id), 'acks in the order sent');
		assert.deepEqual(acks.map((a) => a.seq), Array.from({ length: N }, (_, i) => 3 * RING + 1 + i));
		const seen = [];
		for (let i = 0; i < N; i++) seen.push((await alice.next((f) => f?.type === 'message' && f.user === 'bob')).text);
		assert.deepEqual(seen, frames.map((f) => f.text));
		bob.destroy();
		await closeAll([alice]);
	});

	test('compat: texts that come with the upgrade, while the room loads, all become messages in order', { timeout: 30000 }, async () => {
		const roomId = await newRoom(h.stack, 'carl');
		const { host, token } = await ticketFor(h.stack, 'carl', roomId);
		const texts = Array.from({ length: N }, (_, i) => `early ${i}`);
		const { client: carl } = await rawConnect(host, { ticket: token, early: early(texts) });
		const last = await carl.nextJson((f) => Array.isArray(f?.messages) && f.messages.length === N, 10000);
		assert.deepEqual(last.messages.map((m) => m.msg), texts);
		// And they are committed: a later joiner sees them.
		const [dora, welcome] = await join(h.stack, 'dora', roomId);
		assert.deepEqual(welcome.messages.map((m) => m.text), texts);
		carl.destroy();
		await closeAll([dora]);
	});
});

describe('a fast sender at the default rate limit (20 a second, bursts of 40)', () => {
	// The harness turns the limit off; these tests run with the defaults.
	const h = useStack({ sessionEnv: { SESSION_RATE_LIMIT: undefined, SESSION_RATE_BURST: undefined } });

	test('two clients bursting 100 each: 200 acks, and all 200 messages at every member in order', { timeout: 60000 }, async () => {
		const roomId = await newRoom(h.stack, 'alice');
		const [carol] = await join(h.stack, 'carol', roomId);
		const [alice] = await join(h.stack, 'alice', roomId);
		const [bob] = await join(h.stack, 'bob', roomId);
		const fa = sends('a', 100);
		const fb = sends('b', 100);
		for (const f of fa) alice.send(f);
		for (const f of fb) bob.send(f);
		const [sa, sb] = await Promise.all([acksInOrder(alice, fa), acksInOrder(bob, fb)]);
		assert.deepEqual([...sa, ...sb].sort((x, y) => x - y), Array.from({ length: 200 }, (_, i) => i + 1));
		for (const c of [alice, bob, carol]) {
			const got = [];
			for (let i = 0; i < 200; i++) got.push(await c.next('message', 10000));
			assert.deepEqual(got.map((m) => m.seq), Array.from({ length: 200 }, (_, i) => i + 1));
			assert.deepEqual(got.filter((m) => m.user === 'alice').map((m) => m.text), fa.map((f) => f.text));
			assert.deepEqual(got.filter((m) => m.user === 'bob').map((m) => m.text), fb.map((f) => f.text));
			assert.deepEqual(c.frames.filter((f) => f?.type === 'error'), []);
			assert.equal(c.closeInfo, null);
		}
		// The limit did slow them down, and /metrics says so.
		assert.ok((await metric(h.stack, 'stateroom_session_rate_limited_total')) >= 2);
		await closeAll([alice, bob, carol]);
	});

	test('compat: 100 texts in a burst all reach the room, in order', { timeout: 60000 }, async () => {
		const roomId = await newRoom(h.stack, 'dan');
		const [eve] = await join(h.stack, 'eve', roomId);
		const { host, token } = await ticketFor(h.stack, 'dan', roomId);
		const dan = await connect(host, token);
		await eve.next({ type: 'presence', joined: 'dan' });
		const texts = Array.from({ length: 100 }, (_, i) => `d${i}`);
		for (const t of texts) dan.send(t);
		const got = [];
		for (let i = 0; i < 100; i++) got.push(await eve.next('message', 10000));
		assert.deepEqual(got.map((m) => m.text), texts);
		assert.equal(dan.closeInfo, null);
		await closeAll([dan, eve]);
	});
});

describe('a slowed connection and the ping timer', () => {
	// A token every 250 ms: each pause lasts over two ping periods, which
	// would drop a connection whose pongs are not read.
	const h = useStack({ sessionEnv: { SESSION_RATE_LIMIT: '4', SESSION_RATE_BURST: '2', SESSION_PING_MS: '100' } });

	test('is not dropped for pongs it could not have been read for', { timeout: 60000 }, async () => {
		const roomId = await newRoom(h.stack, 'fay');
		const [fay] = await join(h.stack, 'fay', roomId);
		// 10 frames over the burst at 4 a second: 2.5 s, 25 ping periods.
		const frames = sends('f', 12);
		for (const f of frames) fay.send(f);
		assert.deepEqual(await acksInOrder(fay, frames), Array.from({ length: 12 }, (_, i) => i + 1));
		assert.equal(fay.closeInfo, null);
		assert.equal(await sendAcked(fay, 'after', 'still here'), 13);
		await closeAll([fay]);
	});
});
