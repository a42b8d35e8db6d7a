// Read marks persist (the highest seq each user read, written at most once
// a second per room however many read frames arrive) and the room's member
// count follows who is connected; GET /api/rooms shows both as unread and
// member counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, newRoom, join, sendAcked, closeAll, tokenFor, request, decodeToken } from './lib/stack.js';

const h = useStack({ sessions: 1, backends: 1, sessionEnv: { SESSION_MAX_ROOMS: '50', SESSION_ROOM_IDLE_MS: '1000' } });

async function mark(roomId, user) {
	// Read marks are the user's subject's (a guest's login), not its name's.
	const sub = decodeToken(await tokenFor(h.stack, user)).claims.sub;
	const rows = await h.stack.sql(`SELECT seq FROM read_marks WHERE room_id = '${roomId}' AND user_id = '${sub}'`);
	return rows.length ? Number(rows[0][0]) : null;
}

async function members(roomId) {
	const [[n]] = await h.stack.sql(`SELECT members FROM rooms WHERE id = '${roomId}'`);
	return Number(n);
}

async function listed(user, roomId) {
	const res = await request(h.stack.backendUrl, '/api/rooms', { token: await tokenFor(h.stack, user) });
	assert.equal(res.status, 200, res.text);
	return res.json.rooms.find((r) => r.roomId === roomId);
}

async function eventually(fn, want, what) {
	let got;
	const deadline = Date.now() + 5000;
	for (;;) {
		got = await fn();
		if (JSON.stringify(got) === JSON.stringify(want) || Date.now() > deadline) break;
		await new Promise((r) => setTimeout(r, 50));
	}
	assert.deepEqual(got, want, what);
}

test('a read mark is broadcast, stored, never goes down, and cannot pass the latest message', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const [alice] = await join(h.stack, 'alice', roomId);
	const [bob] = await join(h.stack, 'bob', roomId);
	for (let i = 1; i <= 5; i++) await sendAcked(alice, `r${i}`, `text ${i}`);
	bob.send({ type: 'read', seq: 3 });
	const bobId = decodeToken(await tokenFor(h.stack, 'bob')).claims.sub;
	for (const c of [alice, bob]) assert.deepEqual(await c.next('read'), { type: 'read', user: 'bob', userId: bobId, seq: 3 });
	await eventually(() => mark(roomId, 'bob'), 3, 'bob read up to 3');
	bob.send({ type: 'read', seq: 1 });
	await alice.next('read');
	await new Promise((r) => setTimeout(r, 1500));
	assert.equal(await mark(roomId, 'bob'), 3, 'a lower mark does not move it back');
	bob.send({ type: 'read', seq: 999 });
	assert.deepEqual(await alice.next('read'), { type: 'read', user: 'bob', userId: bobId, seq: 5 });
	await eventually(() => mark(roomId, 'bob'), 5, 'a mark past the end is the latest seq');
	await closeAll([alice, bob]);
});

test('a burst of read frames ends as the highest mark', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const [alice] = await join(h.stack, 'alice', roomId);
	for (let i = 1; i <= 20; i++) await sendAcked(alice, `b${i}`, `text ${i}`);
	for (let i = 0; i <= 20; i++) alice.send({ type: 'read', seq: i });
	for (let i = 0; i <= 20; i++) assert.equal((await alice.next('read')).seq, i);
	await eventually(() => mark(roomId, 'alice'), 20, 'the last mark of the burst');
	await closeAll([alice]);
});

test('rooms.members counts distinct connected users and drops to 0 when they leave', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const [a1] = await join(h.stack, 'alice', roomId);
	const [a2] = await join(h.stack, 'alice', roomId);
	const [bob] = await join(h.stack, 'bob', roomId);
	await eventually(() => members(roomId), 2, 'two users, three connections');
	await bob.close(1000);
	await eventually(() => members(roomId), 1, 'bob left');
	await a1.close(1000);
	await a2.close(1000);
	await eventually(() => members(roomId), 0, 'everyone left');
});

test('GET /api/rooms shows the member count and the caller\'s unread count', async () => {
	const roomId = await newRoom(h.stack, 'alice', { visibility: 'public' });
	const [alice] = await join(h.stack, 'alice', roomId);
	const [bob] = await join(h.stack, 'bob', roomId);
	for (let i = 1; i <= 5; i++) await sendAcked(alice, `u${i}`, `text ${i}`);
	bob.send({ type: 'read', seq: 2 });
	alice.send({ type: 'read', seq: 5 });
	const pick = (r) => r && { members: r.members, unread: r.unread, lastSeq: r.lastSeq };
	await eventually(async () => pick(await listed('bob', roomId)), { members: 2, unread: 3, lastSeq: 5 }, 'bob\'s view');
	await eventually(async () => pick(await listed('alice', roomId)), { members: 2, unread: 0, lastSeq: 5 }, 'alice\'s view');
	await closeAll([alice, bob]);
});
