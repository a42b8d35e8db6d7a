// Migration 011 (people): login names that differ only by case are one name
// from then on. A database at the schema before it, holding two accounts
// "alice" and "Alice" (allowed then), is migrated when the servers start:
// both still log in with their own passwords and are found by search, and
// nobody can register a third case of the name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { useStack, ROOT, request } from './lib/stack.js';

const LAST = 10; // the schema version before people

// argon2id strings as the backend writes them (libsodium, OWASP parameters),
// made once for these passwords: the test needs accounts from before any
// server runs.
const OLD = [
	{ id: 'alice', password: 'lower alice password', created: '2026-01-01T00:00:00Z',
		hash: '$argon2id$v=19$m=19456,t=2,p=1$zGBP0aNzJtNIfTSrCqN+qw$3Fw+9dfX4cDrfaLdp5kfubQhEwnNXDJDKT8yFxBQuCM' },
	{ id: 'Alice', password: 'upper Alice password', created: '2026-01-02T00:00:00Z',
		hash: '$argon2id$v=19$m=19456,t=2,p=1$1s3z901nkji0ho5xUt9VTQ$GvuimiugBioR03l9DA64f7DLwRL5Z6Q6bnsf/5CIgFQ' },
];

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
	await sql(`INSERT INTO users (id, password_hash, created_at) VALUES
		${OLD.map((u) => `('${u.id}', '${u.hash}', '${u.created}')`).join(', ')}`);
}

const h = useStack({ sessions: 0, backends: 1, prepare: oldDatabase });

const post = (p, body) => request(h.stack.backendUrl, p, { method: 'POST', body });

test('the servers migrate the database past the old schema; the older account keeps the key', async () => {
	const [[version]] = await h.stack.sql('SELECT max(version) FROM schema_migrations');
	assert.ok(Number(version) > LAST, `schema at ${version}`);
	const rows = await h.stack.sql(`SELECT id, coalesce(login_key, '-') FROM users ORDER BY id COLLATE "C"`);
	assert.deepEqual(rows, [['Alice', '-'], ['alice', 'alice']]);
});

test('both accounts still log in, each with its own password, and see their own profile', async () => {
	for (const u of OLD) {
		const res = await post('/api/auth/login', { userId: u.id, password: u.password });
		assert.equal(res.status, 200, `${u.id}: ${res.text}`);
		const me = await request(h.stack.backendUrl, '/api/me', { token: res.json.token });
		assert.equal(me.json.userId, u.id);
		assert.equal(me.json.displayName, u.id);
		const other = OLD.find((o) => o !== u);
		const wrong = await post('/api/auth/login', { userId: u.id, password: other.password });
		assert.equal(wrong.status, 401, wrong.text);
	}
});

test('a third case of the name cannot be registered; another name can', async () => {
	for (const id of ['ALICE', 'aLiCe']) {
		const res = await post('/api/auth/register', { userId: id, password: 'a new password' });
		assert.equal(res.status, 409, `${id}: ${res.text}`);
		assert.equal(res.json.error.code, 'name_taken');
	}
	const bob = await post('/api/auth/register', { userId: 'bob', password: 'a new password' });
	assert.equal(bob.status, 200, bob.text);
	const found = await request(h.stack.backendUrl, '/api/users?q=ALI', { token: bob.json.token });
	assert.equal(found.status, 200, found.text);
	assert.deepEqual(found.json.users.map((u) => u.userId), ['Alice', 'alice']);
});
