// Notification settings (docs/protocol.md, "Notifications"): GET/PUT
// /api/me/notify and /api/rooms/:id/notify check what they are given, and
// what they set decides the outbox rows (the notifications table) that real
// messages make: that table is what the push and email senders deliver. The
// push channel can reach a user only with a subscription: the tests write
// one straight into push_subscriptions (the push API is not what is tested).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, request, lookup, connect, closeAll, login } from './lib/stack.js';
import { register, block, assertError } from './lib/friendsapi.js';

const h = useStack({ sessions: 1, backends: 1, sessionEnv: { SESSION_MAX_ROOMS: '100' } });

const api = (who, path, opts = {}) => request(h.stack.backendUrl, path, { token: who.token, ...opts });
const put = (who, path, body) => api(who, path, { method: 'PUT', body });

async function newRoom(owner) {
	const res = await api(owner, '/api/rooms', { method: 'POST', body: {} });
	assert.equal(res.status, 200, res.text);
	return res.json.roomId;
}

async function newDm(a, b) {
	const res = await api(a, '/api/dms', { method: 'POST', body: { userId: b.id } });
	assert.equal(res.status, 201, res.text);
	return res.json.roomId;
}

async function joinAs(who, roomId) {
	const t = await lookup(h.stack.backendUrl, who.token, roomId);
	assert.equal(t.status, 200, t.text);
	const c = await connect(t.json.host, t.json.token, { protocol: 'stateroom.v1' });
	c.welcome = await c.next('welcome');
	c.roomId = roomId;
	return c;
}

let ids = 0;
// Sends text and waits until the message is in the database (the outbox rows
// are made in its transaction); answers its seq.
async function send(c, text) {
	const id = `m${++ids}`;
	c.send({ type: 'send', id, text });
	const { seq } = await c.next({ type: 'ack', id });
	const deadline = Date.now() + 5000;
	while ((await h.stack.sql(`SELECT 1 FROM records WHERE room_id = '${c.roomId}' AND seq = ${seq}`)).length === 0) {
		assert.ok(Date.now() < deadline, 'the message was committed');
		await new Promise((r) => setTimeout(r, 30));
	}
	return seq;
}

// The outbox rows for who about message seq of roomId: [kind, push, email].
const rows = (who, roomId, seq) => h.stack.sql(
	`SELECT kind, push_state, email_state FROM notifications
	 WHERE user_id = '${who.id}' AND room_id = '${roomId}' AND seq = ${seq}`);

let subs = 0;
const subscribe = (who) => h.stack.sql(
	`INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth)
	 VALUES ('${who.id}', 'https://push.example/${process.pid}/${++subs}', 'BKey', 'auth')`);

const DEFAULTS = { dmLevel: 'all', roomLevel: 'mentions', push: true, email: true, emailDelayS: 900, dnd: null, tz: 'UTC' };

test('the settings are for accounts only, and start at the defaults', async () => {
	const res = await request(h.stack.backendUrl, '/api/me/notify');
	assert.equal(res.status, 401, res.text);
	const guest = { token: await login(h.stack.backendUrl, 'visitor') };
	assertError(await api(guest, '/api/me/notify'), 403, 'account_required');
	assertError(await put(guest, '/api/me/notify', { push: false }), 403, 'account_required');
	assertError(await api(guest, '/api/me/reminders'), 403, 'account_required');

	const ann = await register(h.stack, 'ann');
	const got = await api(ann, '/api/me/notify');
	assert.equal(got.status, 200, got.text);
	assert.deepEqual(got.json, DEFAULTS);
});

test('PUT /api/me/notify changes what it is given, keeps the rest, and refuses what is not a setting', async () => {
	const ann = await register(h.stack, 'ann');
	let res = await put(ann, '/api/me/notify', { dmLevel: 'mentions', dnd: { start: '22:30', end: '07:00' }, tz: 'Europe/Paris' });
	assert.equal(res.status, 200, res.text);
	assert.deepEqual(res.json, { ...DEFAULTS, dmLevel: 'mentions', dnd: { start: '22:30', end: '07:00' }, tz: 'Europe/Paris' });
	res = await put(ann, '/api/me/notify', { push: false, emailDelayS: 3600 });
	assert.equal(res.status, 200, res.text);
	const want = { ...DEFAULTS, dmLevel: 'mentions', push: false, emailDelayS: 3600, dnd: { start: '22:30', end: '07:00' }, tz: 'Europe/Paris' };
	assert.deepEqual(res.json, want);
	assert.deepEqual((await api(ann, '/api/me/notify')).json, want, 'GET shows what PUT set');

	for (const body of [
		{ dmLevel: 'loud' }, { dmLevel: 1 }, { roomLevel: 'all' }, { push: 'yes' }, { email: null },
		{ emailDelayS: 59 }, { emailDelayS: 604801 }, { emailDelayS: 900.5 }, { emailDelayS: '900' },
		{ dnd: { start: '24:00', end: '07:00' } }, { dnd: { start: '7:00', end: '08:00' } },
		{ dnd: { start: '07:00' } }, { dnd: { start: '07:00', end: '07:00' } }, { dnd: '22:00-07:00' },
		{ dnd: { start: '22:00', end: '07:00', extra: 1 } }, { tz: 'Mars/Olympus' }, { tz: '' },
		{ tz: 'x'.repeat(65) }, { tz: "UTC'; DROP TABLE users; --" }, { tz: 7 }, { sound: true },
	]) {
		assertError(await put(ann, '/api/me/notify', body), 400, 'invalid_request');
	}
	const raw = await request(h.stack.backendUrl, '/api/me/notify', {
		method: 'PUT', token: ann.token, body: '[1,2', headers: { 'Content-Type': 'application/json' },
	});
	assert.equal(raw.status, 400, raw.text);
	assert.deepEqual((await api(ann, '/api/me/notify')).json, want, 'nothing refused changed anything');

	res = await put(ann, '/api/me/notify', { dnd: null });
	assert.equal(res.status, 200, res.text);
	assert.equal(res.json.dnd, null, 'null ends the do-not-disturb hours');
});

test('a room\'s setting is only for a room the caller may see, and is checked', async () => {
	const ann = await register(h.stack, 'ann');
	const ben = await register(h.stack, 'ben');
	const cat = await register(h.stack, 'cat');
	const roomId = await newRoom(ann);
	const dmId = await newDm(ann, ben);

	let res = await api(ann, `/api/rooms/${roomId}/notify`);
	assert.equal(res.status, 200, res.text);
	assert.deepEqual(res.json, { roomId, level: null, effectiveLevel: 'mentions', muted: false, mutedUntil: null });
	res = await api(ben, `/api/rooms/${dmId}/notify`);
	assert.deepEqual(res.json, { roomId: dmId, level: null, effectiveLevel: 'all', muted: false, mutedUntil: null });

	assertError(await api(cat, `/api/rooms/${dmId}/notify`), 404, 'not_found');
	assertError(await put(cat, `/api/rooms/${dmId}/notify`, { level: 'nothing' }), 404, 'not_found');
	assertError(await put(ann, '/api/rooms/nosuchroom1/notify', { level: 'all' }), 404, 'not_found');
	assertError(await put(ann, '/api/rooms/BAD!/notify', { level: 'all' }), 404, 'not_found');
	const inbox = '0'.repeat(32);
	assertError(await api(ann, `/api/rooms/${inbox}/notify`), 404, 'not_found');

	const past = new Date(Date.now() - 60000).toISOString();
	const tooFar = new Date(Date.now() + 400 * 86400000).toISOString();
	for (const body of [
		{ level: 'loud' }, { level: 3 }, { muted: 'yes' }, { muteFor: 0 }, { muteFor: 31536001 }, { muteFor: 1.5 },
		{ mutedUntil: past }, { mutedUntil: tooFar }, { mutedUntil: 'tomorrow' }, { mutedUntil: '2030-02-30T00:00:00Z' },
		{ mutedUntil: '2030-01-01T00:00:00' }, { muted: true, muteFor: 60 }, { snooze: 1 },
	]) {
		assertError(await put(ann, `/api/rooms/${roomId}/notify`, body), 400, 'invalid_request');
	}

	res = await put(ann, `/api/rooms/${roomId}/notify`, { level: 'all', muteFor: 3600 });
	assert.equal(res.status, 200, res.text);
	assert.equal(res.json.level, 'all');
	assert.equal(res.json.effectiveLevel, 'all');
	assert.equal(res.json.muted, true);
	const until = Date.parse(res.json.mutedUntil);
	assert.ok(until > Date.now() + 3500000 && until < Date.now() + 3700000, res.json.mutedUntil);
	res = await put(ann, `/api/rooms/${roomId}/notify`, { muted: true });
	assert.deepEqual(res.json, { roomId, level: 'all', effectiveLevel: 'all', muted: true, mutedUntil: null },
		'muted until turned back on: no end');
	const at = new Date(Date.now() + 7200000).toISOString();
	res = await put(ann, `/api/rooms/${roomId}/notify`, { mutedUntil: at });
	assert.equal(res.json.mutedUntil, at);
	res = await put(ann, `/api/rooms/${roomId}/notify`, { level: null, muted: false });
	assert.deepEqual(res.json, { roomId, level: null, effectiveLevel: 'mentions', muted: false, mutedUntil: null });
});

test('a DM notifies its other member, as their DM level says', async () => {
	const ann = await register(h.stack, 'ann');
	const ben = await register(h.stack, 'ben');
	const cat = await register(h.stack, 'cat');
	await subscribe(ben);
	const dmId = await newDm(ann, ben);
	const a = await joinAs(ann, dmId);

	let seq = await send(a, 'are you there?');
	assert.deepEqual(await rows(ben, dmId, seq), [['dm', 'pending', 'none']], 'ben has a push on its way');
	assert.deepEqual(await rows(ann, dmId, seq), [], 'not the author');

	assert.equal((await put(ben, '/api/me/notify', { dmLevel: 'mentions' })).status, 200);
	seq = await send(a, 'still there?');
	assert.deepEqual(await rows(ben, dmId, seq), [], 'DMs: mentions only');
	seq = await send(a, `@${ben.id} please answer`);
	assert.deepEqual(await rows(ben, dmId, seq), [['mention', 'pending', 'none']], 'a mention still counts, once');

	assert.equal((await put(ben, `/api/rooms/${dmId}/notify`, { level: 'all' })).status, 200);
	seq = await send(a, 'this DM, every message');
	assert.deepEqual(await rows(ben, dmId, seq), [['dm', 'pending', 'none']], 'the DM\'s own level wins');

	assert.equal((await put(ben, '/api/me/notify', { push: false })).status, 200);
	seq = await send(a, 'push is off');
	assert.deepEqual(await rows(ben, dmId, seq), [], 'no channel can reach ben: no row');
	assert.equal((await put(ben, '/api/me/notify', { push: true })).status, 200);

	// Cat has no subscription (and no address): nothing is kept for her.
	const dm2 = await newDm(ann, cat);
	const a2 = await joinAs(ann, dm2);
	seq = await send(a2, 'hello cat');
	assert.deepEqual(await rows(cat, dm2, seq), []);
	await closeAll([a, a2]);
});

test('a room notifies mentions by default, every message when followed, nothing while muted or from a blocked author', async () => {
	const ann = await register(h.stack, 'ann');
	const ben = await register(h.stack, 'ben');
	const cat = await register(h.stack, 'cat');
	await subscribe(ben);
	const roomId = await newRoom(ann);
	const a = await joinAs(ann, roomId);
	const b = await joinAs(ben, roomId);
	const c = await joinAs(cat, roomId);

	let seq = await send(a, 'hello everyone');
	assert.deepEqual(await rows(ben, roomId, seq), [], 'a room\'s plain message: nothing by default');
	seq = await send(a, `@${ben.id} look`);
	assert.deepEqual(await rows(ben, roomId, seq), [['mention', 'pending', 'none']]);

	let res = await put(ben, `/api/rooms/${roomId}/notify`, { level: 'all' });
	assert.equal(res.status, 200, res.text);
	seq = await send(a, 'followed');
	assert.deepEqual(await rows(ben, roomId, seq), [['message', 'pending', 'none']], 'followed: every message');
	seq = await send(b, 'my own');
	assert.deepEqual(await rows(ben, roomId, seq), [], 'never one\'s own message');

	res = await put(ben, `/api/rooms/${roomId}/notify`, { muteFor: 3600 });
	assert.equal(res.status, 200, res.text);
	seq = await send(a, `@${ben.id} muted?`);
	assert.deepEqual(await rows(ben, roomId, seq), [], 'muted: not even a mention');
	res = await put(ben, `/api/rooms/${roomId}/notify`, { muted: false });
	assert.equal(res.json.muted, false);
	seq = await send(a, 'unmuted');
	assert.deepEqual(await rows(ben, roomId, seq), [['message', 'pending', 'none']]);

	res = await block(h.stack, ben, ann);
	assert.equal(res.status, 204, res.text);
	seq = await send(a, `@${ben.id} blocked`);
	assert.deepEqual(await rows(ben, roomId, seq), [], 'nothing from a blocked author');
	seq = await send(c, 'cat is not blocked');
	assert.deepEqual(await rows(ben, roomId, seq), [['message', 'pending', 'none']]);

	res = await put(ben, `/api/rooms/${roomId}/notify`, { level: 'nothing' });
	seq = await send(c, `@${ben.id} nothing at all`);
	assert.deepEqual(await rows(ben, roomId, seq), [], 'level nothing: not even a mention');

	res = await put(ben, `/api/rooms/${roomId}/notify`, { level: null });
	assert.equal((await put(ben, '/api/me/notify', { roomLevel: 'nothing' })).status, 200);
	seq = await send(c, `@${ben.id} default nothing`);
	assert.deepEqual(await rows(ben, roomId, seq), [], 'the rooms default: nothing');
	await closeAll([a, b, c]);
});
