// Who said it: every native frame that names a user carries its stable id
// ("userId", the ticket's subject) beside the name it shows, and so does the
// HTTP history. Two accounts that chose the same display name are two ids;
// an account that changed its display name keeps its id on its older
// messages. A guest's id is its subject (guest:…). The ring is made small
// (--ring-size 20) so that resumes and history also come from PostgreSQL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
	useStack, request, connect, decodeToken, login, lookup, createRoom, tokenFor, sendAcked, closeAll,
} from './lib/stack.js';
import { register, call } from './lib/friendsapi.js';

const RING = 20;
const h = useStack({ sessions: 1, backends: 1, sessionEnv: { SESSION_RING_SIZE: String(RING) } });

const claims = (token) => decodeToken(token).claims;

async function account(prefix, displayName) {
	const user = await register(h.stack, prefix);
	await rename(user, displayName);
	return user;
}

async function rename(user, displayName) {
	const res = await call(h.stack, user, 'PATCH', '/api/me', { displayName });
	assert.equal(res.status, 200, res.text);
}

async function roomOf(user) {
	const res = await createRoom(h.stack.backendUrl, user.token, { name: 'ids' });
	assert.equal(res.status, 200, res.text);
	return res.json.roomId;
}

// A native connection of the user with this token, after its welcome.
async function enter(token, roomId, since) {
	const t = await lookup(h.stack.backendUrl, token, roomId);
	assert.equal(t.status, 200, t.text);
	const c = await connect(t.json.host, t.json.token, { protocol: 'stateroom.v1', since });
	return [c, await c.next('welcome')];
}

const who = (ms) => ms.map((m) => [m.seq, m.user, m.userId]);

test('two accounts with one display name are told apart by userId in every frame', async () => {
	const ann = await account('ann', 'Sam');
	const bob = await account('bob', 'Sam');
	const roomId = await roomOf(ann);
	const [a, aw] = await enter(ann.token, roomId);
	assert.equal(aw.user, 'Sam');
	assert.equal(aw.userId, ann.id);
	assert.deepEqual(aw.members, ['Sam']);
	assert.deepEqual(aw.memberIds, [ann.id]);

	const [b, bw] = await enter(bob.token, roomId);
	assert.equal(bw.userId, bob.id);
	assert.deepEqual(bw.members, ['Sam', 'Sam']);
	assert.deepEqual(bw.memberIds, [ann.id, bob.id], 'memberIds is in the order of members');
	assert.deepEqual(await a.next('presence'), { type: 'presence', joined: 'Sam', userId: bob.id });

	await sendAcked(a, 'a1', 'from ann');
	await sendAcked(b, 'b1', 'from bob');
	for (const c of [a, b]) {
		const live = [await c.next({ type: 'message', seq: 1 }), await c.next({ type: 'message', seq: 2 })];
		assert.deepEqual(who(live), [[1, 'Sam', ann.id], [2, 'Sam', bob.id]]);
	}

	b.send({ type: 'typing' });
	assert.deepEqual(await a.next('typing'), { type: 'typing', user: 'Sam', userId: bob.id });
	b.send({ type: 'read', seq: 2 });
	assert.deepEqual(await a.next('read'), { type: 'read', user: 'Sam', userId: bob.id, seq: 2 });

	b.send({ type: 'history', limit: 10 });
	assert.deepEqual(who((await b.next('history')).messages), [[1, 'Sam', ann.id], [2, 'Sam', bob.id]]);

	await b.close();
	assert.deepEqual(await a.next('presence'), { type: 'presence', left: 'Sam', userId: bob.id });
	await closeAll([a]);
});

test('resumes (from the ring and from PostgreSQL), history pages and HTTP history carry userId; a renamed account keeps its id', async () => {
	const ann = await account('cid', 'Twin');
	const bob = await account('dot', 'Twin');
	const roomId = await roomOf(ann);
	const [a] = await enter(ann.token, roomId);
	const [b] = await enter(bob.token, roomId);
	// 30 messages, more than the ring holds: odd seqs Ann's, even Bob's.
	for (let i = 1; i <= 30; i++) await sendAcked(i % 2 ? a : b, `m${i}`, `text ${i}`);
	// Ann takes another name: her next ticket, and so her next messages, show it.
	await rename(ann, 'Anna');
	await closeAll([a]);
	const [a2, aw2] = await enter(ann.token, roomId);
	assert.equal(aw2.user, 'Anna');
	assert.equal(aw2.userId, ann.id);
	assert.equal(await sendAcked(a2, 'm31', 'text 31'), 31);

	const expected = (from, to) => Array.from({ length: to - from + 1 }, (_, k) => {
		const seq = from + k;
		return [seq, seq === 31 ? 'Anna' : 'Twin', seq % 2 ? ann.id : bob.id];
	});
	for (const since of [2, 25]) {
		const [c, w] = await enter(bob.token, roomId, since);
		assert.deepEqual(who(w.messages), expected(since + 1, 31), `resume from ${since}`);
		c.send({ type: 'history', before: 6, limit: 5 });
		assert.deepEqual(who((await c.next('history')).messages), expected(1, 5), 'history from PostgreSQL');
		await closeAll([c]);
	}

	const res = await request(h.stack.backendUrl, `/api/rooms/${roomId}/messages?limit=100`, { token: bob.token });
	assert.equal(res.status, 200, res.text);
	assert.deepEqual(who(res.json.messages), expected(1, 31));
	await closeAll([a2, b]);
});

test('a guest’s userId is its subject: two guests of one name are two ids', async () => {
	const one = await tokenFor(h.stack, 'gina');
	// A second login with the same name: another guest (tokenFor would reuse the first).
	const two = await login(h.stack.backendUrl, 'gina');
	const [sub1, sub2] = [claims(one).sub, claims(two).sub];
	assert.match(sub1, /^guest:/);
	assert.notEqual(sub1, sub2);

	const res = await createRoom(h.stack.backendUrl, one, {});
	assert.equal(res.status, 200, res.text);
	const roomId = res.json.roomId;
	const [a, aw] = await enter(one, roomId);
	assert.deepEqual([aw.user, aw.userId], ['gina', sub1]);
	const [b, bw] = await enter(two, roomId);
	assert.deepEqual(bw.memberIds, [sub1, sub2]);
	await sendAcked(b, 'g1', 'hi');
	const m = await a.next('message');
	assert.deepEqual([m.user, m.userId], ['gina', sub2]);
	await closeAll([a, b]);
});
