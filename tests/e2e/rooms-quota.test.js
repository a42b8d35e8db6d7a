// Room slots are shared by everybody: one user creating rooms in a loop must
// not be able to take them all. With the backend's and the session server's
// default settings (the harness turns the per-user limits off elsewhere):
// at most 3 rooms of a user pinned with nobody in them, 10 creations a
// minute, and a room nobody joins gives its slot back after 15 s.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, login, createRoom, lookup, request, connect, closeAll } from './lib/stack.js';

// The limits at their defaults: unset, not the harness's "off".
const DEFAULTS = { STATEROOM_MAX_UNJOINED_ROOMS: undefined, STATEROOM_ROOM_CREATES_PER_MINUTE: undefined };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function enter(url, token, roomId) {
	const res = await lookup(url, token, roomId);
	assert.equal(res.status, 200, res.text);
	assert.ok(res.json.host, `no host for ${roomId}: ${res.text}`);
	const c = await connect(res.json.host, res.json.token, { protocol: 'stateroom.v1' });
	await c.next('welcome');
	return c;
}

function assertLimited(res) {
	assert.equal(res.status, 429, `expected 429, got ${res.status} ${res.text}`);
	assert.ok(['too_many_rooms', 'rate_limited'].includes(res.json?.error?.code), res.text);
	assert.equal(typeof res.json.error.message, 'string');
	const after = Number(res.headers.get('retry-after'));
	assert.ok(Number.isInteger(after) && after >= 1 && after <= 60, `Retry-After ${res.headers.get('retry-after')}`);
}

// Waits until the room list shows somebody in roomId (the session server
// writes member counts about once a second).
async function untilOccupied(url, token, roomId) {
	for (const deadline = Date.now() + 10000; Date.now() < deadline; await sleep(100)) {
		const res = await request(url, '/api/rooms', { token });
		if (res.json?.rooms?.find((r) => r.roomId === roomId)?.members > 0) return;
	}
	assert.fail(`room ${roomId} never showed a member`);
}

describe('one guest creating rooms in a loop', () => {
	const h = useStack({ sessions: 1, backends: 1, backendEnv: DEFAULTS });

	test('hits 429 while another user\'s creates and joins succeed', async () => {
		const url = h.stack.backendUrl;
		const hog = await login(url, 'hog');
		// What the report did: one login, then POST /api/rooms as fast as it goes.
		const burst = await Promise.all(Array.from({ length: 22 }, () => createRoom(url, hog)));
		const later = [];
		for (let i = 0; i < 10; i++) later.push(await createRoom(url, hog));
		const all = [...burst, ...later];
		const created = all.filter((r) => r.status === 200);
		assert.deepEqual(all.filter((r) => r.status !== 200 && r.status !== 429).map((r) => `${r.status} ${r.text}`), []);
		assert.equal(created.length, 3, 'the default quota: 3 rooms nobody has joined');
		for (const r of all.filter((x) => x.status === 429)) assertLimited(r);
		assert.equal(later.at(-1).json.error.code, 'too_many_rooms');

		// Everybody else is unaffected: a full session server's worth of rooms
		// minus the hog's three, each created and joined.
		const others = [];
		for (const name of ['ann', 'bob']) {
			const token = await login(url, name);
			for (let i = 0; i < 3; i++) {
				const res = await createRoom(url, token, { name: `${name}'s room ${i}` });
				assert.equal(res.status, 200, `${name}'s create ${i}: ${res.status} ${res.text}`);
				others.push(await enter(url, token, res.json.roomId));
			}
		}
		// The hog's own rooms still work for it, and joining one frees quota.
		const c = await enter(url, hog, created[0].json.roomId);
		await untilOccupied(url, hog, created[0].json.roomId);
		const again = await createRoom(url, hog);
		assert.ok(again.status === 200 || (again.status === 429 && again.json.error.code === 'rate_limited'), again.text);
		await closeAll([...others, c]);
	});
});

describe('a user who joins every room it creates', () => {
	const h = useStack({ sessions: 1, backends: 1, backendEnv: DEFAULTS, sessionEnv: { SESSION_MAX_ROOMS: '20' } });

	test('is still held to 10 creations a minute, then gets 429 rate_limited', { timeout: 60000 }, async () => {
		const url = h.stack.backendUrl;
		const token = await login(url, 'builder');
		const clients = [];
		for (let i = 0; i < 10; i++) {
			const res = await createRoom(url, token);
			assert.equal(res.status, 200, `create ${i}: ${res.status} ${res.text}`);
			clients.push(await enter(url, token, res.json.roomId));
			await untilOccupied(url, token, res.json.roomId);
		}
		const over = await createRoom(url, token);
		assertLimited(over);
		assert.equal(over.json.error.code, 'rate_limited');
		// Another user is not held to the builder's count.
		const other = await createRoom(url, await login(url, 'neighbour'));
		assert.equal(other.status, 200, other.text);
		await closeAll(clients);
	});
});

describe('rooms that nobody joins', () => {
	const h = useStack({ sessions: 1, backends: 1, backendEnv: DEFAULTS });

	test('give their slot back after the pin grace (15 s), so a full server takes rooms again', { timeout: 90000 }, async () => {
		const url = h.stack.backendUrl;
		// Four users fill the server's 10 slots with rooms nobody joins.
		const results = [];
		for (const name of ['p1', 'p2', 'p3', 'p4']) {
			const token = await login(url, name);
			for (let i = 0; i < 3; i++) results.push(await createRoom(url, token));
		}
		assert.equal(results.filter((r) => r.status === 200).length, 10);
		assert.deepEqual(results.filter((r) => r.status !== 200).map((r) => r.json?.error?.code), ['no_capacity', 'no_capacity']);

		const late = await login(url, 'late');
		const full = await createRoom(url, late);
		assert.equal(full.status, 503, full.text);
		assert.equal(full.json.error.code, 'no_capacity');

		// The slots come back once the grace has passed (a sweep every two
		// heartbeats), well before the old 60 s.
		let res;
		for (const deadline = Date.now() + 40000; Date.now() < deadline; await sleep(500)) {
			res = await createRoom(url, late);
			if (res.status === 200) break;
			assert.equal(res.json?.error?.code, 'no_capacity', res.text);
		}
		assert.equal(res.status, 200, `no slot came back within 40 s: ${res.text}`);
		const c = await enter(url, late, res.json.roomId);
		// A room that was released is not lost: a look-up pins it again.
		const first = results.find((r) => r.status === 200).json.roomId;
		const again = await enter(url, await login(url, 'p1'), first);
		await closeAll([c, again]);
	});
});
