// Two backend replicas on one database, two session servers: replicas agree
// on where a room lives, placement never overfills a server, and a room
// whose server died moves to the live one.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
	useStack, lookup, createRoom, decodeToken, connect, tokenFor, newRoom, ticketFor, join, sendAcked, closeAll,
} from './lib/stack.js';

const DEAD_AFTER_MS = 1000;

describe('two backends', () => {
	const h = useStack({ sessions: 2, backends: 2, sessionEnv: { SESSION_MAX_ROOMS: '3' } });

	test('both backends give the same host for a room', async () => {
		const [a, b] = h.stack.backends;
		const token = await tokenFor(h.stack, 'alice');
		const { json: { roomId } } = await createRoom(a.url, token);
		const fromA = await lookup(a.url, token, roomId);
		const fromB = await lookup(b.url, token, roomId);
		assert.equal(fromA.status, 200);
		assert.equal(fromB.status, 200);
		assert.ok(fromA.json.host);
		assert.equal(fromB.json.host, fromA.json.host);
		assert.equal(decodeToken(fromB.json.token).claims.aud, decodeToken(fromA.json.token).claims.aud);
		assert.equal(decodeToken(fromB.json.token).claims.epoch, decodeToken(fromA.json.token).claims.epoch);
	});

	test('a user token from one backend works on the other', async () => {
		const [, b] = h.stack.backends;
		const token = await tokenFor(h.stack, 'carol');
		const res = await lookup(b.url, token, 'zzzzzzzzzzzz');
		assert.equal(res.status, 200, res.text);
	});

	test('concurrent creates on both backends never put more rooms on a server than it holds', async () => {
		const [a, b] = h.stack.backends;
		const token = await tokenFor(h.stack, 'bob');
		const [[used]] = await h.stack.sql('SELECT count(*) FROM rooms');
		const free = 2 * 3 - Number(used);
		const results = await Promise.all(Array.from({ length: 16 }, (_, i) => createRoom((i % 2 ? b : a).url, token)));
		const ok = results.filter((r) => r.status === 200);
		const full = results.filter((r) => r.status === 503);
		assert.equal(ok.length + full.length, results.length, results.map((r) => `${r.status} ${r.text}`).join('\n'));
		assert.equal(ok.length, free);
		for (const r of full) assert.equal(r.json?.error?.code, 'no_capacity');
		const rows = await h.stack.sql('SELECT server_id, count(*) FROM rooms GROUP BY server_id');
		for (const [server, n] of rows) assert.ok(Number(n) <= 3, `${server} holds ${n} rooms`);
		const hosts = {};
		for (const r of ok) {
			const l = await lookup(a.url, token, r.json.roomId);
			hosts[l.json.host] = (hosts[l.json.host] ?? 0) + 1;
		}
		for (const [host, n] of Object.entries(hosts)) assert.ok(n <= 3, `${host} got ${n} rooms`);
	});
});

describe('a session server that dies', () => {
	const h = useStack({
		sessions: 2,
		backends: 2,
		sessionEnv: { SESSION_MAX_ROOMS: '20' },
		backendEnv: { STATEROOM_DEAD_AFTER_MS: String(DEAD_AFTER_MS) },
	});

	test('its room is re-pinned on lookup to the live server with a higher epoch, messages kept', { timeout: 30000 }, async () => {
		const roomId = await newRoom(h.stack, 'alice');
		const first = await ticketFor(h.stack, 'alice', roomId);
		const before = decodeToken(first.token).claims;
		const alice = await connect(first.host, first.token, { protocol: 'stateroom.v1' });
		await alice.next('welcome');
		await sendAcked(alice, 'm1', 'before the crash');

		const dying = h.stack.sessions.find((s) => s.address === first.host);
		const other = h.stack.sessions.find((s) => s !== dying);
		await dying.stop('SIGKILL');
		assert.notEqual((await alice.closed).code, 1000);
		await new Promise((r) => setTimeout(r, DEAD_AFTER_MS + 500));

		// Looked up through the other backend: no backend keeps state of its own.
		const again = await ticketFor(h.stack, 'alice', roomId, h.stack.backends[1].url);
		assert.equal(again.host, other.address);
		const after = decodeToken(again.token).claims;
		assert.equal(after.aud, other.id);
		assert.ok(after.epoch > before.epoch, `epoch ${before.epoch} → ${after.epoch}`);

		const alice2 = await connect(again.host, again.token, { protocol: 'stateroom.v1', since: 0 });
		const welcome = await alice2.next('welcome');
		assert.deepEqual(welcome.messages.map((m) => [m.seq, m.text]), [[1, 'before the crash']]);
		assert.equal(await sendAcked(alice2, 'm2', 'after the crash'), 2);
		await closeAll([alice2]);

		// The dead server comes back: the room stays where it is now.
		await dying.start();
		await h.stack.waitRegistered();
		const third = await ticketFor(h.stack, 'alice', roomId);
		assert.equal(third.host, other.address);
		const [bob, bobWelcome] = await join(h.stack, 'bob', roomId);
		assert.equal(bobWelcome.seq, 2);
		await closeAll([bob]);
	});
});

describe('a session server that is stopped', () => {
	const h = useStack({
		sessions: 2,
		backends: 1,
		sessionEnv: { SESSION_MAX_ROOMS: '20' },
		backendEnv: { STATEROOM_DEAD_AFTER_MS: String(DEAD_AFTER_MS) },
	});

	test('tells its clients to reconnect (1012), and they resume on the other server without a gap', { timeout: 30000 }, async () => {
		const roomId = await newRoom(h.stack, 'alice');
		const first = await ticketFor(h.stack, 'alice', roomId);
		const alice = await connect(first.host, first.token, { protocol: 'stateroom.v1' });
		await alice.next('welcome');
		for (const n of [1, 2, 3]) await sendAcked(alice, `d${n}`, `text ${n}`);

		const draining = h.stack.sessions.find((s) => s.address === first.host);
		const other = h.stack.sessions.find((s) => s !== draining);
		const stopped = draining.stop('SIGTERM');
		assert.equal((await alice.closed).code, 1012);
		await stopped;

		// Look up again until the room has moved (at once if the drain is
		// recorded, else once the server's heartbeat is old).
		let again;
		const deadline = Date.now() + DEAD_AFTER_MS + 3000;
		do {
			again = await ticketFor(h.stack, 'alice', roomId).catch(() => null);
			if (again?.host === other.address) break;
			await new Promise((r) => setTimeout(r, 100));
		} while (Date.now() < deadline);
		assert.equal(again?.host, other.address);
		assert.ok(decodeToken(again.token).claims.epoch > decodeToken(first.token).claims.epoch);

		const resumed = await connect(again.host, again.token, { protocol: 'stateroom.v1', since: 1 });
		const welcome = await resumed.next('welcome');
		assert.equal(welcome.seq, 3);
		assert.deepEqual(welcome.messages.map((m) => m.seq), [2, 3]);
		assert.equal(await sendAcked(resumed, 'd4', 'text 4'), 4);
		await closeAll([resumed]);
		await draining.start();
	});
});
