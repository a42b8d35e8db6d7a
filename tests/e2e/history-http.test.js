// GET /api/rooms/:id/messages: paging backwards through a room's whole
// history, the limit clamp, bad queries, and the same shape as the native
// history frame.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, request, tokenFor, newRoom, join, sendAcked, closeAll } from './lib/stack.js';

const h = useStack({ sessions: 1, backends: 1 });

async function page(roomId, query = '', user = 'reader') {
	const res = await request(h.stack.backendUrl, `/api/rooms/${roomId}/messages${query}`,
		{ token: await tokenFor(h.stack, user) });
	return res;
}

async function okPage(roomId, query) {
	const res = await page(roomId, query);
	assert.equal(res.status, 200, res.text);
	return res.json;
}

// A room with n messages written straight into PostgreSQL: seq 1..n, every
// other one with a client id, ts one millisecond apart.
async function bigRoom(n) {
	const id = await newRoom(h.stack, 'owner');
	await h.stack.sql(`INSERT INTO messages (room_id, seq, client_id, user_id, body, created_at)
		SELECT '${id}', g, CASE WHEN g % 2 = 0 THEN 'c' || g END, 'u' || (g % 7), 'text ' || g,
		       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 millisecond'
		FROM generate_series(1, ${n}) g`);
	return id;
}

let room10k;

test('paging backwards through a 10 000-message room gives every seq once, in order', async () => {
	room10k = await bigRoom(10000);
	const seen = [];
	let before = '';
	let pages = 0;
	for (;;) {
		const p = await okPage(room10k, `?limit=100${before}`);
		pages++;
		assert.ok(p.messages.length >= 1 && p.messages.length <= 100, `page ${pages}: ${p.messages.length}`);
		for (let i = 1; i < p.messages.length; i++) {
			assert.equal(p.messages[i].seq, p.messages[i - 1].seq + 1, 'oldest first, no gap');
		}
		seen.unshift(...p.messages.map((m) => m.seq));
		if (!p.more) break;
		assert.ok(pages < 200, 'more never ends');
		before = `&before=${p.messages[0].seq}`;
	}
	assert.equal(pages, 100);
	assert.equal(seen.length, 10000);
	seen.forEach((s, i) => assert.equal(s, i + 1));
});

test('a page holds the messages as stored', async () => {
	const p = await okPage(room10k, '?before=4&limit=3');
	assert.deepEqual(p, {
		messages: [
			{ seq: 1, id: null, user: 'u1', userId: 'u1', text: 'text 1', ts: Date.UTC(2026, 0, 1) + 1 },
			{ seq: 2, id: 'c2', user: 'u2', userId: 'u2', text: 'text 2', ts: Date.UTC(2026, 0, 1) + 2 },
			{ seq: 3, id: null, user: 'u3', userId: 'u3', text: 'text 3', ts: Date.UTC(2026, 0, 1) + 3 },
		],
		more: false,
	});
});

test('without before the page is the newest messages; the default limit is 50', async () => {
	const p = await okPage(room10k, '');
	assert.equal(p.messages.length, 50);
	assert.equal(p.messages[0].seq, 9951);
	assert.equal(p.messages[49].seq, 10000);
	assert.equal(p.more, true);
});

test('before beyond the last message is the newest page', async () => {
	const p = await okPage(room10k, '?before=999999999999&limit=2');
	assert.deepEqual(p.messages.map((m) => m.seq), [9999, 10000]);
});

test('before=1 is an empty page with nothing more', async () => {
	assert.deepEqual(await okPage(room10k, '?before=1'), { messages: [], more: false });
});

for (const [limit, expect] of [['0', 1], ['-7', 1], ['1', 1], ['100', 100], ['101', 100], ['1000000', 100]]) {
	test(`limit=${limit} is clamped to ${expect}`, async () => {
		const p = await okPage(room10k, `?before=5000&limit=${limit}`);
		assert.equal(p.messages.length, expect);
		assert.equal(p.messages.at(-1).seq, 4999);
		assert.equal(p.more, true);
	});
}

for (const query of [
	'?before=abc', '?before=', '?before=1.5', '?before=1e3', '?before=0', '?before=-1', '?before=%2B5',
	'?before=99999999999999999999', '?before=5%00', '?limit=x', '?limit=', '?limit=2.0', '?limit=0x10',
	'?before=%20%205', '?before=5&limit=ten',
]) {
	test(`${query} gets 400 invalid_query`, async () => {
		const res = await page(room10k, query);
		assert.equal(res.status, 400, res.text);
		assert.equal(res.json?.error?.code, 'invalid_query', res.text);
	});
}

test('unknown parameters are ignored', async () => {
	const p = await okPage(room10k, '?limit=1&since=3&foo');
	assert.deepEqual(p.messages.map((m) => m.seq), [10000]);
});

test('a room with no messages gives an empty page', async () => {
	const id = await newRoom(h.stack, 'owner');
	assert.deepEqual(await okPage(id, ''), { messages: [], more: false });
});

for (const id of ['zzzzzzzzzzzz', 'NOTAROOMID', "x';DROP TABLE messages;--", 'a'.repeat(33)]) {
	test(`room ${JSON.stringify(id)} gets 404 not_found`, async () => {
		const res = await page(encodeURIComponent(id));
		assert.equal(res.status, 404, res.text);
		assert.equal(res.json?.error?.code, 'not_found');
	});
}

test('history needs a user token', async () => {
	const res = await request(h.stack.backendUrl, `/api/rooms/${room10k}/messages`);
	assert.equal(res.status, 401);
	assert.equal(res.json?.error?.code, 'unauthorized');
});

test('the page is the same as the session server\'s native history frame', async () => {
	const id = await newRoom(h.stack, 'owner');
	const [c] = await join(h.stack, 'writer', id);
	try {
		const texts = ['plain', "x'); DROP TABLE messages; --", '\u202Eright-to-left\u200F',
			'\u{1F600}'.repeat(1000), 'line\nbreak "quoted" \\ back'];
		for (const [i, t] of texts.entries()) await sendAcked(c, `id-${i}`, t);
		c.send({ type: 'history', limit: 100 });
		const frame = await c.next('history');
		const http = await okPage(id, '?limit=100');
		assert.deepEqual(http, { messages: frame.messages, more: frame.more });
		assert.deepEqual(http.messages.map((m) => m.text), texts);
		assert.deepEqual(http.messages.map((m) => m.id), texts.map((_, i) => `id-${i}`));
		assert.ok(http.messages.every((m) => m.user === 'writer'));
	} finally {
		await closeAll([c]);
	}
});
