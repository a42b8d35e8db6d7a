// Roles and moderation in the session server (issue 13, docs/protocol.md
// "Roles and moderation"): the moderation frames, what a loaded room
// enforces when an action is taken (by a frame here, or by anyone through
// stateroom_room_act, as the backend's HTTP API does), and the action
// records of the room's log: live, in welcomes and resumes, after a restart,
// and for actions taken while the room was loaded nowhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
	useStack, decodeToken, newRoom, tokenFor, ticketFor, join, sendAcked, closeAll, connect, request,
} from './lib/stack.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const h = useStack({ sessions: 1, backends: 1, sessionEnv: { SESSION_MAX_ROOMS: '100' } });

const idOf = async (user) => decodeToken(await tokenFor(h.stack, user)).claims.sub;
const q = (s) => `'${String(s).replaceAll("'", "''")}'`;

// A room owned by `owner` in which `mod` is a moderator (set before anyone
// joins: the room reads its rules when it loads), the three joined.
async function room(owner, mod, member, body) {
	const roomId = await newRoom(h.stack, owner, body);
	await h.stack.sql(`INSERT INTO room_roles (room_id, user_id, role, granted_by)
		VALUES (${q(roomId)}, ${q(await idOf(mod))}, 'moderator', ${q(await idOf(owner))})`);
	const [o, ow] = await join(h.stack, owner, roomId);
	const [m, mw] = await join(h.stack, mod, roomId);
	const [u, uw] = await join(h.stack, member, roomId);
	return { roomId, o, m, u, welcomes: [ow, mw, uw] };
}

// The frame's answer: done, or the error's code.
async function act(c, frame) {
	c.send(frame);
	const f = await c.next((x) => (x.type === 'done' || x.type === 'error') && x.id === frame.id);
	return f.type === 'done' ? 'done' : f.code;
}

async function actionCount(roomId) {
	return Number((await h.stack.sql(`SELECT count(*) FROM room_actions WHERE room_id = ${q(roomId)}`))[0][0]);
}

test('the welcome says each user\'s role and the room\'s owner and moderators', async () => {
	const { o, m, u, welcomes: [ow, mw, uw] } = await room('own1', 'mod1', 'mem1');
	assert.equal(ow.role, 'owner');
	assert.equal(mw.role, 'moderator');
	assert.equal(uw.role, 'member');
	assert.deepEqual(uw.roles, { [await idOf('own1')]: 'owner', [await idOf('mod1')]: 'moderator' });
	assert.equal(uw.mutedUntil, undefined);
	await closeAll([o, m, u]);
});

test('a member sending each moderation frame is refused as forbidden and nothing changes', async () => {
	const { roomId, o, m, u } = await room('own2', 'mod2', 'mem2');
	const target = await idOf('mod2');
	const frames = [
		{ type: 'kick', id: 'k', userId: target },
		{ type: 'ban', id: 'b', userId: target, reason: 'no', durationS: 60 },
		{ type: 'unban', id: 'ub', userId: target },
		{ type: 'mute', id: 'mu', userId: target, durationS: 60 },
		{ type: 'unmute', id: 'um', userId: target },
	];
	for (const f of frames) assert.equal(await act(u, f), 'forbidden', f.type);
	// Nor on the owner, nor on another member.
	assert.equal(await act(u, { type: 'kick', id: 'k2', userId: await idOf('own2') }), 'forbidden');
	assert.equal(await actionCount(roomId), 0);
	// Everyone is still in and may speak.
	await sendAcked(m, 'm1', 'still here');
	await u.none({ type: 'action' }, 300);
	assert.equal(m.closeInfo, null);
	await closeAll([o, m, u]);
});

test('moderation frames are checked: bad input is a bad_frame, a moderator cannot act on the owner', async () => {
	const { roomId, o, m, u } = await room('own3', 'mod3', 'mem3');
	const mem = await idOf('mem3');
	assert.equal(await act(m, { type: 'kick', id: 'a', userId: '' }), 'bad_frame');
	assert.equal(await act(m, { type: 'kick', id: 'b', userId: 42 }), 'bad_frame');
	assert.equal(await act(m, { type: 'mute', id: 'c', userId: mem }), 'bad_frame');
	assert.equal(await act(m, { type: 'mute', id: 'd', userId: mem, durationS: 0 }), 'bad_frame');
	assert.equal(await act(m, { type: 'ban', id: 'e', userId: mem, durationS: 31536001 }), 'bad_frame');
	assert.equal(await act(m, { type: 'ban', id: 'f', userId: mem, reason: 'x'.repeat(201) }), 'bad_frame');
	assert.equal(await act(m, { type: 'unban', id: 'g', userId: mem, reason: 'why' }), 'bad_frame');
	assert.equal(await act(m, { type: 'kick', id: 'h', userId: await idOf('own3') }), 'outranked');
	assert.equal(await act(m, { type: 'unban', id: 'i', userId: mem }), 'not_found');
	assert.equal(await actionCount(roomId), 0);
	await closeAll([o, m, u]);
});

test('a moderator kicks: the target is closed with 4011, everyone else sees the action once', async () => {
	const { roomId, o, m, u } = await room('own4', 'mod4', 'mem4');
	const [u2] = await join(h.stack, 'mem4', roomId); // a second tab
	assert.equal(await act(m, { type: 'kick', id: 'k1', userId: await idOf('mem4'), reason: 'spam' }), 'done');
	for (const c of [u, u2]) {
		const info = await c.closed;
		assert.equal(info.code, 4011);
		assert.equal(info.reason, 'removed');
	}
	let seen;
	for (const c of [o, m]) {
		const a = await c.next({ type: 'action' });
		seen = a;
		assert.equal(a.action, 'kick');
		assert.equal(a.userId, await idOf('mod4'));
		assert.equal(a.user, 'mod4');
		assert.equal(a.target, await idOf('mem4'));
		assert.equal(a.targetName, 'mem4');
		assert.deepEqual(a.detail, { reason: 'spam' });
		assert.equal(a.text, 'mod4 removed mem4 for spam');
		assert.equal(typeof a.seq, 'number');
		await c.none({ type: 'action' }, 300);
	}
	// HTTP history (what the web client pages back with) shows the action
	// as the frames do.
	const res = await request(h.stack.backendUrl, `/api/rooms/${roomId}/messages?limit=100`,
		{ token: await tokenFor(h.stack, 'own4') });
	assert.equal(res.status, 200);
	const { type, ...asFramed } = seen;
	assert.deepEqual(res.json.messages.filter((x) => x.kind === 'action'), [{ ...asFramed, kind: 'action' }]);
	// A kicked user may come back (the room is not invite-only).
	const [back, welcome] = await join(h.stack, 'mem4', roomId);
	const rec = welcome.messages.find((x) => x.kind === 'action');
	assert.equal(rec.action, 'kick');
	await closeAll([o, m, back]);
});

test('a moderator bans: the target is closed with 4010, and a ticket minted before the ban is refused with 4010', async () => {
	const { roomId, o, m, u } = await room('own5', 'mod5', 'mem5');
	const early = await ticketFor(h.stack, 'mem5', roomId);
	assert.equal(await act(m, { type: 'ban', id: 'b1', userId: await idOf('mem5'), reason: 'abuse' }), 'done');
	const info = await u.closed;
	assert.deepEqual([info.code, info.reason], [4010, 'banned']);
	const a = await o.next({ type: 'action' });
	assert.equal(a.action, 'ban');
	assert.equal(a.text, 'mod5 banned mem5 for abuse');
	const again = await connect(early.host, early.token, { protocol: 'stateroom.v1' });
	const refused = await again.closed;
	assert.deepEqual([refused.code, refused.reason], [4010, 'banned']);
	assert.equal(again.frames.length, 0, 'no welcome for a banned user');
	// Unbanned, the user may come in again.
	assert.equal(await act(m, { type: 'unban', id: 'ub', userId: await idOf('mem5') }), 'done');
	await o.next({ type: 'action', action: 'unban' });
	const late = await ticketFor(h.stack, 'mem5', roomId);
	const back = await connect(late.host, late.token, { protocol: 'stateroom.v1' });
	await back.next('welcome');
	await closeAll([o, m, back]);
});

test('a muted user\'s sends, edits, reactions and typing are refused or dropped until the mute ends', async () => {
	const { roomId, o, m, u } = await room('own6', 'mod6', 'mem6');
	const seq = await sendAcked(u, 'before', 'said before');
	assert.equal(await act(m, { type: 'mute', id: 'mu', userId: await idOf('mem6'), durationS: 2 }), 'done');
	const a = await u.next({ type: 'action', action: 'mute' });
	const until = a.detail.until;
	assert.ok(until > Date.now() - 5000, JSON.stringify(a));
	for (const f of [
		{ type: 'send', id: 's1', text: 'hello?' },
		{ type: 'edit', id: 'e1', seq, text: 'changed' },
		{ type: 'react', id: 'r1', seq, emoji: '👍', on: true },
	]) {
		u.send(f);
		const e = await u.next({ type: 'error', id: f.id });
		assert.equal(e.code, 'muted', f.type);
		assert.equal(e.until, until);
	}
	u.send({ type: 'typing' });
	await o.none({ type: 'typing' }, 300);
	// A reconnecting muted user is told in its welcome.
	const [u2, w2] = await join(h.stack, 'mem6', roomId);
	assert.equal(w2.mutedUntil, until);
	await u2.terminate();
	// Once it ends, the user speaks again, without the room being told.
	await sleep(Math.max(0, until - Date.now()) + 100);
	const after = await sendAcked(u, 's2', 'back');
	await o.next({ type: 'message', seq: after });
	await closeAll([o, m, u]);
});

test('a moderator deletes someone else\'s message; a member cannot', async () => {
	const { o, m, u } = await room('own7', 'mod7', 'mem7');
	const seq = await sendAcked(o, 'o1', 'owner says');
	u.send({ type: 'delete', id: 'd0', seq });
	assert.equal((await u.next({ type: 'error', id: 'd0' })).code, 'not_allowed');
	m.send({ type: 'delete', id: 'd1', seq });
	const { seq: del } = await m.next({ type: 'ack', id: 'd1' });
	const d = await u.next({ type: 'delete', seq: del });
	assert.equal(d.target, seq);
	await closeAll([o, m, u]);
});

test('a room deleted while loaded closes everyone with 4012', async () => {
	const { roomId, o, m, u } = await room('own8', 'mod8', 'mem8');
	const rows = await h.stack.sql(`SELECT stateroom_room_delete(${q(roomId)}, ${q(await idOf('own8'))})`);
	assert.equal(rows[0][0], 'ok');
	for (const c of [o, m, u]) {
		const info = await c.closed;
		assert.deepEqual([info.code, info.reason], [4012, 'room deleted']);
	}
});

test('action records survive a restart, a resume shows each once, and actions taken while the room was loaded nowhere are logged when it loads', async () => {
	const { roomId, o, m, u } = await room('own9', 'mod9', 'mem9');
	const mem = await idOf('mem9');
	const first = await sendAcked(o, 'o1', 'hello');
	assert.equal(await act(m, { type: 'mute', id: 'mu', userId: mem, durationS: 600 }), 'done');
	const muted = await o.next({ type: 'action', action: 'mute' });
	assert.equal(await act(m, { type: 'unmute', id: 'um', userId: mem }), 'done');
	const unmuted = await o.next({ type: 'action', action: 'unmute' });
	await closeAll([o, m, u]);
	const s = h.stack.sessions[0];
	await s.stop('SIGKILL');
	// Taken while no server holds the room (as the HTTP API would).
	const r = await h.stack.sql(`SELECT status FROM stateroom_room_act(${q(roomId)}, ${q(await idOf('own9'))},
		'own9', 'ban', ${q(mem)}, 'mem9', '{"reason":"later"}')`);
	assert.equal(r[0][0], 'ok');
	await s.start();
	await h.stack.waitRegistered();
	const [o2, w] = await join(h.stack, 'own9', roomId, { since: first });
	// The resume holds the two logged actions once each; the ban taken
	// meanwhile is logged once the room is loaded (in the welcome or just after).
	const seen = [...w.messages];
	const live = [];
	const want = (x) => (x.kind === 'action' || x.type === 'action') && x.action === 'ban';
	if (!seen.some(want)) live.push(await o2.next({ type: 'action', action: 'ban' }));
	const all = [...seen, ...live];
	const acts = all.filter((x) => x.kind === 'action' || x.type === 'action');
	assert.deepEqual(acts.map((x) => x.action), ['mute', 'unmute', 'ban']);
	assert.deepEqual(acts.slice(0, 2).map((x) => x.seq), [muted.seq, unmuted.seq]);
	assert.equal(acts[2].text, 'own9 banned mem9 for later');
	await o2.none({ type: 'action' }, 300);
	// And once more after the room reloads: logged exactly once.
	const rows = await h.stack.sql(`SELECT client_id FROM records WHERE room_id = ${q(roomId)} AND kind = 'action' ORDER BY seq`);
	assert.equal(rows.length, 3);
	assert.equal(new Set(rows.map((x) => x[0])).size, 3);
	await closeAll([o2]);
});

test('an ephemeral room logs the actions taken while it is loaded, live and in a later welcome', async () => {
	const { roomId, o, m, u } = await room('own10', 'mod10', 'mem10', { persistent: false });
	await sendAcked(o, 'o1', 'hi');
	assert.equal(await act(m, { type: 'kick', id: 'k', userId: await idOf('mem10') }), 'done');
	assert.equal((await u.closed).code, 4011);
	const a = await o.next({ type: 'action' });
	assert.equal(a.text, 'mod10 removed mem10');
	await o.none({ type: 'action' }, 300);
	const [late, w] = await join(h.stack, 'late10', roomId);
	assert.deepEqual(w.messages.filter((x) => x.kind === 'action').map((x) => [x.seq, x.action]), [[a.seq, 'kick']]);
	await closeAll([o, m, late]);
});
