// Accounts and the friends and blocks API for the people tests: a registered
// user is {id, token}; call(stack, user, method, path, body) answers as
// request() does.
import assert from 'node:assert/strict';
import { request } from './http.js';
import { mintToken, nowSeconds } from './token.js';

let seq = 0;
// A fresh user name, so that tests do not depend on each other.
export const fresh = (prefix = 'u') => `${prefix}${process.pid % 10000}_${++seq}`;

// Registers a new account through the API.
export async function register(stack, prefix) {
	const id = fresh(prefix);
	const res = await request(stack.backendUrl, '/api/auth/register', {
		method: 'POST', body: { userId: id, password: 'correct horse battery' },
	});
	assert.equal(res.status, 200, res.text);
	return { id, token: res.json.token };
}

// n accounts at once, written straight into the database with the token
// registering would give: for tests that need many (hashing each password
// would take seconds).
export async function seedAccounts(stack, prefix, n) {
	const users = Array.from({ length: n }, () => fresh(prefix));
	await stack.sql(`INSERT INTO users (id, password_hash, login_key) SELECT x, 'seeded', lower(x)
		FROM unnest(ARRAY[${users.map((u) => `'${u}'`).join(',')}]::text[]) x`);
	const now = nowSeconds();
	return users.map((id) => ({
		id,
		token: mintToken(stack.secret, { sub: id, name: id, userId: id, iat: now, exp: now + 3600, typ: 'user', reg: true }),
	}));
}

export function call(stack, user, method, path, body, base = stack.backendUrl) {
	return request(base, path, { method, token: user?.token, body });
}

export const ask = (stack, from, to, base) => call(stack, from, 'POST', '/api/friends/requests', { userId: to.id }, base);
export const accept = (stack, me, from) => call(stack, me, 'POST', `/api/friends/requests/${from.id}/accept`);
export const decline = (stack, me, from) => call(stack, me, 'POST', `/api/friends/requests/${from.id}/decline`);
export const cancel = (stack, me, to) => call(stack, me, 'DELETE', `/api/friends/requests/${to.id}`);
export const unfriend = (stack, me, other) => call(stack, me, 'DELETE', `/api/friends/${other.id}`);
export const block = (stack, me, other, base) => call(stack, me, 'POST', '/api/blocks', { userId: other.id }, base);
export const unblock = (stack, me, other) => call(stack, me, 'DELETE', `/api/blocks/${other.id}`);

// GET /api/friends as {friends, incoming, outgoing} of user ids (one page,
// the default limit); the whole answer is in .res.
export async function friendsOf(stack, user) {
	const res = await call(stack, user, 'GET', '/api/friends');
	assert.equal(res.status, 200, res.text);
	return {
		friends: res.json.friends.map((u) => u.userId),
		incoming: res.json.incoming.map((r) => r.user.userId),
		outgoing: res.json.outgoing.map((r) => r.user.userId),
		res,
	};
}

// Walks path (a list endpoint) with ?limit=1 from cursor to cursor; returns
// the pages' answers.
export async function walk(stack, user, path, limit = 1) {
	const pages = [];
	let cursor = null;
	for (let i = 0; i < 1000; i++) {
		const q = `?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
		const res = await call(stack, user, 'GET', `${path}${q}`);
		assert.equal(res.status, 200, res.text);
		pages.push(res.json);
		cursor = res.json.next;
		if (cursor === null) return pages;
		assert.equal(typeof cursor, 'string');
	}
	throw new Error('the walk did not end');
}

export function assertError(res, status, code) {
	assert.equal(res.status, status, `status: ${res.text}`);
	assert.equal(typeof res.json?.error?.message, 'string', `error body: ${res.text}`);
	if (code) assert.equal(res.json.error.code, code, res.text);
}
