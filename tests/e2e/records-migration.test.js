// Migration 010 (a room's messages become records with a kind): a database
// at the schema before it, holding messages as that schema had them, is
// migrated when the servers start, and every message is still served, with
// the same seq, id, user (and its id), text and ts, by HTTP history and by a session
// server's welcome, resume (since) and history frame; a send retried with
// an id from before the migration is still recognised. Records of another
// kind are not shown as messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
	useStack, ROOT, request, lookup, connect, tokenFor, ticketFor, newRoom, join, sendAcked, closeAll,
} from './lib/stack.js';

const LAST = 9; // the schema version before records
const ROOM = 'migratedroom1';
const T0 = Date.UTC(2026, 0, 1);
const GUEST = 'guest:AAAAAAAAAAAAAAAAAAAAAA';
// A ring smaller than the room, so that the session server also reads the
// migrated rows back from the database (resume from the start, history).
const RING = 4;

// Twelve messages: every other one with a client id, one from a guest (its
// subject and shown name apart), text that needs escaping, ts 1 ms apart.
const stored = Array.from({ length: 12 }, (_, i) => {
	const seq = i + 1;
	return {
		seq,
		id: seq % 2 === 0 ? `old${seq}` : null,
		subject: seq === 5 ? GUEST : seq % 3 === 0 ? 'bob' : 'alice',
		user: seq === 5 ? 'Gus' : seq % 3 === 0 ? 'bob' : 'alice',
		text: seq === 7 ? 'quote \' "double" \\ and\nnewline, émoji 🎉' : `before the migration ${seq}`,
		ts: T0 + seq,
	};
});
const shown = stored.map(({ seq, id, subject, user, text, ts }) => ({ seq, id, user, userId: subject, text, ts }));

const lit = (v) => (v === null ? 'NULL' : `'${String(v).replaceAll("'", "''")}'`);

// The migrations before records, applied as the servers apply them (each
// recorded in schema_migrations), then a room and its messages in the
// columns the messages table had.
async function oldDatabase(sql) {
	await sql(`CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`);
	const dir = path.join(ROOT, 'schema/migrations');
	for (const f of fs.readdirSync(dir).sort()) {
		const m = /^(\d{3})_([a-z0-9_]+)\.sql$/.exec(f);
		if (!m || Number(m[1]) > LAST) continue;
		await sql(`INSERT INTO schema_migrations (version, name) VALUES (${Number(m[1])}, '${m[2]}');
			${fs.readFileSync(path.join(dir, f), 'utf8')}`);
	}
	await sql(`INSERT INTO rooms (id, name, owner, capacity, visibility)
		VALUES ('${ROOM}', 'old room', 'alice', 10, 'public')`);
	await sql(`INSERT INTO messages (room_id, seq, client_id, user_id, user_name, body, created_at) VALUES
		${stored.map((m) => `('${ROOM}', ${m.seq}, ${lit(m.id)}, ${lit(m.subject)},
			${m.subject === GUEST ? lit(m.user) : 'NULL'}, ${lit(m.text)},
			to_timestamp(${m.ts} / 1000.0))`).join(',\n')}`);
}

const h = useStack({ sessions: 1, backends: 1, prepare: oldDatabase,
	sessionEnv: { SESSION_RING_SIZE: String(RING) } });

test('the servers migrate the database past the old schema', async () => {
	const [[version]] = await h.stack.sql('SELECT max(version) FROM schema_migrations');
	assert.ok(Number(version) > LAST, `schema at ${version}`);
});

test('HTTP history serves every message from before the migration as it was', async () => {
	const res = await request(h.stack.backendUrl, `/api/rooms/${ROOM}/messages?limit=100`,
		{ token: await tokenFor(h.stack, 'reader') });
	assert.equal(res.status, 200, res.text);
	assert.deepEqual(res.json, { messages: shown, more: false });
});

test('a session server serves them in its welcome, on resume and in history', async () => {
	const [c, welcome] = await join(h.stack, 'reader', ROOM);
	assert.equal(welcome.seq, 12);
	assert.deepEqual(welcome.messages, shown.slice(-RING));
	c.send({ type: 'history', before: 9, limit: 100 });
	const page = await c.next('history');
	assert.deepEqual(page, { type: 'history', messages: shown.slice(0, 8), more: false });

	for (const since of [0, 3, 10]) {
		const [r, resumed] = await join(h.stack, 'reader', ROOM, { since });
		assert.deepEqual(resumed.messages, shown.slice(since), `since=${since}`);
		assert.equal(resumed.more, undefined);
		await closeAll([r]);
	}
	await closeAll([c]);
});

// alice, registered: her subject is her name, the user_id of her old rows.
async function joinAsAlice() {
	const reg = await request(h.stack.backendUrl, '/api/auth/register',
		{ method: 'POST', body: { userId: 'alice', password: 'correct horse battery' } });
	assert.equal(reg.status, 200, reg.text);
	const res = await lookup(h.stack.backendUrl, reg.json.token, ROOM);
	assert.equal(res.status, 200, res.text);
	const c = await connect(res.json.host, res.json.token, { protocol: 'stateroom.v1' });
	await c.next('welcome');
	return c;
}

test('after the migration a retried old id keeps its seq, and new messages follow on', async () => {
	const alice = await joinAsAlice();
	alice.send({ type: 'send', id: 'old10', text: 'before the migration 10' });
	assert.equal((await alice.next({ type: 'ack', id: 'old10' })).seq, 10);
	assert.equal(await sendAcked(alice, 'new1', 'after the migration'), 13);
	const res = await request(h.stack.backendUrl, `/api/rooms/${ROOM}/messages?limit=100`,
		{ token: await tokenFor(h.stack, 'reader') });
	assert.deepEqual(res.json.messages.slice(0, 12), shown);
	assert.deepEqual(res.json.messages.slice(12).map((m) => [m.seq, m.id, m.user, m.text]),
		[[13, 'new1', 'alice', 'after the migration']]);
	await closeAll([alice]);
});

// Records of a kind the chat does not know (another application's, or a
// later version's) are not shown as messages: HTTP history skips them, and
// a session server loads the room and leaves them out of what it shows.
test('a record of another kind is not shown as a message', async () => {
	const roomId = await newRoom(h.stack, 'owner');
	await h.stack.sql(`INSERT INTO records (room_id, seq, user_id, payload, kind) VALUES
		('${roomId}', 1, 'alice', 'one', 'message'), ('${roomId}', 2, 'alice', '{"q":"?"}', 'poll'),
		('${roomId}', 3, 'alice', 'three', 'message')`);
	const res = await request(h.stack.backendUrl, `/api/rooms/${roomId}/messages`,
		{ token: await tokenFor(h.stack, 'reader') });
	assert.equal(res.status, 200, res.text);
	assert.deepEqual(res.json.messages.map((m) => [m.seq, m.text]), [[1, 'one'], [3, 'three']]);
	const [c, welcome] = await join(h.stack, 'reader', roomId);
	assert.equal(welcome.seq, 3);
	assert.deepEqual(welcome.messages.map((m) => [m.seq, m.text]), [[1, 'one'], [3, 'three']]);
	assert.equal(await sendAcked(c, 'after-poll', 'four'), 4);
	await closeAll([c]);
});
