// Your rooms (GET /api/me/rooms, DELETE /api/me/rooms/:id): the rooms an
// account joined stay listed, with unread counts and the latest message,
// newest activity first, paged; leaving removes one, and a DM comes back
// with a new message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, request, login, connect, createRoom, lookup, sendAcked, closeAll } from './lib/stack.js';

const h = useStack({ sessions: 1, backends: 1, sessionEnv: { SESSION_MAX_ROOMS: '200' } });

let n = 0;
const fresh = (prefix) => `${prefix}${process.pid % 10000}_${++n}`;

async function register(prefix) {
	const userId = fresh(prefix);
	const res = await request(h.stack.backendUrl, '/api/auth/register', {
		method: 'POST', body: { userId, password: 'correct horse battery' },
	});
	assert.equal(res.status, 200, res.text);
	return { userId, token: res.json.token };
}

const myRooms = (who, query = '') => request(h.stack.backendUrl, `/api/me/rooms${query}`, { token: who.token });
const leave = (who, roomId) => request(h.stack.backendUrl, `/api/me/rooms/${roomId}`, { method: 'DELETE', token: who.token });

async function listed(who) {
	const res = await myRooms(who);
	assert.equal(res.status, 200, res.text);
	return res.json.rooms;
}

async function newRoom(who, body = {}) {
	const res = await createRoom(h.stack.backendUrl, who.token, body);
	assert.equal(res.status, 200, res.text);
	return res.json.roomId;
}

async function joinAs(who, roomId) {
	const t = await lookup(h.stack.backendUrl, who.token, roomId);
	assert.equal(t.status, 200, t.text);
	const c = await connect(t.json.host, t.json.token, { protocol: 'stateroom.v1' });
	await c.next('welcome');
	return c;
}

async function say(who, roomId, ...texts) {
	const c = await joinAs(who, roomId);
	for (const [i, text] of texts.entries()) await sendAcked(c, `${Date.now()}-${i}`, text);
	await closeAll([c]);
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

test('an unlisted room joined with a ticket stays in the list after the connection closes', async () => {
	const owner = await register('o');
	const bob = await register('b');
	const roomId = await newRoom(owner, { name: 'secret club', visibility: 'unlisted' });
	assert.deepEqual(await listed(bob), []);
	const c = await joinAs(bob, roomId);
	await closeAll([c]);
	const rooms = await listed(bob);
	assert.equal(rooms.length, 1);
	const [r] = rooms;
	assert.equal(r.roomId, roomId);
	assert.equal(r.kind, 'room');
	assert.equal(r.name, 'secret club');
	assert.equal(r.peer, null);
	assert.equal(r.unread, 0);
	assert.equal(r.lastMessage, null);
	assert.match(r.activityAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
	// Not in the public list, which never shows it to bob.
	const pub = await request(h.stack.backendUrl, '/api/rooms', { token: bob.token });
	assert.ok(!pub.json.rooms.some((x) => x.roomId === roomId));
});

test('unread counts and the latest message, newest activity first', async () => {
	const me = await register('m');
	const other = await register('x');
	const r1 = await newRoom(other, { name: 'one' });
	const r2 = await newRoom(other, { name: 'two' });
	for (const id of [r1, r2]) await closeAll([await joinAs(me, id)]);
	await say(other, r1, 'first', 'second');
	await say(other, r2, 'third');
	let rooms = await listed(me);
	assert.deepEqual(rooms.map((r) => r.roomId), [r2, r1]);
	assert.deepEqual(rooms.map((r) => r.unread), [1, 2]);
	const last = rooms[1].lastMessage;
	assert.deepEqual({ ...last, at: undefined }, { seq: 2, userId: other.userId, userName: other.userId, text: 'second', at: undefined });
	assert.ok(Date.parse(last.at) <= Date.now() + 5000 && Date.parse(last.at) > Date.now() - 60000, last.at);
	assert.equal(rooms[1].activityAt, last.at);
	// A new message in r1 moves it to the top.
	await say(other, r1, 'again');
	rooms = await listed(me);
	assert.deepEqual(rooms.map((r) => r.roomId), [r1, r2]);
	assert.equal(rooms[0].unread, 3);
	// Reading lowers the count.
	const c = await joinAs(me, r1);
	c.send({ type: 'read', seq: 3 });
	await c.next('read');
	await eventually(async () => (await listed(me)).find((r) => r.roomId === r1).unread, 0, 'read all of r1');
	await closeAll([c]);
});

test('a DM is listed for both with the other person as peer', async () => {
	const a = await register('a');
	const b = await register('b');
	await h.stack.sql(`UPDATE users SET display_name = 'Bee Person' WHERE id = '${b.userId}'`);
	const res = await request(h.stack.backendUrl, '/api/dms', { method: 'POST', token: a.token, body: { userId: b.userId } });
	assert.equal(res.status, 201, res.text);
	const roomId = res.json.roomId;
	const [forA] = await listed(a);
	assert.equal(forA.roomId, roomId);
	assert.equal(forA.kind, 'dm');
	assert.equal(forA.name, null);
	assert.equal(forA.peer.userId, b.userId);
	assert.equal(forA.peer.displayName, 'Bee Person');
	assert.equal(forA.peer.avatar.initials, 'BP');
	const [forB] = await listed(b);
	assert.equal(forB.roomId, roomId);
	assert.equal(forB.peer.userId, a.userId);
	await say(a, roomId, 'psst');
	const [after] = await listed(b);
	assert.equal(after.unread, 1);
	assert.deepEqual([after.lastMessage.text, after.lastMessage.userId], ['psst', a.userId]);
	// Neither the DM nor its starter's ownership shows in the public list.
	for (const who of [a, b]) {
		const pub = await request(h.stack.backendUrl, '/api/rooms', { token: who.token });
		assert.ok(!pub.json.rooms.some((x) => x.roomId === roomId), pub.text);
	}
});

test('paging with limit 1 walks every room once, in order', async () => {
	const me = await register('p');
	const other = await register('q');
	const ids = [];
	for (let i = 0; i < 4; i++) {
		const id = await newRoom(other, { name: `r${i}` });
		await closeAll([await joinAs(me, id)]);
		await say(other, id, `msg ${i}`);
		ids.unshift(id);
	}
	const seen = [];
	let cursor = null;
	for (let page = 0; page < 10; page++) {
		const res = await myRooms(me, `?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
		assert.equal(res.status, 200, res.text);
		assert.ok(res.json.rooms.length <= 1);
		seen.push(...res.json.rooms.map((r) => r.roomId));
		cursor = res.json.next;
		if (!cursor) break;
	}
	assert.deepEqual(seen, ids);
	const all = await myRooms(me, '?limit=50');
	assert.deepEqual(all.json.rooms.map((r) => r.roomId), ids);
	assert.equal(all.json.next, null);
	for (const q of ['?limit=0', '?limit=51', '?limit=x', '?limit=', '?cursor=nope', '?cursor=1_', '?cursor=_abc',
		'?cursor=12345678901234567890_abc', '?cursor=1_ABC']) {
		const bad = await myRooms(me, q);
		assert.equal(bad.status, 400, `${q}: ${bad.text}`);
		assert.equal(bad.json.error.code, 'invalid_request');
	}
});

test('leaving removes a room for good; a DM comes back with a new message', async () => {
	const a = await register('a');
	const b = await register('b');
	const roomId = await newRoom(b, { name: 'leave me' });
	await closeAll([await joinAs(a, roomId)]);
	const res = await leave(a, roomId);
	assert.equal(res.status, 204, res.text);
	assert.deepEqual(await listed(a), []);
	await say(b, roomId, 'are you there');
	assert.deepEqual(await listed(a), [], 'a left room stays out whatever happens in it');
	// Joining again brings it back.
	await closeAll([await joinAs(a, roomId)]);
	assert.deepEqual((await listed(a)).map((r) => r.roomId), [roomId]);

	const dm = await request(h.stack.backendUrl, '/api/dms', { method: 'POST', token: a.token, body: { userId: b.userId } });
	assert.equal(dm.status, 201, dm.text);
	assert.equal((await leave(a, dm.json.roomId)).status, 204);
	assert.deepEqual((await listed(a)).map((r) => r.roomId), [roomId]);
	await say(b, dm.json.roomId, 'come back');
	const rooms = await listed(a);
	assert.deepEqual(rooms.map((r) => r.roomId), [dm.json.roomId, roomId]);
	assert.equal(rooms[0].lastMessage.text, 'come back');

	const unknown = await leave(a, 'nosuchroom00');
	assert.equal(unknown.status, 404, unknown.text);
	assert.equal(unknown.json.error.code, 'not_found');
	assert.equal((await leave(a, 'NOT-AN-ID')).status, 404);
});

test('guests have no rooms of their own here: 403 account_required', async () => {
	const guest = await login(h.stack.backendUrl, fresh('g'));
	for (const [method, path] of [['GET', '/api/me/rooms'], ['DELETE', '/api/me/rooms/abc']]) {
		const res = await request(h.stack.backendUrl, path, { method, token: guest });
		assert.equal(res.status, 403, res.text);
		assert.equal(res.json.error.code, 'account_required');
	}
	// A guest still gets tickets as before, and no membership is written.
	const owner = await register('o');
	const roomId = await newRoom(owner);
	const t = await lookup(h.stack.backendUrl, guest, roomId);
	assert.equal(t.status, 200, t.text);
	assert.deepEqual(await h.stack.sql(`SELECT user_id FROM memberships WHERE room_id = '${roomId}'`), []);
	assert.equal((await request(h.stack.backendUrl, '/api/me/rooms')).status, 401);
});
