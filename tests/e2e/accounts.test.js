// Accounts as a client sees them: register, log in, /api/me, the guest rule,
// equal answers for unknown names and wrong passwords, and hostile input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, login, createRoom, lookup, request, mintToken, decodeToken, nowSeconds, newJti } from './lib/stack.js';

const h = useStack({ sessions: 1, backends: 1 });

let seq = 0;
// A fresh user name per test, so that tests do not depend on each other.
const fresh = (prefix = 'u') => `${prefix}${process.pid % 10000}_${++seq}`;

// from: a source address in 127.0.0.0/8, for a test that fails logins
// often enough to meet the per-address limit (see logins.test.js).
function post(path, body, from) {
	return request(h.stack.backendUrl, path, { method: 'POST', body, localAddress: from });
}

const register = (userId, password) => post('/api/auth/register', { userId, password });
const signIn = (userId, password, from) => post('/api/auth/login', { userId, password }, from);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const me = (token) => request(h.stack.backendUrl, '/api/me', { token });

function assertJsonError(res, status, code) {
	assert.equal(res.status, status, `status: ${res.text}`);
	assert.match(res.headers.get('content-type') ?? '', /application\/json/);
	assert.equal(typeof res.json?.error?.message, 'string', `error body: ${res.text}`);
	if (code) assert.equal(res.json.error.code, code, res.text);
}

// A registered user's /api/me: who the token says and a profile not yet
// changed (people-profiles.test.js tests the profile itself).
function assertMe(got, user) {
	const { avatar, ...rest } = got;
	assert.deepEqual(rest, { userId: user, name: user, sub: user, registered: true,
		displayName: user, status: '', dmPolicy: 'everyone' });
	assert.match(avatar?.color ?? '', /^#[0-9a-f]{6}$/);
}

function median(xs) {
	const s = [...xs].sort((a, b) => a - b);
	return s[Math.floor(s.length / 2)];
}

test('register gives a registered user token that /api/me reads back', async () => {
	const user = fresh('reg');
	const res = await register(user, 'correct horse battery');
	assert.equal(res.status, 200, res.text);
	const { header, claims } = decodeToken(res.json.token);
	assert.equal(header.alg, 'HS256');
	assert.equal(claims.sub, user);
	assert.equal(claims.typ, 'user');
	assert.equal(claims.reg, true);
	assert.equal(claims.exp - claims.iat, 86400, 'the default --token-ttl is 24 h');
	assert.equal(mintToken(h.stack.secret, claims), res.json.token);
	const who = await me(res.json.token);
	assert.equal(who.status, 200, who.text);
	assertMe(who.json, user);
});

test('the password is stored only as an argon2id hash with OWASP parameters', async () => {
	const user = fresh('hash');
	const password = 'correct horse battery';
	assert.equal((await register(user, password)).status, 200);
	const rows = await h.stack.sql(`SELECT password_hash FROM users WHERE id = '${user}'`);
	assert.equal(rows.length, 1);
	assert.match(rows[0][0], /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
	assert.ok(!rows[0][0].includes(password));
});

test('login with the right password gives a token that works for the API', async () => {
	const user = fresh('login');
	assert.equal((await register(user, 'correct horse battery')).status, 200);
	const res = await signIn(user, 'correct horse battery');
	assert.equal(res.status, 200, res.text);
	assert.equal(decodeToken(res.json.token).claims.sub, user);
	assertMe((await me(res.json.token)).json, user);
	const room = await createRoom(h.stack.backendUrl, res.json.token, { name: 'mine' });
	assert.equal(room.status, 200, room.text);
	const found = await lookup(h.stack.backendUrl, res.json.token, room.json.roomId);
	assert.equal(found.status, 200, found.text);
	assert.equal(decodeToken(found.json.token).claims.sub, user);
});

test('a guest is not registered according to /api/me', async () => {
	const user = fresh('guest');
	const token = await login(h.stack.backendUrl, user);
	const res = await me(token);
	assert.equal(res.status, 200, res.text);
	assert.deepEqual(res.json, { userId: user, name: user, sub: decodeToken(token).claims.sub, registered: false });
});

test('a password with emoji and right-to-left marks must match byte for byte', async () => {
	const user = fresh('bytes');
	const password = 'pass \u{1F600}\u202Eword\u200F';
	assert.equal((await register(user, password)).status, 200);
	assert.equal((await signIn(user, password)).status, 200);
	assertJsonError(await signIn(user, 'pass \u{1F600}\u202Eword'), 401, 'invalid_credentials');
	assertJsonError(await signIn(user, 'pass \u{1F600}\u202Dword\u200F'), 401, 'invalid_credentials');
});

test('a password holding a NUL is refused with 400', async () => {
	assertJsonError(await register(fresh('nul'), 'pass\u0000word'), 400);
});

test('a wrong password and an unknown name get the same status and body', async () => {
	const user = fresh('same');
	assert.equal((await register(user, 'correct horse battery')).status, 200);
	const wrong = await signIn(user, 'wrong horse battery');
	const unknown = await signIn(fresh('nobody'), 'wrong horse battery');
	assertJsonError(wrong, 401, 'invalid_credentials');
	assert.equal(unknown.status, wrong.status);
	assert.equal(unknown.text, wrong.text);
	assert.equal(unknown.headers.get('www-authenticate'), wrong.headers.get('www-authenticate'));
});

test('a wrong password and an unknown name take about the same time', async () => {
	const user = fresh('timing');
	assert.equal((await register(user, 'correct horse battery')).status, 200);
	const from = '127.0.0.20';
	const timed = async (name) => {
		const t0 = process.hrtime.bigint();
		const res = await signIn(name, 'wrong horse battery', from);
		const ms = Number(process.hrtime.bigint() - t0) / 1e6;
		assert.equal(res.status, 401, res.text);
		return ms;
	};
	const wrong = [];
	const unknown = [];
	// Interleaved, one at a time, so that both see the same machine load.
	for (let i = 0; i < 9; i++) {
		wrong.push(await timed(user));
		unknown.push(await timed(`nobody${i}_${process.pid % 10000}`));
		// Clears the name's failures, which would back it off after 5.
		assert.equal((await signIn(user, 'correct horse battery', from)).status, 200);
	}
	const a = median(wrong);
	const b = median(unknown);
	// Skipping the hash would make one side ~100x faster; a factor 3 allows for noise.
	assert.ok(Math.max(a, b) / Math.min(a, b) < 3,
		`median wrong password ${a.toFixed(2)} ms, unknown name ${b.toFixed(2)} ms`);
});

test('registering a taken name gets 409 name_taken and keeps the first password', async () => {
	const user = fresh('taken');
	assert.equal((await register(user, 'first password')).status, 200);
	assertJsonError(await register(user, 'second password'), 409, 'name_taken');
	assert.equal((await signIn(user, 'first password')).status, 200);
	assertJsonError(await signIn(user, 'second password'), 401, 'invalid_credentials');
	const rows = await h.stack.sql(`SELECT count(*) FROM users WHERE id = '${user}'`);
	assert.equal(rows[0][0], '1');
});

test('racing registrations of one name: exactly one wins', async () => {
	const user = fresh('race');
	const results = await Promise.all([1, 2, 3].map((i) => register(user, `password number ${i}`)));
	const statuses = results.map((r) => r.status).sort();
	assert.deepEqual(statuses.filter((s) => s === 200), [200], statuses.join(','));
	for (const r of results) if (r.status !== 200) assert.ok([409, 503].includes(r.status), r.text);
});

test('a guest cannot take a registered name', async () => {
	const user = fresh('owned');
	assert.equal((await register(user, 'correct horse battery')).status, 200);
	assertJsonError(await post('/api/login', { userId: user }), 409, 'name_taken');
	// Nor another spelling of it: a guest "ALICE" would pass for "alice".
	assertJsonError(await post('/api/login', { userId: user.toUpperCase() }), 409, 'name_taken');
	assert.equal((await post('/api/login', { userId: `${user}x` })).status, 200);
});

test('a guest name can later be registered', async () => {
	const user = fresh('was_guest');
	await login(h.stack.backendUrl, user);
	assert.equal((await register(user, 'correct horse battery')).status, 200);
	assertJsonError(await post('/api/login', { userId: user }), 409, 'name_taken');
});

test('a password of 8 and of 1024 bytes is accepted', async () => {
	assert.equal((await register(fresh('p8'), '12345678')).status, 200);
	const user = fresh('p1024');
	const long = '\u00e9'.repeat(512); // 1024 bytes of UTF-8
	assert.equal((await register(user, long)).status, 200);
	assert.equal((await signIn(user, long)).status, 200);
});

const badPasswords = [
	['an empty password', '', 'invalid_password'],
	['a 7-byte password', '1234567', 'invalid_password'],
	['a 1025-byte password', 'x'.repeat(1025), 'too_long'],
	['a number as password', 12345678, 'invalid_password'],
	['an array as password', ['password1'], 'invalid_password'],
	['null as password', null, 'invalid_password'],
	['an object as password', { p: 'password1' }, 'invalid_password'],
	['a missing password', undefined, 'invalid_password'],
];

for (const path of ['/api/auth/register', '/api/auth/login']) {
	for (const [what, password, code] of badPasswords) {
		test(`${path} refuses ${what} with 400 ${code}`, async () => {
			const body = { userId: fresh('bad') };
			if (password !== undefined) body.password = password;
			assertJsonError(await post(path, body), 400, code);
		});
	}

	test(`${path} refuses a 1 MB password with 413`, async () => {
		const res = await post(path, { userId: fresh('big'), password: 'x'.repeat(1 << 20) });
		assertJsonError(res, 413);
	});

	for (const [what, userId] of [
		['an empty user id', ''],
		['a number as user id', 42],
		['an array as user id', ['alice']],
		['null as user id', null],
		['a 33-character user id', 'a'.repeat(33)],
		['an SQL fragment as user id', "x'; DROP TABLE users; --"],
		['a user id with a right-to-left mark', 'al\u202Eice'],
		['a 1 MB user id', 'a'.repeat(1 << 20)],
	]) {
		test(`${path} refuses ${what}`, async () => {
			const res = await post(path, { userId, password: 'correct horse battery' });
			if (typeof userId === 'string' && userId.length > 100000) assertJsonError(res, 413);
			else assertJsonError(res, 400, 'invalid_user_id');
		});
	}

	test(`${path} refuses malformed JSON and non-objects`, async () => {
		assertJsonError(await request(h.stack.backendUrl, path, { method: 'POST', body: '{"userId":' }), 400, 'bad_json');
		assertJsonError(await request(h.stack.backendUrl, path, { method: 'POST', body: '"alice"' }), 400);
		assertJsonError(await request(h.stack.backendUrl, path, { method: 'GET' }), 405, 'method_not_allowed');
	});
}

function claims(extra = {}) {
	const now = nowSeconds();
	return { sub: 'mallory', name: 'mallory', iat: now, exp: now + 600, typ: 'user', ...extra };
}

function unsigned(c) {
	const b = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
	return `${b({ alg: 'none', typ: 'JWT' })}.${b(c)}.`;
}

for (const [what, make] of [
	['no token', () => undefined],
	['an empty bearer', () => 'Bearer '],
	['an expired token', (s) => `Bearer ${mintToken(s.secret, claims({ exp: nowSeconds() - 1 }))}`],
	['a token signed with another key', () => `Bearer ${mintToken('k'.repeat(64), claims())}`],
	['a token with alg none', () => `Bearer ${unsigned(claims({ reg: true }))}`],
	['a join ticket', (s) => `Bearer ${mintToken(s.secret, claims({
		room: 'aaaaaaaaaaaa', aud: s.sessions[0].id, epoch: 1, jti: newJti(), typ: 'ticket',
	}))}`],
	['a 1 MB bearer', () => `Bearer ${'a'.repeat(1 << 20)}`],
]) {
	test(`/api/me with ${what} gets a JSON error`, async () => {
		const auth = make(h.stack);
		let res;
		try {
			res = await request(h.stack.backendUrl, '/api/me', { headers: auth ? { authorization: auth } : {} });
		} catch (e) {
			// A head over the limit may be answered and closed before fetch has sent it all.
			assert.ok(auth.length > 100000, e.message);
			return;
		}
		if (auth && auth.length > 100000) assertJsonError(res, 431);
		else assertJsonError(res, 401, 'unauthorized');
	});
}

test('a ticket the backend really issued is not a user token', async () => {
	const user = fresh('tick');
	const { json: { token } } = await register(user, 'correct horse battery');
	const { json: { roomId } } = await createRoom(h.stack.backendUrl, token);
	const { json: { token: ticket } } = await lookup(h.stack.backendUrl, token, roomId);
	assertJsonError(await me(ticket), 401, 'unauthorized');
});

test('a login flood is checked 5 times and refused with 429 and Retry-After, and the owner gets in after it', async () => {
	const user = fresh('flood');
	const from = '127.0.0.21';
	assert.equal((await register(user, 'correct horse battery')).status, 200);
	const results = await Promise.all(Array.from({ length: 40 }, () => signIn(user, 'wrong horse battery', from)));
	for (const r of results) {
		if (r.status === 429) {
			assertJsonError(r, 429, 'too_many_attempts');
			assert.ok(Number(r.headers.get('retry-after')) >= 1);
		} else {
			assertJsonError(r, 401, 'invalid_credentials');
		}
	}
	// Failures and checks under way count alike: no more than the limit ran.
	assert.equal(results.filter((r) => r.status === 401).length, 5);
	let res;
	for (let i = 0; i < 5; i++) {
		res = await signIn(user, 'correct horse battery', '127.0.0.22');
		if (res.status !== 429) break;
		await sleep(Number(res.headers.get('retry-after')) * 1000);
	}
	assert.equal(res.status, 200, res.text);
});
