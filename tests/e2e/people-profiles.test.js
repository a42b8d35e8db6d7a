// People: profiles and search through the HTTP API, as a client sees them.
// GET/PATCH /api/me, GET /api/users/:id, GET /api/users?q=: limits and
// their errors, NFC and case folding, blocks hiding the blocker, the guest
// rule, the search rate limit, and display names in join tickets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, login, createRoom, lookup, request, mintToken, decodeToken, nowSeconds } from './lib/stack.js';

// Small, so that the limit is quickly met; each test searches as a user of
// its own (the limit is per user) and stays below it, but the one for 429.
const SEARCHES = 8;
const h = useStack({ sessions: 1, backends: 1,
	backendEnv: { STATEROOM_SEARCHES_PER_MINUTE: String(SEARCHES) } });

let seq = 0;
const tag = `p${process.pid % 10000}`;
// A fresh user name per test, so that tests do not depend on each other.
const fresh = (prefix = 'u') => `${prefix}${tag}_${++seq}`;

async function register(userId) {
	const res = await request(h.stack.backendUrl, '/api/auth/register',
		{ method: 'POST', body: { userId, password: 'correct horse battery' } });
	assert.equal(res.status, 200, `register ${userId}: ${res.text}`);
	return res.json.token;
}

const me = (token) => request(h.stack.backendUrl, '/api/me', { token });
const patchMe = (token, body) => request(h.stack.backendUrl, '/api/me', { method: 'PATCH', token, body });
const getUser = (token, id) => request(h.stack.backendUrl, `/api/users/${encodeURIComponent(id)}`, { token });
function search(token, q, { limit, cursor } = {}) {
	const p = new URLSearchParams();
	if (q !== undefined) p.set('q', q);
	if (limit !== undefined) p.set('limit', String(limit));
	if (cursor !== undefined) p.set('cursor', cursor);
	return request(h.stack.backendUrl, `/api/users?${p}`, { token });
}
const ids = (res) => res.json.users.map((u) => u.userId);

function assertError(res, status, code, message) {
	assert.equal(res.status, status, `status: ${res.text}`);
	assert.equal(res.json?.error?.code, code, res.text);
	if (message) assert.match(res.json.error.message, message);
}

const block = (blocker, blocked) =>
	h.stack.sql(`INSERT INTO blocks (blocker, blocked) VALUES ('${blocker}', '${blocked}')`);

test('a new account has a profile: its login name, no status, initials and a colour', async () => {
	const user = fresh('Ann');
	const token = await register(user);
	const res = await me(token);
	assert.equal(res.status, 200, res.text);
	assert.equal(res.json.displayName, user);
	assert.equal(res.json.status, '');
	assert.equal(res.json.dmPolicy, 'everyone');
	assert.equal(res.json.avatar.initials, 'A');
	assert.match(res.json.avatar.color, /^#[0-9a-f]{6}$/);
	const other = await getUser(await register(fresh()), user);
	assert.equal(other.status, 200, other.text);
	assert.deepEqual(other.json, { userId: user, displayName: user, status: '', avatar: res.json.avatar });
});

test('PATCH /api/me changes the given fields, keeps absent ones, and null resets the name', async () => {
	const user = fresh();
	const token = await register(user);
	let res = await patchMe(token, { displayName: 'Ada Lovelace', status: 'counting', dmPolicy: 'friends' });
	assert.equal(res.status, 200, res.text);
	assert.equal(res.json.userId, user);
	assert.equal(res.json.displayName, 'Ada Lovelace');
	assert.equal(res.json.status, 'counting');
	assert.equal(res.json.dmPolicy, 'friends');
	assert.equal(res.json.avatar.initials, 'AL');

	res = await patchMe(token, { status: '' });
	assert.equal(res.status, 200, res.text);
	assert.equal(res.json.displayName, 'Ada Lovelace', 'an absent field is unchanged');
	assert.equal(res.json.status, '');
	assert.equal(res.json.dmPolicy, 'friends');

	const seen = await getUser(await register(fresh()), user);
	assert.equal(seen.json.displayName, 'Ada Lovelace');

	res = await patchMe(token, { displayName: null, dmPolicy: 'everyone' });
	assert.equal(res.status, 200, res.text);
	assert.equal(res.json.displayName, user);
	assert.equal(res.json.dmPolicy, 'everyone');
	assert.deepEqual((await me(token)).json, res.json);
	const [[name, key]] = await h.stack.sql(`SELECT coalesce(display_name, '-'), coalesce(display_key, '-') FROM users WHERE id = '${user}'`);
	assert.deepEqual([name, key], ['-', '-']);
});

test('a display name is trimmed and stored NFC: sent decomposed, it comes back composed', async () => {
	const token = await register(fresh());
	const res = await patchMe(token, { displayName: '  Rene\u0301 Zoe\u0308\u3000', status: ' cafe\u0301 ' });
	assert.equal(res.status, 200, res.text);
	assert.equal(res.json.displayName, 'Ren\u00e9 Zo\u00eb');
	assert.equal(res.json.status, 'caf\u00e9');
	assert.equal((await me(token)).json.displayName, 'Ren\u00e9 Zo\u00eb');
});

test('the limits: 64 characters of any script for a name, 140 for a status', async () => {
	const token = await register(fresh());
	const emoji64 = '\u{1F600}'.repeat(64);
	let res = await patchMe(token, { displayName: emoji64, status: '\u{10330}'.repeat(140) });
	assert.equal(res.status, 200, res.text);
	assert.equal(res.json.displayName, emoji64);
	assertError(await patchMe(token, { displayName: 'a'.repeat(65) }), 400, 'invalid_request', /displayName.*64/);
	assertError(await patchMe(token, { displayName: '\u{1F600}'.repeat(65) }), 400, 'invalid_request', /displayName.*64/);
	assertError(await patchMe(token, { status: 'b'.repeat(141) }), 400, 'invalid_request', /status.*140/);
	// 64 characters written decomposed are more than 64 code points as sent
	res = await patchMe(token, { displayName: 'e\u0301'.repeat(64) });
	assert.equal(res.status, 200, res.text);
	assert.equal(res.json.displayName, '\u00e9'.repeat(64));
	assert.equal((await me(token)).json.status, '\u{10330}'.repeat(140), 'a refused change changes nothing');
});

test('control characters, empty names and wrong types are refused with the field named', async () => {
	const token = await register(fresh());
	assertError(await patchMe(token, { displayName: 'nul\u0000x' }), 400, 'bad_json');   // JSON parsing refuses it first
	for (const displayName of ['tab\there', 'new\nline', 'del\u007f', 'ls\u2028x', 'ps\u2029x', 'c1\u0085x']) {
		assertError(await patchMe(token, { displayName }), 400, 'invalid_request', /displayName.*control/);
	}
	assertError(await patchMe(token, { status: 'a\nb' }), 400, 'invalid_request', /status.*control/);
	for (const displayName of ['', '   ', '\u3000\u00a0']) {
		assertError(await patchMe(token, { displayName }), 400, 'invalid_request', /displayName.*empty/);
	}
	assertError(await patchMe(token, { displayName: 42 }), 400, 'invalid_request', /displayName/);
	assertError(await patchMe(token, { displayName: ['x'] }), 400, 'invalid_request', /displayName/);
	assertError(await patchMe(token, { status: null }), 400, 'invalid_request', /status/);
	assertError(await patchMe(token, { status: 7 }), 400, 'invalid_request', /status/);
	assertError(await patchMe(token, { dmPolicy: 'nobody' }), 400, 'invalid_request', /dmPolicy/);
	assertError(await patchMe(token, { dmPolicy: true }), 400, 'invalid_request', /dmPolicy/);
	assertError(await request(h.stack.backendUrl, '/api/me', { method: 'PATCH', token, body: '[1]' }), 400, 'not_object');
	assertError(await request(h.stack.backendUrl, '/api/me', { method: 'PATCH', token, body: '{"status":' }), 400, 'bad_json');
	assert.equal((await me(token)).json.displayName.startsWith('u'), true, 'nothing was changed');
});

test('unknown fields are refused, so a forged userId cannot change another account', async () => {
	const victim = fresh();
	await register(victim);
	const token = await register(fresh());
	assertError(await patchMe(token, { userId: victim, displayName: 'Owned' }), 400, 'invalid_request', /unknown field/);
	assertError(await patchMe(token, { displayname: 'typo' }), 400, 'invalid_request', /unknown field/);
	const seen = await getUser(token, victim);
	assert.equal(seen.json.displayName, victim);
	assert.notEqual((await me(token)).json.displayName, 'Owned');
});

test('a login name that differs only by case from a registered one cannot be registered; login stays exact', async () => {
	const user = `Casey${tag}`;
	await register(user);
	for (const other of [user.toLowerCase(), user.toUpperCase()]) {
		const res = await request(h.stack.backendUrl, '/api/auth/register',
			{ method: 'POST', body: { userId: other, password: 'another password' } });
		assertError(res, 409, 'name_taken');
	}
	const ok = await request(h.stack.backendUrl, '/api/auth/login',
		{ method: 'POST', body: { userId: user, password: 'correct horse battery' } });
	assert.equal(ok.status, 200, ok.text);
	const wrongCase = await request(h.stack.backendUrl, '/api/auth/login',
		{ method: 'POST', body: { userId: user.toLowerCase(), password: 'correct horse battery' } });
	assertError(wrongCase, 401, 'invalid_credentials');
});

test('GET /api/users/:id: 404 for nobody, for an impossible id, and for someone who blocked the caller', async () => {
	const a = fresh('blk');
	const b = fresh('blk');
	const ta = await register(a);
	const tb = await register(b);
	assert.equal((await getUser(tb, a)).status, 200);
	assertError(await getUser(tb, fresh('nobody')), 404, 'not_found');
	assertError(await getUser(tb, 'not an id!'), 404, 'not_found');
	await block(a, b);
	const hidden = await getUser(tb, a);
	assertError(hidden, 404, 'not_found');
	assert.deepEqual(hidden.json, (await getUser(tb, fresh('nobody'))).json, 'a block looks like nobody');
	assert.equal((await getUser(ta, b)).status, 200, 'the blocker still sees the blocked');
});

test('search finds by login-name prefix and display-name prefix, case-insensitively, paged', async () => {
	const pre = `srch${tag}`;
	const users = [];
	for (let i = 0; i < 5; i++) users.push(`${pre}_${i}`);
	const tokens = [];
	for (const u of users) tokens.push(await register(u));
	const asker = await register(fresh());

	let res = await search(asker, pre.toUpperCase());
	assert.equal(res.status, 200, res.text);
	assert.deepEqual(ids(res), users);
	assert.equal(res.json.next, null);
	assert.deepEqual(res.json.users[0], (await getUser(asker, users[0])).json);

	const seen = [];
	let cursor;
	for (let page = 0; page < 3; page++) {
		res = await search(asker, pre, { limit: 2, cursor });
		assert.equal(res.status, 200, res.text);
		assert.ok(res.json.users.length <= 2);
		seen.push(...ids(res));
		cursor = res.json.next;
		if (page < 2) assert.equal(typeof cursor, 'string');
	}
	assert.equal(cursor, null, 'the last page says there is no next');
	assert.deepEqual(seen, users);

	// display names: Latin, Greek (final sigma), Cyrillic; found in any case, composed or not
	await patchMe(tokens[1], { displayName: `Zo\u00eb Quokka${tag}` });
	await patchMe(tokens[2], { displayName: `\u039f\u0394\u03a5\u03a3\u03a3\u0395\u0391\u03a3 ${tag}` });
	await patchMe(tokens[3], { displayName: `\u0416\u0435\u043d\u044f ${tag}` });
	const searcher = await register(fresh());
	assert.deepEqual(ids(await search(searcher, `zoe\u0308 qu`)), [users[1]]);
	assert.deepEqual(ids(await search(searcher, `ZO\u00cb QUOKKA${tag.toUpperCase()}`)), [users[1]]);
	assert.deepEqual(ids(await search(searcher, '\u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03b1\u03c2')), [users[2]]);
	assert.deepEqual(ids(await search(searcher, '\u0436\u0415\u041d')), [users[3]]);
	assert.deepEqual(ids(await search(searcher, `${pre}_4`)), [users[4]]);
	// LIKE's own characters are only themselves
	assert.deepEqual(ids(await search(searcher, `srch${tag}%`)), []);
	assert.deepEqual(ids(await search(searcher, `srch${tag}_`)), users);
});

test('search never returns the caller, nor anyone who blocked the caller', async () => {
	const pre = `hide${tag}`;
	const [a, b, c] = [`${pre}_a`, `${pre}_b`, `${pre}_c`];
	const ta = await register(a);
	const tb = await register(b);
	const tc = await register(c);
	assert.deepEqual(ids(await search(ta, pre)), [b, c]);
	await block(b, a);                      // b blocked a: a must not find b
	await block(a, c);                      // a blocked c: a still finds c (to unblock)
	assert.deepEqual(ids(await search(ta, pre)), [c]);
	// by display name too
	await patchMe(tb, { displayName: `Findme ${pre}` });
	assert.deepEqual(ids(await search(ta, 'findme')), []);
	assert.deepEqual(ids(await search(tc, 'findme')), [b]);
});

test('a bad query is refused with 400 and does not count', async () => {
	const token = await register(fresh());
	assertError(await search(token), 400, 'invalid_request', /q/);
	assertError(await search(token, ''), 400, 'invalid_request', /q/);
	assertError(await search(token, '  '), 400, 'invalid_request', /q/);
	assertError(await search(token, 'x'.repeat(65)), 400, 'invalid_request', /64/);
	assertError(await search(token, 'a\nb'), 400, 'invalid_request', /control/);
	for (const limit of ['0', '51', 'ten', '-1', '2.5']) {
		assertError(await search(token, 'a', { limit }), 400, 'invalid_request', /limit/);
	}
	assertError(await search(token, 'a', { cursor: 'not a cursor!' }), 400, 'invalid_request', /cursor/);
	for (let i = 0; i < SEARCHES; i++) assert.equal((await search(token, 'a')).status, 200, `search ${i}`);
});

test(`search past --searches-per-minute gets 429 with Retry-After`, async () => {
	const token = await register(fresh());
	for (let i = 0; i < SEARCHES; i++) assert.equal((await search(token, 'x')).status, 200, `search ${i}`);
	const res = await search(token, 'x');
	assertError(res, 429, 'too_many_requests');
	const retry = Number(res.headers.get('retry-after'));
	assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `Retry-After: ${retry}`);
	assert.equal((await search(await register(fresh()), 'x')).status, 200, 'another user is not limited');
});

test('a guest gets 403 account_required from every people call; GET /api/me still answers', async () => {
	const name = fresh('guest');
	const token = await login(h.stack.backendUrl, name);
	assertError(await patchMe(token, { displayName: 'Guesty' }), 403, 'account_required');
	assertError(await getUser(token, name), 403, 'account_required');
	assertError(await search(token, 'a'), 403, 'account_required');
	const res = await me(token);
	assert.equal(res.status, 200, res.text);
	assert.equal(res.json.userId, name);
	assert.equal(res.json.registered, false);
	assert.equal(res.json.displayName, undefined);
});

test('an absent or forged token gets 401', async () => {
	const user = fresh();
	await register(user);
	const forged = mintToken('not the secret', { sub: user, typ: 'user', reg: true, iat: nowSeconds(), exp: nowSeconds() + 60 });
	for (const token of [undefined, forged]) {
		assertError(await me(token), 401, 'unauthorized');
		assertError(await patchMe(token, { displayName: 'x' }), 401, 'unauthorized');
		assertError(await getUser(token, user), 401, 'unauthorized');
		assertError(await search(token, 'a'), 401, 'unauthorized');
	}
});

test("a registered user's join ticket names it by its display name; a guest's by its name", async () => {
	const user = fresh();
	const token = await register(user);
	const room = await createRoom(h.stack.backendUrl, token, {});
	assert.equal(room.status, 200, room.text);
	const ticketName = async (t) => {
		const res = await lookup(h.stack.backendUrl, t, room.json.roomId);
		assert.equal(res.status, 200, res.text);
		return decodeToken(res.json.token).claims.name;
	};
	assert.equal(await ticketName(token), user);
	await patchMe(token, { displayName: 'Zo\u00eb \u039b' });
	assert.equal(await ticketName(token), 'Zo\u00eb \u039b');
	// a ticket's name holds 64 bytes: a longer name is cut at a character
	await patchMe(token, { displayName: '\u540d'.repeat(30) });
	assert.equal(await ticketName(token), '\u540d'.repeat(21));
	const guest = fresh('g');
	assert.equal(await ticketName(await login(h.stack.backendUrl, guest)), guest);
});
