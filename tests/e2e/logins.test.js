// Login limits as a client sees them: failed password logins back off per
// name and per address (429 with Retry-After, the same for names that do not
// exist), password checks wait their client's turn so that one client's
// flood does not lock others out, guest logins are limited per address, and
// X-Forwarded-For counts only from --trusted-proxies. Each client here is its
// own source address in 127.0.0.0/8, so that tests do not share limits.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, request } from './lib/stack.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const PASSWORD = 'correct horse battery';
const WRONG = 'wrong horse battery';

let seq = 0;
const fresh = (prefix) => `${prefix}${process.pid % 10000}_${++seq}`;

function post(h, path, body, from, headers) {
	return request(h.stack.backendUrl, path, { method: 'POST', body, localAddress: from, headers });
}

const register = (h, userId, password, from = '127.0.0.1') => post(h, '/api/auth/register', { userId, password }, from);
const signIn = (h, userId, password, from, headers) => post(h, '/api/auth/login', { userId, password }, from, headers);
const guest = (h, userId, from, headers) => post(h, '/api/login', { userId }, from, headers);

function assert429(res, code) {
	assert.equal(res.status, 429, res.text);
	assert.equal(res.json?.error?.code, code, res.text);
	const wait = Number(res.headers.get('retry-after'));
	assert.ok(Number.isInteger(wait) && wait >= 1, `Retry-After: ${res.headers.get('retry-after')}`);
	return wait;
}

// What a client sees of an answer, for comparing two of them.
const seen = (res) => ({ status: res.status, text: res.text, retryAfter: res.headers.get('retry-after') });

describe('failed password logins', () => {
	const h = useStack();

	test('many wrong guesses for one name get 429 with Retry-After, and an unknown name gets the same answers', async () => {
		const user = fresh('victim');
		assert.equal((await register(h, user, PASSWORD)).status, 200);
		const known = [];
		for (let i = 0; i < 7; i++) known.push(await signIn(h, user, WRONG, '127.0.0.2'));
		// During the backoff even the right password is not checked.
		const during = await signIn(h, user, PASSWORD, '127.0.0.3');
		// The same unknown name each time, to compare like with like.
		const ghost = fresh('ghost');
		const same = [];
		for (let i = 0; i < 7; i++) same.push(await signIn(h, ghost, WRONG, '127.0.0.4'));
		const unknown = [];
		for (let i = 0; i < 7; i++) unknown.push(await signIn(h, fresh('nobody'), WRONG, '127.0.0.5'));

		assert.deepEqual(known.map((r) => r.status), [401, 401, 401, 401, 401, 429, 429]);
		assert429(known[5], 'too_many_attempts');
		assert.deepEqual(seen(during), seen(known[6]));
		assert.deepEqual(same.map(seen), known.map(seen), 'an unknown name is answered as a known one');
		// Distinct names from one address stay under the address's limit.
		assert.deepEqual(unknown.map((r) => r.status), [401, 401, 401, 401, 401, 401, 401]);
	});

	test('the backoff doubles, waiting it out lets the owner in, and that clears the count', async () => {
		const user = fresh('owner');
		assert.equal((await register(h, user, PASSWORD)).status, 200);
		for (let i = 0; i < 5; i++) assert.equal((await signIn(h, user, WRONG, '127.0.0.6')).status, 401);
		const first = assert429(await signIn(h, user, WRONG, '127.0.0.6'), 'too_many_attempts');
		await sleep(first * 1000 + 100);
		assert.equal((await signIn(h, user, WRONG, '127.0.0.6')).status, 401, 'one more guess after the wait');
		const second = assert429(await signIn(h, user, WRONG, '127.0.0.6'), 'too_many_attempts');
		assert.ok(second > first, `Retry-After ${first} then ${second}`);

		await sleep(second * 1000 + 100);
		const ok = await signIn(h, user, PASSWORD, '127.0.0.7');
		assert.equal(ok.status, 200, ok.text);
		// A success starts the name's count afresh.
		for (let i = 0; i < 5; i++) assert.equal((await signIn(h, user, WRONG, '127.0.0.8')).status, 401);
	});

	test('one address gets 20 failures whatever the names, and X-Forwarded-For does not help without --trusted-proxies', async () => {
		const from = '127.0.0.9';
		for (let i = 0; i < 20; i++) {
			const res = await signIn(h, fresh('spray'), WRONG, from, { 'x-forwarded-for': `198.51.100.${i + 1}` });
			assert.equal(res.status, 401, res.text);
		}
		const blocked = await signIn(h, fresh('spray'), WRONG, from, { 'x-forwarded-for': '198.51.100.99' });
		assert429(blocked, 'too_many_attempts');

		// Others are not affected.
		const user = fresh('bystander');
		assert.equal((await register(h, user, PASSWORD)).status, 200);
		assert.equal((await signIn(h, user, PASSWORD, '127.0.0.10')).status, 200);
	});

	test('while one address floods wrong passwords, the right passwords of users at other addresses all succeed', { timeout: 120000 }, async () => {
		const users = Array.from({ length: 20 }, () => fresh('legit'));
		for (const u of users) assert.equal((await register(h, u, PASSWORD)).status, 200);
		const target = fresh('target');
		assert.equal((await register(h, target, PASSWORD)).status, 200);

		let flooding = true;
		const attacker = [];
		const flood = Array.from({ length: 12 }, async (_, k) => {
			for (let i = 0; flooding; i++) {
				const name = i % 2 ? target : fresh('guess');
				const res = await signIn(h, name, `${WRONG} ${k} ${i}`, '127.0.0.11');
				attacker.push(res);
				if (res.status === 429) await sleep(20);
			}
		});
		await sleep(300);
		const results = await Promise.all(users.map((u, i) => signIn(h, u, PASSWORD, `127.0.1.${i + 1}`)));
		flooding = false;
		await Promise.all(flood);

		for (const r of results) assert.equal(r.status, 200, r.text);
		assert.ok(attacker.length > 0);
		for (const r of attacker) assert.ok(r.status === 401 || r.status === 429, `attacker got ${r.status} ${r.text}`);
	});

	test('a flood of registrations from one address does not keep users at other addresses from logging in', { timeout: 120000 }, async () => {
		const users = Array.from({ length: 20 }, () => fresh('calm'));
		for (const u of users) assert.equal((await register(h, u, PASSWORD)).status, 200);

		let flooding = true;
		const attacker = [];
		const flood = Array.from({ length: 16 }, async () => {
			while (flooding) {
				const res = await register(h, fresh('bulk'), PASSWORD, '127.0.0.12');
				attacker.push(res);
				if (res.status === 429) await sleep(20);
			}
		});
		await sleep(300);
		const results = await Promise.all(users.map((u, i) => signIn(h, u, PASSWORD, `127.0.2.${i + 1}`)));
		flooding = false;
		await Promise.all(flood);

		for (const r of results) assert.equal(r.status, 200, r.text);
		// Its own jobs wait their turn; past 8 waiting it is told to slow down.
		for (const r of attacker) {
			if (r.status !== 200) assert429(r, 'too_many_requests');
		}
		assert.ok(attacker.some((r) => r.status === 200));
	});
});

describe('guest logins, and clients behind a trusted proxy', () => {
	const PER_MINUTE = 5;
	const h = useStack({
		backendEnv: { STATEROOM_GUEST_LOGINS_PER_MINUTE: String(PER_MINUTE), STATEROOM_TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8' },
	});

	async function exhaust(from, headers) {
		for (let i = 0; i < PER_MINUTE; i++) {
			const res = await guest(h, fresh('g'), from, headers);
			assert.equal(res.status, 200, res.text);
		}
	}

	test('past the limit an address gets 429 with Retry-After; another address does not', async () => {
		await exhaust('127.0.0.2');
		const wait = assert429(await guest(h, fresh('g'), '127.0.0.2'), 'too_many_requests');
		assert.ok(wait <= 60 / PER_MINUTE, `Retry-After ${wait}: one login comes back every ${60 / PER_MINUTE} s`);
		assert.equal((await guest(h, fresh('g'), '127.0.0.3')).status, 200);
	});

	test('from a trusted proxy the right-most untrusted X-Forwarded-For address is the client', async () => {
		const xff = (v) => ({ 'x-forwarded-for': v });
		await exhaust('127.0.0.1', xff('203.0.113.7'));
		assert429(await guest(h, fresh('g'), '127.0.0.1', xff('203.0.113.7')), 'too_many_requests');
		// What the client wrote left of its own address changes nothing,
		// nor do trusted hops right of it, nor a second header line's split.
		assert429(await guest(h, fresh('g'), '127.0.0.1', xff('192.0.2.1, 203.0.113.7')), 'too_many_requests');
		assert429(await guest(h, fresh('g'), '127.0.0.1', xff('192.0.2.1, 203.0.113.7, 10.1.2.3')), 'too_many_requests');
		// Another client behind the same proxy has its own count.
		assert.equal((await guest(h, fresh('g'), '127.0.0.1', xff('203.0.113.8'))).status, 200);
		assert.equal((await guest(h, fresh('g'), '127.0.0.1', xff('203.0.113.7, 203.0.113.9'))).status, 200);
	});

	test('from an untrusted peer X-Forwarded-For is ignored', async () => {
		for (let i = 0; i < PER_MINUTE; i++) {
			const res = await guest(h, fresh('g'), '127.0.0.4', { 'x-forwarded-for': `203.0.113.${100 + i}` });
			assert.equal(res.status, 200, res.text);
		}
		assert429(await guest(h, fresh('g'), '127.0.0.4', { 'x-forwarded-for': '203.0.113.200' }), 'too_many_requests');
	});
});
