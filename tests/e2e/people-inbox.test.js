// The live inbox (docs/protocol.md, "The inbox"): a registered user's inbox
// room, the events PostgreSQL notifications bring to it, presence, and a
// resync after the session server's database connection was cut. Friend
// requests and DM rooms are made with SQL where the people API is not what
// is under test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { useStack, request, lookup, connect, login, mintToken, decodeToken, newJti, sendAcked, closeAll } from './lib/stack.js';

// Default settings: inboxes take no room slot (inbox-capacity.test.js).
const h = useStack({ sessions: 1, backends: 1 });

let seq = 0;
const fresh = (prefix) => `${prefix}${process.pid % 10000}x${++seq}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const isEvent = (type) => (f) => f?.type === 'event' && f.event?.type === type;

async function register(userId) {
	const res = await request(h.stack.backendUrl, '/api/auth/register', {
		method: 'POST', body: { userId, password: 'correct horse battery' },
	});
	assert.equal(res.status, 200, res.text);
	return res.json.token;
}

const inboxTicket = (token) => request(h.stack.backendUrl, '/api/me/inbox', { token });

// Connects token's user to its inbox and waits for the welcome.
async function openInbox(token) {
	const res = await inboxTicket(token);
	assert.equal(res.status, 200, res.text);
	const c = await connect(res.json.host, res.json.token, { protocol: 'stateroom.v1' });
	c.welcome = await c.next('welcome');
	c.roomId = decodeToken(res.json.token).claims.room;
	return c;
}

function notify(to, event) {
	return h.stack.sql(`SELECT pg_notify('stateroom_inbox', '${JSON.stringify({ to, event })}')`);
}

// bob as token's user sees him in GET /api/friends.
async function friendPresence(token, bob) {
	const res = await request(h.stack.backendUrl, '/api/friends', { token });
	assert.equal(res.status, 200, res.text);
	return res.json.friends.find((f) => f.userId === bob)?.presence;
}

async function befriend(a, b) {
	await h.stack.sql(`INSERT INTO friends (user_id, friend_id) VALUES ('${a}', '${b}'), ('${b}', '${a}')`);
}

test('GET /api/me/inbox: registered users only, the same room every time, never anyone else\'s', async () => {
	const guest = await login(h.stack.backendUrl, fresh('guest'));
	const refused = await inboxTicket(guest);
	assert.equal(refused.status, 403, refused.text);
	assert.equal(refused.json.error.code, 'account_required');
	assert.equal((await inboxTicket('')).status, 401);

	const bob = fresh('bob'), carol = fresh('carol');
	const tb = await register(bob), tc = await register(carol);
	const first = await inboxTicket(tb), again = await inboxTicket(tb);
	assert.equal(first.status, 200, first.text);
	const room = decodeToken(first.json.token).claims.room;
	assert.match(room, /^[a-z0-9]{1,32}$/);
	assert.equal(decodeToken(again.json.token).claims.room, room);
	assert.equal(decodeToken(first.json.token).claims.sub, bob);
	const rows = await h.stack.sql(`SELECT kind, app, persistent, visibility, owner FROM rooms WHERE id = '${room}'`);
	assert.deepEqual(rows, [['inbox', 'inbox', 'f', 'unlisted', bob]]);

	// Carol's inbox is her own, and bob's cannot be looked up.
	const mine = await inboxTicket(tc);
	assert.notEqual(decodeToken(mine.json.token).claims.room, room);
	const theirs = await lookup(h.stack.backendUrl, tc, room);
	assert.equal(theirs.status, 404, theirs.text);
	assert.equal(theirs.json.error.code, 'not_found');
	const own = await lookup(h.stack.backendUrl, tb, room);
	assert.equal(own.status, 404, 'not even its owner gets an inbox through /api/rooms/:id');
	const list = await request(h.stack.backendUrl, '/api/rooms', { token: tb });
	assert.equal(list.status, 200, list.text);
	assert.ok(!list.json.rooms.some((r) => r.roomId === room), 'an inbox is not among its owner\'s rooms');

	// A ticket for bob's inbox signed for carol (the backend never signs
	// one) is refused by the session server.
	const claims = { ...decodeToken(first.json.token).claims, sub: carol, name: carol, jti: newJti() };
	const forged = await connect(first.json.host, mintToken(h.stack.secret, claims), { protocol: 'stateroom.v1' });
	const closed = await forged.closed;
	assert.equal(closed.code, 4003, JSON.stringify(closed));
	assert.ok(!forged.frames.some((f) => f?.type === 'welcome'));

	// Only the native protocol.
	const t = await inboxTicket(tb);
	const compat = await connect(t.json.host, t.json.token);
	assert.equal((await compat.closed).code, 4006);
});

test('a friend request notification reaches the recipient\'s inbox and nobody else\'s', async () => {
	const alice = fresh('alice'), bob = fresh('bob'), carol = fresh('carol');
	await register(alice);
	const b = await openInbox(await register(bob));
	const c = await openInbox(await register(carol));
	assert.equal(b.welcome.room, b.roomId);
	assert.equal(typeof b.welcome.heartbeat_ms, 'number');

	// What the friends API does: the row and the notification in one statement.
	await h.stack.sql(`WITH x AS (INSERT INTO friend_requests (from_user, to_user) VALUES ('${alice}', '${bob}'))
		SELECT pg_notify('stateroom_inbox', json_build_object('to', '${bob}',
			'event', json_build_object('type', 'friend_request', 'from', '${alice}'))::text)`);
	const ev = await b.next(isEvent('friend_request'));
	assert.deepEqual(ev, { type: 'event', event: { type: 'friend_request', from: alice } });
	await c.none((f) => f?.type === 'event', 300);

	// Hostile payloads are dropped, and the inbox goes on.
	await h.stack.sql(`SELECT pg_notify('stateroom_inbox', 'not json'), pg_notify('stateroom_inbox', '{"to":"${bob}"}'),
		pg_notify('stateroom_inbox', '{"to":"${bob}","event":"x"}'), pg_notify('stateroom_inbox', '{"to":7,"event":{}}')`);
	await notify(bob, { type: 'friends' });
	assert.deepEqual(await b.next((f) => f?.type === 'event'), { type: 'event', event: { type: 'friends' } });
	await b.none((f) => f?.type === 'event', 200);

	// Frames it does not know are refused.
	b.send({ type: 'send', text: 'hi' });
	assert.equal((await b.next('error')).code, 'unknown_type');
	b.send('not json');
	assert.equal((await b.next('error')).code, 'bad_request');
	await closeAll([b, c]);
});

test('a message in a DM room gives the other member a dm event; a third user gets nothing', async () => {
	const alice = fresh('alice'), bob = fresh('bob'), carol = fresh('carol');
	const ta = await register(alice), tb = await register(bob);
	const b = await openInbox(tb);
	const c = await openInbox(await register(carol));
	const a = await openInbox(ta);
	// The DM room as POST /api/dms makes it.
	const room = `dm${crypto.randomBytes(5).toString('hex')}`;
	const [ua, ub] = [alice, bob].sort();
	await h.stack.sql(`INSERT INTO rooms (id, owner, capacity, visibility, kind) VALUES ('${room}', '${alice}', 2, 'unlisted', 'dm');
		INSERT INTO direct_rooms (room_id, user_a, user_b) VALUES ('${room}', '${ua}', '${ub}')`);
	const t = await lookup(h.stack.backendUrl, ta, room);
	assert.equal(t.status, 200, t.text);
	const dm = await connect(t.json.host, t.json.token, { protocol: 'stateroom.v1' });
	await dm.next('welcome');
	const s1 = await sendAcked(dm, 'm1', 'hello bob');
	assert.deepEqual(await b.next(isEvent('dm')), { type: 'event', event: { type: 'dm', roomId: room, seq: s1 } });
	const s2 = await sendAcked(dm, 'm2', 'again');
	assert.deepEqual((await b.next(isEvent('dm'))).event, { type: 'dm', roomId: room, seq: s2 });
	await c.none((f) => f?.type === 'event', 300);
	await a.none(isEvent('dm'), 0); // not the sender
	// The other way round.
	const tb2 = await lookup(h.stack.backendUrl, tb, room);
	const dmb = await connect(tb2.json.host, tb2.json.token, { protocol: 'stateroom.v1' });
	await dmb.next('welcome');
	const s3 = await sendAcked(dmb, 'b1', 'hi alice');
	assert.deepEqual((await a.next(isEvent('dm'))).event, { type: 'dm', roomId: room, seq: s3 });
	await b.none(isEvent('dm'), 200);
	dmb.terminate();

	// A message in an ordinary room notifies nobody.
	const other = `rm${crypto.randomBytes(5).toString('hex')}`;
	await h.stack.sql(`INSERT INTO rooms (id, owner, capacity) VALUES ('${other}', '${alice}', 4)`);
	const t2 = await lookup(h.stack.backendUrl, ta, other);
	const plain = await connect(t2.json.host, t2.json.token, { protocol: 'stateroom.v1' });
	await plain.next('welcome');
	await sendAcked(plain, 'p1', 'public words');

	// Blocked: bob no longer hears of alice's messages.
	await h.stack.sql(`INSERT INTO blocks (blocker, blocked) VALUES ('${bob}', '${alice}')`);
	await sendAcked(dm, 'm3', 'are you there');
	await sendAcked(dm, 'm4', 'hello?');
	await b.none(isEvent('dm'), 400);
	await closeAll([a, b, c, dm, plain]);
});

test('presence: a friend sees online, away and offline with last seen; others see nothing', async () => {
	const alice = fresh('alice'), bob = fresh('bob'), carol = fresh('carol');
	const ta = await register(alice);
	const a = await openInbox(ta);
	const c = await openInbox(await register(carol));
	const tb = await register(bob);
	await befriend(alice, bob);
	assert.deepEqual(await friendPresence(ta, bob), { state: 'offline', lastSeen: null });

	const b1 = await openInbox(tb);
	let ev = await a.next(isEvent('presence'));
	assert.equal(ev.event.userId, bob);
	assert.equal(ev.event.state, 'online');
	const b2 = await openInbox(tb); // a second tab changes nothing
	b1.send({ type: 'presence', state: 'away' });
	await a.none(isEvent('presence'), 300); // b2 is still online
	b2.send({ type: 'presence', state: 'away' });
	ev = await a.next(isEvent('presence'));
	assert.equal(ev.event.state, 'away');
	b2.send({ type: 'presence', state: 'online' });
	assert.equal((await a.next(isEvent('presence'))).event.state, 'online');
	b1.send({ type: 'presence', state: 'asleep' });
	assert.equal((await b1.next('error')).code, 'bad_request');
	let rows = await h.stack.sql(`SELECT state FROM stateroom_presence('${bob}', 3000)`);
	assert.deepEqual(rows, [['online']]);
	assert.equal((await friendPresence(ta, bob)).state, 'online');

	await b1.close();
	await a.none(isEvent('presence'), 300);
	await b2.close();
	ev = await a.next(isEvent('presence'));
	assert.equal(ev.event.state, 'offline');
	assert.ok(!Number.isNaN(Date.parse(ev.event.lastSeen)), ev.event.lastSeen);
	rows = await h.stack.sql(`SELECT state, last_seen IS NOT NULL FROM stateroom_presence('${bob}', 3000)`);
	assert.deepEqual(rows, [['offline', 't']]);
	const seen = await friendPresence(ta, bob);
	assert.equal(seen.state, 'offline');
	assert.ok(Math.abs(Date.parse(seen.lastSeen) - Date.parse(ev.event.lastSeen)) < 1000, seen.lastSeen);
	await c.none(isEvent('presence'), 100);
	await closeAll([a, c]);
});

test('after the session server\'s database connection is cut, inbox clients get resync and events again', async () => {
	const bob = fresh('bob');
	const b = await openInbox(await register(bob));
	await h.stack.sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`);
	assert.deepEqual(await b.next('resync', 10000), { type: 'resync' });
	await notify(bob, { type: 'friends' });
	assert.deepEqual((await b.next(isEvent('friends'))).event, { type: 'friends' });
	await closeAll([b]);
});

// Last: it kills the stack's only session server.
test('kill -9 of the session server: its users read offline', async () => {
	const bob = fresh('bob');
	const b = await openInbox(await register(bob));
	let rows = await h.stack.sql(`SELECT state FROM stateroom_presence('${bob}', 3000)`);
	assert.deepEqual(rows, [['online']]);
	await h.stack.sessions[0].stop('SIGKILL');
	await b.closed;
	rows = await h.stack.sql(`SELECT presence FROM users WHERE id = '${bob}'`);
	assert.deepEqual(rows, [['online']], 'nobody wrote offline');
	const deadline = Date.now() + 15000;
	for (;;) {
		rows = await h.stack.sql(`SELECT state, last_seen IS NOT NULL FROM stateroom_presence('${bob}', 3000)`);
		if (rows[0][0] === 'offline' || Date.now() > deadline) break;
		await sleep(200);
	}
	assert.deepEqual(rows, [['offline', 't']]);
});
