// Webhooks (docs/protocol.md, "Webhooks"): room events POSTed to a real
// receiver (a Node HTTP server in this test), signed, at least once, in order
// per room, retried while the receiver fails or is down, dead letters after
// --webhook-max-attempts that the operator lists and replays.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { useStack, freePort, request, join, newRoom, sendAcked } from './lib/stack.js';

const SECRET = 'webhook-secret-for-the-tests-0123456789';
const ADMIN = 'a-long-random-operator-token-0123456789';
const WAIT_MS = 20000;

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

// What a receiver does with X-Stateroom-Signature (the snippet in
// docs/protocol.md): HMAC-SHA256 over `${t}.${body}`, compared in constant
// time, t within 5 minutes.
function verify(secret, header, body, nowSeconds = Math.floor(Date.now() / 1000)) {
	const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header || '');
	if (!m) return false;
	if (Math.abs(nowSeconds - Number(m[1])) > 300) return false;
	const want = crypto.createHmac('sha256', secret).update(`${m[1]}.${body}`).digest();
	return crypto.timingSafeEqual(want, Buffer.from(m[2], 'hex'));
}

// A receiver on a fixed port: mode 'ok' answers 204, 'fail' answers 500,
// down() closes the server (connections refused) and up() listens again.
class Receiver {
	constructor(port) {
		this.port = port;
		this.mode = 'ok';
		this.got = [];      // every request that reached it: {headers, body, event, status}
		this.server = null;
	}
	get url() { return `http://127.0.0.1:${this.port}/hook`; }
	up() {
		this.server = http.createServer((req, res) => {
			const chunks = [];
			req.on('data', (c) => chunks.push(c));
			req.on('end', () => {
				const body = Buffer.concat(chunks).toString('utf8');
				const status = this.mode === 'ok' ? 204 : 500;
				this.got.push({ headers: req.headers, body, event: JSON.parse(body), status, method: req.method, path: req.url });
				res.writeHead(status).end();
			});
		});
		return new Promise((resolve, reject) => {
			this.server.once('error', reject);
			this.server.listen(this.port, '127.0.0.1', resolve);
		});
	}
	down() {
		const s = this.server;
		this.server = null;
		return new Promise((resolve) => { s.close(resolve); s.closeAllConnections(); });
	}
	delivered(roomId) {
		return this.got.filter((g) => g.status === 204 && (!roomId || g.event.roomId === roomId)).map((g) => g.event);
	}
}

// Every event delivered once at least, none missing (from want), in order per
// room: event ids increase along each room's deliveries once duplicates
// (allowed by at least once) are set aside.
function assertOrderedPerRoom(events) {
	const byRoom = new Map();
	for (const e of events) {
		if (!byRoom.has(e.roomId)) byRoom.set(e.roomId, []);
		byRoom.get(e.roomId).push(e);
	}
	for (const [room, list] of byRoom) {
		const firsts = [];
		const seen = new Set();
		for (const e of list) if (!seen.has(e.id)) { seen.add(e.id); firsts.push(Number(e.id)); }
		assert.deepEqual(firsts, [...firsts].sort((a, b) => a - b), `room ${room}: out of order ${firsts}`);
		const seqs = list.filter((e) => e.type === 'record').map((e) => e.seq);
		const uniq = [...new Set(seqs)];
		assert.deepEqual(uniq, [...uniq].sort((a, b) => a - b), `room ${room}: records out of seq order`);
	}
}

const port = await freePort();
const deadPort = await freePort();

describe('webhooks', () => {
	const rx = new Receiver(port);
	before(() => rx.up());
	after(() => rx.server && rx.down());
	const h = useStack({
		backendEnv: {
			STATEROOM_ADMIN_TOKEN: ADMIN,
			STATEROOM_WEBHOOK_URL: rx.url,
			STATEROOM_WEBHOOK_SECRET: SECRET,
			STATEROOM_WEBHOOK_RETRY_BASE_MS: '50',
			STATEROOM_WEBHOOK_RETRY_MAX_MS: '300',
			STATEROOM_WEBHOOK_MAX_ATTEMPTS: '30',
		},
		sessionEnv: { SESSION_ROOM_IDLE_MS: '1000' },
	});

	test('every kind of event arrives, signed, with its documented fields, in order', async () => {
		const roomId = await newRoom(h.stack, 'alice', { name: 'hooked' });
		const [a] = await join(h.stack, 'alice', roomId);
		// joined is written on the session server's tick: wait for it so
		// that the order below is the order things happened in.
		await until(() => rx.delivered(roomId).some((e) => e.type === 'joined'), 'joined');
		const seq = await sendAcked(a, 'm1', 'hello hooks');
		const [b] = await join(h.stack, 'bob', roomId);
		await until(() => rx.delivered(roomId).filter((e) => e.type === 'joined').length === 2, 'bob joined');
		b.close();
		await until(() => rx.delivered(roomId).some((e) => e.type === 'left'), 'bob left');
		a.close();
		await until(() => rx.delivered(roomId).some((e) => e.type === 'unloaded'), 'unloaded');

		const got = rx.got.filter((g) => g.event.roomId === roomId);
		for (const g of got) {
			assert.equal(g.method, 'POST');
			assert.equal(g.path, '/hook');
			assert.equal(g.headers['content-type'], 'application/json');
			assert.equal(g.headers['x-stateroom-event'], g.event.type);
			assert.equal(g.headers['x-stateroom-event-id'], g.event.id);
			assert.ok(verify(SECRET, g.headers['x-stateroom-signature'], g.body), g.headers['x-stateroom-signature']);
			// Anything changed, or another secret, and it does not verify.
			assert.equal(verify(SECRET, g.headers['x-stateroom-signature'], g.body.replace(roomId, 'x' + roomId.slice(1))), false);
			assert.equal(verify('another-secret-of-some-length', g.headers['x-stateroom-signature'], g.body), false);
			assert.deepEqual(Object.keys(g.event).slice(0, 4), ['id', 'type', 'roomId', 'at']);
			assert.ok(!Number.isNaN(Date.parse(g.event.at)));
		}
		const events = rx.delivered(roomId);
		assertOrderedPerRoom(events);
		const story = events.filter((e) => e.type !== 'record' || e.kind === 'message')
			.map((e) => (e.type === 'joined' || e.type === 'left' ? `${e.type}:${e.name}` : e.type));
		assert.deepEqual([...new Set(story)], ['created', 'joined:alice', 'record', 'joined:bob', 'left:bob', 'left:alice', 'unloaded']);
		const created = events.find((e) => e.type === 'created');
		assert.equal(created.app, 'chat');
		assert.equal(created.name, 'hooked');
		const rec = events.find((e) => e.type === 'record' && e.kind === 'message');
		assert.equal(rec.seq, seq);
		assert.equal(rec.payload, 'hello hooks');
		assert.equal(rec.name, 'alice');
		assert.equal(rec.clientId, 'm1');
		const joined = events.find((e) => e.type === 'joined');
		assert.ok(joined.userId);
		assert.equal((await h.stack.sql('SELECT count(*) FROM webhook_outbox'))[0][0], '0');
	});

	test('a receiver that fails, then is down, then comes back gets every event, in order per room', async () => {
		const rooms = [await newRoom(h.stack, 'carol'), await newRoom(h.stack, 'dave')];
		const clients = [(await join(h.stack, 'carol', rooms[0]))[0], (await join(h.stack, 'dave', rooms[1]))[0]];
		await until(() => rooms.every((r) => rx.delivered(r).some((e) => e.type === 'joined')), 'joined');
		const sent = [[], []];
		rx.mode = 'fail';
		for (let i = 0; i < 5; i++) {
			for (let k = 0; k < 2; k++) sent[k].push(await sendAcked(clients[k], `f${i}`, `failing ${i}`));
		}
		await until(() => rx.got.filter((g) => g.status === 500).length >= 4, 'failed attempts');
		await rx.down();
		for (let i = 0; i < 5; i++) {
			for (let k = 0; k < 2; k++) sent[k].push(await sendAcked(clients[k], `d${i}`, `down ${i}`));
		}
		await sleep(500);   // attempts against a closed port fail meanwhile
		rx.mode = 'ok';
		await rx.up();
		for (let k = 0; k < 2; k++) {
			await until(() => {
				const seqs = new Set(rx.delivered(rooms[k]).filter((e) => e.type === 'record').map((e) => e.seq));
				return sent[k].every((s) => seqs.has(s));
			}, `every record of room ${k}`);
		}
		for (const r of rooms) assertOrderedPerRoom(rx.delivered(r));
		// Nothing left over, nothing given up on.
		await until(async () => (await h.stack.sql('SELECT count(*) FROM webhook_outbox'))[0][0] === '0', 'an empty outbox');
		assert.equal((await h.stack.sql('SELECT count(*) FROM webhook_dead'))[0][0], '0');
		for (const c of clients) c.close();
	});
});

describe('webhook dead letters', () => {
	const rx = new Receiver(deadPort);
	before(() => rx.up());
	after(() => rx.server && rx.down());
	const h = useStack({
		backendEnv: {
			STATEROOM_ADMIN_TOKEN: ADMIN,
			STATEROOM_WEBHOOK_URL: rx.url,
			STATEROOM_WEBHOOK_SECRET: SECRET,
			STATEROOM_WEBHOOK_EVENTS: 'created,record:message',
			STATEROOM_WEBHOOK_RETRY_BASE_MS: '20',
			STATEROOM_WEBHOOK_RETRY_MAX_MS: '50',
			STATEROOM_WEBHOOK_MAX_ATTEMPTS: '3',
		},
	});

	test('after max attempts an event is a dead letter; the operator lists and replays it', async () => {
		rx.mode = 'fail';
		const roomId = await newRoom(h.stack, 'erin');
		const [c] = await join(h.stack, 'erin', roomId);
		const seq = await sendAcked(c, 'x1', 'doomed');
		const dead = await until(async () => {
			const res = await request(h.stack.backendUrl, '/api/admin/webhooks/dead', { token: ADMIN });
			assert.equal(res.status, 200, res.text);
			return res.json.dead.filter((d) => d.roomId === roomId).length === 2 && res.json.dead;
		}, 'two dead letters');
		const mine = dead.filter((d) => d.roomId === roomId);
		assert.deepEqual(mine.map((d) => d.type), ['created', 'record']);
		for (const d of mine) {
			assert.equal(d.attempts, 3);
			assert.equal(d.lastError, 'HTTP 500');
			assert.equal(d.url, rx.url);
		}
		assert.equal(mine[1].event.seq, seq);
		assert.equal(rx.got.filter((g) => g.event.roomId === roomId).length, 6);

		// Without the operator token: no.
		assert.equal((await request(h.stack.backendUrl, '/api/admin/webhooks/dead/replay', { method: 'POST' })).status, 401);
		assert.equal((await request(h.stack.backendUrl, '/api/admin/webhooks/dead/999999/replay', { method: 'POST', token: ADMIN })).status, 404);
		assert.equal((await request(h.stack.backendUrl, '/api/admin/webhooks/dead/abc/replay', { method: 'POST', token: ADMIN })).status, 404);

		rx.mode = 'ok';
		const one = await request(h.stack.backendUrl, `/api/admin/webhooks/dead/${mine[0].id}/replay`, { method: 'POST', token: ADMIN });
		assert.equal(one.status, 202, one.text);
		assert.equal(one.json.replayed, 1);
		await until(() => rx.delivered(roomId).length === 1, 'the replayed created');
		assert.equal(rx.delivered(roomId)[0].id, mine[0].eventId);
		const all = await request(h.stack.backendUrl, '/api/admin/webhooks/dead/replay', { method: 'POST', token: ADMIN });
		assert.equal(all.status, 202, all.text);
		assert.equal(all.json.replayed, 1);
		await until(() => rx.delivered(roomId).length === 2, 'the replayed record');
		const rec = rx.delivered(roomId)[1];
		assert.equal(rec.id, mine[1].eventId);
		assert.equal(rec.payload, 'doomed');
		const left = await request(h.stack.backendUrl, '/api/admin/webhooks/dead', { token: ADMIN });
		assert.deepEqual(left.json.dead, []);
		// Only the subscribed kinds: no joined, no other record kinds.
		assert.ok(rx.got.every((g) => g.event.type === 'created' || (g.event.type === 'record' && g.event.kind === 'message')));
		c.close();
	});
});

describe('no webhook configured', () => {
	const h = useStack({});

	test('nothing is enqueued', async () => {
		const roomId = await newRoom(h.stack, 'frank');
		const [c] = await join(h.stack, 'frank', roomId);
		await sendAcked(c, 'n1', 'quiet');
		c.close();
		await sleep(1500);   // past the session server's tick, where joined and left are written
		assert.equal((await h.stack.sql('SELECT count(*) FROM webhook_subscriptions'))[0][0], '0');
		assert.equal((await h.stack.sql('SELECT count(*) FROM webhook_outbox'))[0][0], '0');
	});
});

const replicaPort = await freePort();

describe('webhooks from two backend replicas', () => {
	const rx = new Receiver(replicaPort);
	before(() => rx.up());
	after(() => rx.server && rx.down());
	const h = useStack({
		backends: 2,
		backendEnv: {
			STATEROOM_WEBHOOK_URL: rx.url,
			STATEROOM_WEBHOOK_SECRET: SECRET,
			STATEROOM_WEBHOOK_EVENTS: 'created,record:message',
			STATEROOM_WEBHOOK_RETRY_BASE_MS: '20',
			STATEROOM_WEBHOOK_RETRY_MAX_MS: '100',
		},
	});

	test('each event is delivered once, in order per room, while both dispatch', async () => {
		const rooms = [];
		for (let i = 0; i < 4; i++) rooms.push(await newRoom(h.stack, `r${i}`));
		const clients = await Promise.all(rooms.map(async (r, i) => (await join(h.stack, `r${i}`, r))[0]));
		const sent = rooms.map(() => []);
		// Some failures on the way, so that retries and claims interleave.
		rx.mode = 'fail';
		setTimeout(() => { rx.mode = 'ok'; }, 300);
		await Promise.all(clients.map(async (c, k) => {
			for (let i = 0; i < 10; i++) sent[k].push(await sendAcked(c, `m${i}`, `replica ${i}`));
		}));
		for (let k = 0; k < rooms.length; k++) {
			await until(() => {
				const seqs = new Set(rx.delivered(rooms[k]).filter((e) => e.type === 'record').map((e) => e.seq));
				return sent[k].every((s) => seqs.has(s));
			}, `every record of room ${k}`);
		}
		for (const r of rooms) {
			const got = rx.delivered(r);
			assertOrderedPerRoom(got);
			const ids = got.map((e) => e.id);
			assert.equal(new Set(ids).size, ids.length, `room ${r}: delivered twice`);
			assert.equal(got[0].type, 'created');
			assert.equal(got.length, 11);
		}
		for (const c of clients) c.close();
	});
});
