// Friends through the HTTP API as two or three registered users see them:
// asking, accepting, declining, cancelling and unfriending in GET
// /api/friends on both sides; two users asking each other at the same
// moment on two backends; pages and limits; the rate limit; forged ids,
// guests; and the live-inbox hint on PostgreSQL's stateroom_inbox channel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, startStack, login } from './lib/stack.js';
import { Listener } from './lib/pglisten.js';
import {
	register, seedAccounts, call, ask, accept, decline, cancel, unfriend, friendsOf, walk, assertError,
} from './lib/friendsapi.js';

const h = useStack({ sessions: 1, backends: 2 });

test('a request and its acceptance, as both users see them', async () => {
	const s = h.stack;
	const alice = await register(s, 'alice');
	const bob = await register(s, 'bob');

	const asked = await ask(s, alice, bob);
	assert.equal(asked.status, 201, asked.text);
	assert.deepEqual(asked.json, { state: 'pending' });

	const a = await friendsOf(s, alice);
	const b = await friendsOf(s, bob);
	assert.deepEqual([a.friends, a.incoming, a.outgoing], [[], [], [bob.id]]);
	assert.deepEqual([b.friends, b.incoming, b.outgoing], [[], [alice.id], []]);
	const inc = b.res.json.incoming[0];
	assert.deepEqual(inc.user, {
		userId: alice.id, displayName: alice.id, status: '',
		avatar: { initials: alice.id[0].toUpperCase(), color: inc.user.avatar.color },
	});
	assert.match(inc.user.avatar.color, /^#[0-9a-f]{6}$/);
	assert.match(inc.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
	assert.ok(Math.abs(Date.parse(inc.at) - Date.now()) < 60000, inc.at);
	assert.equal(a.res.json.outgoing[0].at, inc.at);
	assert.equal(a.res.json.next, null);

	const again = await ask(s, alice, bob);
	assert.equal(again.status, 200, 'asking twice changes nothing');
	assert.deepEqual(again.json, { state: 'pending' });

	const ok = await accept(s, bob, alice);
	assert.equal(ok.status, 200, ok.text);
	assert.deepEqual(ok.json, { state: 'friends' });

	const a2 = await friendsOf(s, alice);
	const b2 = await friendsOf(s, bob);
	assert.deepEqual([a2.friends, a2.incoming, a2.outgoing], [[bob.id], [], []]);
	assert.deepEqual([b2.friends, b2.incoming, b2.outgoing], [[alice.id], [], []]);
	assert.deepEqual(a2.res.json.friends[0].presence, { state: 'offline', lastSeen: null });
	assert.equal(a2.res.json.friends[0].displayName, bob.id);

	assertError(await ask(s, alice, bob), 409, 'conflict');
	assertError(await ask(s, bob, alice), 409, 'conflict');
	assertError(await accept(s, bob, alice), 404, 'not_found');
});

test('asking someone who asked you first makes you friends', async () => {
	const s = h.stack;
	const [carol, dave] = [await register(s, 'carol'), await register(s, 'dave')];
	assert.equal((await ask(s, carol, dave)).status, 201);
	const back = await ask(s, dave, carol);
	assert.equal(back.status, 200, back.text);
	assert.deepEqual(back.json, { state: 'friends' });
	const c = await friendsOf(s, carol);
	const d = await friendsOf(s, dave);
	assert.deepEqual([c.friends, c.incoming, c.outgoing], [[dave.id], [], []]);
	assert.deepEqual([d.friends, d.incoming, d.outgoing], [[carol.id], [], []]);
});

test('declining, cancelling and unfriending, as both users see them', async () => {
	const s = h.stack;
	const [ann, ben, cy] = [await register(s, 'ann'), await register(s, 'ben'), await register(s, 'cy')];

	// ben declines ann
	assert.equal((await ask(s, ann, ben)).status, 201);
	const no = await decline(s, ben, ann);
	assert.equal(no.status, 204, no.text);
	assert.equal(no.text, '');
	for (const u of [ann, ben]) {
		const l = await friendsOf(s, u);
		assert.deepEqual([l.friends, l.incoming, l.outgoing], [[], [], []], u.id);
	}
	assertError(await decline(s, ben, ann), 404, 'not_found');
	assertError(await accept(s, ben, ann), 404, 'not_found');

	// ann asks cy, then takes it back
	assert.equal((await ask(s, ann, cy)).status, 201);
	assert.deepEqual((await friendsOf(s, cy)).incoming, [ann.id]);
	assert.equal((await cancel(s, ann, cy)).status, 204);
	assert.deepEqual((await friendsOf(s, cy)).incoming, []);
	assert.deepEqual((await friendsOf(s, ann)).outgoing, []);
	assertError(await cancel(s, ann, cy), 404, 'not_found');
	assertError(await accept(s, cy, ann), 404, 'not_found');

	// a declined request may be sent again; then cy unfriends ann
	assert.equal((await ask(s, cy, ann)).status, 201);
	assertError(await cancel(s, ann, cy), 404, 'not_found'); // not ann's to cancel
	assert.equal((await accept(s, ann, cy)).status, 200);
	assert.deepEqual((await friendsOf(s, ann)).friends, [cy.id]);
	assert.equal((await unfriend(s, cy, ann)).status, 204);
	for (const u of [ann, cy]) assert.deepEqual((await friendsOf(s, u)).friends, [], u.id);
	assertError(await unfriend(s, cy, ann), 404, 'not_found');
	assertError(await unfriend(s, ann, cy), 404, 'not_found');
});

test('two users asking each other at the same moment on two backends become friends', async () => {
	const s = h.stack;
	const [b1, b2] = s.backends.map((b) => b.url);
	const users = await seedAccounts(s, 'race', 60);
	const pairs = [];
	for (let i = 0; i < users.length; i += 2) pairs.push([users[i], users[i + 1]]);
	const answers = await Promise.all(pairs.flatMap(([x, y]) => [ask(s, x, y, b1), ask(s, y, x, b2)]));
	for (let i = 0; i < pairs.length; i++) {
		const [one, two] = [answers[2 * i], answers[2 * i + 1]];
		// Whichever came second found the other's request and made the friendship.
		assert.deepEqual([one.status, two.status].sort(), [200, 201], `${one.text} ${two.text}`);
		assert.deepEqual([one.json.state, two.json.state].sort(), ['friends', 'pending']);
	}
	const rows = await s.sql(`SELECT
		(SELECT count(*) FROM friend_requests WHERE from_user LIKE 'race%'),
		(SELECT count(*) FROM friends WHERE user_id LIKE 'race%')`);
	assert.deepEqual(rows, [['0', String(users.length)]], 'no request left, every pair friends both ways');
	for (const [x, y] of pairs.slice(0, 3)) assert.deepEqual((await friendsOf(s, x)).friends, [y.id]);
});

test('GET /api/friends pages every list with limit and cursor', async () => {
	const s = h.stack;
	const [me, ...others] = await seedAccounts(s, 'pg', 8);
	const [f1, f2, f3, in1, in2, out1, out2] = others;
	for (const f of [f1, f2, f3]) {
		assert.equal((await ask(s, f, me)).status, 201);
		assert.equal((await accept(s, me, f)).status, 200);
	}
	for (const u of [in1, in2]) assert.equal((await ask(s, u, me)).status, 201);
	for (const u of [out1, out2]) assert.equal((await ask(s, me, u)).status, 201);

	const pages = await walk(s, me, '/api/friends', 1);
	assert.equal(pages.length, 3, 'the longest list (3 friends) takes 3 pages of 1');
	for (const p of pages) {
		assert.ok(p.friends.length <= 1 && p.incoming.length <= 1 && p.outgoing.length <= 1, JSON.stringify(p));
	}
	const friends = pages.flatMap((p) => p.friends.map((u) => u.userId));
	const incoming = pages.flatMap((p) => p.incoming.map((r) => r.user.userId));
	const outgoing = pages.flatMap((p) => p.outgoing.map((r) => r.user.userId));
	assert.deepEqual(friends, [f1, f2, f3].map((u) => u.id).sort(), 'friends by user id');
	assert.deepEqual(incoming, [in2.id, in1.id], 'requests newest first');
	assert.deepEqual(outgoing, [out2.id, out1.id]);

	const all = await friendsOf(s, me);
	assert.equal(all.res.json.next, null);
	assert.equal(all.friends.length + all.incoming.length + all.outgoing.length, 7);
	const two = await walk(s, me, '/api/friends', 2);
	assert.equal(two.length, 2);

	for (const bad of ['x', 'zzz', 'a~b~c', 's~s', 's~s~s~s', 'a!~s~s', 's~a123~s', 's~anodot~s', `a${'x'.repeat(33)}~s~s`]) {
		assertError(await call(s, me, 'GET', `/api/friends?cursor=${encodeURIComponent(bad)}`), 400, 'invalid_request');
	}
	assertError(await call(s, me, 'GET', '/api/friends?limit=ten'), 400, 'invalid_request');
	const clamped = await call(s, me, 'GET', '/api/friends?limit=500');
	assert.equal(clamped.status, 200);
	assert.equal(clamped.json.friends.length, 3);
});

test('limits: 200 requests waiting and 1000 friends', async () => {
	const s = h.stack;
	const [me, other, full] = await seedAccounts(s, 'lim', 3);
	await s.sql(`INSERT INTO users (id, password_hash) SELECT 'limx' || g || '_${process.pid}', 'seeded' FROM generate_series(1, 1000) g`);
	await s.sql(`INSERT INTO friend_requests (from_user, to_user)
		SELECT '${me.id}', 'limx' || g || '_${process.pid}' FROM generate_series(1, 200) g`);
	assertError(await ask(s, me, other), 409, 'conflict');
	assert.deepEqual((await friendsOf(s, other)).incoming, []);
	// Asked by someone, it may still accept: that adds no request of its own.
	assert.equal((await ask(s, other, me)).status, 201);
	assert.equal((await accept(s, me, other)).status, 200);

	await s.sql(`INSERT INTO friends (user_id, friend_id)
		SELECT '${full.id}', 'limx' || g || '_${process.pid}' FROM generate_series(1, 1000) g
		UNION ALL SELECT 'limx' || g || '_${process.pid}', '${full.id}' FROM generate_series(1, 1000) g`);
	assert.equal((await ask(s, other, full)).status, 201, 'a request to a full account may wait');
	assertError(await accept(s, full, other), 409, 'conflict');
	assertError(await ask(s, full, other), 409, 'conflict');
	const page = await call(s, full, 'GET', '/api/friends?limit=50');
	assert.equal(page.json.friends.length, 50, 'a page holds at most 50');
	assert.equal(typeof page.json.next, 'string');
});

test('forged user ids, yourself, unknown accounts and guests are refused', async () => {
	const s = h.stack;
	const me = await register(s, 'forge');
	const forged = ['bad!id', 'x'.repeat(33), 'guest:xyz', 'guest%3Axyz', '%2e%2e', 'a%00b'];
	for (const id of forged) {
		const e = encodeURIComponent(id);
		for (const [method, path] of [
			['POST', `/api/friends/requests/${e}/accept`], ['POST', `/api/friends/requests/${e}/decline`],
			['DELETE', `/api/friends/requests/${e}`], ['DELETE', `/api/friends/${e}`],
		]) {
			assertError(await call(s, me, method, path), 400, 'invalid_user_id');
		}
		assertError(await call(s, me, 'POST', '/api/friends/requests', { userId: id }), 400, 'invalid_user_id');
	}
	for (const body of [{}, { userId: 5 }, { userId: null }, { userId: '' }, { user: 'x' }]) {
		assertError(await call(s, me, 'POST', '/api/friends/requests', body), 400, 'invalid_user_id');
	}
	assertError(await call(s, me, 'POST', '/api/friends/requests', '{"userId":'), 400, 'bad_json');
	assertError(await ask(s, me, me), 400, 'invalid_request');
	assertError(await ask(s, me, { id: 'nobody_here' }), 404, 'not_found');

	const guest = { token: await login(s.backendUrl, 'guestfriend') };
	for (const [method, path, body] of [
		['POST', '/api/friends/requests', { userId: me.id }], ['POST', `/api/friends/requests/${me.id}/accept`],
		['POST', `/api/friends/requests/${me.id}/decline`], ['DELETE', `/api/friends/requests/${me.id}`],
		['DELETE', `/api/friends/${me.id}`], ['GET', '/api/friends'],
	]) {
		assertError(await call(s, guest, method, path, body), 403, 'account_required');
		assertError(await call(s, null, method, path, body), 401, 'unauthorized');
	}
	assert.deepEqual((await friendsOf(s, me)).incoming, []);
});

test('the target hears of a request on stateroom_inbox, the other party of every change', async () => {
	const s = h.stack;
	const [eve, fay] = [await register(s, 'eve'), await register(s, 'fay')];
	const listener = await Listener.open(s.databaseUrl, 'stateroom_inbox');
	try {
		assert.equal((await ask(s, eve, fay)).status, 201);
		const hint = await listener.next((p) => p.to === fay.id);
		assert.deepEqual(hint, { to: fay.id, event: { type: 'friend_request', from: eve.id } });
		assert.equal((await accept(s, fay, eve)).status, 200);
		assert.deepEqual(await listener.next((p) => p.to === eve.id), { to: eve.id, event: { type: 'friends' } });
		assert.equal((await unfriend(s, eve, fay)).status, 204);
		assert.deepEqual(await listener.next((p) => p.to === fay.id), { to: fay.id, event: { type: 'friends' } });
		assert.equal((await ask(s, fay, eve)).status, 201);
		await listener.next((p) => p.to === eve.id && p.event.type === 'friend_request');
		assert.equal((await cancel(s, fay, eve)).status, 204);
		assert.deepEqual(await listener.next((p) => p.to === eve.id), { to: eve.id, event: { type: 'friends' } });
		assert.equal((await ask(s, eve, fay)).status, 201);
		await listener.next((p) => p.to === fay.id && p.event.type === 'friend_request');
		assert.equal((await decline(s, fay, eve)).status, 204);
		assert.deepEqual(await listener.next((p) => p.to === eve.id), { to: eve.id, event: { type: 'friends' } });
		// A refused or idempotent call changes nothing and says nothing.
		assert.equal((await ask(s, eve, fay)).status, 201);
		await listener.next((p) => p.to === fay.id);
		assert.equal((await ask(s, eve, fay)).status, 200);
		assertError(await decline(s, eve, fay), 404);
		const rest = (await listener.all()).slice(listener.taken).filter((p) => [eve.id, fay.id].includes(p.to));
		assert.deepEqual(rest, []);
	} finally {
		await listener.close();
	}
});

test('friend requests past --friend-requests-per-minute get 429 with Retry-After', async () => {
	const stack = await startStack({ sessions: 0, backends: 1, backendEnv: { STATEROOM_FRIEND_REQUESTS_PER_MINUTE: '3' } });
	try {
		const [me, ...others] = await seedAccounts(stack, 'rate', 6);
		for (const o of others.slice(0, 3)) assert.equal((await ask(stack, me, o)).status, 201);
		const res = await ask(stack, me, others[3]);
		assertError(res, 429, 'too_many_requests');
		const retry = Number(res.headers.get('retry-after'));
		assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `Retry-After: ${retry}`);
		assert.deepEqual((await friendsOf(stack, others[3])).incoming, [], 'the refused request was not made');
		// Another user has a bucket of its own.
		assert.equal((await ask(stack, others[4], others[3])).status, 201);
	} finally {
		await stack.stop();
	}
});
