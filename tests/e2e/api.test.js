// The backend's HTTP API as a client sees it: login, rooms, bad input, limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import {
	ROOT, useStack, login, createRoom, lookup, request, rawHttp, mintToken, mintRawToken, decodeToken, nowSeconds,
	newJti,
} from './lib/stack.js';

const h = useStack({ sessions: 1, backends: 1 });

function assertJsonError(res, status, code) {
	assert.equal(res.status, status, `status: ${res.text}`);
	assert.match(res.headers.get('content-type') ?? '', /application\/json/);
	assert.equal(typeof res.json?.error?.message, 'string', `error body: ${res.text}`);
	if (code) assert.equal(res.json.error.code, code);
}

test('login gives a signed user token for the user id', async () => {
	const token = await login(h.stack.backendUrl, 'alice');
	const { header, claims } = decodeToken(token);
	assert.equal(header.alg, 'HS256');
	// A guest is its login (a subject of its own), shown by the name it chose.
	assert.match(claims.sub, /^guest:[A-Za-z0-9_-]{22}$/);
	assert.equal(claims.name, 'alice');
	assert.equal(claims.userId, 'alice');
	assert.equal(claims.typ, 'user');
	assert.ok(claims.exp > nowSeconds() + 3600, `exp ${claims.exp}`);
	assert.ok(Math.abs(claims.iat - nowSeconds()) < 60, `iat ${claims.iat}`);
	// Signed with the shared secret: our own HS256 gives the same signature.
	assert.equal(mintToken(h.stack.secret, claims), token);
});

test('login accepts 32 characters from A-Z a-z 0-9 _ - .', async () => {
	const id = 'Az09_-.'.padEnd(32, 'x');
	const token = await login(h.stack.backendUrl, id);
	assert.equal(decodeToken(token).claims.userId, id);
});

for (const [what, userId] of [
	['an empty user id', ''],
	['a 33-character user id', 'a'.repeat(33)],
	['a user id with a space', 'al ice'],
	['a user id with an emoji', 'al\u{1F600}'],
	['a user id that is a number', 42],
	['a user id that is null', null],
	['a missing user id', undefined],
]) {
	test(`login refuses ${what} with 400 invalid_user_id`, async () => {
		const body = userId === undefined ? {} : { userId };
		const res = await request(h.stack.backendUrl, '/api/login', { method: 'POST', body });
		assertJsonError(res, 400, 'invalid_user_id');
	});
}

test('malformed JSON gets 400 bad_json', async () => {
	const res = await request(h.stack.backendUrl, '/api/login', { method: 'POST', body: '{"userId": "al' });
	assertJsonError(res, 400, 'bad_json');
});

test('a JSON body that is not an object gets 400', async () => {
	const res = await request(h.stack.backendUrl, '/api/login', { method: 'POST', body: '["alice"]' });
	assert.equal(res.status, 400);
	assertJsonError(res, 400);
});

test('a body that is not JSON by Content-Type gets 415', async () => {
	const res = await request(h.stack.backendUrl, '/api/login', {
		method: 'POST', body: '{"userId":"alice"}', headers: { 'content-type': 'text/plain' },
	});
	assertJsonError(res, 415);
});

// A page on another site may post these without a CORS preflight; only
// application/json needs one (docs/protocol.md, "HTTP API").
for (const [what, headers] of [
	['no Content-Type', null],
	['Content-Type text/plain', 'text/plain;charset=UTF-8'],
	['Content-Type application/x-www-form-urlencoded', 'application/x-www-form-urlencoded'],
	['Content-Type multipart/form-data', 'multipart/form-data; boundary=x'],
]) {
	test(`a body with ${what} gets 415 on every JSON route, and does nothing`, async () => {
		const user = `csrf${Math.floor(Math.random() * 1e9)}`;
		const token = await login(h.stack.backendUrl, 'alice');
		const calls = [
			['/api/auth/register', { userId: user, password: 'correct horse battery' }],
			['/api/auth/login', { userId: user, password: 'correct horse battery' }],
			['/api/login', { userId: user }],
			['/api/rooms', { name: 'x' }, token],
		];
		for (const [route, body, bearer] of calls) {
			const text = JSON.stringify(body);
			const res = await rawHttp(h.stack.backends[0].port,
				`POST ${route} HTTP/1.1\r\nHost: x\r\n${headers ? `Content-Type: ${headers}\r\n` : ''}` +
				`${bearer ? `Authorization: Bearer ${bearer}\r\n` : ''}` +
				`Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
			assert.equal(res.status, 415, `${route}: ${res.text}`);
			assert.match(res.text, /"code":"unsupported_media_type"/, route);
		}
		// The registration did not happen: the name is still free.
		const reg = await request(h.stack.backendUrl, '/api/auth/register', {
			method: 'POST', body: { userId: user, password: 'correct horse battery' },
		});
		assert.equal(reg.status, 200, reg.text);
	});
}

test('application/json in any case and with parameters is JSON', async () => {
	for (const type of ['application/json', 'Application/JSON; charset=utf-8', 'application/json ; charset="UTF-8"']) {
		const res = await request(h.stack.backendUrl, '/api/login', {
			method: 'POST', body: '{"userId":"alice"}', headers: { 'content-type': type },
		});
		assert.equal(res.status, 200, `${type}: ${res.text}`);
	}
});

test('a request without a body needs no Content-Type', async () => {
	const token = await login(h.stack.backendUrl, 'alice');
	const res = await rawHttp(h.stack.backends[0].port,
		`POST /api/rooms HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
	assert.equal(res.status, 200, res.text);
});

// Two parsers (a proxy's, ours) could each believe a different copy.
for (const [route, body, needsToken] of [
	['/api/login', '{"userId":"alice","userId":"root"}'],
	['/api/auth/login', '{"userId":"alice","password":"correct horse battery","userId":"bob"}'],
	['/api/auth/register', '{"userId":"dupkeys","password":"correct horse battery","password":"x"}'],
	['/api/rooms', '{"name":"a","capacity":5,"capacity":500000}', true],
]) {
	test(`a body giving a key twice gets 400 bad_json on ${route}`, async () => {
		const token = needsToken ? await login(h.stack.backendUrl, 'alice') : undefined;
		const res = await request(h.stack.backendUrl, route, { method: 'POST', body, token });
		assertJsonError(res, 400, 'bad_json');
	});
}

test('creating a room gives a 12-character room id', async () => {
	const token = await login(h.stack.backendUrl, 'alice');
	const res = await createRoom(h.stack.backendUrl, token);
	assert.equal(res.status, 200, res.text);
	assert.match(res.json.roomId, /^[a-z0-9]{12}$/);
});

test('looking a room up gives its session server and a ticket bound to user, room and server', async () => {
	const token = await login(h.stack.backendUrl, 'alice');
	const user = decodeToken(token).claims;
	const { json: { roomId } } = await createRoom(h.stack.backendUrl, token);
	const res = await lookup(h.stack.backendUrl, token, roomId);
	assert.equal(res.status, 200, res.text);
	assert.equal(res.json.host, h.stack.sessions[0].address);
	const { header, claims } = decodeToken(res.json.token);
	assert.equal(header.alg, 'HS256');
	assert.equal(claims.typ, 'ticket');
	assert.equal(claims.sub, user.sub);
	assert.equal(claims.name, 'alice');
	assert.equal(claims.room, roomId);
	assert.equal(claims.aud, h.stack.sessions[0].id);
	assert.equal(typeof claims.epoch, 'number');
	assert.match(claims.jti, /^[A-Za-z0-9_-]{22}$/);
	const ttl = claims.exp - nowSeconds();
	assert.ok(ttl > 10 && ttl <= 31, `ticket lives ${ttl} s`);
});

test('two lookups give two different tickets', async () => {
	const token = await login(h.stack.backendUrl, 'alice');
	const { json: { roomId } } = await createRoom(h.stack.backendUrl, token);
	const a = await lookup(h.stack.backendUrl, token, roomId);
	const b = await lookup(h.stack.backendUrl, token, roomId);
	assert.notEqual(decodeToken(a.json.token).claims.jti, decodeToken(b.json.token).claims.jti);
});

test('looking up an unknown room gives host and token null', async () => {
	const token = await login(h.stack.backendUrl, 'alice');
	const res = await lookup(h.stack.backendUrl, token, 'zzzzzzzzzzzz');
	assert.equal(res.status, 200, res.text);
	assert.deepEqual(res.json, { host: null, token: null });
});

const badBearers = [
	['no Authorization header', () => undefined],
	['a Basic Authorization header', () => 'Basic YWxpY2U6c2VjcmV0'],
	['a bearer that is not a token', () => 'Bearer not-a-token'],
	['a bearer signed with another secret', () => `Bearer ${mintToken('x'.repeat(64), userClaims())}`],
	['an expired bearer', (s) => `Bearer ${mintToken(s.secret, userClaims({ exp: nowSeconds() - 5 }))}`],
	['a bearer with alg none', (s) => `Bearer ${unsigned(userClaims())}`],
	['a bearer with alg HS512', (s) => `Bearer ${mintToken(s.secret, userClaims(), { header: { alg: 'HS512', typ: 'JWT' } })}`],
	['a join ticket used as a bearer', (s) => `Bearer ${mintToken(s.secret, ticketClaims(s))}`],
	// Times are JSON integers in range (docs/protocol.md, "Tokens").
	['a bearer whose exp is 1e300', (s) => `Bearer ${mintToken(s.secret, userClaims({ exp: 1e300 }))}`],
	['a bearer whose exp is fractional', (s) => `Bearer ${mintToken(s.secret, userClaims({ exp: nowSeconds() + 600.5 }))}`],
	['a bearer living longer than --token-ttl', (s) => `Bearer ${mintToken(s.secret, userClaims({ exp: nowSeconds() + 2 * 86400 }))}`],
	['a bearer with no iat', (s) => `Bearer ${mintToken(s.secret, userClaims({ iat: undefined }))}`],
	['a bearer issued in the future', (s) => `Bearer ${mintToken(s.secret, userClaims({ iat: nowSeconds() + 300 }))}`],
	['a bearer that gives sub twice', (s) => `Bearer ${mintRawToken(s.secret,
		`${JSON.stringify(userClaims()).slice(0, -1)},"sub":"alice"}`)}`],
];

function userClaims(extra = {}) {
	const now = nowSeconds();
	return { sub: 'mallory', name: 'mallory', iat: now, exp: now + 600, typ: 'user', ...extra };
}

function ticketClaims(s) {
	const now = nowSeconds();
	return {
		sub: 'mallory', name: 'mallory', room: 'aaaaaaaaaaaa', aud: s.sessions[0].id, epoch: 1,
		iat: now, exp: now + 30, jti: newJti(), typ: 'ticket',
	};
}

function unsigned(claims) {
	const b = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
	return `${b({ alg: 'none', typ: 'JWT' })}.${b(claims)}.`;
}

for (const [what, make] of badBearers) {
	test(`creating a room with ${what} gets 401`, async () => {
		const auth = make(h.stack);
		const res = await request(h.stack.backendUrl, '/api/rooms', {
			method: 'POST', headers: auth ? { authorization: auth } : {}, body: {},
		});
		assertJsonError(res, 401, 'unauthorized');
	});
}

test('a real join ticket used as a bearer gets 401', async () => {
	const token = await login(h.stack.backendUrl, 'alice');
	const { json: { roomId } } = await createRoom(h.stack.backendUrl, token);
	const { json: { token: ticket } } = await lookup(h.stack.backendUrl, token, roomId);
	const res = await lookup(h.stack.backendUrl, ticket, roomId);
	assertJsonError(res, 401, 'unauthorized');
});

test('a lookup without a bearer gets 401', async () => {
	const res = await request(h.stack.backendUrl, '/api/rooms/abcdefabcdef');
	assertJsonError(res, 401, 'unauthorized');
});

test('an unknown API route gets 404 not_found as JSON', async () => {
	const res = await request(h.stack.backendUrl, '/api/nothing-here');
	assertJsonError(res, 404, 'not_found');
});

test('a known route with the wrong method gets 405 method_not_allowed', async () => {
	const res = await request(h.stack.backendUrl, '/api/login', { method: 'DELETE' });
	assertJsonError(res, 405, 'method_not_allowed');
	const get = await request(h.stack.backendUrl, '/api/login');
	assertJsonError(get, 405, 'method_not_allowed');
});

test('a body over 64 KiB gets 413', async () => {
	const body = JSON.stringify({ userId: 'alice', pad: 'x'.repeat(65 * 1024) });
	const res = await rawHttp(h.stack.backends[0].port,
		`POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
	assert.equal(res.status, 413, res.text.slice(0, 300));
});

test('a body of just under 64 KiB is read (and judged on its content)', async () => {
	const body = JSON.stringify({ userId: 'alice', pad: 'x'.repeat(60 * 1024) });
	const res = await request(h.stack.backendUrl, '/api/login', { method: 'POST', body });
	assert.equal(res.status, 200, res.text);
});

test('request headers over 8 KiB get 431', async () => {
	const res = await rawHttp(h.stack.backends[0].port,
		`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'y'.repeat(9000)}\r\n\r\n`);
	assert.equal(res.status, 431, res.text.slice(0, 300));
});

test('a request that is not HTTP gets 400', async () => {
	const res = await rawHttp(h.stack.backends[0].port, 'HELLO THERE\r\n\r\n');
	assert.equal(res.status, 400, res.text.slice(0, 300));
});

test('keep-alive: two requests on one connection both get answers', async () => {
	const req = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
	const res = await rawHttp(h.stack.backends[0].port, [req, req], { pauseMs: 100, timeoutMs: 1500 });
	assert.equal(res.text.match(/HTTP\/1\.1 200/g)?.length, 2, res.text);
});

test('a client that sends its request head slowly is cut off after about 10 s', { timeout: 20000 }, async () => {
	// One byte a second keeps the connection busy but never finishes the head.
	const bytes = 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'z'.repeat(40);
	const res = await rawHttp(h.stack.backends[0].port, bytes.split(''), { pauseMs: 1000, timeoutMs: 16000 });
	assert.equal(res.timedOut, false, 'the server never closed the connection');
	assert.ok(res.ms >= 9000 && res.ms < 14000, `closed after ${res.ms} ms`);
	assert.doesNotMatch(res.text, /^HTTP\/1\.1 200/);
});

test('healthz answers {"status":"ok"}', async () => {
	const res = await request(h.stack.backendUrl, '/healthz');
	assert.equal(res.status, 200);
	assert.deepEqual(res.json, { status: 'ok' });
});

test('readyz answers 200 while the database is reachable', async () => {
	const res = await request(h.stack.backendUrl, '/readyz');
	assert.equal(res.status, 200);
});

test('metrics are Prometheus text', async () => {
	const res = await request(h.stack.backendUrl, '/metrics');
	assert.equal(res.status, 200);
	assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
	assert.match(res.text, /^# (HELP|TYPE) \w+/m);
	assert.match(res.text, /^\w+(\{[^}]*\})? [0-9.eE+-]+$/m);
});

test('the session server answers healthz, readyz and metrics too', async () => {
	const base = `http://${h.stack.sessions[0].address}`;
	const health = await request(base, '/healthz');
	assert.equal(health.status, 200);
	assert.deepEqual(health.json, { status: 'ok' });
	assert.equal((await request(base, '/readyz')).status, 200);
	const metrics = await request(base, '/metrics');
	assert.equal(metrics.status, 200);
	assert.match(metrics.text, /^# (HELP|TYPE) \w+/m);
});

test('the backend serves the web client at /', async () => {
	const res = await request(h.stack.backendUrl, '/');
	assert.equal(res.status, 200);
	assert.match(res.headers.get('content-type') ?? '', /text\/html/);
});

// A module the page imports but the backend does not serve (a subfolder, an
// unknown extension) breaks the page in every browser; one nothing imports
// is dead. So: from index.html's module script, follow every import, and
// meet each .js file of client/ once, served as JavaScript (the service
// worker too, which client/push.js registers).
test('the backend serves every module of the web client, and each one is used', async () => {
	const page = await request(h.stack.backendUrl, '/');
	const entries = [...page.text.matchAll(/<script type="module" src="([^"]+)"/g)].map((m) => m[1]);
	assert.deepEqual(entries, ['/app.js']);
	const seen = new Set();
	const todo = [...entries];
	while (todo.length > 0) {
		const file = todo.pop();
		if (seen.has(file)) continue;
		seen.add(file);
		const res = await request(h.stack.backendUrl, file);
		assert.equal(res.status, 200, file);
		assert.match(res.headers.get('content-type') ?? '', /^text\/javascript/, file);
		// Imports, and the service worker a module registers (client/push.js).
		for (const m of res.text.matchAll(/\bfrom\s+'([^']+)'|serviceWorker\.register\('([^']+)'/g)) {
			const spec = m[1] ?? m[2];
			todo.push(new URL(spec, `http://client${file}`).pathname);
		}
	}
	// The client library (lib/) is a module of the page too: the game's and the whiteboard's views use it.
	const onDisk = [
		...readdirSync(path.join(ROOT, 'client')).filter((f) => f.endsWith('.js')).map((f) => `/${f}`),
		...readdirSync(path.join(ROOT, 'client/lib')).filter((f) => f.endsWith('.js')).map((f) => `/lib/${f}`),
	];
	assert.deepEqual([...seen].sort(), onDisk.sort());
});
