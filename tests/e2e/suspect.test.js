// A client that finds its room's server silent says so on its next look-up
// (GET /api/rooms/:id?suspect=EPOCH, docs/protocol.md "Liveness"), and the
// room moves without waiting for the backends' --dead-after-ms: at once when
// the server has missed its heartbeats for --suspect-after-ms (a frozen or
// dead server), or when --suspect-quorum users found it silent (a server the
// database hears but its clients do not). Found by the failover lab
// (scripts/chaos: pause-session, partition-clients), whose clients waited for
// the whole fault.
//
// The backends here take a server for dead only after a minute, so a room
// that moves within the test moved because of a suspicion.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { Room } from '../../client/lib/stateroom.js';
import { useStack, newRoom, lookup, request, tokenFor } from './lib/stack.js';

const h = useStack({ sessions: 2, backends: 1, backendEnv: { STATEROOM_DEAD_AFTER_MS: '60000' } });
const opened = new Set();
after(() => {
	for (const r of opened) r.close();
});

const ask = async (roomId, user, suspect) => {
	const token = await tokenFor(h.stack, user);
	const query = suspect === undefined ? '' : `?suspect=${encodeURIComponent(suspect)}`;
	return request(h.stack.backendUrl, `/api/rooms/${roomId}${query}`, { token });
};

test('a live server keeps its room when one user suspects it, and loses it when a second does', async () => {
	const roomId = await newRoom(h.stack, 'carol');
	const start = await ask(roomId, 'carol');
	assert.equal(start.status, 200);
	assert.ok(Number.isInteger(start.json.epoch), `the look-up answers the epoch: ${JSON.stringify(start.json)}`);
	const epoch = start.json.epoch;

	const one = await ask(roomId, 'carol', epoch);
	assert.deepEqual([one.json.host, one.json.epoch], [start.json.host, epoch], 'one user does not move it');
	const again = await ask(roomId, 'carol', epoch);
	assert.deepEqual([again.json.host, again.json.epoch], [start.json.host, epoch], 'nor does the same user twice');

	const two = await ask(roomId, 'dave', epoch);
	assert.equal(two.status, 200);
	assert.notEqual(two.json.host, start.json.host, 'a second user moves it to the other server');
	assert.equal(two.json.epoch, epoch + 1);

	// A suspicion of an epoch the room has left is a plain look-up.
	const late = await ask(roomId, 'erin', epoch);
	assert.deepEqual([late.json.host, late.json.epoch], [two.json.host, epoch + 1]);
});

test('a suspect that is no epoch is refused', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	for (const bad of ['0', '-1', 'abc', '1x', '99999999999999999999', '']) {
		const res = await ask(roomId, 'alice', bad);
		assert.equal(res.status, 400, `suspect=${bad}: ${res.status}`);
		assert.equal(res.json.error.code, 'bad_request');
	}
});

test('a room moved away and back is loaded afresh: the records made elsewhere meanwhile are in its welcome', { timeout: 60000 }, async () => {
	const open = async (user, roomId) => {
		const room = new Room({ backend: h.stack.backendUrl, token: await tokenFor(h.stack, user), roomId, WebSocket });
		opened.add(room);
		room.connect();
		await room.ready();
		return room;
	};
	const moveAway = async (roomId) => {
		const { json } = await ask(roomId, 'carol');
		await ask(roomId, 'carol', json.epoch);
		const moved = await ask(roomId, 'dave', json.epoch);
		assert.equal(moved.json.epoch, json.epoch + 1, 'two suspicions moved it');
		return moved.json.host;
	};
	const roomId = await newRoom(h.stack, 'alice');
	const alice = await open('alice', roomId);
	const home = alice.host;
	for (let i = 1; i <= 3; i++) await alice.send(`on the first server ${i}`);

	// alice stays connected to the first server, which keeps the room in
	// memory: it is alive, only outvoted.
	assert.notEqual(await moveAway(roomId), home);
	const bob = await open('bob', roomId);
	assert.notEqual(bob.host, home);
	for (let i = 1; i <= 3; i++) await bob.send(`on the second server ${i}`);
	assert.equal(await moveAway(roomId), home, 'back to the first server (there are two)');

	const erin = await open('erin', roomId);
	assert.equal(erin.host, home);
	assert.equal(erin.welcome.seq, 6, 'the welcome counts the records made on the second server');
	assert.deepEqual(erin.welcome.messages.map((m) => m.text), [1, 2, 3].map((i) => `on the first server ${i}`)
		.concat([1, 2, 3].map((i) => `on the second server ${i}`)));
	assert.equal(await erin.send('after the return'), 7, 'a new seq, not one taken already');
	await alice.once('message', (m) => m.text === 'after the return');
	assert.equal(alice.lastSeq, 7, 'alice, moved along, saw everything up to it');
});

test('a client whose server froze has its send acknowledged on another server while the first is still frozen', { timeout: 60000 }, async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const token = await tokenFor(h.stack, 'alice');
	const room = new Room({ backend: h.stack.backendUrl, token, roomId, WebSocket });
	opened.add(room);
	room.connect();
	await room.ready();
	for (let i = 0; i < 5; i++) await room.send(`before ${i}`);
	const first = room.host;
	const victim = h.stack.sessions.find((s) => s.address === first);
	assert.ok(victim, `the room is on ${first}`);

	process.kill(victim.pid, 'SIGSTOP');
	try {
		const seq = await room.send('while frozen');
		assert.notEqual(room.host, first, 'acknowledged by the other server');
		assert.equal(seq, 6, 'the next seq, after the five before');
		const now = await lookup(h.stack.backendUrl, token, roomId);
		assert.equal(now.json.host, room.host, 'the room is pinned there now');
	} finally {
		process.kill(victim.pid, 'SIGCONT');
	}
	const rows = await h.stack.sql(`SELECT seq, body FROM messages WHERE room_id = '${roomId}' ORDER BY seq`);
	assert.deepEqual(rows.map((r) => r[1]), ['before 0', 'before 1', 'before 2', 'before 3', 'before 4', 'while frozen']);
});
