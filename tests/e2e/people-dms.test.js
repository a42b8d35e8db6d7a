// Direct messages through the API and the native WebSocket: one room per
// pair from either side (also when both start at once), only its two users
// may look it up, read or join it, and blocks and dm_policy refuse it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
	useStack, startStack, request, login, connect, createRoom, lookup, decodeToken, mintToken, newJti,
	sendAcked, closeAll,
} from './lib/stack.js';

const h = useStack({ sessions: 1, backends: 1, sessionEnv: { SESSION_MAX_ROOMS: '200' } });

let n = 0;
const fresh = (prefix) => `${prefix}${process.pid % 10000}_${++n}`;

async function register(prefix, url = h.stack.backendUrl) {
	const userId = fresh(prefix);
	const res = await request(url, '/api/auth/register', {
		method: 'POST', body: { userId, password: 'correct horse battery' },
	});
	assert.equal(res.status, 200, res.text);
	return { userId, token: res.json.token };
}

const startDm = (who, userId, url = h.stack.backendUrl) =>
	request(url, '/api/dms', { method: 'POST', token: who.token, body: { userId } });
const ticket = (who, roomId) => lookup(h.stack.backendUrl, who.token, roomId);
const history = (who, roomId, query = '') =>
	request(h.stack.backendUrl, `/api/rooms/${roomId}/messages${query}`, { token: who.token });
const sql = (q) => h.stack.sql(q);

function assertError(res, status, code) {
	assert.equal(res.status, status, res.text);
	assert.equal(res.json?.error?.code, code, res.text);
	assert.equal(typeof res.json.error.message, 'string');
}

async function dm(a, b) {
	const res = await startDm(a, b.userId);
	assert.equal(res.status, 201, res.text);
	return res.json.roomId;
}

async function joinAs(who, roomId, opts = {}) {
	const t = await ticket(who, roomId);
	assert.equal(t.status, 200, t.text);
	assert.ok(t.json.host && t.json.token, t.text);
	const c = await connect(t.json.host, t.json.token, { protocol: 'stateroom.v1', ...opts });
	return [c, await c.next('welcome')];
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

async function unreadOf(who, roomId) {
	const res = await request(h.stack.backendUrl, '/api/me/rooms', { token: who.token });
	assert.equal(res.status, 200, res.text);
	return res.json.rooms.find((r) => r.roomId === roomId)?.unread;
}

test('a DM is one room for the pair, the same from either side, placed like any room', async () => {
	const a = await register('a');
	const b = await register('b');
	const first = await startDm(a, b.userId);
	assert.equal(first.status, 201, first.text);
	const roomId = first.json.roomId;
	assert.match(roomId, /^[a-z0-9]{1,32}$/);
	const again = await startDm(a, b.userId);
	assert.equal(again.status, 200, again.text);
	assert.deepEqual(again.json, { roomId });
	const back = await startDm(b, a.userId);
	assert.equal(back.status, 200, back.text);
	assert.deepEqual(back.json, { roomId });
	const [[kind, app, visibility, persistent, name, owner, capacity]] =
		await sql(`SELECT kind, app, visibility, persistent, coalesce(name, 'NULL'), owner, capacity FROM rooms WHERE id = '${roomId}'`);
	assert.deepEqual([kind, app, visibility, persistent, name, owner, capacity],
		['dm', 'chat', 'unlisted', 't', 'NULL', a.userId, '2']);
	const members = await sql(`SELECT user_id FROM memberships WHERE room_id = '${roomId}' AND left_at IS NULL ORDER BY user_id`);
	assert.deepEqual(members.map((r) => r[0]), [a.userId, b.userId].sort());
});

test('the two chat over the native WebSocket: history, resume with since, read marks', async () => {
	const a = await register('a');
	const b = await register('b');
	const roomId = await dm(a, b);
	const [ca, wa] = await joinAs(a, roomId);
	assert.equal(wa.room, roomId);
	const [cb] = await joinAs(b, roomId);
	await ca.next({ type: 'presence', joined: b.userId });
	for (let i = 1; i <= 3; i++) await sendAcked(ca, `m${i}`, `hello ${i}`);
	for (let i = 1; i <= 3; i++) assert.equal((await cb.next('message')).text, `hello ${i}`);
	await sendAcked(cb, 'r1', 'hi back');

	const page = await history(b, roomId, '?limit=2');
	assert.equal(page.status, 200, page.text);
	assert.deepEqual(page.json.messages.map((m) => m.text), ['hello 3', 'hi back']);
	assert.equal(page.json.more, true);

	// Unread counts messages past the read mark, as GET /api/rooms does.
	await eventually(() => unreadOf(b, roomId), 4, 'b has read nothing');
	cb.send({ type: 'read', seq: 4 });
	await cb.next('read');
	await eventually(() => unreadOf(b, roomId), 0, 'b read everything');

	await cb.close(1000);
	await sendAcked(ca, 'm5', 'while you were away');
	const [again, welcome] = await joinAs(b, roomId, { since: 4 });
	assert.deepEqual(welcome.messages.map((m) => [m.seq, m.text]), [[5, 'while you were away']]);
	await closeAll([ca, again]);
});

test('a third user gets no ticket, no history and no WebSocket way into a DM', async () => {
	const a = await register('a');
	const b = await register('b');
	const c = await register('c');
	const roomId = await dm(a, b);
	const [ca] = await joinAs(a, roomId);
	await sendAcked(ca, 's1', 'secret');

	assertError(await ticket(c, roomId), 404, 'not_found');
	assertError(await history(c, roomId), 404, 'not_found');
	const guest = await login(h.stack.backendUrl, fresh('g'));
	assertError(await lookup(h.stack.backendUrl, guest, roomId), 404, 'not_found');
	assertError(await request(h.stack.backendUrl, `/api/rooms/${roomId}/messages`, { token: guest }), 404, 'not_found');

	// C's real ticket is for a room of its own; pointing it at the DM breaks
	// its signature, and a ticket signed with any other key is forged.
	const own = await createRoom(h.stack.backendUrl, c.token, {});
	assert.equal(own.status, 200, own.text);
	const t = await ticket(c, own.json.roomId);
	assert.equal(t.status, 200, t.text);
	const { claims } = decodeToken(t.json.token);
	const [head, , sig] = t.json.token.split('.');
	const body = Buffer.from(JSON.stringify({ ...claims, room: roomId })).toString('base64url');
	const tampered = `${head}.${body}.${sig}`;
	const forged = mintToken('not the secret', { ...claims, room: roomId, jti: newJti() });
	for (const tok of [tampered, forged]) {
		const ws = await connect(t.json.host, tok, { protocol: 'stateroom.v1' });
		const info = await ws.closed;
		assert.ok([4001, 4003].includes(info.code), `close ${info.code}`);
		assert.deepEqual(ws.frames.filter((f) => f?.type === 'welcome' || f?.type === 'message'), []);
	}
	await closeAll([ca]);
});

test('a block refuses the DM start, the ticket and the history of an existing DM, both ways, until unblocked', async () => {
	const a = await register('a');
	const b = await register('b');
	const roomId = await dm(a, b);
	for (const [blocker, blocked] of [[a, b], [b, a]]) {
		await sql(`INSERT INTO blocks (blocker, blocked) VALUES ('${blocker.userId}', '${blocked.userId}')`);
		for (const [who, other] of [[a, b], [b, a]]) {
			const start = await startDm(who, other.userId);
			assertError(start, 403, 'not_allowed');
			assert.equal(start.json.error.message, 'you cannot message this user');
			assertError(await ticket(who, roomId), 403, 'not_allowed');
			assertError(await history(who, roomId), 403, 'not_allowed');
		}
		await sql(`DELETE FROM blocks WHERE blocker = '${blocker.userId}'`);
		assert.deepEqual((await startDm(a, b.userId)).json, { roomId });
		assert.equal((await ticket(b, roomId)).status, 200);
		assert.equal((await history(b, roomId)).status, 200);
	}
	// A block before any DM: no room is made.
	const c = await register('c');
	await sql(`INSERT INTO blocks (blocker, blocked) VALUES ('${c.userId}', '${a.userId}')`);
	assertError(await startDm(a, c.userId), 403, 'not_allowed');
	assert.deepEqual(await sql(`SELECT room_id FROM direct_rooms WHERE '${c.userId}' IN (user_a, user_b)`), []);
});

test('dm_policy friends: only friends may start a DM with the user', async () => {
	const a = await register('a');
	const b = await register('b');
	await sql(`UPDATE users SET dm_policy = 'friends' WHERE id = '${b.userId}'`);
	const refused = await startDm(a, b.userId);
	assertError(refused, 403, 'not_allowed');
	assert.equal(refused.json.error.message, 'you cannot message this user');
	// b may still start one with a (a's policy is everyone).
	const c = await register('c');
	assert.equal((await startDm(b, c.userId)).status, 201);
	await sql(`INSERT INTO friends (user_id, friend_id) VALUES ('${a.userId}', '${b.userId}'), ('${b.userId}', '${a.userId}')`);
	const ok = await startDm(a, b.userId);
	assert.equal(ok.status, 201, ok.text);
});

test('refusals: yourself, no such account, forged ids, guests, bad bodies', async () => {
	const a = await register('a');
	assertError(await startDm(a, a.userId), 400, 'invalid_request');
	assertError(await startDm(a, fresh('nobody')), 404, 'not_found');
	for (const userId of ['', 'a b', 'x'.repeat(33), '../etc', 'guest:abc', 'é', 42, null, ['b'], { id: 'b' }]) {
		assertError(await startDm(a, userId), 400, 'invalid_request');
	}
	const none = await request(h.stack.backendUrl, '/api/dms', { method: 'POST', token: a.token, body: {} });
	assertError(none, 400, 'invalid_request');
	const guest = await login(h.stack.backendUrl, fresh('g'));
	const b = await register('b');
	assertError(await request(h.stack.backendUrl, '/api/dms', { method: 'POST', token: guest, body: { userId: b.userId } }),
		403, 'account_required');
	assert.equal((await request(h.stack.backendUrl, '/api/dms', { method: 'POST', body: { userId: b.userId } })).status, 401);
	// A forged user token (another key) is no account.
	const forged = mintToken('not the secret', { ...decodeToken(a.token).claims, jti: newJti() });
	assert.equal((await request(h.stack.backendUrl, '/api/dms', { method: 'POST', token: forged, body: { userId: b.userId } })).status, 401);
});

test('both starting at once get one room', async () => {
	for (let round = 0; round < 5; round++) {
		const a = await register('a');
		const b = await register('b');
		const answers = await Promise.all([startDm(a, b.userId), startDm(b, a.userId), startDm(a, b.userId)]);
		for (const r of answers) assert.ok([200, 201].includes(r.status), r.text);
		assert.equal(answers.filter((r) => r.status === 201).length, 1, answers.map((r) => r.status).join());
		assert.equal(new Set(answers.map((r) => r.json.roomId)).size, 1);
		const rows = await sql(`SELECT room_id FROM direct_rooms WHERE user_a = '${[a.userId, b.userId].sort()[0]}'`);
		assert.deepEqual(rows.map((r) => r[0]), [answers[0].json.roomId]);
		// The losers' rooms are gone, not left as rooms of the starters.
		const owned = await sql(`SELECT id FROM rooms WHERE owner IN ('${a.userId}', '${b.userId}')`);
		assert.deepEqual(owned.map((r) => r[0]), [answers[0].json.roomId]);
	}
});

// A psql session LISTENing on stateroom_inbox: drain() returns the payloads
// received so far (psql prints them after the next command it runs).
async function listenInbox() {
	const p = spawn('psql', ['-X', '-q', '-tA', '-d', h.stack.databaseUrl], { stdio: ['pipe', 'pipe', 'inherit'] });
	let out = '';
	let ticks = 0;
	p.stdout.on('data', (d) => { out += d; });
	const roundTrip = async () => {
		const mark = `tick${++ticks}`;
		p.stdin.write(`SELECT '${mark}';\n`);
		await eventually(async () => out.includes(mark), true, `psql answered ${mark}`);
	};
	p.stdin.write('LISTEN stateroom_inbox;\n');
	await roundTrip();
	return {
		async drain() {
			await roundTrip();
			const got = [...out.matchAll(/payload "(.*)" received/g)].map((m) => JSON.parse(m[1]));
			out = '';
			return got;
		},
		stop() { p.stdin.end(); },
	};
}

test('the new DM is announced to the other user on stateroom_inbox, once', async () => {
	const a = await register('a');
	const b = await register('b');
	const inbox = await listenInbox();
	try {
		const roomId = await dm(a, b);
		assert.deepEqual(await inbox.drain(), [{ to: b.userId, event: { type: 'dm', roomId, seq: 0 } }]);
		assert.equal((await startDm(b, a.userId)).status, 200);
		assert.equal((await startDm(a, b.userId)).status, 200);
		assert.deepEqual(await inbox.drain(), [], 'reopening it is no news');
	} finally {
		inbox.stop();
	}
});

test('DM starts are limited per user with 429 and Retry-After (--dm-starts-per-minute), apart from the room quota', async () => {
	const stack = await startStack({
		sessions: 1, backends: 1,
		backendEnv: { STATEROOM_DM_STARTS_PER_MINUTE: '2', STATEROOM_MAX_UNJOINED_ROOMS: '1' },
	});
	try {
		const url = stack.backendUrl;
		const a = await register('a', url);
		const others = [await register('b', url), await register('c', url), await register('d', url)];
		assert.equal((await startDm(a, others[0].userId, url)).status, 201);
		assert.equal((await startDm(a, others[1].userId, url)).status, 201);
		const over = await startDm(a, others[2].userId, url);
		assertError(over, 429, 'too_many_requests');
		assert.match(over.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/);
		// Another user has a bucket of its own.
		assert.equal((await startDm(others[2], a.userId, url)).status, 201);
		// Two DMs nobody joined yet are no unjoined rooms of a's for
		// POST /api/rooms (--max-unjoined-rooms 1): one more room fits, the
		// next does not.
		assert.equal((await createRoom(url, a.token, {})).status, 200);
		const full = await createRoom(url, a.token, {});
		assertError(full, 429, 'too_many_rooms');
	} finally {
		await stack.stop();
	}
});
