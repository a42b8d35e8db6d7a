// Message search: GET /api/rooms/:id/search and GET /api/search. Ranking
// and paging, who may search where, blocks, deletions and edits (the
// records written straight into PostgreSQL as the room log writes them:
// an edit's payload is the new text, a delete scrubs the text), hostile
// queries and the rate limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, request, createRoom, lookup, tokenFor } from './lib/stack.js';
import { register, block, assertError } from './lib/friendsapi.js';

const h = useStack({ sessions: 1, backends: 1, sessionEnv: { SESSION_MAX_ROOMS: '200' } });
const sql = (q) => h.stack.sql(q);

const search = (who, roomId, query) =>
	request(h.stack.backendUrl, `/api/rooms/${roomId}/search?${query}`, { token: who.token });
const searchAll = (who, query) => request(h.stack.backendUrl, `/api/search?${query}`, { token: who.token });
const q = (text, extra = '') => `q=${encodeURIComponent(text)}${extra}`;

async function hits(who, roomId, text) {
	const res = await search(who, roomId, q(text, '&limit=50'));
	assert.equal(res.status, 200, res.text);
	return res.json.hits;
}

async function roomOf(who) {
	const res = await createRoom(h.stack.backendUrl, who.token);
	assert.equal(res.status, 200, res.text);
	return res.json.roomId;
}

// Appends records to roomId's log after its last seq; each is
// { user, text, kind = 'message', target }. Returns their seqs.
async function append(roomId, records) {
	const values = records.map((r, i) => {
		const text = r.text.replaceAll("'", "''");
		return `((SELECT base FROM b) + ${i + 1}, '${r.user}', '${text}', '${r.kind ?? 'message'}', ${r.target ?? 'NULL'})`;
	});
	const rows = await sql(`WITH b AS (SELECT coalesce(max(seq), 0) AS base FROM records WHERE room_id = '${roomId}')
		INSERT INTO records (room_id, seq, user_id, payload, kind, target)
		SELECT '${roomId}', v.seq, v.u, v.p, v.k, v.t::bigint FROM (VALUES ${values.join(',')}) v(seq, u, p, k, t)
		RETURNING seq`);
	return rows.map((r) => Number(r[0]));
}

// The walk of every page of a search, limit hits at a time.
async function walk(who, path, limit) {
	const pages = [];
	let cursor = null;
	for (let i = 0; i < 100; i++) {
		const res = await request(h.stack.backendUrl,
			`${path}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token: who.token });
		assert.equal(res.status, 200, res.text);
		pages.push(res.json.hits);
		cursor = res.json.next;
		if (cursor === null) return pages;
	}
	throw new Error('the walk did not end');
}

test('hits are ranked best first, paged without repeats or gaps, with the matched words marked', async () => {
	const a = await register(h.stack, 'sr');
	const room = await roomOf(a);
	const filler = Array.from({ length: 23 }, (_, i) => ({ user: a.id, text: `an apple a day, number ${i}` }));
	const [best, , other, ...rest] = await append(room, [
		{ user: a.id, text: 'apple apple apple, apple pie and apple juice' },
		{ user: a.id, text: 'nothing to see here' },
		{ user: 'someone', text: 'bananas only' },
		...filler,
	]);
	const pages = await walk(a, `/api/rooms/${room}/search?${q('apple')}`, 5);
	assert.deepEqual(pages.map((p) => p.length), [5, 5, 5, 5, 4]);
	const all = pages.flat();
	assert.equal(all[0].seq, best, 'the message saying apple most often first');
	assert.deepEqual(all.map((x) => x.seq).sort((x, y) => x - y), [best, ...rest]);
	assert.ok(!all.some((x) => x.seq === other));
	assert.deepEqual(Object.keys(all[0]).sort(), ['seq', 'snippet', 'text', 'ts', 'user', 'userId']);
	assert.equal(all[0].text, 'apple apple apple, apple pie and apple juice');
	assert.equal(all[0].userId, a.id);
	assert.equal(all[0].user, a.id);
	assert.match(all[0].snippet, /\u0002apple\u0003/);
	assert.equal(typeof all[0].ts, 'number');
	// Ties in rank: newest first.
	const tail = all.slice(1).map((x) => x.seq);
	assert.deepEqual(tail, [...tail].sort((x, y) => y - x));

	// Words in any script (case folded as the database's LC_CTYPE does:
	// ASCII only under the tests' C locale); phrases and exclusions
	// (websearch syntax).
	await append(room, [{ user: a.id, text: 'Привет Мир and 東京 TOWER' }, { user: a.id, text: 'apple tower' }]);
	assert.equal((await hits(a, room, 'Мир')).length, 1);
	assert.equal((await hits(a, room, '東京')).length, 1);
	assert.equal((await hits(a, room, '"apple tower"')).length, 1);
	assert.equal((await hits(a, room, 'tower -apple')).length, 1);
	assert.deepEqual(await hits(a, room, 'zebra'), []);
});

test('a DM is searched by its two users only; no room is 404 for anyone', async () => {
	const [a, b, c] = await Promise.all([register(h.stack, 'sd'), register(h.stack, 'sd'), register(h.stack, 'sd')]);
	const res = await request(h.stack.backendUrl, '/api/dms', { method: 'POST', token: a.token, body: { userId: b.id } });
	assert.equal(res.status, 201, res.text);
	const dm = res.json.roomId;
	await append(dm, [{ user: a.id, text: 'our private quince' }]);
	assert.equal((await hits(a, dm, 'quince')).length, 1);
	assert.equal((await hits(b, dm, 'quince')).length, 1);
	assertError(await search(c, dm, q('quince')), 404, 'not_found');
	assertError(await search(c, 'nosuchroom0', q('quince')), 404, 'not_found');
	assertError(await search(c, 'NOT-AN-ID', q('quince')), 404, 'not_found');
	// While either blocks the other, the DM is closed to both, as its history is.
	assert.equal((await block(h.stack, b, a)).status, 204);
	assertError(await search(a, dm, q('quince')), 403, 'not_allowed');
});

test('a guest searches a room but not across rooms (403 account_required)', async () => {
	const guest = { token: await tokenFor(h.stack, 'searchguest') };
	const owner = await register(h.stack, 'sg');
	const room = await roomOf(owner);
	await append(room, [{ user: owner.id, text: 'guests may read persimmon' }]);
	assert.equal((await hits(guest, room, 'persimmon')).length, 1);
	assertError(await searchAll(guest, q('persimmon')), 403, 'account_required');
	assertError(await request(h.stack.backendUrl, `/api/search?${q('x')}`), 401, 'unauthorized');
});

test('a message from a user the caller blocks is not found; others still find it', async () => {
	const [a, b, c] = await Promise.all([register(h.stack, 'sb'), register(h.stack, 'sb'), register(h.stack, 'sb')]);
	const room = await roomOf(c);
	const [fromB, fromC] = await append(room, [{ user: b.id, text: 'kumquat from b' }, { user: c.id, text: 'kumquat from c' }]);
	assert.deepEqual((await hits(a, room, 'kumquat')).map((x) => x.seq).sort(), [fromB, fromC].sort());
	assert.equal((await block(h.stack, a, b)).status, 204);
	assert.deepEqual((await hits(a, room, 'kumquat')).map((x) => x.seq), [fromC]);
	assert.equal((await hits(c, room, 'kumquat')).length, 2);
});

test('a deleted message is never found, nor its edits', async () => {
	const a = await register(h.stack, 'sx');
	const room = await roomOf(a);
	const [gone, edited, kept] = await append(room, [
		{ user: a.id, text: 'the secret plan' },
		{ user: a.id, text: 'another secret' },
		{ user: a.id, text: 'a public secret' },
	]);
	const [edit] = await append(room, [{ user: a.id, kind: 'edit', target: edited, text: 'another secret, edited' }]);
	await append(room, [{ user: a.id, kind: 'delete', target: gone, text: '' }, { user: a.id, kind: 'delete', target: edited, text: '' }]);
	// As the delete does in its transaction.
	await sql(`UPDATE records SET payload = '' WHERE room_id = '${room}' AND seq IN (${gone}, ${edited}, ${edit})`);
	assert.deepEqual((await hits(a, room, 'secret')).map((x) => x.seq), [kept]);
	// Even were the text still stored, the delete record hides it.
	await sql(`UPDATE records SET payload = 'the secret plan' WHERE room_id = '${room}' AND seq = ${gone}`);
	assert.deepEqual((await hits(a, room, 'plan')), []);
});

test('an edited message is found by its current text only, at its own seq', async () => {
	const a = await register(h.stack, 'se');
	const room = await roomOf(a);
	const [orig] = await append(room, [{ user: a.id, text: 'teh typo here' }]);
	await append(room, [{ user: a.id, kind: 'edit', target: orig, text: 'the fixd text' }]);
	await append(room, [{ user: a.id, kind: 'edit', target: orig, text: 'the fixed text' }]);
	assert.deepEqual(await hits(a, room, 'typo'), []);
	assert.deepEqual(await hits(a, room, 'fixd'), []);
	const found = await hits(a, room, 'fixed');
	assert.equal(found.length, 1);
	assert.equal(found[0].seq, orig);
	assert.equal(found[0].text, 'the fixed text');
	assert.equal(found[0].userId, a.id);
	assert.deepEqual((await hits(a, room, 'text')).map((x) => x.seq), [orig], 'one hit per message');
});

test('searching all rooms covers the caller\'s rooms only, with each hit\'s room, paged', async () => {
	const [a, b] = await Promise.all([register(h.stack, 'sa'), register(h.stack, 'sa')]);
	const [r1, r2, foreign] = await Promise.all([roomOf(a), roomOf(a), roomOf(b)]);
	// A ticket makes the membership (GET /api/me/rooms).
	for (const r of [r1, r2]) assert.equal((await lookup(h.stack.backendUrl, a.token, r)).status, 200);
	const s1 = await append(r1, [1, 2, 3].map((i) => ({ user: a.id, text: `loquat ${i}` })));
	const s2 = await append(r2, [1, 2, 3].map((i) => ({ user: b.id, text: `loquat ${i}` })));
	await append(foreign, [{ user: b.id, text: 'loquat elsewhere' }]);
	const pages = await walk(a, `/api/search?${q('loquat')}`, 2);
	assert.deepEqual(pages.map((p) => p.length), [2, 2, 2]);
	const got = pages.flat().map((x) => `${x.roomId}:${x.seq}`).sort();
	assert.deepEqual(got, [...s1.map((s) => `${r1}:${s}`), ...s2.map((s) => `${r2}:${s}`)].sort());
	// A room left is no longer one of the caller's.
	assert.equal((await request(h.stack.backendUrl, `/api/me/rooms/${r2}`, { method: 'DELETE', token: a.token })).status, 204);
	const after = await searchAll(a, q('loquat'));
	assert.equal(after.status, 200, after.text);
	assert.deepEqual(after.json.hits.map((x) => x.roomId), [r1, r1, r1]);
});

test('hostile queries get a clear 400 or no hits, never a server error', async () => {
	const a = await register(h.stack, 'sh');
	const room = await roomOf(a);
	await append(room, [{ user: a.id, text: "it's a trap; DROP TABLE records" }]);
	const bad = ['', 'q=', `q=${'x'.repeat(201)}`, 'q=%20%20', 'q=%FF%FE', 'q=a%01b', 'q=%00',
		`${q('x')}&limit=abc`, `${q('x')}&limit=-1`, `${q('x')}&cursor=abc`, `${q('x')}&cursor=1.2.room`,
		`${q('x')}&cursor=99999999999999999999.1`, q('-trap'), q('!!! ???'), q('""')];
	for (const query of bad) {
		const res = await search(a, room, query);
		assertError(res, 400, 'invalid_query');
		assert.ok(res.json.error.message.length > 10, `${query}: ${res.text}`);
	}
	assert.equal((await search(a, room, `q=${'x'.repeat(200)}`)).status, 200);
	for (const text of ["'; DROP TABLE records; --", 'trap & | !( <-> :*', 'trap:* | (records', '"unclosed trap',
		'\\\'trap', 'or or and', 'trap OR -', '😀 trap']) {
		const res = await search(a, room, q(text));
		assert.equal(res.status, 200, `${text}: ${res.text}`);
		assert.ok(Array.isArray(res.json.hits));
	}
	assert.equal((await hits(a, room, "'; DROP TABLE records; --")).length, 1);
	assert.equal((await sql('SELECT count(*) > 0 FROM records'))[0][0], 't');
});

test('searches are limited per user: 429 with Retry-After past the limit', async () => {
	const [a, b] = await Promise.all([register(h.stack, 'sl'), register(h.stack, 'sl')]);
	const room = await roomOf(a);
	let res;
	let n = 0;
	do {
		res = n % 2 ? await searchAll(a, q('fig')) : await search(a, room, q('fig'));
		n++;
	} while (res.status === 200 && n < 1000);
	assertError(res, 429, 'too_many_requests');
	assert.equal(n, 31, 'the default is 30 a minute');
	assert.ok(Number(res.headers.get('retry-after')) >= 1);
	// Another user is not held up.
	assert.equal((await search(b, room, q('fig'))).status, 200);
});

test('a room of 100 000 records: the GIN index serves the search, and hits are right', async () => {
	const a = await register(h.stack, 'sbig');
	const room = await roomOf(a);
	await sql(`INSERT INTO records (room_id, seq, user_id, payload)
		SELECT '${room}', g, '${a.id}', 'message number ' || g || CASE WHEN g % 25000 = 0 THEN ' needle' ELSE '' END
		FROM generate_series(1, 100000) g; ANALYZE records`);
	assert.deepEqual((await hits(a, room, 'needle')).map((x) => x.seq), [100000, 75000, 50000, 25000]);
	const all = await search(a, room, q('message number', '&limit=3'));
	assert.equal(all.status, 200);
	assert.equal(all.json.hits.length, 3);
	assert.equal(typeof all.json.next, 'string');
	// The API's match, as api_search.c spells it.
	const plan = (await sql(`EXPLAIN SELECT seq FROM records t WHERE t.room_id = '${room}'
		AND t.kind IN ('message', 'edit')
		AND to_tsvector('simple'::regconfig, t.payload) @@ websearch_to_tsquery('simple'::regconfig, 'needle')`))
		.map((r) => r[0]).join('\n');
	assert.match(plan, /records_search/, plan);
});
