// Mentions (docs/protocol.md, "Mentions"): "@<user id>" in a message's text
// mentions that account if it may see the room and is not the author.
// GET /api/me/rooms counts a user's mentions past their read mark apart from
// unread messages, a deleted message's mention stops counting, and the
// mentioned user's inbox hears {"type":"mention"} as the message commits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, request, lookup, connect, closeAll } from './lib/stack.js';
import { register } from './lib/friendsapi.js';

const h = useStack({ sessions: 1, backends: 1, sessionEnv: { SESSION_MAX_ROOMS: '100' } });

const api = (who, path, opts = {}) => request(h.stack.backendUrl, path, { token: who.token, ...opts });

async function newRoom(owner, body = {}) {
	const res = await api(owner, '/api/rooms', { method: 'POST', body });
	assert.equal(res.status, 200, res.text);
	return res.json.roomId;
}

// Connects who to roomId (a ticket also makes the room one of theirs).
async function joinAs(who, roomId) {
	const t = await lookup(h.stack.backendUrl, who.token, roomId);
	assert.equal(t.status, 200, t.text);
	const c = await connect(t.json.host, t.json.token, { protocol: 'stateroom.v1' });
	c.welcome = await c.next('welcome');
	return c;
}

let ids = 0;
async function send(c, text) {
	const id = `m${++ids}`;
	c.send({ type: 'send', id, text });
	return (await c.next({ type: 'ack', id })).seq;
}

// who's row for roomId in GET /api/me/rooms, or undefined.
async function listed(who, roomId) {
	const res = await api(who, '/api/me/rooms?limit=50');
	assert.equal(res.status, 200, res.text);
	return res.json.rooms.find((r) => r.roomId === roomId);
}

async function counts(who, roomId) {
	const r = await listed(who, roomId);
	return r === undefined ? undefined : { unread: r.unread, mentions: r.mentions };
}

async function eventually(fn, want, what) {
	let got;
	const deadline = Date.now() + 5000;
	for (;;) {
		got = await fn();
		if (JSON.stringify(got) === JSON.stringify(want) || Date.now() > deadline) break;
		await new Promise((r) => setTimeout(r, 50));
	}
	assert.deepEqual(got, want, what);
}

async function openInbox(who) {
	const res = await api(who, '/api/me/inbox');
	assert.equal(res.status, 200, res.text);
	const c = await connect(res.json.host, res.json.token, { protocol: 'stateroom.v1' });
	await c.next('welcome');
	return c;
}

test('mentions are counted apart from unread messages, and reading past them clears them', async () => {
	const alice = await register(h.stack, 'alice');
	const bob = await register(h.stack, 'bob');
	const roomId = await newRoom(alice);
	const a = await joinAs(alice, roomId);
	const b = await joinAs(bob, roomId);
	await send(a, 'good morning');
	const first = await send(a, `@${bob.id} can you look at this?`);
	await send(a, 'thanks');
	// Upper case is the same login; the comma and the full stop end the id.
	const last = await send(a, `ping @${bob.id.toUpperCase()}, and again @${bob.id}.`);
	await eventually(() => counts(bob, roomId), { unread: 4, mentions: 2 }, 'two of four unread mention bob');
	assert.deepEqual(await counts(alice, roomId), { unread: 4, mentions: 0 }, 'alice mentioned nobody in her own eyes');

	b.send({ type: 'read', seq: first });
	await eventually(() => counts(bob, roomId), { unread: last - first, mentions: 1 }, 'read past the first');
	b.send({ type: 'read', seq: last });
	await eventually(() => counts(bob, roomId), { unread: 0, mentions: 0 }, 'read past both');
	await closeAll([a, b]);
});

test('a deleted message\'s mention stops counting', async () => {
	const alice = await register(h.stack, 'alice');
	const bob = await register(h.stack, 'bob');
	const roomId = await newRoom(alice);
	const a = await joinAs(alice, roomId);
	const b = await joinAs(bob, roomId);
	const seq = await send(a, `@${bob.id} wrong room, sorry`);
	await send(a, `@${bob.id} this one stays`);
	await eventually(() => counts(bob, roomId), { unread: 2, mentions: 2 }, 'two mentions');
	a.send({ type: 'delete', id: 'del1', seq });
	await a.next({ type: 'ack', id: 'del1' });
	await eventually(() => counts(bob, roomId), { unread: 2, mentions: 1 }, 'the deleted one is gone');
	await closeAll([a, b]);
});

test('only accounts that may see the room, other than the author, are mentioned', async () => {
	const alice = await register(h.stack, 'alice');
	const bob = await register(h.stack, 'bob');
	const carol = await register(h.stack, 'carol');
	const dave = await register(h.stack, 'dave');
	const eve = await register(h.stack, 'eve');

	// A DM: carol is no member of it.
	const dm = await api(alice, '/api/dms', { method: 'POST', body: { userId: bob.id } });
	assert.equal(dm.status, 201, dm.text);
	const dmId = dm.json.roomId;
	const a = await joinAs(alice, dmId);
	await send(a, `@${carol.id} @${bob.id} @${alice.id} see this`);
	await eventually(() => counts(bob, dmId), { unread: 1, mentions: 1 }, 'bob is mentioned in his DM');
	assert.deepEqual(await counts(alice, dmId), { unread: 1, mentions: 0 }, 'the author mentioned herself: nothing');
	await a.close(1000);

	// A room: dave is banned from it, eve blocks alice; carol and bob are
	// members; nobody has the other ids.
	const roomId = await newRoom(alice);
	const r = await joinAs(alice, roomId);
	for (const who of [bob, carol, dave, eve]) await (await joinAs(who, roomId)).close(1000);
	const ban = await h.stack.sql(`SELECT status FROM stateroom_room_act('${roomId}', '${alice.id}', '${alice.id}',
		'ban', '${dave.id}', '${dave.id}', '{}'::jsonb)`);
	assert.deepEqual(ban, [['ok']]);
	const blocked = await api(eve, '/api/blocks', { method: 'POST', body: { userId: alice.id } });
	assert.ok(blocked.status < 300, blocked.text);
	const seq = await send(r, [
		`@${dave.id} @${eve.id} @${alice.id} @nobody_${process.pid} @${'x'.repeat(40)}`,
		`mail${bob.id}@${carol.id}.example.org`, // an address: the '@' follows a letter
		`@${carol.id}x`, // another id, that nobody has
		`@@${bob.id}!`, // '@' is no id character: bob is mentioned
	].join(' '));
	const rows = await h.stack.sql(`SELECT user_id FROM mentions WHERE room_id = '${roomId}' AND seq = ${seq}`);
	assert.deepEqual(rows, [[bob.id]], 'of everyone named, only bob counts');
	assert.deepEqual(await counts(carol, roomId), { unread: 1, mentions: 0 });
	await eventually(() => counts(bob, roomId), { unread: 1, mentions: 1 }, 'bob counts it');
	await r.close(1000);
});

test('the mentioned user\'s inbox hears the mention as it commits', async () => {
	const alice = await register(h.stack, 'alice');
	const bob = await register(h.stack, 'bob');
	const roomId = await newRoom(alice);
	const a = await joinAs(alice, roomId);
	await (await joinAs(bob, roomId)).close(1000);
	const inbox = await openInbox(bob);
	await send(a, 'no mention here: @ alone, and a@b');
	const seq = await send(a, `hey @${bob.id}`);
	const frame = await inbox.next((f) => f.type === 'event' && f.event?.type === 'mention');
	assert.deepEqual(frame.event, { type: 'mention', roomId, seq, by: alice.id });
	// The first message mentioned nobody: the first mention event is the second's.
	await closeAll([a, inbox]);
});
