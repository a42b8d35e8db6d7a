// Reminders (docs/protocol.md, "Notifications"): POST /api/reminders checks
// what it is given; a due reminder fires exactly once however many backends
// share the database (the inbox hears {"type":"reminder"} once, and the push
// sender finds one 'reminder' row); the sweeper deletes what is done with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, request, lookup, connect, closeAll } from './lib/stack.js';
import { register, assertError } from './lib/friendsapi.js';

// Two backends, so that two firers race for each reminder; the sweeper runs
// every second so that its test need not wait an hour.
const h = useStack({ sessions: 1, backends: 2, backendEnv: { STATEROOM_NOTIFY_SWEEP_MS: '1000' } });

const api = (who, path, opts = {}, i = 0) => request(h.stack.backends[i].url, path, { token: who.token, ...opts });
const remind = (who, body, i = 0) => api(who, '/api/reminders', { method: 'POST', body }, i);
const inSeconds = (s) => new Date(Date.now() + s * 1000).toISOString();

async function roomWithMessage(owner) {
	const res = await api(owner, '/api/rooms', { method: 'POST', body: {} });
	assert.equal(res.status, 200, res.text);
	const roomId = res.json.roomId;
	const t = await lookup(h.stack.backendUrl, owner.token, roomId);
	const c = await connect(t.json.host, t.json.token, { protocol: 'stateroom.v1' });
	await c.next('welcome');
	c.send({ type: 'send', id: 'x', text: 'remember the milk' });
	const { seq } = await c.next({ type: 'ack', id: 'x' });
	await c.close(1000);
	return { roomId, seq };
}

async function openInbox(who) {
	const res = await api(who, '/api/me/inbox');
	assert.equal(res.status, 200, res.text);
	const c = await connect(res.json.host, res.json.token, { protocol: 'stateroom.v1' });
	await c.next('welcome');
	return c;
}

async function eventually(fn, what) {
	const deadline = Date.now() + 10000;
	for (;;) {
		if (await fn()) return;
		assert.ok(Date.now() < deadline, what);
		await new Promise((r) => setTimeout(r, 100));
	}
}

test('a reminder is only for a message the caller may see, soon enough, and not too many', async () => {
	const ann = await register(h.stack, 'ann');
	const ben = await register(h.stack, 'ben');
	const { roomId, seq } = await roomWithMessage(ann);
	const dm = await api(ann, '/api/dms', { method: 'POST', body: { userId: ben.id } });
	assert.equal(dm.status, 201, dm.text);

	for (const body of [
		{}, { roomId, seq }, { roomId, seq, at: 'tomorrow' }, { roomId, seq: 0, at: inSeconds(60) },
		{ roomId, seq: '1', at: inSeconds(60) }, { roomId: 'NOT A ROOM', seq, at: inSeconds(60) },
		{ roomId, seq, at: inSeconds(-60) }, { roomId, seq, at: inSeconds(370 * 86400) },
		{ roomId, seq, at: inSeconds(60), note: 'x' }, { roomId, seq, at: 1893456000000 },
	]) {
		assertError(await remind(ann, body), 400, 'invalid_request');
	}
	assertError(await remind(ann, { roomId, seq: seq + 50, at: inSeconds(60) }), 404, 'not_found');
	assertError(await remind(ann, { roomId: 'nosuchroom99', seq: 1, at: inSeconds(60) }), 404, 'not_found');
	const carol = await register(h.stack, 'carol');
	assertError(await remind(carol, { roomId: dm.json.roomId, seq: 1, at: inSeconds(60) }), 404, 'not_found');

	const at = inSeconds(3600);
	const made = await remind(ann, { roomId, seq, at });
	assert.equal(made.status, 201, made.text);
	assert.deepEqual({ ...made.json, id: 0 }, { id: 0, roomId, seq, at, firedAt: null });
	const list = await api(ann, '/api/me/reminders', {}, 1);
	assert.equal(list.status, 200, list.text);
	assert.deepEqual(list.json.reminders.map((r) => [r.id, r.roomId, r.seq, r.at, r.firedAt, r.by]),
		[[made.json.id, roomId, seq, at, null, ann.id]]);
	assert.deepEqual((await api(ben, '/api/me/reminders')).json.reminders, [], 'one\'s own only');
	assertError(await api(ben, `/api/reminders/${made.json.id}`, { method: 'DELETE' }), 404, 'not_found');
	assertError(await api(ben, '/api/reminders/abc', { method: 'DELETE' }), 404, 'not_found');

	// At most 100 pending: 99 more fill it up.
	await h.stack.sql(`INSERT INTO reminders (user_id, room_id, seq, due_at)
		SELECT '${ann.id}', '${roomId}', ${seq}, now() + interval '1 day' FROM generate_series(1, 99)`);
	assertError(await remind(ann, { roomId, seq, at: inSeconds(60) }), 409, 'conflict');
	const del = await api(ann, `/api/reminders/${made.json.id}`, { method: 'DELETE' }, 1);
	assert.equal(del.status, 204, del.text);
	assert.equal((await remind(ann, { roomId, seq, at: inSeconds(60) })).status, 201, 'room for one again');
	await h.stack.sql(`DELETE FROM reminders WHERE user_id = '${ann.id}'`);
});

test('due reminders fire once each across two backends, in the inbox and as a push row', async () => {
	const ann = await register(h.stack, 'ann');
	await h.stack.sql(`INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth)
		VALUES ('${ann.id}', 'https://push.example/${process.pid}/r', 'BKey', 'auth')`);
	const { roomId, seq } = await roomWithMessage(ann);
	const inbox = await openInbox(ann);
	const events = [];

	// Twenty due at the same moment, made through both backends (each is
	// woken by the other's NOTIFY too).
	const at = inSeconds(2);
	const ids = [];
	for (let i = 0; i < 20; i++) {
		const res = await remind(ann, { roomId, seq, at }, i % 2);
		assert.equal(res.status, 201, res.text);
		ids.push(res.json.id);
	}
	// One more, later: its event comes after every one of the twenty (the
	// inbox hears notifications in commit order), so once it is here
	// anything fired twice would be too.
	const last = await remind(ann, { roomId, seq, at: inSeconds(3) }, 1);
	assert.equal(last.status, 201, last.text);
	for (;;) {
		const f = await inbox.next((m) => m.type === 'event' && m.event.type === 'reminder');
		events.push(f.event);
		if (f.event.id === last.json.id) break;
	}
	assert.deepEqual(events.map((e) => e.id).sort((a, b) => a - b), [...ids, last.json.id].sort((a, b) => a - b),
		'each reminder fired exactly once');
	for (const e of events) assert.deepEqual(e, { type: 'reminder', id: e.id, roomId, seq });

	const rows = await h.stack.sql(`SELECT count(*), count(DISTINCT reminder_id) FROM notifications
		WHERE user_id = '${ann.id}' AND kind = 'reminder' AND push_state = 'pending' AND seq = ${seq}`);
	assert.deepEqual(rows, [['21', '21']], 'one push row per reminder');
	const list = await api(ann, '/api/me/reminders');
	assert.equal(list.json.reminders.length, 21);
	assert.ok(list.json.reminders.every((r) => typeof r.firedAt === 'string'), 'all fired');
	await closeAll([inbox]);
});

test('the sweeper deletes notifications done with after 7 days and fired reminders after 30', async () => {
	const ann = await register(h.stack, 'ann');
	const { roomId, seq } = await roomWithMessage(ann);
	await h.stack.sql(`
		INSERT INTO notifications (user_id, room_id, seq, kind, by_user, push_state, email_state, created_at) VALUES
		('${ann.id}', '${roomId}', ${seq}, 'message', 'x', 'sent', 'none', now() - interval '8 days'),
		('${ann.id}', '${roomId}', ${seq} + 1, 'message', 'x', 'pending', 'none', now() - interval '8 days'),
		('${ann.id}', '${roomId}', ${seq} + 2, 'message', 'x', 'skipped', 'pending', now() - interval '8 days'),
		('${ann.id}', '${roomId}', ${seq} + 3, 'message', 'x', 'sent', 'sent', now() - interval '6 days');
		INSERT INTO reminders (user_id, room_id, seq, due_at, fired_at) VALUES
		('${ann.id}', '${roomId}', ${seq}, now() - interval '31 days', now() - interval '31 days'),
		('${ann.id}', '${roomId}', ${seq}, now() - interval '29 days', now() - interval '29 days')`);
	await eventually(async () => (await h.stack.sql(
		`SELECT 1 FROM notifications WHERE user_id = '${ann.id}' AND seq = ${seq}`)).length === 0
		&& (await h.stack.sql(`SELECT 1 FROM reminders WHERE user_id = '${ann.id}'
			AND fired_at < now() - interval '30 days'`)).length === 0, 'the old ones went');
	assert.deepEqual(await h.stack.sql(`SELECT seq - ${seq} FROM notifications WHERE user_id = '${ann.id}' ORDER BY seq`),
		[['1'], ['2'], ['3']], 'what a channel still has to send, and what is recent, stays');
	assert.deepEqual(await h.stack.sql(`SELECT count(*) FROM reminders WHERE user_id = '${ann.id}'`), [['1']]);
});
