// Blocks through the HTTP API: blocking ends a friendship and requests both
// ways, a blocked user's friend request gets the same refusal as any
// other, lists page and are bounded, a block and an acceptance at the same
// moment on two backends never leave a friendship behind the block, and
// forged ids and guests are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, login } from './lib/stack.js';
import { Listener } from './lib/pglisten.js';
import {
	register, seedAccounts, call, ask, accept, block, unblock, friendsOf, walk, assertError,
} from './lib/friendsapi.js';

const h = useStack({ sessions: 1, backends: 2 });

const blocksOf = async (s, u) => {
	const res = await call(s, u, 'GET', '/api/blocks');
	assert.equal(res.status, 200, res.text);
	return res.json.blocks.map((b) => b.userId);
};

test('blocking ends a friendship and requests both ways; unblocking allows a new one', async () => {
	const s = h.stack;
	const [gil, hal, ivy] = [await register(s, 'gil'), await register(s, 'hal'), await register(s, 'ivy')];
	assert.equal((await ask(s, gil, hal)).status, 201);
	assert.equal((await accept(s, hal, gil)).status, 200);
	assert.equal((await ask(s, gil, ivy)).status, 201);
	assert.equal((await ask(s, ivy, hal)).status, 201);

	const listener = await Listener.open(s.databaseUrl, 'stateroom_inbox');
	try {
		const b = await block(s, gil, hal);
		assert.equal(b.status, 204, b.text);
		assert.equal(b.text, '');
		// The blocked user hears only what an unfriend would tell them.
		assert.deepEqual(await listener.next((p) => [gil.id, hal.id].includes(p.to)),
			{ to: hal.id, event: { type: 'friends' } });
	} finally {
		await listener.close();
	}
	assert.deepEqual((await friendsOf(s, gil)).friends, []);
	assert.deepEqual((await friendsOf(s, hal)).friends, []);
	assert.deepEqual(await blocksOf(s, gil), [hal.id]);
	assert.deepEqual(await blocksOf(s, hal), [], 'a block is the blocker\'s, not shown to the blocked');

	assert.equal((await block(s, gil, ivy)).status, 204);
	assert.equal((await block(s, hal, ivy)).status, 204);
	const g = await friendsOf(s, gil);
	const i = await friendsOf(s, ivy);
	const hh = await friendsOf(s, hal);
	assert.deepEqual([g.outgoing, i.incoming, i.outgoing, hh.incoming], [[], [], [], []], 'requests either way end');

	assert.equal((await block(s, gil, hal)).status, 204, 'blocking twice changes nothing');
	const again = await call(s, gil, 'GET', '/api/blocks');
	assert.deepEqual(again.json.blocks.map((u) => u.userId).sort(), [hal.id, ivy.id].sort());
	assert.equal(again.json.blocks[0].avatar.initials.length > 0, true);
	assert.equal(again.json.next, null);

	assert.equal((await unblock(s, gil, hal)).status, 204);
	assert.equal((await unblock(s, gil, hal)).status, 204, 'unblocking twice changes nothing');
	assert.deepEqual(await blocksOf(s, gil), [ivy.id]);
	assert.equal((await ask(s, hal, gil)).status, 201, 'after unblocking they may be friends again');
	assert.equal((await accept(s, gil, hal)).status, 200);
});

test('a blocked user\'s request gets the same refusal as any other', async () => {
	const s = h.stack;
	const [jo, kim, lee] = [await register(s, 'jo'), await register(s, 'kim'), await register(s, 'lee')];
	assert.equal((await block(s, jo, kim)).status, 204);
	const refused = await ask(s, kim, jo);
	assertError(refused, 403, 'not_allowed');
	// The blocker asking is refused in the same words: the answer says
	// "not allowed", never "blocked".
	const own = await ask(s, jo, kim);
	assertError(own, 403, 'not_allowed');
	assert.equal(refused.text, own.text);
	assert.doesNotMatch(refused.text, /block/i);
	assert.deepEqual((await friendsOf(s, jo)).incoming, []);
	// Through the other backend too, and a third user is unaffected.
	const other = await ask(s, kim, jo, s.backends[1].url);
	assert.equal(other.text, refused.text);
	assert.equal((await ask(s, lee, jo)).status, 201);
	assert.equal((await ask(s, kim, lee)).status, 201);
});

test('a block and an acceptance at the same moment never leave a friendship behind the block', async () => {
	const s = h.stack;
	const [b1, b2] = s.backends.map((b) => b.url);
	const users = await seedAccounts(s, 'bk', 200);
	const pairs = [];
	for (let i = 0; i < users.length; i += 2) pairs.push([users[i], users[i + 1]]);
	for (const [x, y] of pairs) assert.equal((await ask(s, y, x)).status, 201);
	// x accepts y's request on one backend while blocking y on the other.
	const answers = await Promise.all(pairs.flatMap(([x, y]) => [
		call(s, x, 'POST', `/api/friends/requests/${y.id}/accept`, undefined, b1), block(s, x, y, b2),
	]));
	for (const r of answers) assert.ok([200, 204, 404].includes(r.status), r.text);
	const rows = await s.sql(`SELECT
		(SELECT count(*) FROM friends WHERE user_id LIKE 'bk%'),
		(SELECT count(*) FROM friend_requests WHERE from_user LIKE 'bk%'),
		(SELECT count(*) FROM blocks WHERE blocker LIKE 'bk%')`);
	assert.deepEqual(rows, [['0', '0', String(pairs.length)]]);
});

test('GET /api/blocks pages with limit and cursor, and an account blocks at most 1000', async () => {
	const s = h.stack;
	const [me, ...others] = await seedAccounts(s, 'bp', 4);
	for (const o of others) assert.equal((await block(s, me, o)).status, 204);
	const pages = await walk(s, me, '/api/blocks', 1);
	assert.equal(pages.length, 3);
	assert.deepEqual(pages.flatMap((p) => p.blocks.map((u) => u.userId)), others.map((u) => u.id).sort());
	for (const p of pages) assert.equal(p.blocks.length, 1);
	const pages2 = await walk(s, me, '/api/blocks', 2);
	assert.deepEqual(pages2.map((p) => p.blocks.length), [2, 1]);
	for (const bad of ['d~s', 'q', 'a', 'abad!', `a${'x'.repeat(33)}`]) {
		assertError(await call(s, me, 'GET', `/api/blocks?cursor=${encodeURIComponent(bad)}`), 400, 'invalid_request');
	}

	const [full, last] = await seedAccounts(s, 'bfull', 2);
	await s.sql(`INSERT INTO users (id, password_hash) SELECT 'bl' || g || '_${process.pid}', 'seeded' FROM generate_series(1, 1000) g`);
	await s.sql(`INSERT INTO blocks (blocker, blocked) SELECT '${full.id}', 'bl' || g || '_${process.pid}' FROM generate_series(1, 1000) g`);
	assertError(await block(s, full, last), 409, 'conflict');
	assert.equal((await block(s, full, { id: `bl1_${process.pid}` })).status, 204, 'one already blocked stays blocked');
	const page = await call(s, full, 'GET', '/api/blocks?limit=50');
	assert.equal(page.json.blocks.length, 50);
	assert.equal(typeof page.json.next, 'string');
});

test('forged user ids, yourself, unknown accounts and guests are refused', async () => {
	const s = h.stack;
	const me = await register(s, 'bforge');
	for (const id of ['bad!id', 'x'.repeat(33), 'guest:xyz', 'guest%3Axyz']) {
		assertError(await call(s, me, 'DELETE', `/api/blocks/${encodeURIComponent(id)}`), 400, 'invalid_user_id');
		assertError(await call(s, me, 'POST', '/api/blocks', { userId: id }), 400, 'invalid_user_id');
	}
	assertError(await call(s, me, 'POST', '/api/blocks', {}), 400, 'invalid_user_id');
	assertError(await block(s, me, me), 400, 'invalid_request');
	assertError(await unblock(s, me, me), 400, 'invalid_request');
	assertError(await block(s, me, { id: 'nobody_here' }), 404, 'not_found');
	const guest = { token: await login(s.backendUrl, 'guestblock') };
	for (const [method, path, body] of [
		['POST', '/api/blocks', { userId: me.id }], ['DELETE', `/api/blocks/${me.id}`], ['GET', '/api/blocks'],
	]) {
		assertError(await call(s, guest, method, path, body), 403, 'account_required');
		assertError(await call(s, null, method, path, body), 401, 'unauthorized');
	}
	assert.deepEqual(await blocksOf(s, me), []);
});
