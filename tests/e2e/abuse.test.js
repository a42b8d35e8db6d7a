// Bad input under load, on small numbers: a client that floods is slowed
// down to the rate limit (not read faster; it loses nothing and is not
// closed) while the room carries on; sockets that never finish their
// handshake are bounded and timed out while normal clients still get in; the
// backend bounds idle and half-sent connections, per address and in all, so
// that a new client is still served.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { useStack, connect, newRoom, ticketFor, join, sendAcked, closeAll, request } from './lib/stack.js';

const RATE = 20;
const BURST = 10;
const HANDSHAKE_MS = 1500;
const MAX_PENDING = 100;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The messages c receives until none has come for quietMs.
async function collectMessages(c, quietMs = 1000) {
	const got = [];
	for (;;) {
		try {
			got.push(await c.next('message', quietMs));
		} catch {
			return got;
		}
	}
}

async function metric(stack, name) {
	const res = await request(`http://${stack.sessions[0].address}`, '/metrics');
	const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(res.text);
	assert.ok(m, `${name} in /metrics`);
	return Number(m[1]);
}

describe('a client that floods', () => {
	const h = useStack({ sessionEnv: { SESSION_RATE_LIMIT: String(RATE), SESSION_RATE_BURST: String(BURST) } });

	test('native: over the burst it is slowed down, not refused; every message is acked and delivered in order', { timeout: 60000 }, async () => {
		const roomId = await newRoom(h.stack, 'flood');
		const [bob] = await join(h.stack, 'bob', roomId);
		const [flood] = await join(h.stack, 'flood', roomId);
		await bob.next({ type: 'presence', joined: 'flood' });

		const n = 6 * BURST;
		for (let i = 0; i < n; i++) flood.send({ type: 'send', id: `f${i}`, text: `f${i}` });
		// The room does not wait for the flood: bob's message goes in between.
		const bobSeq = await sendAcked(bob, 'b1', 'meanwhile');
		assert.ok(bobSeq < n, `bob's message is seq ${bobSeq}, not behind the whole flood`);

		for (let i = 0; i < n; i++) assert.equal((await flood.next('ack', 10000)).id, `f${i}`);
		const got = (await collectMessages(bob)).filter((m) => m.user === 'flood');
		assert.deepEqual(got.map((m) => m.text), Array.from({ length: n }, (_, i) => `f${i}`));
		assert.deepEqual(flood.frames.filter((f) => f?.type === 'error'), []);
		assert.equal(flood.closeInfo, null);
		assert.ok((await metric(h.stack, 'stateroom_session_rate_limited_total')) >= 1);
		await closeAll([bob, flood]);
	});

	test('a burst within the limit is served whole, with no error', async () => {
		const roomId = await newRoom(h.stack, 'carol');
		const [carol] = await join(h.stack, 'carol', roomId);
		for (let i = 0; i < BURST; i++) carol.send({ type: 'send', id: `c${i}`, text: `c${i}` });
		for (let i = 0; i < BURST; i++) assert.equal((await carol.next({ type: 'ack', id: `c${i}` })).seq, i + 1);
		// The bucket refills at RATE a second.
		await sleep(1000 / RATE + 100);
		assert.equal(await sendAcked(carol, 'again', 'after a pause'), BURST + 1);
		assert.deepEqual(carol.frames.filter((f) => f?.type === 'error'), []);
		await closeAll([carol]);
	});

	test('compat: its excess waits, and every text reaches the room in order; it stays connected', { timeout: 60000 }, async () => {
		const roomId = await newRoom(h.stack, 'cflood');
		const [bob] = await join(h.stack, 'bob', roomId);
		const { host, token } = await ticketFor(h.stack, 'cflood', roomId);
		const flood = await connect(host, token);
		await bob.next({ type: 'presence', joined: 'cflood' });
		const n = 6 * BURST;
		for (let i = 0; i < n; i++) flood.send(`m${i}`);
		const got = [];
		for (let i = 0; i < n; i++) got.push(await bob.next('message', 10000));
		got.forEach((m, i) => {
			assert.equal(m.seq, i + 1);
			assert.equal(m.text, `m${i}`);
		});
		for (const f of flood.frames) assert.ok(Array.isArray(f?.messages), `only snapshots: ${JSON.stringify(f)}`);
		assert.equal(flood.closeInfo, null);
		await closeAll([bob, flood]);
	});
});

// Opens a raw TCP socket (from localAddress, if given) that sends `bytes`
// (maybe nothing) and records when the server closed it.
function halfOpen(port, bytes, localAddress) {
	return new Promise((resolve, reject) => {
		const s = { opened: 0, closedAfter: null, isClosed: false };
		const sock = net.connect({ port, host: '127.0.0.1', localAddress });
		s.sock = sock;
		s.closed = new Promise((done) => sock.once('close', () => {
			s.closedAfter = Date.now() - s.opened;
			s.isClosed = true;
			done();
		}));
		sock.on('error', () => {});
		sock.once('connect', () => {
			s.opened = Date.now();
			if (bytes) sock.write(bytes);
			resolve(s);
		});
		sock.once('error', reject);
	});
}

describe('connections that never complete a handshake', () => {
	const h = useStack({
		sessionEnv: {
			SESSION_HANDSHAKE_TIMEOUT_MS: String(HANDSHAKE_MS),
			SESSION_MAX_PENDING_HANDSHAKES: String(MAX_PENDING),
		},
	});

	test('are bounded and closed after the timeout, while clients get in and chat', { timeout: 60000 }, async () => {
		const port = Number(h.stack.sessions[0].address.split(':')[1]);
		const roomId = await newRoom(h.stack, 'alice');
		const [alice] = await join(h.stack, 'alice', roomId);

		const partial = 'GET /?token=x HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n';
		const socks = [];
		for (let i = 0; i < 300; i++) socks.push(await halfOpen(port, i % 2 ? partial : null));
		await sleep(200);
		// The bound holds: the oldest made way for the newer.
		assert.ok((await metric(h.stack, 'stateroom_session_pending_connections')) <= MAX_PENDING);
		assert.ok((await metric(h.stack, 'stateroom_session_pending_evicted_total')) >= 300 - MAX_PENDING);

		// A normal client still gets in and the room works for everyone.
		const [bob] = await join(h.stack, 'bob', roomId);
		assert.equal(await sendAcked(bob, 'b1', 'through the crowd'), 1);
		assert.equal((await alice.next('message')).text, 'through the crowd');

		await Promise.all(socks.map((s) => s.closed));
		const late = socks.filter((s) => s.closedAfter >= HANDSHAKE_MS - 100);
		const early = socks.filter((s) => s.closedAfter < HANDSHAKE_MS - 100);
		// The newest stayed until their timeout; the others were evicted.
		assert.ok(late.length >= 1 && late.length <= MAX_PENDING, `${late.length} timed out`);
		assert.ok(early.length >= 300 - MAX_PENDING, `${early.length} evicted`);
		for (const s of late) assert.ok(s.closedAfter < HANDSHAKE_MS + 3000, `closed after ${s.closedAfter} ms`);

		// Upgraded connections were never touched.
		assert.equal(alice.closeInfo, null);
		assert.equal(bob.closeInfo, null);
		assert.equal(await sendAcked(alice, 'a1', 'all quiet'), 2);
		// Only this test's own HTTP requests (kept alive) remain.
		assert.ok((await metric(h.stack, 'stateroom_session_pending_connections')) < 10);
		await closeAll([alice, bob]);
	});
});

describe('the backend, held open by idle and half-sent connections', () => {
	const PER_IP = 50;
	const MAX = 200;
	const h = useStack({
		sessions: 1,
		backendEnv: { BACKEND_MAX_CONNS_PER_IP: String(PER_IP), BACKEND_MAX_CONNS: String(MAX) },
	});
	const port = () => Number(new URL(h.stack.backendUrl).port);
	const partial = 'POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n';

	// Opens n sockets from one address, every other one with half a request.
	async function crowd(n, from) {
		const socks = [];
		for (let i = 0; i < n; i += 250) {
			const batch = Array.from({ length: Math.min(250, n - i) }, (_, j) => halfOpen(port(), (i + j) % 2 ? partial : null, from));
			socks.push(...(await Promise.all(batch)));
		}
		return socks;
	}

	const healthz = (from) => request(h.stack.backendUrl, '/healthz', { localAddress: from });

	test('one address with more sockets than the backend would ever hold does not lock a new client out', { timeout: 120000 }, async () => {
		// More than the built-in cap of 10 000, so that without a bound
		// per address this one would hold them all.
		const socks = await crowd(10050, '127.0.0.2');
		const res = await healthz('127.0.0.3');
		assert.equal(res.status, 200, res.text);
		await sleep(200);
		const open = socks.filter((s) => !s.isClosed).length;
		assert.ok(open <= PER_IP, `${open} of its sockets still open`);
		for (const s of socks) s.sock.destroy();
		await Promise.all(socks.map((s) => s.closed));
	});

	test('at --max-conns the oldest idle or half-sent connection makes way for a new client', { timeout: 60000 }, async () => {
		const groups = [];
		for (const from of ['127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7']) groups.push(await crowd(PER_IP, from));
		const socks = groups.flat();
		await sleep(200);
		assert.equal(socks.filter((s) => s.isClosed).length, 0, 'all held: the cap is not passed yet');
		const res = await healthz('127.0.0.8');
		assert.equal(res.status, 200, res.text);
		await socks[0].closed;
		assert.ok(socks.slice(1).filter((s) => s.isClosed).length <= 1, 'only the oldest made way');
		for (const s of socks) s.sock.destroy();
		await Promise.all(socks.map((s) => s.closed));
	});
});
