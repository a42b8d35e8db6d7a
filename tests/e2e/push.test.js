// Web Push (docs/protocol.md, "Notifications"): browsers subscribe through
// the API; a DM or a mention that is still unread after the grace reaches
// every subscription of its user once, through a fake push service (lib/
// pushservice.js) that checks VAPID and decrypts each payload with the keys
// it made as a browser would. Two backends share the database, so every
// test also shows that each notification goes out once.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, startStack, request, login, lookup, connect, closeAll } from './lib/stack.js';
import { register, block } from './lib/friendsapi.js';
import { PushService, vapidKeys } from './lib/pushservice.js';

const vapid = vapidKeys();
const service = await new PushService(vapid.publicKey).start();
const GRACE_MS = 1500;
const TIMEOUT_MS = 2000;
const MAX_INFLIGHT = 4;
const WAIT_MS = 15000;

after(() => service.stop());
const h = useStack({
	sessions: 1,
	backends: 2,
	sessionEnv: { SESSION_MAX_ROOMS: '200' },
	backendEnv: {
		STATEROOM_VAPID_PUBLIC_KEY: vapid.publicKey,
		STATEROOM_VAPID_PRIVATE_KEY: vapid.privateKey,
		STATEROOM_VAPID_SUBJECT: 'mailto:ops@example.org',
		STATEROOM_PUSH_ALLOW_HTTP: 'true',
		STATEROOM_PUSH_GRACE_MS: String(GRACE_MS),
		STATEROOM_PUSH_TIMEOUT_MS: String(TIMEOUT_MS),
		STATEROOM_PUSH_MAX_INFLIGHT: String(MAX_INFLIGHT),
		STATEROOM_PUSH_RETRY_BASE_MS: '200',
	},
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(pred, what, timeoutMs = WAIT_MS) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const v = await pred();
		if (v) return v;
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await sleep(50);
	}
}

const api = (who, path, opts = {}, base = h.stack.backendUrl) => request(base, path, { token: who?.token, ...opts });
const sql = (q) => h.stack.sql(q);

async function subscribe(who, mode = 'ok') {
	const sub = service.subscribe(who.id, mode);
	const res = await api(who, '/api/me/push', { method: 'POST', body: sub });
	assert.equal(res.status, 204, res.text);
	return sub;
}

async function dm(a, b) {
	const res = await api(a, '/api/dms', { method: 'POST', body: { userId: b.id } });
	assert.equal(res.status, 201, res.text);
	return res.json.roomId;
}

async function newRoom(owner) {
	const res = await api(owner, '/api/rooms', { method: 'POST', body: { name: 'Harbour' } });
	assert.equal(res.status, 200, res.text);
	return res.json.roomId;
}

const open = [];
after(() => closeAll(open));
async function joinAs(who, roomId) {
	const t = await lookup(h.stack.backendUrl, who.token, roomId);
	assert.equal(t.status, 200, t.text);
	const c = await connect(t.json.host, t.json.token, { protocol: 'stateroom.v1' });
	await c.next('welcome');
	open.push(c);
	return c;
}

let ids = 0;
async function send(c, text) {
	const id = `p${++ids}`;
	c.send({ type: 'send', id, text });
	return (await c.next({ type: 'ack', id })).seq;
}

// The outbox row of who for (room, seq) once its push channel is settled.
async function settled(who, roomId, seq) {
	return until(async () => {
		const rows = await sql(`SELECT push_state, coalesce(push_error, '-'), push_attempts FROM notifications
			WHERE user_id = '${who.id}' AND room_id = '${roomId}' AND seq = ${seq}`);
		if (!rows.length || rows[0][0] === 'pending') return null;
		return { push_state: rows[0][0], push_error: rows[0][1] === '-' ? null : rows[0][1], push_attempts: Number(rows[0][2]) };
	}, `the push of ${roomId}/${seq} to ${who.id} settled`);
}

const deliveries = (who, roomId, seq) => service.payloads(who.id).filter((p) => p.roomId === roomId && p.seq === seq);

test('the API: the key, subscriptions checked, at most 10 a user, removal', async () => {
	const anon = await request(h.stack.backendUrl, '/api/push/key');
	assert.equal(anon.status, 200, anon.text);
	assert.deepEqual(anon.json, { publicKey: vapid.publicKey });

	const bob = await register(h.stack, 'pb');
	const good = service.subscribe(bob.id);
	const bad = async (body, code) => {
		const res = await api(bob, '/api/me/push', { method: 'POST', body });
		assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
		assert.equal(res.json.error.code, code);
	};
	await bad({ ...good, endpoint: 'ftp://push.example.org/x' }, 'invalid_endpoint');
	await bad({ ...good, endpoint: `${service.origin}/${'x'.repeat(2048)}` }, 'invalid_endpoint');
	await bad({ ...good, endpoint: 42 }, 'invalid_endpoint');
	await bad({ endpoint: good.endpoint }, 'invalid_keys');
	await bad({ ...good, keys: { ...good.keys, p256dh: good.keys.auth } }, 'invalid_keys');
	// 65 bytes, but not a point of the curve
	const notPoint = Buffer.from(good.keys.p256dh, 'base64url');
	notPoint[64] ^= 1;
	await bad({ ...good, keys: { ...good.keys, p256dh: notPoint.toString('base64url') } }, 'invalid_keys');
	await bad({ ...good, keys: { ...good.keys, auth: 'AAAA' } }, 'invalid_keys');
	await bad({ ...good, keys: { ...good.keys, auth: '!!!!!!!!!!!!!!!!!!!!!!' } }, 'invalid_keys');

	assert.equal((await request(h.stack.backendUrl, '/api/me/push', { method: 'POST', body: good })).status, 401);
	const guest = await login(h.stack.backendUrl, 'Guest');
	const g = await api({ token: guest }, '/api/me/push', { method: 'POST', body: good });
	assert.equal(g.status, 403, g.text);
	assert.equal(g.json.error.code, 'account_required');

	const subs = [];
	for (let i = 0; i < 11; i++) subs.push(await subscribe(bob));
	const rows = await sql(`SELECT endpoint FROM push_subscriptions WHERE user_id = '${bob.id}' ORDER BY id`);
	assert.deepEqual(rows.map((r) => r[0]), subs.slice(1).map((s) => s.endpoint), 'the oldest made way');
	// the same endpoint again: still one row, with the new keys
	const again = { ...subs[3], keys: service.subscribe(bob.id).keys };
	assert.equal((await api(bob, '/api/me/push', { method: 'POST', body: again })).status, 204);
	const [row] = await sql(`SELECT count(*), max(p256dh) FROM push_subscriptions WHERE endpoint = '${subs[3].endpoint}'`);
	assert.deepEqual(row, ['1', again.keys.p256dh]);

	for (const s of subs) {
		const res = await api(bob, '/api/me/push', { method: 'DELETE', body: { endpoint: s.endpoint } });
		assert.equal(res.status, 204, res.text);
	}
	assert.deepEqual(await sql(`SELECT id FROM push_subscriptions WHERE user_id = '${bob.id}'`), []);
});

test('a DM and a mention arrive once each, decrypted, with what the notification shows', async () => {
	const alice = await register(h.stack, 'pa');
	const bob = await register(h.stack, 'pb');
	await api(alice, '/api/me', { method: 'PATCH', body: { displayName: 'Alice Liddell' } });
	const s1 = await subscribe(bob);
	await subscribe(bob); // a second browser

	const dmId = await dm(alice, bob);
	const a = await joinAs(alice, dmId);
	const seq = await send(a, 'Are you coming to the harbour tonight?');
	assert.equal((await settled(bob, dmId, seq)).push_state, 'sent');
	const got = deliveries(bob, dmId, seq);
	assert.equal(got.length, 2, 'one to each browser');
	assert.deepEqual(got[0], {
		type: 'dm', roomId: dmId, seq, by: alice.id, title: 'Alice Liddell',
		body: 'Are you coming to the harbour tonight?', url: `/?room=${dmId}&seq=${seq}`,
	});
	assert.deepEqual(got[1], got[0]);
	const headers = service.got.find((g) => g.sub === s1.endpoint.split('/').pop() && g.payload.seq === seq).headers;
	assert.equal(headers.urgency, 'high');
	assert.equal(headers.topic, dmId);
	assert.ok(Number(headers.ttl) > 0);

	const roomId = await newRoom(alice);
	await joinAs(bob, roomId);
	const r = await joinAs(alice, roomId);
	const plain = await send(r, 'nobody in particular');
	const long = 'x'.repeat(500);
	const mseq = await send(r, `@${bob.id} look: ${long}`);
	assert.equal((await settled(bob, roomId, mseq)).push_state, 'sent');
	const [m] = deliveries(bob, roomId, mseq);
	assert.equal(m.type, 'mention');
	assert.equal(m.title, 'Alice Liddell mentioned you in Harbour');
	assert.ok(m.body.startsWith(`@${bob.id} look: xxx`) && m.body.endsWith('…') && m.body.length < 200, m.body);
	assert.equal(deliveries(bob, roomId, mseq).length, 2);
	assert.deepEqual(deliveries(bob, roomId, plain), [], 'a plain message in a room: nothing');
	assert.deepEqual(service.errors, []);
});

test('an encrypted DM\'s text never goes to a push service', async () => {
	const alice = await register(h.stack, 'pa');
	const bob = await register(h.stack, 'pb');
	await subscribe(bob);
	const dmId = await dm(alice, bob);
	const a = await joinAs(alice, dmId);
	const seq = await send(a, '{"e2ee":1,"d":"dev1","s":"AAAA","i":"BBBB","c":"secret-ciphertext","k":{}}');
	await settled(bob, dmId, seq);
	const [p] = deliveries(bob, dmId, seq);
	assert.equal(p.body, 'Encrypted message');
	assert.ok(!JSON.stringify(p).includes('secret-ciphertext'));
});

test('nothing for a message read within the grace, a muted room, a blocked author, DND', async () => {
	const alice = await register(h.stack, 'pa');
	const bob = await register(h.stack, 'pb');
	await subscribe(bob);
	const dmId = await dm(alice, bob);
	const a = await joinAs(alice, dmId);
	const b = await joinAs(bob, dmId);

	// read on another device within the grace
	const read = await send(a, 'read me now');
	b.send({ type: 'read', seq: read });
	assert.deepEqual(await settled(bob, dmId, read), { push_state: 'skipped', push_error: 'read', push_attempts: 0 });

	// muted after it was sent
	const muted = await send(a, 'muted soon');
	await sql(`INSERT INTO notify_rooms (user_id, room_id, muted_until) VALUES ('${bob.id}', '${dmId}', now() + interval '1 hour')`);
	assert.equal((await settled(bob, dmId, muted)).push_error, 'muted');
	await sql(`DELETE FROM notify_rooms WHERE user_id = '${bob.id}'`);

	// do-not-disturb hours around now
	const now = new Date();
	const minute = now.getUTCHours() * 60 + now.getUTCMinutes();
	await sql(`INSERT INTO notify_prefs (user_id, dnd_start, dnd_end, tz) VALUES ('${bob.id}', ${(minute + 1430) % 1440}, ${(minute + 10) % 1440}, 'UTC')`);
	const dnd = await send(a, 'at night');
	assert.equal((await settled(bob, dmId, dnd)).push_error, 'dnd');
	await sql(`DELETE FROM notify_prefs WHERE user_id = '${bob.id}'`);

	// a blocked author's mention makes no notification at all
	const carol = await register(h.stack, 'pc');
	const roomId = await newRoom(carol);
	await joinAs(bob, roomId);
	const c = await joinAs(carol, roomId);
	const al = await joinAs(alice, roomId);
	assert.equal((await block(h.stack, bob, alice)).status, 204);
	const blocked = await send(al, `@${bob.id} hello?`);
	const later = await send(c, `@${bob.id} hello from carol`);
	assert.equal((await settled(bob, roomId, later)).push_state, 'sent');
	assert.deepEqual(await sql(`SELECT id FROM notifications WHERE user_id = '${bob.id}' AND room_id = '${roomId}' AND seq = ${blocked}`), []);

	// and this pushed nothing but carol's mention
	assert.deepEqual(service.payloads(bob.id).map((p) => p.seq), [later]);
});

test('a 410 removes the subscription; a 429 is retried after its Retry-After', async () => {
	const alice = await register(h.stack, 'pa');
	const bob = await register(h.stack, 'pb');
	const carol = await register(h.stack, 'pc');
	await subscribe(bob, 'gone');
	await subscribe(carol, 'busy');
	const d1 = await dm(alice, bob);
	const d2 = await dm(alice, carol);
	const s1 = await send(await joinAs(alice, d1), 'to a browser long gone');
	const s2 = await send(await joinAs(alice, d2), 'to a busy push service');

	assert.deepEqual(await settled(bob, d1, s1), { push_state: 'skipped', push_error: 'no subscription left', push_attempts: 1 });
	assert.deepEqual(await sql(`SELECT id FROM push_subscriptions WHERE user_id = '${bob.id}'`), []);

	const row = await settled(carol, d2, s2);
	assert.deepEqual(row, { push_state: 'sent', push_error: null, push_attempts: 2 });
	assert.equal(deliveries(carol, d2, s2).length, 1);
	const [t] = await sql(`SELECT extract(epoch FROM (SELECT last_ok_at FROM push_subscriptions WHERE user_id = '${carol.id}') - n.created_at) AS s
		FROM notifications n WHERE n.user_id = '${carol.id}' AND n.seq = ${s2}`);
	assert.ok(Number(t[0]) >= 1 + GRACE_MS / 1000, `retried only after Retry-After: 1 (${t.s} s)`);
});

test('a push service that hangs slows nothing else, and requests in flight stay bounded', async () => {
	const alice = await register(h.stack, 'pa');
	const dave = await register(h.stack, 'pd');
	const carol = await register(h.stack, 'pc');
	const eve = await register(h.stack, 'pe');
	for (let i = 0; i < 8; i++) await subscribe(eve, 'hang');
	await subscribe(dave, 'hang');
	await subscribe(carol);
	const de = await dm(alice, eve);
	const dd = await dm(alice, dave);
	const dc = await dm(alice, carol);
	await send(await joinAs(alice, de), 'into the void');
	await send(await joinAs(alice, dd), 'into the void too');
	await until(() => service.hanging.length >= MAX_INFLIGHT, 'requests hanging');

	const t0 = Date.now();
	const seq = await send(await joinAs(alice, dc), 'are you there?');
	await until(() => deliveries(carol, dc, seq).length === 1, 'carol\'s push, past the hanging ones');
	const me = await api(carol, '/api/me');
	assert.equal(me.status, 200, 'the API answers');
	// Two backends, each with at most MAX_INFLIGHT requests out.
	assert.ok(service.maxOpen <= 2 * MAX_INFLIGHT, `at most ${2 * MAX_INFLIGHT} open at once, saw ${service.maxOpen}`);
	assert.ok(Date.now() - t0 < WAIT_MS);
	// The hanging ones time out and are retried; nothing is lost.
	const [row] = await sql(`SELECT push_state FROM notifications WHERE user_id = '${dave.id}'`);
	assert.deepEqual(row, ['pending']);
	await until(async () => Number((await sql(`SELECT push_attempts FROM notifications WHERE user_id = '${dave.id}'`))[0][0]) >= 2, 'a retry after the timeout');
	await sql(`DELETE FROM push_subscriptions WHERE user_id IN ('${eve.id}', '${dave.id}')`);
});

test('each message is pushed once with two backends; pending pushes survive a restart', async () => {
	const alice = await register(h.stack, 'pa');
	const bob = await register(h.stack, 'pb');
	await subscribe(bob);
	const dmId = await dm(alice, bob);
	const a = await joinAs(alice, dmId);
	const seqs = [];
	for (let i = 0; i < 20; i++) seqs.push(await send(a, `message ${i}`));
	for (const s of seqs) await settled(bob, dmId, s);
	for (const s of seqs) assert.equal(deliveries(bob, dmId, s).length, 1, `seq ${s} once`);

	// Both backends down: messages still commit, and their notifications wait.
	for (const b of h.stack.backends) await b.stop();
	const waiting = [];
	for (let i = 0; i < 3; i++) waiting.push(await send(a, `while away ${i}`));
	await sleep(GRACE_MS);
	const rows = await sql(`SELECT push_state FROM notifications WHERE user_id = '${bob.id}' AND seq >= ${waiting[0]}`);
	assert.deepEqual(rows.map((r) => r[0]), ['pending', 'pending', 'pending']);
	for (const b of h.stack.backends) await b.start();
	for (const s of waiting) assert.equal((await settled(bob, dmId, s)).push_state, 'sent');
	for (const s of waiting) assert.equal(deliveries(bob, dmId, s).length, 1);
	assert.deepEqual(service.errors, []);
});

test('without VAPID keys push is off: GET /api/push/key is 404 push_disabled', async () => {
	const stack = await startStack({ sessions: 0, backends: 1 });
	try {
		const res = await request(stack.backendUrl, '/api/push/key');
		assert.equal(res.status, 404, res.text);
		assert.equal(res.json.error.code, 'push_disabled');
	} finally {
		await stack.stop();
	}
});
