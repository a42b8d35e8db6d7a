// Ringing in a DM (docs/protocol.md, "Calls", "Ringing in a DM"): the first
// member to join the DM's call rings the other's inbox; the ring ends when
// the other joins, declines, the caller leaves, or nobody answers within
// --call-ring-timeout-s; and the DM's log keeps a call record of each
// missed, declined or held call, in the live frames and the HTTP history.
// The "missed" describe starts its own stack with --call-ring-timeout-s 2
// (SESSION_CALL_RING_TIMEOUT_S) so that the test need not wait 30 s; the
// rest runs with the default (30 s).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, request, lookup, connect, decodeToken, newRoom, join, closeAll } from './lib/stack.js';

let n = 0;
const fresh = (prefix) => `${prefix}${process.pid % 10000}r${++n}`;
const isEvent = (type) => (f) => f?.type === 'event' && f.event?.type === type;
const isOp = (op) => (f) => f?.type === 'call' && f.op === op;
const isCallRecord = (f) => f?.type === 'action' && f.action === 'call';

function setup(h) {
	const base = () => h.stack.backendUrl;
	async function register(prefix) {
		const userId = fresh(prefix);
		const res = await request(base(), '/api/auth/register', {
			method: 'POST', body: { userId, password: 'correct horse battery' },
		});
		assert.equal(res.status, 200, res.text);
		return { userId, token: res.json.token };
	}
	async function dm(a, b) {
		const res = await request(base(), '/api/dms', { method: 'POST', token: a.token, body: { userId: b.userId } });
		assert.equal(res.status, 201, res.text);
		return res.json.roomId;
	}
	async function joinRoom(who, roomId) {
		const t = await lookup(base(), who.token, roomId);
		assert.equal(t.status, 200, t.text);
		const c = await connect(t.json.host, t.json.token, { protocol: 'stateroom.v1' });
		c.welcome = await c.next('welcome');
		return c;
	}
	async function inbox(who) {
		const res = await request(base(), '/api/me/inbox', { token: who.token });
		assert.equal(res.status, 200, res.text);
		const c = await connect(res.json.host, res.json.token, { protocol: 'stateroom.v1' });
		await c.next('welcome');
		c.roomId = decodeToken(res.json.token).claims.room;
		return c;
	}
	async function joinCall(c, media = { audio: true, video: false }) {
		c.send({ type: 'call', op: 'join', ...media });
		return (await c.next(isOp('joined'))).self;
	}
	async function callRecords(who, roomId) {
		const res = await request(base(), `/api/rooms/${roomId}/messages`, { token: who.token });
		assert.equal(res.status, 200, res.text);
		return res.json.messages.filter((m) => m.kind === 'action' && m.action === 'call')
			.map((m) => ({ userId: m.userId, target: m.target, outcome: m.detail?.outcome, text: m.text }));
	}
	async function unreadOf(who, roomId) {
		const res = await request(base(), '/api/me/rooms', { token: who.token });
		assert.equal(res.status, 200, res.text);
		return res.json.rooms.find((r) => r.roomId === roomId)?.unread;
	}
	// a and b with their DM, b listening on its inbox, a in the DM's room.
	async function pair() {
		const a = await register('ca');
		const b = await register('cb');
		const roomId = await dm(a, b);
		const bInbox = await inbox(b);
		const aRoom = await joinRoom(a, roomId);
		return { a, b, roomId, bInbox, aRoom };
	}
	return { register, dm, joinRoom, inbox, joinCall, callRecords, unreadOf, pair };
}

describe('ringing with the default timeout', () => {
	const h = useStack({ sessions: 1, backends: 1 });
	const s = setup(h);

	test('a DM call rings the other member, who answers; hanging up logs the call', async () => {
		const { a, b, roomId, bInbox, aRoom } = await s.pair();
		await s.joinCall(aRoom, { audio: true, video: true });

		const ring = (await bInbox.next(isEvent('call_ring'))).event;
		assert.deepEqual(ring, {
			type: 'call_ring', roomId, from: { userId: a.userId, name: a.userId }, video: true, timeoutS: 30,
		});
		// The caller's room hears that it rings, and whom.
		const rung = await aRoom.next(isOp('ring'));
		assert.deepEqual([rung.from, rung.to, rung.video], [a.userId, b.userId, true]);

		// Opening the DM while it rings says so; joining answers.
		const bRoom = await s.joinRoom(b, roomId);
		assert.equal((await bRoom.next(isOp('ring'))).from, a.userId);
		await s.joinCall(bRoom);
		assert.equal((await aRoom.next(isOp('ring_end'))).reason, 'answered');
		assert.equal((await bInbox.next(isEvent('call_ring_end'))).event.reason, 'answered');

		// Nothing more rings while the call is on, and no record yet.
		await bInbox.none(isEvent('call_ring'), 300);
		await aRoom.none(isCallRecord, 0);
		aRoom.send({ type: 'call', op: 'leave' });
		await aRoom.next(isOp('left'));
		await aRoom.none(isCallRecord, 300);
		bRoom.send({ type: 'call', op: 'leave' });

		// The last one out ends the call: both see its record, a system line.
		for (const c of [aRoom, bRoom]) {
			const rec = await c.next(isCallRecord);
			assert.equal(rec.userId, a.userId);
			assert.equal(rec.target, b.userId);
			assert.equal(rec.detail.outcome, 'ended');
			assert.ok(Number.isInteger(rec.detail.durationS), JSON.stringify(rec));
			assert.match(rec.text, /^Video call, \d+ (s|min)$/);
		}
		const history = await s.callRecords(b, roomId);
		assert.equal(history.length, 1, JSON.stringify(history));
		assert.equal(history[0].outcome, 'ended');
		// A call record is no message: it leaves the unread count alone.
		assert.equal(await s.unreadOf(b, roomId), 0);
		await closeAll([aRoom, bRoom, bInbox]);
	});

	test('the callee declines from the DM without joining the call; the caller sees it', async () => {
		const { a, b, roomId, bInbox, aRoom } = await s.pair();
		await s.joinCall(aRoom);
		await bInbox.next(isEvent('call_ring'));
		const bRoom = await s.joinRoom(b, roomId);
		// The caller cannot decline its own call; that changes nothing.
		aRoom.send({ type: 'call', op: 'decline' });
		await aRoom.none(isOp('ring_end'), 300);

		bRoom.send({ type: 'call', op: 'decline' });
		assert.equal((await aRoom.next(isOp('ring_end'))).reason, 'declined');
		assert.equal((await bInbox.next(isEvent('call_ring_end'))).event.reason, 'declined');
		const rec = await aRoom.next(isCallRecord);
		assert.equal(rec.text, `${b.userId} declined a call from ${a.userId}`);
		assert.deepEqual(await s.callRecords(a, roomId),
			[{ userId: a.userId, target: b.userId, outcome: 'declined', text: rec.text }]);

		assert.equal((await bRoom.next(isCallRecord)).seq, rec.seq);
		// A decline when nothing rings is harmless: no error, no record.
		bRoom.send({ type: 'call', op: 'decline' });
		await bRoom.none((f) => f?.type === 'error' || isCallRecord(f), 300);
		// The caller, still in the call alone, hangs up: no second record.
		aRoom.send({ type: 'call', op: 'leave' });
		await aRoom.next(isOp('left'));
		await aRoom.none(isCallRecord, 300);
		assert.equal((await s.callRecords(b, roomId)).length, 1);
		await closeAll([aRoom, bRoom, bInbox]);
	});

	test('a caller who drops while it rings ends the ring (cancelled): a missed call for the callee', async () => {
		const { a, b, roomId, bInbox, aRoom } = await s.pair();
		await s.joinCall(aRoom);
		await bInbox.next(isEvent('call_ring'));
		aRoom.close();
		assert.equal((await bInbox.next(isEvent('call_ring_end'))).event.reason, 'cancelled');
		const deadline = Date.now() + 5000;
		let recs = [];
		while (Date.now() < deadline && recs.length === 0) recs = await s.callRecords(b, roomId);
		assert.deepEqual(recs, [{ userId: a.userId, target: b.userId, outcome: 'missed', text: `Missed call from ${a.userId}` }]);
		await closeAll([bInbox]);
	});

	test('no ring for a member who blocks the caller; decline outside a DM is not_a_dm', async () => {
		const { a, b, bInbox, aRoom } = await s.pair();
		// a's connection stays open through the block (docs/protocol.md).
		const blocked = await request(h.stack.backendUrl, '/api/blocks', { method: 'POST', token: b.token, body: { userId: a.userId } });
		assert.ok(blocked.status === 200 || blocked.status === 201 || blocked.status === 204, blocked.text);
		await s.joinCall(aRoom);
		await bInbox.none(isEvent('call_ring'), 500);
		aRoom.send({ type: 'call', op: 'leave' });
		await bInbox.none(isEvent('call_ring_end'), 300);

		const roomId = await newRoom(h.stack, 'alice');
		const [alice] = await join(h.stack, 'alice', roomId);
		// Right after the room loads the server may not know yet whether it
		// is a DM: "unavailable", retry (docs/protocol.md); then not_a_dm.
		let code;
		for (let i = 0; i < 50; i++) {
			alice.send({ type: 'call', op: 'decline' });
			code = (await alice.next('error')).code;
			if (code !== 'unavailable') break;
			await new Promise((r) => setTimeout(r, 100));
		}
		assert.equal(code, 'not_a_dm');
		// A group room's call rings nobody.
		await s.joinCall(alice);
		await alice.none(isOp('ring'), 300);
		await closeAll([aRoom, bInbox, alice]);
	});
});

describe('a ring nobody answers', () => {
	const h = useStack({ sessions: 1, backends: 1, sessionEnv: { SESSION_CALL_RING_TIMEOUT_S: '2' } });
	const s = setup(h);

	test('is missed after --call-ring-timeout-s: the ring ends and the DM logs a missed call', async () => {
		const { a, b, roomId, bInbox, aRoom } = await s.pair();
		await s.joinCall(aRoom);
		assert.equal((await bInbox.next(isEvent('call_ring'))).event.timeoutS, 2);
		assert.equal((await aRoom.next(isOp('ring_end'), 10000)).reason, 'missed');
		assert.equal((await bInbox.next(isEvent('call_ring_end'))).event.reason, 'missed');
		const rec = await aRoom.next(isCallRecord);
		assert.equal(rec.text, `Missed call from ${a.userId}`);
		// After a reload (a new connection) and in the HTTP history alike.
		const bRoom = await s.joinRoom(b, roomId);
		const seen = bRoom.welcome.messages.filter((m) => m.kind === 'action' && m.action === 'call');
		assert.deepEqual(seen.map((m) => [m.seq, m.text]), [[rec.seq, rec.text]]);
		assert.deepEqual((await s.callRecords(b, roomId)).map((r) => r.outcome), ['missed']);
		// Still alone in the call, the caller rings nobody again.
		await bInbox.none(isEvent('call_ring'), 300);
		await closeAll([aRoom, bRoom, bInbox]);
	});
});
