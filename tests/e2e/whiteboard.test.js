// The whiteboard room application (docs/protocol.md, "Whiteboard") with
// several clients through the client library, and raw sockets for what a
// hostile client sends: ops reach every client in order, undo only undoes
// one's own, redo, clear, a late joiner gets the board, the log compacts
// into snapshots and a joiner after that gets the same board, a session
// server killed with SIGKILL loses no acked op, and bad input is refused
// with a clear error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { useStack, tokenFor, join, closeAll } from './lib/stack.js';
import { createRoom } from './lib/http.js';
import { connect } from '../../client/lib/stateroom.js';
import { Board } from '../../client/wb-board.js';

// Compaction is what one test is about: every 5 records, so that a few ops
// make a snapshot (the default is 500).
const h = useStack({ sessions: 1, backends: 1, sessionEnv: { SESSION_WB_COMPACT_EVERY: '5' } });

async function newBoard(user) {
	const res = await createRoom(h.stack.backendUrl, await tokenFor(h.stack, user), { app: 'whiteboard', name: 'board' });
	assert.equal(res.status, 200, res.text);
	return res.json.roomId;
}

// A user on the board through the library, folding what it hears.
async function open(user, roomId) {
	const room = connect({ backend: h.stack.backendUrl, token: await tokenFor(h.stack, user), roomId, WebSocket });
	room.board = new Board();
	room.order = [];
	room.on('welcome', (w) => room.board.welcome(w));
	for (const t of ['op', 'undo', 'redo', 'clear']) {
		room.on(t, (f) => {
			room.board.apply(f);
			room.order.push(f.seq);
		});
	}
	await room.once('welcome');
	return room;
}

const line = (x, color = '#112233') => ({ kind: 'line', color, width: 3, points: [x, 10, x + 50, 60] });
const draw = (room, op) => room.request({ type: 'op', op });
const seqs = (room) => room.board.visible().map((o) => o.seq);

// Waits until every room has heard of seq.
async function heard(rooms, seq) {
	await Promise.all(rooms.map((r) => (r.lastSeq >= seq ? null : r.once('frame', () => r.lastSeq >= seq))));
}

test('ops reach every client in order; undo only undoes your own; redo; clear; a late joiner gets the board', async () => {
	const roomId = await newBoard('wb_ada');
	const ada = await open('wb_ada', roomId);
	const bob = await open('wb_bob', roomId);
	const cy = await open('wb_cy', roomId);
	const all = [ada, bob, cy];
	try {
		assert.equal(ada.welcome.app, 'whiteboard');
		assert.equal(ada.welcome.canvas, 4096);
		const a1 = await draw(ada, line(1));
		const b1 = await draw(bob, { kind: 'stroke', color: '#FF0000', width: 2, points: [1, 1, 2.4, 2.6, 3, 3] });
		const c1 = await draw(cy, { kind: 'text', color: '#000000', size: 20, points: [100, 100], text: 'hello' });
		const a2 = await draw(ada, { kind: 'rect', color: '#00ff00', width: 1, points: [5, 5, 40, 40] });
		await heard(all, a2);
		for (const r of all) {
			assert.deepEqual(r.order, [a1, b1, c1, a2], 'every client hears every op, in seq order');
			assert.deepEqual(seqs(r), [a1, b1, c1, a2]);
		}
		// The server keeps what it checked, written canonically.
		assert.deepEqual(cy.board.ops.get(b1).op, { kind: 'stroke', color: '#ff0000', width: 2, points: [1, 1, 2, 3, 3, 3] });

		// Bob cannot undo Ada's op.
		await assert.rejects(bob.request({ type: 'undo', target: a2 }), { code: 'not_yours' });
		const u = await ada.request({ type: 'undo', target: a2 });
		await heard(all, u);
		for (const r of all) assert.deepEqual(seqs(r), [a1, b1, c1]);
		await assert.rejects(ada.request({ type: 'undo', target: a2 }), { code: 'already_undone' });
		await assert.rejects(ada.request({ type: 'redo', target: a1 }), { code: 'not_undone' });
		const rd = await ada.request({ type: 'redo', target: a2 });
		await heard(all, rd);
		for (const r of all) assert.deepEqual(seqs(r), [a1, b1, c1, a2]);

		// Erase hides its targets; undoing the erase brings them back.
		const er = await draw(bob, { kind: 'erase', targets: [a1, c1] });
		await heard(all, er);
		for (const r of all) assert.deepEqual(seqs(r), [b1, a2]);

		// A late joiner sees the same board.
		const dee = await open('wb_dee', roomId);
		all.push(dee);
		assert.deepEqual(seqs(dee), [b1, a2]);
		assert.deepEqual([...dee.board.ops.values()].map((o) => [o.seq, o.undone]),
			[...ada.board.ops.values()].map((o) => [o.seq, o.undone]).sort((x, y) => x[0] - y[0]));

		const cl = await cy.request({ type: 'clear' });
		await heard(all, cl);
		for (const r of all) assert.deepEqual(seqs(r), []);
		await assert.rejects(ada.request({ type: 'undo', target: a2 }), { code: 'not_found' });
		const late = await open('wb_eve', roomId);
		all.push(late);
		assert.deepEqual(seqs(late), []);
		assert.equal(late.welcome.seq, cl);
	} finally {
		for (const r of all) r.close();
	}
});

test('the log compacts into snapshots, and a joiner after it gets the same board', async () => {
	const roomId = await newBoard('wb_ada');
	const ada = await open('wb_ada', roomId);
	const bob = await open('wb_bob', roomId);
	try {
		const mine = [];
		for (let i = 0; i < 12; i++) mine.push(await draw(i % 2 ? bob : ada, line(i * 10, i % 2 ? '#0000ff' : '#ff0000')));
		await ada.request({ type: 'undo', target: mine[10] });
		const last = await draw(bob, line(300));
		await heard([ada, bob], last);
		const [[snapshots]] = await h.stack.sql(`SELECT count(*) FROM records WHERE room_id = '${roomId}' AND kind = 'snapshot'`);
		assert.ok(Number(snapshots) >= 2, `snapshots: ${snapshots}`);

		const [raw, welcome] = await join(h.stack, 'wb_cy', roomId);
		await closeAll([raw]);
		assert.equal(welcome.records[0].type, 'snapshot', 'the welcome starts at the latest snapshot');
		assert.ok(welcome.records.length < 6, `records after it: ${welcome.records.length}`);
		const fresh = new Board();
		fresh.welcome(welcome);
		const view = (b) => [...b.ops.values()].sort((x, y) => x.seq - y.seq).map((o) => [o.seq, o.userId, o.undone, o.op]);
		assert.deepEqual(view(fresh), view(ada.board));
		assert.deepEqual(view(fresh), view(bob.board));
		assert.equal(fresh.visible().length, 12);
		// Undo and redo still reach ops from before the snapshot.
		const r = await ada.request({ type: 'redo', target: mine[10] });
		await heard([bob], r);
		assert.equal(bob.board.visible().length, 13);
	} finally {
		ada.close();
		bob.close();
	}
});

test('a session server killed with SIGKILL loses no acked op; clients come back to the same board', async () => {
	const roomId = await newBoard('wb_ada');
	const ada = await open('wb_ada', roomId);
	const bob = await open('wb_bob', roomId);
	try {
		const acked = [];
		for (let i = 0; i < 8; i++) acked.push(await draw(i % 2 ? bob : ada, line(i * 20)));
		await ada.request({ type: 'undo', target: acked[6] });
		const s = h.stack.sessions[0];
		await s.stop('SIGKILL');
		await s.start();
		await h.stack.waitRegistered();
		// The library reconnects and resumes; an op made now is kept until acked.
		const after = await draw(bob, line(900));
		await heard([ada], after);
		const cy = await open('wb_cy', roomId);
		try {
			const want = [...acked.filter((q) => q !== acked[6]), after];
			for (const r of [ada, bob, cy]) assert.deepEqual(seqs(r), want);
		} finally {
			cy.close();
		}
	} finally {
		ada.close();
		bob.close();
	}
});

test('cursors go to the others, live and unlogged', async () => {
	const roomId = await newBoard('wb_ada');
	const [a, wa] = await join(h.stack, 'wb_ada', roomId);
	const [b] = await join(h.stack, 'wb_bob', roomId);
	try {
		a.send({ type: 'cursor', x: 10.4, y: 4096 });
		const cur = await b.next('cursor');
		assert.deepEqual([cur.x, cur.y, cur.userId, cur.user], [10, 4096, wa.userId, 'wb_ada']);
		await a.none('cursor', 200);
		const [[n]] = await h.stack.sql(`SELECT count(*) FROM records WHERE room_id = '${roomId}'`);
		assert.equal(Number(n), 0);
	} finally {
		await closeAll([a, b]);
	}
});

test('bad input is refused with a clear error, and nothing is logged', async () => {
	const roomId = await newBoard('wb_ada');
	const [c] = await join(h.stack, 'wb_ada', roomId);
	const refused = async (frame, code, message) => {
		c.send(frame);
		const e = await c.next('error');
		assert.equal(e.code, code, JSON.stringify(e));
		if (message) assert.match(e.message, message);
		if (typeof frame === 'object' && frame.id) assert.equal(e.id, frame.id);
	};
	try {
		const ok = { kind: 'stroke', color: '#000000', width: 2, points: [1, 2] };
		await refused('{"type":', 'bad_json');
		await refused({ type: 'paint', id: 'x' }, 'unknown_type');
		await refused({ type: 'op', op: ok }, 'bad_frame', /id/);
		await refused({ type: 'op', id: 'a1', op: { ...ok, color: 'red' } }, 'bad_op', /#rrggbb/);
		await refused({ type: 'op', id: 'a2', op: { ...ok, points: [1, 4097] } }, 'bad_op', /0 to 4096/);
		await refused({ type: 'op', id: 'a3', op: { ...ok, points: [1, -0.5] } }, 'bad_op', /0 to 4096/);
		await refused({ type: 'op', id: 'a4', op: { ...ok, points: [1, 2, 3] } }, 'bad_op');
		await refused({ type: 'op', id: 'a5', op: { ...ok, points: Array(2002).fill(1) } }, 'bad_op', /1000 points/);
		await refused({ type: 'op', id: 'a6', op: { ...ok, width: 65 } }, 'bad_op', /width/);
		await refused({ type: 'op', id: 'a7', op: { kind: 'text', color: '#000000', size: 12, points: [1, 1], text: 'x'.repeat(501) } }, 'bad_op', /500 bytes/);
		await refused({ type: 'op', id: 'a8', op: { kind: 'blob' } }, 'bad_op', /kind/);
		await refused('{"type":"op","id":"a9","op":{"kind":"line","color":"#000000","width":1,"points":[1,2,3,1e999]}}', 'bad_json');
		await refused({ type: 'op', id: 'b1', op: { kind: 'erase', targets: [99] } }, 'not_found');
		await refused({ type: 'undo', id: 'b2', target: 99 }, 'not_found');
		await refused({ type: 'undo', id: 'b3', target: 'x' }, 'bad_frame');
		await refused({ type: 'cursor', x: 5000, y: 1 }, 'bad_frame');
		const [[n]] = await h.stack.sql(`SELECT count(*) FROM records WHERE room_id = '${roomId}'`);
		assert.equal(Number(n), 0);
		// A retried id is acked with its first seq and logged once.
		c.send({ type: 'op', id: 'once', op: ok });
		const first = await c.next({ type: 'ack', id: 'once' });
		c.send({ type: 'op', id: 'once', op: ok });
		const again = await c.next({ type: 'ack', id: 'once' });
		assert.equal(again.seq, first.seq);
		const [[m]] = await h.stack.sql(`SELECT count(*) FROM records WHERE room_id = '${roomId}'`);
		assert.equal(Number(m), 1);
	} finally {
		await closeAll([c]);
	}
});

test('a retry whose record a snapshot has let go is acked with its first seq and logged once', async () => {
	const roomId = await newBoard('wb_retry');
	const ann = await open('wb_retry', roomId);
	try {
		const first = await ann.request({ type: 'op', id: 'kept-1', op: line(5) });
		// More than --wb-compact-every (5) records after it: a snapshot
		// commits, and the room lets the first op's record go.
		for (let i = 0; i < 7; i++) await draw(ann, line(100 + i));
		const [[snaps]] = await h.stack.sql(`SELECT count(*) FROM records WHERE room_id = '${roomId}'
			AND kind = 'snapshot' AND seq > ${first}`);
		assert.ok(Number(snaps) >= 1, 'a snapshot came after the op');
		// A client whose ack was lost (its server gone) sends the op again.
		assert.equal(await ann.request({ type: 'op', id: 'kept-1', op: line(5) }), first);
		const [[n]] = await h.stack.sql(`SELECT count(*) FROM records WHERE room_id = '${roomId}'
			AND client_id = 'kept-1'`);
		assert.equal(Number(n), 1);
	} finally {
		ann.close();
	}
});
