// The server API (docs/protocol.md, "Server API"): an app's own backend,
// holding a service token, publishes into a room as the server, lists who is
// in it, closes a member's connections with a reason (4013) and reads its
// history; the backend forwards the live calls to the session server that
// holds the room, which takes them only with an internal token signed for
// it, that room and that action.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
	useStack, request, join, newRoom, ticketFor, tokenFor, sendAcked, closeAll, mintToken, nowSeconds,
} from './lib/stack.js';

const SERVICE_TOKEN = 'svc-test-token-0123456789abcdef';
const OTHER_TOKEN = 'svc-other-token-0123456789abcdef';
const h = useStack({
	sessions: 2,
	backends: 1,
	backendEnv: { STATEROOM_SERVICE_TOKENS: `${OTHER_TOKEN},${SERVICE_TOKEN}` },
});

const api = (method, path, body, token = SERVICE_TOKEN) =>
	request(h.stack.backendUrl, path, { method, token, body });

test('the server API needs a service token: none is 401, a wrong one 403, a user token 403', async () => {
	const room = await newRoom(h.stack, 'sa-owner');
	const userToken = await tokenFor(h.stack, 'sa-owner');
	for (const [method, path, body] of [
		['POST', `/api/server/rooms/${room}/records`, { text: 'hi' }],
		['GET', `/api/server/rooms/${room}/presence`],
		['POST', `/api/server/rooms/${room}/close`, { userId: 'x' }],
		['GET', `/api/server/rooms/${room}/history`],
	]) {
		const none = await api(method, path, body, null);
		assert.equal(none.status, 401, none.text);
		assert.equal(none.json.error.code, 'unauthorized');
		const wrong = await api(method, path, body, `${SERVICE_TOKEN}x`);
		assert.equal(wrong.status, 403, wrong.text);
		const user = await api(method, path, body, userToken);
		assert.equal(user.status, 403, user.text);
	}
	// Either configured token works.
	const other = await api('GET', `/api/server/rooms/${room}/history`, undefined, OTHER_TOKEN);
	assert.equal(other.status, 200, other.text);
});

test('a published message reaches every connected client as the server, and history has it', async () => {
	const room = await newRoom(h.stack, 'sa-pub');
	const [a, wa] = await join(h.stack, 'sa-pub', room);
	const [b] = await join(h.stack, 'sa-pub2', room);
	await sendAcked(a, 'm1', 'from a user');

	const res = await api('POST', `/api/server/rooms/${room}/records`, { text: 'Welcome, both of you', name: 'Game master' });
	assert.equal(res.status, 200, res.text);
	assert.ok(Number.isInteger(res.json.seq) && res.json.seq > wa.seq, res.text);
	for (const c of [a, b]) {
		const m = await c.next({ type: 'message', seq: res.json.seq });
		assert.equal(m.text, 'Welcome, both of you');
		assert.equal(m.userId, 'server:');
		assert.equal(m.user, 'Game master');
	}
	// A late joiner sees it in its welcome, the users' history over HTTP has it.
	const [c, wc] = await join(h.stack, 'sa-pub3', room);
	assert.ok(wc.messages.some((m) => m.seq === res.json.seq && m.userId === 'server:'), JSON.stringify(wc.messages));
	const hist = await request(h.stack.backendUrl, `/api/rooms/${room}/messages`, {
		token: await tokenFor(h.stack, 'sa-pub'),
	});
	assert.ok(hist.json.messages.some((m) => m.seq === res.json.seq && m.text === 'Welcome, both of you'), hist.text);

	// The server API's history: every record, oldest first, paged.
	const all = await api('GET', `/api/server/rooms/${room}/history`);
	assert.equal(all.status, 200, all.text);
	const mine = all.json.records.find((r) => r.seq === res.json.seq);
	assert.deepEqual([mine.kind, mine.userId, mine.user, mine.payload], ['message', 'server:', 'Game master', 'Welcome, both of you']);
	assert.deepEqual(all.json.records.map((r) => r.seq), [...all.json.records.map((r) => r.seq)].sort((x, y) => x - y));
	const page = await api('GET', `/api/server/rooms/${room}/history?limit=1&before=${res.json.seq}`);
	assert.equal(page.json.records.length, 1, page.text);
	assert.equal(page.json.records[0].payload, 'from a user');
	assert.equal(page.json.more, false);
	await closeAll([a, b, c]);
});

test('publishing is refused with a clear error for bad input, a room nobody holds, and no room', async () => {
	const room = await newRoom(h.stack, 'sa-bad');
	const path = `/api/server/rooms/${room}/records`;
	for (const body of [{}, { text: '' }, { text: 'x', payload: 'y' }, { text: 5 }, { text: 'x', kind: 'Bad Kind' },
		{ text: 'x', name: 'a\u0007b' }]) {
		const res = await api('POST', path, body);
		assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
		assert.equal(res.json.error.code, 'invalid_record');
	}
	// Nobody has joined: the room is not loaded anywhere.
	const idle = await api('POST', path, { text: 'anyone?' });
	assert.equal(idle.status, 409, idle.text);
	assert.equal(idle.json.error.code, 'not_loaded');
	const presence = await api('GET', `/api/server/rooms/${room}/presence`);
	assert.deepEqual(presence.json, { loaded: false, members: [] });
	// A kind the chat does not take from the server.
	const [a] = await join(h.stack, 'sa-bad', room);
	const kind = await api('POST', path, { payload: { x: 1 }, kind: 'op' });
	assert.equal(kind.status, 400, kind.text);
	assert.equal(kind.json.error.code, 'invalid_record');
	const none = await api('POST', '/api/server/rooms/nosuchroom1/records', { text: 'x' });
	assert.equal(none.status, 404, none.text);
	const noHist = await api('GET', '/api/server/rooms/nosuchroom1/history');
	assert.equal(noHist.status, 404, noHist.text);
	await closeAll([a]);
});

test('presence lists who is in the room with their connections', async () => {
	const room = await newRoom(h.stack, 'sa-pres');
	const [a1, w] = await join(h.stack, 'sa-pres', room);
	const [a2] = await join(h.stack, 'sa-pres', room);
	const [b] = await join(h.stack, 'sa-pres-b', room);
	const res = await api('GET', `/api/server/rooms/${room}/presence`);
	assert.equal(res.status, 200, res.text);
	assert.equal(res.json.loaded, true);
	const byName = Object.fromEntries(res.json.members.map((m) => [m.name, m]));
	assert.deepEqual(Object.keys(byName).sort(), ['sa-pres', 'sa-pres-b']);
	assert.equal(byName['sa-pres'].userId, w.userId);
	assert.equal(byName['sa-pres'].connections, 2);
	assert.equal(byName['sa-pres-b'].connections, 1);
	await closeAll([a1, a2, b]);
});

test("close ends that user's connections with 4013 and the reason; the others stay", async () => {
	const room = await newRoom(h.stack, 'sa-close');
	const [a1, wa] = await join(h.stack, 'sa-close-a', room);
	const [a2] = await join(h.stack, 'sa-close-a', room);
	const [b] = await join(h.stack, 'sa-close-b', room);
	const res = await api('POST', `/api/server/rooms/${room}/close`, { userId: wa.userId, reason: 'match over' });
	assert.equal(res.status, 200, res.text);
	assert.equal(res.json.closed, 2);
	for (const c of [a1, a2]) assert.deepEqual(await c.closed, { code: 4013, reason: 'match over' });
	// b is still in, and hears the room go on.
	const seq = await sendAcked(b, 'after', 'still here');
	assert.ok(seq > 0);
	assert.equal(b.closeInfo, null);
	const bad = await api('POST', `/api/server/rooms/${room}/close`, { userId: 'bad id!' });
	assert.equal(bad.status, 400, bad.text);
	const long = await api('POST', `/api/server/rooms/${room}/close`, { userId: wa.userId, reason: 'x'.repeat(124) });
	assert.equal(long.status, 400, long.text);
	await closeAll([b]);
});

test('rooms on either session server are reached through the scheduler', async () => {
	const byHost = new Map();
	for (let i = 0; i < 12 && byHost.size < 2; i++) {
		const room = await newRoom(h.stack, 'sa-where');
		const { host } = await ticketFor(h.stack, 'sa-where', room);
		if (!byHost.has(host)) byHost.set(host, room);
	}
	assert.equal(byHost.size, 2, 'rooms were placed on both session servers');
	for (const room of byHost.values()) {
		const [c] = await join(h.stack, 'sa-where', room);
		const res = await api('POST', `/api/server/rooms/${room}/records`, { text: `hello ${room}` });
		assert.equal(res.status, 200, res.text);
		assert.equal((await c.next({ type: 'message', seq: res.json.seq })).text, `hello ${room}`);
		const p = await api('GET', `/api/server/rooms/${room}/presence`);
		assert.equal(p.json.members.length, 1, p.text);
		await closeAll([c]);
	}
});

test('a session server refuses its internal routes without a sound internal token', async () => {
	const room = await newRoom(h.stack, 'sa-int');
	const { host } = await ticketFor(h.stack, 'sa-int', room);
	const [c, w] = await join(h.stack, 'sa-int', room);
	const s = h.stack.sessions.find((x) => x.address === host);
	const other = h.stack.sessions.find((x) => x.address !== host);
	const base = `http://${host}`;
	const now = nowSeconds();
	const claims = (over = {}) => ({ aud: s.id, room, act: 'records', iat: now, exp: now + 5, typ: 'internal', ...over });
	const post = (token, path = `/internal/rooms/${room}/records`, body = { payload: 'forged', name: 'X' }) =>
		request(base, path, { method: 'POST', token, body });
	const forged = [
		undefined,
		'not-a-token',
		mintToken('another secret of at least thirty-two bytes', claims()),
		mintToken(h.stack.secret, claims({ typ: 'ticket' })),
		mintToken(h.stack.secret, claims({ aud: other.id })),
		mintToken(h.stack.secret, claims({ room: 'otherroom123' })),
		mintToken(h.stack.secret, claims({ act: 'close' })),
		mintToken(h.stack.secret, claims({ iat: now - 100, exp: now - 90 })),
		mintToken(h.stack.secret, claims({ exp: now + 3600 })),
	];
	for (const token of forged) {
		const res = await post(token);
		assert.equal(res.status, 401, `${token}: ${res.text}`);
	}
	for (const [method, act] of [['GET', 'presence'], ['POST', 'close']]) {
		const res = await request(base, `/internal/rooms/${room}/${act}`, { method, body: method === 'POST' ? { userId: w.userId } : undefined });
		assert.equal(res.status, 401, res.text);
	}
	await c.none({ type: 'message' });
	assert.equal(c.closeInfo, null, 'nobody was closed');
	// The same call with a sound token goes through: the refusals were the token's.
	const ok = await post(mintToken(h.stack.secret, claims()));
	assert.equal(ok.status, 200, ok.text);
	assert.equal((await c.next({ type: 'message', seq: ok.json.seq })).userId, 'server:');
	await closeAll([c]);
});
