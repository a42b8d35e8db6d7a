// Replies, edits, deletions and reactions (issue 13): each a record of the
// room's log with its own seq, acked after commit, idempotent by client id,
// broadcast in seq order, refused with a clear error when it may not be made,
// and shown as the message's current state by welcomes, resumes, history
// pages (native and HTTP) and a room reloaded after a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
	useStack, decodeToken, newRoom, tokenFor, join, sendAcked, closeAll, request,
} from './lib/stack.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// A short edit window, so that a too-late edit can be shown.
const EDIT_WINDOW_S = 3;
const h = useStack({
	sessions: 1, backends: 1,
	sessionEnv: { SESSION_MAX_ROOMS: '100', SESSION_EDIT_WINDOW_S: String(EDIT_WINDOW_S) },
});

const idOf = async (user) => decodeToken(await tokenFor(h.stack, user)).claims.sub;

async function pair() {
	const roomId = await newRoom(h.stack, 'alice');
	const [alice] = await join(h.stack, 'alice', roomId);
	const [bob] = await join(h.stack, 'bob', roomId);
	await alice.next({ type: 'presence', joined: 'bob' });
	return { roomId, alice, bob };
}

// Sends a change frame and waits for its ack; returns its seq.
async function change(c, frame) {
	c.send(frame);
	return (await c.next({ type: 'ack', id: frame.id })).seq;
}

async function refused(c, frame, code) {
	c.send(frame);
	const e = await c.next({ type: 'error', id: frame.id });
	assert.equal(e.code, code, JSON.stringify(e));
	assert.equal(typeof e.message, 'string');
}

async function history(user, roomId, query = '') {
	const res = await request(h.stack.backendUrl, `/api/rooms/${roomId}/messages${query}`,
		{ token: await tokenFor(h.stack, user) });
	assert.equal(res.status, 200, res.text);
	return res.json;
}

const bySeq = (messages, seq) => messages.find((m) => m.seq === seq);

test('a reply names the message it answers, live and in history; a reply to no message is refused', async () => {
	const { roomId, alice, bob } = await pair();
	const first = await sendAcked(alice, 'a1', 'question?');
	bob.send({ type: 'send', id: 'b1', text: 'answer', replyTo: first });
	const { seq } = await bob.next({ type: 'ack', id: 'b1' });
	const live = await alice.next({ type: 'message', seq });
	assert.equal(live.replyTo, first);
	assert.equal(live.text, 'answer');
	await refused(bob, { type: 'send', id: 'b2', text: 'x', replyTo: 999 }, 'not_found');
	await refused(bob, { type: 'send', id: 'b3', text: 'x', replyTo: 'one' }, 'bad_frame');
	await refused(bob, { type: 'send', id: 'b4', text: 'x', replyTo: 0 }, 'bad_frame');
	const page = await history('alice', roomId);
	assert.equal(bySeq(page.messages, seq).replyTo, first);
	assert.equal(bySeq(page.messages, first).replyTo, undefined);
	await closeAll([alice, bob]);
});

test('an edit is acked with its own seq, everyone sees it, and the message shows its new text marked edited', async () => {
	const { roomId, alice, bob } = await pair();
	const seq = await sendAcked(alice, 'a1', 'helo');
	const editSeq = await change(alice, { type: 'edit', id: 'e1', seq, text: 'hello' });
	assert.equal(editSeq, seq + 1);
	for (const c of [alice, bob]) {
		const e = await c.next({ type: 'edit', seq: editSeq });
		assert.deepEqual({ ...e, ts: 0 }, {
			type: 'edit', seq: editSeq, target: seq, text: 'hello', userId: await idOf('alice'), user: 'alice', ts: 0,
		});
	}
	const [carol, welcome] = await join(h.stack, 'carol', roomId);
	const m = bySeq(welcome.messages, seq);
	assert.equal(m.text, 'hello');
	assert.equal(m.edited, true);
	assert.equal(welcome.changes, undefined, 'a welcome without since shows the state, not the changes');
	const page = await history('bob', roomId);
	assert.equal(bySeq(page.messages, seq).text, 'hello');
	assert.equal(bySeq(page.messages, seq).edited, true);
	assert.equal(page.messages.length, 1, 'the edit record is no message');
	await closeAll([alice, bob, carol]);
});

test('edits are refused: someone else\'s message, no such message, a bad seq or text, past the window', async () => {
	const { roomId, alice, bob } = await pair();
	const seq = await sendAcked(alice, 'a1', 'mine');
	await refused(bob, { type: 'edit', id: 'x1', seq, text: 'hijacked' }, 'not_allowed');
	await refused(alice, { type: 'edit', id: 'x2', seq: 99, text: 'nothing' }, 'not_found');
	await refused(alice, { type: 'edit', id: 'x3', seq: 'one', text: 'bad' }, 'bad_frame');
	await refused(alice, { type: 'edit', id: 'x4', seq, text: '' }, 'bad_frame');
	await refused(alice, { type: 'edit', id: 'x5', seq, text: 'x'.repeat(4001) }, 'too_long');
	// A change record is no message: it cannot be edited itself.
	const e = await change(alice, { type: 'edit', id: 'e1', seq, text: 'mine!' });
	await refused(alice, { type: 'edit', id: 'x6', seq: e, text: 'edit of an edit' }, 'not_found');
	await sleep(EDIT_WINDOW_S * 1000 + 500);
	await refused(alice, { type: 'edit', id: 'x7', seq, text: 'too late' }, 'too_late');
	const page = await history('alice', roomId);
	assert.equal(bySeq(page.messages, seq).text, 'mine!');
	await closeAll([alice, bob]);
});

test('a retried edit, delete or reaction is acked with its first seq and not applied twice', async () => {
	const { roomId, alice, bob } = await pair();
	const seq = await sendAcked(alice, 'a1', 'one');
	const e = await change(alice, { type: 'edit', id: 'e1', seq, text: 'two' });
	assert.equal(await change(alice, { type: 'edit', id: 'e1', seq, text: 'two' }), e);
	const r = await change(bob, { type: 'react', id: 'r1', seq, emoji: '👍', on: true });
	assert.equal(await change(bob, { type: 'react', id: 'r1', seq, emoji: '👍', on: true }), r);
	await bob.next({ type: 'reaction', seq: r });
	await bob.none({ type: 'reaction', seq: r + 1 }, 300);
	const other = await sendAcked(alice, 'a2', 'doomed');
	const d = await change(alice, { type: 'delete', id: 'd1', seq: other });
	assert.equal(await change(alice, { type: 'delete', id: 'd1', seq: other }), d);
	const [[count]] = await h.stack.sql(`SELECT count(*) FROM records WHERE room_id = '${roomId}'`);
	assert.equal(count, '5', 'message, edit, reaction, message, delete: nothing twice');
	await closeAll([alice, bob]);
});

test('a deletion leaves a tombstone, removes the text from the database, and refuses further changes', async () => {
	const { roomId, alice, bob } = await pair();
	const seq = await sendAcked(alice, 'a1', 'secret text');
	await change(alice, { type: 'edit', id: 'e1', seq, text: 'secret edit' });
	await change(bob, { type: 'react', id: 'r1', seq, emoji: '🔥', on: true });
	await refused(bob, { type: 'delete', id: 'x1', seq }, 'not_allowed');
	const d = await change(alice, { type: 'delete', id: 'd1', seq });
	assert.deepEqual(await bob.next({ type: 'delete', seq: d }), { type: 'delete', seq: d, target: seq });
	await refused(alice, { type: 'edit', id: 'x2', seq, text: 'again' }, 'deleted');
	await refused(bob, { type: 'react', id: 'x3', seq, emoji: '👍', on: true }, 'deleted');
	await refused(alice, { type: 'delete', id: 'x4', seq }, 'deleted');
	await refused(bob, { type: 'send', id: 'x5', text: 'to nothing', replyTo: seq }, 'deleted');
	const rows = await h.stack.sql(
		`SELECT seq, kind, payload FROM records WHERE room_id = '${roomId}' AND (seq = ${seq} OR target = ${seq}) ORDER BY seq`);
	assert.deepEqual(rows.map(([, kind]) => kind), ['message', 'edit', 'reaction', 'delete']);
	for (const [, kind, payload] of rows) assert.equal(payload ?? '', '', `${kind} keeps no text`);
	const [[left]] = await h.stack.sql(
		`SELECT count(*) FROM records WHERE room_id = '${roomId}' AND payload LIKE '%secret%'`);
	assert.equal(left, '0');
	const [carol, welcome] = await join(h.stack, 'carol', roomId);
	const m = bySeq(welcome.messages, seq);
	assert.equal(m.deleted, true);
	assert.equal(m.text, '');
	assert.equal(m.reactions, undefined);
	const page = await history('carol', roomId);
	assert.equal(bySeq(page.messages, seq).deleted, true);
	assert.equal(bySeq(page.messages, seq).text, '');
	const versions = await request(h.stack.backendUrl, `/api/rooms/${roomId}/messages/${seq}/versions`,
		{ token: await tokenFor(h.stack, 'carol') });
	assert.equal(versions.status, 404);
	await closeAll([alice, bob, carol]);
});

test('reactions toggle, count per emoji with who reacted, and are refused when bad', async () => {
	const { roomId, alice, bob } = await pair();
	const seq = await sendAcked(alice, 'a1', 'react to me');
	const [aliceId, bobId] = [await idOf('alice'), await idOf('bob')];
	const r1 = await change(bob, { type: 'react', id: 'r1', seq, emoji: '👍', on: true });
	assert.deepEqual(await alice.next({ type: 'reaction', seq: r1 }),
		{ type: 'reaction', seq: r1, target: seq, emoji: '👍', on: true, userId: bobId });
	await change(alice, { type: 'react', id: 'r2', seq, emoji: '👍', on: true });
	await change(alice, { type: 'react', id: 'r3', seq, emoji: '🎉', on: true });
	await change(alice, { type: 'react', id: 'r4', seq, emoji: '🎉', on: false });
	let page = await history('bob', roomId);
	assert.deepEqual(bySeq(page.messages, seq).reactions, [{ emoji: '👍', count: 2, userIds: [bobId, aliceId] }]);
	const [carol, welcome] = await join(h.stack, 'carol', roomId);
	assert.deepEqual(bySeq(welcome.messages, seq).reactions, [{ emoji: '👍', count: 2, userIds: [bobId, aliceId] }]);
	await refused(bob, { type: 'react', id: 'x1', seq, emoji: '', on: true }, 'bad_frame');
	await refused(bob, { type: 'react', id: 'x2', seq, emoji: 'x'.repeat(33), on: true }, 'bad_frame');
	await refused(bob, { type: 'react', id: 'x3', seq, emoji: '👍', on: 'yes' }, 'bad_frame');
	await refused(bob, { type: 'react', id: 'x4', seq, emoji: 'a\nb', on: true }, 'bad_frame');
	await refused(bob, { type: 'react', id: 'x5', seq: 999, emoji: '👍', on: true }, 'not_found');
	// At most 20 different emoji on a message.
	for (let i = 0; i < 19; i++) await change(bob, { type: 'react', id: `m${i}`, seq, emoji: `e${i}`, on: true });
	await refused(bob, { type: 'react', id: 'x6', seq, emoji: 'one too many', on: true }, 'too_many_reactions');
	await change(bob, { type: 'react', id: 'ok', seq, emoji: '👍', on: false }); // a known one still toggles
	page = await history('bob', roomId);
	assert.equal(bySeq(page.messages, seq).reactions.length, 20);
	await closeAll([alice, bob, carol]);
});

test('changes are broadcast in seq order with messages', async () => {
	const { alice, bob } = await pair();
	const seq = await sendAcked(alice, 'a1', 'base');
	alice.send({ type: 'send', id: 'a2', text: 'next' });
	alice.send({ type: 'edit', id: 'e1', seq, text: 'base!' });
	bob.send({ type: 'react', id: 'r1', seq, emoji: '👍', on: true });
	alice.send({ type: 'send', id: 'a3', text: 'last' });
	const seen = [];
	while (seen.length < 4) {
		const f = await bob.next((x) => ['message', 'edit', 'reaction'].includes(x.type) && x.seq > seq);
		seen.push(f.seq);
	}
	assert.deepEqual(seen, [...seen].sort((a, b) => a - b));
	assert.deepEqual(seen, [seq + 1, seq + 2, seq + 3, seq + 4]);
	await closeAll([alice, bob]);
});

test('a resume with since shows the current state of new messages and every change of older ones once', async () => {
	const { roomId, alice, bob } = await pair();
	const old = await sendAcked(alice, 'a1', 'old');
	const gone = await sendAcked(alice, 'a2', 'to delete');
	await bob.next({ type: 'message', seq: gone });
	const since = gone;
	await bob.close(1000);
	const fresh = await sendAcked(alice, 'a3', 'fresh');
	await change(alice, { type: 'edit', id: 'e1', seq: old, text: 'old, edited' });
	await change(alice, { type: 'edit', id: 'e2', seq: fresh, text: 'fresh, edited' });
	await change(alice, { type: 'react', id: 'r1', seq: fresh, emoji: '👍', on: true });
	await change(alice, { type: 'delete', id: 'd1', seq: gone });
	const [bob2, welcome] = await join(h.stack, 'bob', roomId, { since });
	assert.deepEqual(welcome.messages.map((m) => m.seq), [fresh]);
	assert.equal(welcome.messages[0].text, 'fresh, edited');
	assert.equal(welcome.messages[0].edited, true);
	assert.equal(welcome.messages[0].reactions[0].count, 1);
	// The changes of messages the client had: each once, in seq order.
	assert.deepEqual(welcome.changes.map((c) => [c.type, c.target]), [['edit', old], ['delete', gone]]);
	assert.equal(welcome.changes[0].text, 'old, edited');
	await closeAll([alice, bob2]);
});

test('native history pages show current state', async () => {
	const { alice, bob } = await pair();
	const a = await sendAcked(alice, 'a1', 'first');
	const b = await sendAcked(alice, 'a2', 'second');
	await change(alice, { type: 'edit', id: 'e1', seq: a, text: 'first!' });
	await change(alice, { type: 'delete', id: 'd1', seq: b });
	bob.send({ type: 'history', limit: 100 });
	const page = await bob.next('history');
	assert.deepEqual(page.messages.map((m) => [m.seq, m.text, !!m.edited, !!m.deleted]),
		[[a, 'first!', true, false], [b, '', false, true]]);
	await closeAll([alice, bob]);
});

test('previous versions of an edited message are kept and shown, oldest first', async () => {
	const { roomId, alice, bob } = await pair();
	const seq = await sendAcked(alice, 'a1', 'v1');
	await change(alice, { type: 'edit', id: 'e1', seq, text: 'v2' });
	await change(alice, { type: 'edit', id: 'e2', seq, text: 'v3' });
	const res = await request(h.stack.backendUrl, `/api/rooms/${roomId}/messages/${seq}/versions`,
		{ token: await tokenFor(h.stack, 'bob') });
	assert.equal(res.status, 200, res.text);
	assert.deepEqual(res.json.versions.map((v) => v.text), ['v1', 'v2', 'v3']);
	for (const v of res.json.versions) assert.equal(typeof v.ts, 'number');
	for (const bad of ['999', 'abc', '0', '-1']) {
		const r = await request(h.stack.backendUrl, `/api/rooms/${roomId}/messages/${bad}/versions`,
			{ token: await tokenFor(h.stack, 'bob') });
		assert.equal(r.status, 404, bad);
	}
	const anon = await request(h.stack.backendUrl, `/api/rooms/${roomId}/messages/${seq}/versions`);
	assert.equal(anon.status, 401);
	await closeAll([alice, bob]);
});

test('a compat client sees current texts and no deleted message, and cannot edit', async () => {
	const { roomId, alice } = await pair();
	const a = await sendAcked(alice, 'a1', 'original');
	const b = await sendAcked(alice, 'a2', 'will vanish');
	await change(alice, { type: 'edit', id: 'e1', seq: a, text: 'corrected' });
	await change(alice, { type: 'delete', id: 'd1', seq: b });
	await change(alice, { type: 'react', id: 'r1', seq: a, emoji: '👍', on: true });
	const [compat] = await join(h.stack, 'dave', roomId, { protocol: null });
	const snap = await compat.next((f) => Array.isArray(f.messages));
	assert.deepEqual(snap.messages.map((m) => m.msg), ['corrected']);
	// A compat text that looks like an edit is a message like any other.
	compat.send(JSON.stringify({ type: 'edit', seq: a, text: 'nope' }));
	const next = await compat.next((f) => Array.isArray(f.messages) && f.messages.length === 2);
	assert.equal(next.messages[0].msg, 'corrected');
	await closeAll([alice, compat]);
});

test('after a restart (kill and reload) the room shows every message as it was', async () => {
	const { roomId, alice, bob } = await pair();
	const a = await sendAcked(alice, 'a1', 'keep');
	const b = await sendAcked(alice, 'a2', 'drop');
	await change(alice, { type: 'edit', id: 'e1', seq: a, text: 'kept' });
	await change(bob, { type: 'react', id: 'r1', seq: a, emoji: '👍', on: true });
	await change(alice, { type: 'delete', id: 'd1', seq: b });
	await closeAll([alice, bob]);
	const s = h.stack.sessions[0];
	await s.stop('SIGKILL');
	await s.start();
	await h.stack.waitRegistered();
	const [carol, welcome] = await join(h.stack, 'carol', roomId);
	const ma = bySeq(welcome.messages, a);
	assert.equal(ma.text, 'kept');
	assert.equal(ma.edited, true);
	assert.deepEqual(ma.reactions, [{ emoji: '👍', count: 1, userIds: [await idOf('bob')] }]);
	assert.equal(bySeq(welcome.messages, b).deleted, true);
	// And changes still work on the reloaded room.
	const r = await change(carol, { type: 'react', id: 'r2', seq: a, emoji: '👍', on: true });
	assert.equal(r, b + 4, "after the edit, the reaction and the delete");
	await refused(carol, { type: 'edit', id: 'x', seq: a, text: 'not mine' }, 'not_allowed');
	await closeAll([carol]);
});
