// Session apps that move (docs/protocol.md, "Whiteboard", "Game", "Draining"
// and "Replay"): with two session servers, the operator drains the one that
// holds a whiteboard (or a game) room; its clients, closed with 1012, find the
// room on the other server with the same board (the same seat) and go on
// there. And stateroom-replay on a real whiteboard room: every snapshot's
// hash matches the board rebuilt from the log, and a tampered op is found.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { WebSocket } from 'ws';
import { useStack, tokenFor, ticketFor, join, closeAll, createRoom, newRoom, request, ROOT } from './lib/stack.js';
import { connect } from '../../client/lib/stateroom.js';
import { Board } from '../../client/wb-board.js';

const ADMIN = 'app-move-operator-token';
const BUILD = path.resolve(ROOT, process.env.STATEROOM_BUILD_DIR || 'build');
// A snapshot every 5 records, so that a few ops compact (the default is 500).
const h = useStack({
	sessions: 2,
	backends: 1,
	sessionEnv: { SESSION_WB_COMPACT_EVERY: '5' },
	backendEnv: { STATEROOM_ADMIN_TOKEN: ADMIN },
});

async function newBoard(user) {
	const res = await createRoom(h.stack.backendUrl, await tokenFor(h.stack, user), { app: 'whiteboard', name: 'board' });
	assert.equal(res.status, 200, res.text);
	return res.json.roomId;
}

// A user on the board through the client library, folding what it hears.
async function open(user, roomId) {
	const room = connect({ backend: h.stack.backendUrl, token: await tokenFor(h.stack, user), roomId, WebSocket });
	room.board = new Board();
	room.on('welcome', (w) => room.board.welcome(w));
	room.reasons = [];
	room.on('state', (e) => room.reasons.push(e.reason));
	for (const t of ['op', 'undo', 'redo', 'clear']) room.on(t, (f) => room.board.apply(f));
	await room.once('welcome');
	return room;
}

const line = (x, color = '#112233') => ({ kind: 'line', color, width: 3, points: [x, 10, x + 50, 60] });
const draw = (room, op) => room.request({ type: 'op', op });
const view = (b) => [...b.ops.values()].sort((x, y) => x.seq - y.seq).map((o) => [o.seq, o.userId, !!o.undone, o.op]);

async function heard(rooms, seq) {
	await Promise.all(rooms.map((r) => (r.lastSeq >= seq ? null : r.once('frame', () => r.lastSeq >= seq))));
}

// Both servers up (a test before may have drained one).
async function bothUp() {
	for (const s of h.stack.sessions) if (!s.running) await s.start();
	await h.stack.waitRegistered();
}

// Drains the session server at address through the operator API and waits
// for it to exit; returns the other one.
async function drain(address) {
	const target = h.stack.sessions.find((s) => s.address === address);
	assert.ok(target, `no session server at ${address}`);
	const exited = target.expectExit();
	const res = await request(h.stack.backendUrl, `/api/admin/servers/${target.id}/drain`, { method: 'POST', token: ADMIN });
	assert.equal(res.status, 202, res.text);
	const { code } = await exited;
	assert.equal(code, 0);
	return h.stack.sessions.find((s) => s !== target);
}

function replay(roomId) {
	return new Promise((resolve) => {
		execFile(path.join(BUILD, 'tools/stateroom-replay'), [roomId],
			{ env: { ...process.env, DATABASE_URL: h.stack.databaseUrl }, encoding: 'utf8' },
			(err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
	});
}

test('a whiteboard moves to the other session server on a drain: the same board, and new ops work there', { timeout: 60000 }, async () => {
	await bothUp();
	const roomId = await newBoard('mv_ada');
	const ada = await open('mv_ada', roomId);
	const bob = await open('mv_bob', roomId);
	try {
		const mine = [];
		for (let i = 0; i < 9; i++) mine.push(await draw(i % 2 ? bob : ada, line(i * 30, i % 2 ? '#0000ff' : '#ff0000')));
		const u = await ada.request({ type: 'undo', target: mine[4] });
		const er = await draw(bob, { kind: 'erase', targets: [mine[0]] });
		await heard([ada, bob], er);
		assert.ok(u < er);
		const [[snapshots]] = await h.stack.sql(`SELECT count(*) FROM records WHERE room_id = '${roomId}' AND kind = 'snapshot'`);
		assert.ok(Number(snapshots) >= 1, `snapshots: ${snapshots}`);
		const before = view(ada.board);
		assert.deepEqual(view(bob.board), before);
		const visible = ada.board.visible().map((o) => o.seq);

		const from = ada.host;
		assert.equal(bob.host, from);
		const back = [ada, bob].map((r) => r.once('welcome', () => r.host !== from));
		// Ops drawn while the server drains: each is acked once, on one
		// server or the other, and logged once.
		const inFlight = [];
		let drawing = true;
		const busy = (async () => {
			for (let i = 0; drawing && i < 200; i++) {
				inFlight.push(draw(ada, line(1000 + i)), draw(bob, line(2000 + i)));
				await new Promise((r) => setTimeout(r, 5));
			}
		})();
		const other = await drain(from);
		await Promise.all(back);
		drawing = false;
		await busy;
		const moved = await Promise.all(inFlight);
		assert.ok(moved.length > 0);
		assert.equal(new Set(moved).size, moved.length, `seqs acked twice: ${moved}`);
		await heard([ada, bob], Math.max(...moved));
		for (const s of moved) assert.ok(!before.some(([q]) => q === s));
		const [[ops]] = await h.stack.sql(`SELECT count(*) FROM records WHERE room_id = '${roomId}' AND kind = 'op'`);
		assert.equal(Number(ops), mine.length + 1 + moved.length, 'every op logged once');
		const during = view(ada.board).filter(([q]) => moved.includes(q));
		assert.equal(during.length, moved.length);
		before.push(...during);
		for (const r of [ada, bob]) {
			assert.equal(r.host, other.address, 'the client followed the room to the other server');
			assert.ok(r.reasons.includes('the room is moving (1012)'), `state changes: ${r.reasons}`);
			assert.deepEqual(view(r.board), before, 'the same board after the move');
		}
		// A joiner on the new server, from the log alone, sees that board.
		const [raw, welcome] = await join(h.stack, 'mv_cy', roomId);
		await closeAll([raw]);
		const fresh = new Board();
		fresh.welcome(welcome);
		assert.deepEqual(view(fresh), before);

		// New ops, undo and redo of ops from before the move work there.
		const after = await draw(bob, line(700));
		const r1 = await ada.request({ type: 'redo', target: mine[4] });
		const u2 = await bob.request({ type: 'undo', target: mine[1] });
		await heard([ada, bob], Math.max(after, r1, u2));
		assert.ok(after > er, `seq ${after} after ${er}`);
		const want = [...visible, ...moved, mine[4], after].filter((s) => s !== mine[1]).sort((x, y) => x - y);
		for (const r of [ada, bob]) assert.deepEqual(r.board.visible().map((o) => o.seq), want);
		assert.deepEqual(view(ada.board), view(bob.board));
	} finally {
		ada.close();
		bob.close();
	}
});

test('a seated game player keeps the seat when the game moves to the other session server', { timeout: 60000 }, async () => {
	await bothUp();
	const roomId = await newRoom(h.stack, 'mv_owner', { app: 'game' });
	const [a] = await join(h.stack, 'mv_alice', roomId);
	const [b] = await join(h.stack, 'mv_bob', roomId);
	a.send({ type: 'sit', id: 's' });
	const { seat } = await a.next({ type: 'ack', id: 's' });
	b.send({ type: 'sit', id: 's' });
	const { seat: seatB } = await b.next({ type: 'ack', id: 's' });
	a.send({ type: 'input', id: 'a1', dir: [1, 0] });
	await a.next({ type: 'ack', id: 'a1' });
	const from = (await ticketFor(h.stack, 'mv_alice', roomId)).host;
	const closed = [a.closed, b.closed];
	const other = await drain(from);
	for (const c of await Promise.all(closed)) assert.equal(c.code, 1012);

	const [a2, w2] = await join(h.stack, 'mv_alice', roomId);
	const [b2, wb2] = await join(h.stack, 'mv_bob', roomId);
	try {
		assert.equal(w2.seat, seat, 'alice has her seat on the other server');
		assert.equal(wb2.seat, seatB);
		assert.deepEqual(w2.players.map((p) => p.seat).sort(), [seat, seatB].sort());
		const { host } = await ticketFor(h.stack, 'mv_alice', roomId);
		assert.equal(host, other.address);
		a2.send({ type: 'input', id: 'a2', dir: [0, 1] });
		await a2.next({ type: 'ack', id: 'a2' });
		const p0 = w2.players.find((p) => p.seat === seat);
		await b2.next((f) => f?.type === 'state' && f.players.some((p) => p.seat === seat && p.y > p0.y));
	} finally {
		await closeAll([a2, b2]);
	}
});

test('stateroom-replay on a whiteboard room: draw, undo, redo, clear and snapshots match; a tampered op is found', async () => {
	await bothUp();
	const roomId = await newBoard('rp_ada');
	const ada = await open('rp_ada', roomId);
	const bob = await open('rp_bob', roomId);
	let tampered;
	try {
		tampered = await draw(ada, line(10, '#abcdef'));
		const b1 = await draw(bob, { kind: 'text', color: '#000000', size: 20, points: [100, 100], text: 'hi' });
		await draw(ada, { kind: 'stroke', color: '#00ff00', width: 2, points: [1, 1, 5, 9, 30, 3] });
		await ada.request({ type: 'undo', target: tampered });
		await ada.request({ type: 'redo', target: tampered });
		await bob.request({ type: 'undo', target: b1 });
		await ada.request({ type: 'clear' });
		for (let i = 0; i < 6; i++) await draw(i % 2 ? bob : ada, line(i * 40));
		const e = await draw(bob, { kind: 'erase', targets: [await draw(ada, line(500))] });
		await ada.request({ type: 'undo', target: (await draw(ada, line(600))) });
		await heard([ada, bob], e);
	} finally {
		ada.close();
		bob.close();
	}
	const [[snapshots]] = await h.stack.sql(`SELECT count(*) FROM records WHERE room_id = '${roomId}' AND kind = 'snapshot'`);
	assert.ok(Number(snapshots) >= 2, `snapshots: ${snapshots}`);

	const ok = await replay(roomId);
	assert.equal(ok.code, 0, ok.stdout + ok.stderr);
	assert.match(ok.stdout, new RegExp(`^ok ${roomId} app=whiteboard records=\\d+ hashes=[1-9]\\d* final=[0-9a-f]{16}`));

	// One op's colour changed in the database: the first snapshot after it
	// no longer matches the board rebuilt from the log.
	const [[firstSnap]] = await h.stack.sql(`SELECT min(seq) FROM records
		WHERE room_id = '${roomId}' AND kind = 'snapshot' AND seq > ${tampered}`);
	await h.stack.sql(`UPDATE records SET payload = replace(payload, '#abcdef', '#fedcba')
		WHERE room_id = '${roomId}' AND seq = ${tampered} AND kind = 'op'`);
	const bad = await replay(roomId);
	assert.equal(bad.code, 1, bad.stdout + bad.stderr);
	assert.match(bad.stdout, new RegExp(`^mismatch at seq ${firstSnap}: expected [0-9a-f]{16}, got [0-9a-f]{16}`));
});
