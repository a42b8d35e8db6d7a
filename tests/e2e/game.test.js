// The arena game (docs/protocol.md, "Game"): seats from the room's creation,
// moves that reach the other players as state deltas, a dropped player's
// seat kept for the grace period and lost after it, spectators, impossible
// inputs corrected, a SIGKILL of the session server survived, and
// stateroom-replay agreeing with the server's hashes (and not with a log
// that was tampered with).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { useStack, newRoom, join, createRoom, tokenFor, ROOT } from './lib/stack.js';

const GRACE_MS = 1500;
const h = useStack({ sessions: 1, backends: 1, sessionEnv: { SESSION_SEAT_GRACE_MS: String(GRACE_MS) } });
const BUILD = path.resolve(ROOT, process.env.STATEROOM_BUILD_DIR || 'build');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const gameRoom = (user = 'owner', extra = {}) => newRoom(h.stack, user, { app: 'game', ...extra });

async function sit(c, id = 'sit') {
	c.send({ type: 'sit', id });
	const ack = await c.next({ type: 'ack', id });
	assert.ok(Number.isInteger(ack.seat), `a seat in ${JSON.stringify(ack)}`);
	return ack.seat;
}

// The next state frame that shows seat with pred(player) true.
function seen(c, seat, pred, timeoutMs = 5000) {
	return c.next((f) => f?.type === 'state' && f.players.some((p) => p.seat === seat && pred(p)), timeoutMs)
		.then((f) => f.players.find((p) => p.seat === seat));
}

function replay(roomId, extraEnv = {}) {
	return new Promise((resolve) => {
		execFile(path.join(BUILD, 'tools/stateroom-replay'), [roomId],
			{ env: { ...process.env, DATABASE_URL: h.stack.databaseUrl, ...extraEnv }, encoding: 'utf8' },
			(err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
	});
}

test('seats from the creation: 2 to 16, refused otherwise', async () => {
	const token = await tokenFor(h.stack, 'owner');
	for (const seats of [1, 17, 'four', 2.5]) {
		const res = await createRoom(h.stack.backendUrl, token, { app: 'game', seats });
		assert.equal(res.status, 400, `seats ${seats}: ${res.text}`);
		assert.equal(res.json.error.code, 'invalid_room');
	}
	const roomId = await gameRoom('owner', { seats: 2 });
	const [a, wa] = await join(h.stack, 'alice', roomId);
	const [b] = await join(h.stack, 'bob', roomId);
	const [c] = await join(h.stack, 'carol', roomId);
	assert.equal(wa.app, 'game');
	assert.equal(wa.seats, 2);
	assert.equal(wa.seat, null);
	await sit(a);
	await sit(b);
	c.send({ type: 'sit', id: 's' });
	const err = await c.next({ type: 'error', id: 's' });
	assert.equal(err.code, 'no_seat');
	for (const x of [a, b, c]) await x.close();
});

test("two players' moves reach each other as state deltas, and a spectator sees both", async () => {
	const roomId = await gameRoom();
	const [a] = await join(h.stack, 'alice', roomId);
	const [b] = await join(h.stack, 'bob', roomId);
	const [spec, ws] = await join(h.stack, 'sam', roomId);
	assert.equal(ws.seat, null);
	const sa = await sit(a);
	const sb = await sit(b);
	assert.notEqual(sa, sb);
	const startA = await seen(b, sa, () => true);
	const startB = await seen(a, sb, () => true);

	a.send({ type: 'input', id: 'a1', dir: [1, 0] });
	b.send({ type: 'input', id: 'b1', dir: [0, 1] });
	await a.next({ type: 'ack', id: 'a1' });
	await b.next({ type: 'ack', id: 'b1' });
	const movedA = await seen(b, sa, (p) => p.x > startA.x);
	assert.equal(movedA.y, startA.y);
	const movedB = await seen(a, sb, (p) => p.y > startB.y);
	assert.equal(movedB.x, startB.x);
	await seen(spec, sa, (p) => p.x > startA.x);
	await seen(spec, sb, (p) => p.y > startB.y);
	// A spectator cannot move.
	spec.send({ type: 'input', id: 'x', dir: [1, 0] });
	assert.equal((await spec.next({ type: 'error', id: 'x' })).code, 'not_seated');
	// A late joiner's welcome holds both players where they are.
	const [late, wl] = await join(h.stack, 'lena', roomId);
	assert.equal(wl.players.length, 2);
	assert.ok(wl.players.find((p) => p.seat === sa).x > startA.x);
	for (const x of [a, b, spec, late]) await x.close();
});

test('an impossible input is corrected, not believed; hostile frames get errors', async () => {
	const roomId = await gameRoom();
	const [a, w] = await join(h.stack, 'alice', roomId);
	const [b] = await join(h.stack, 'bob', roomId);
	const seat = await sit(a);
	const start = await seen(b, seat, () => true);
	a.send({ type: 'input', id: 'fast', dir: [1000, 0], tick: 5 });
	const corr = await a.next({ type: 'corrected', id: 'fast' });
	assert.deepEqual(corr.dir, [w.arena.dirMax, 0]);
	await a.next({ type: 'ack', id: 'fast' });
	// Each step moves it at most the speed cap, however fast it asked.
	let prev = start;
	for (let i = 0; i < 5; i++) {
		const f = await b.next((x) => x?.type === 'state' && x.players.some((p) => p.seat === seat && p.x !== prev.x));
		const p = f.players.find((q) => q.seat === seat);
		assert.ok(p.x - prev.x <= w.arena.speed * (f.tick - (prev.tick ?? f.tick - 1)),
			`moved ${p.x - prev.x} in ${f.tick - (prev.tick ?? f.tick - 1)} ticks`);
		assert.ok(p.dx <= w.arena.dirMax);
		prev = { ...p, tick: f.tick };
	}
	for (const [frame, code] of [
		[{ type: 'input', id: 'n', dir: ['a', 0] }, 'bad_request'],
		[{ type: 'input', id: 'n', dir: [1] }, 'bad_request'],
		[{ type: 'input', id: 'n', dir: [1, 0], tick: -1 }, 'bad_request'],
		[{ type: 'input', id: 'n', dir: [1e300, 0] }, 'bad_request'],
		[{ type: 'fly', id: 'n' }, 'unknown_type'],
		['not json', 'bad_json'],
	]) {
		a.send(frame);
		const e = await a.next({ type: 'error' });
		assert.equal(e.code, code, JSON.stringify(frame));
	}
	await a.close();
	await b.close();
});

test('a dropped player keeps the seat within the grace period and gets it back; loses it after', async () => {
	const roomId = await gameRoom();
	const [a] = await join(h.stack, 'alice', roomId);
	const [b] = await join(h.stack, 'bob', roomId);
	const seat = await sit(a);
	await seen(b, seat, (p) => !p.away);
	await a.terminate();
	await seen(b, seat, (p) => p.away && p.userId);
	const [a2, w2] = await join(h.stack, 'alice', roomId);
	assert.equal(w2.seat, seat);
	await seen(b, seat, (p) => !p.away && p.userId);
	a2.send({ type: 'input', id: 'back', dir: [0, -1] });
	await a2.next({ type: 'ack', id: 'back' });
	// Gone for longer than the grace: the seat is freed, for anyone.
	await a2.terminate();
	await seen(b, seat, (p) => p.userId === null, GRACE_MS + 5000);
	const [a3, w3] = await join(h.stack, 'alice', roomId);
	assert.equal(w3.seat, null);
	assert.ok(!w3.players.some((p) => p.seat === seat));
	await a3.close();
	await b.close();
});

test('the game survives a SIGKILL of its session server, and stateroom-replay matches; a tampered input does not', async () => {
	const roomId = await gameRoom();
	const [a] = await join(h.stack, 'alice', roomId);
	const [b] = await join(h.stack, 'bob', roomId);
	const sa = await sit(a);
	const sb = await sit(b);
	a.send({ type: 'input', id: 'a1', dir: [1, 0.5] });
	b.send({ type: 'input', id: 'b1', dir: [-1, 0] });
	await a.next({ type: 'ack', id: 'a1' });
	await b.next({ type: 'ack', id: 'b1' });
	a.send({ type: 'input', id: 'a2', dir: [0, 1] });
	await a.next({ type: 'ack', id: 'a2' });
	// A hash record (every second of play) holds the state to resume from.
	await sleep(1300);
	const [[hashes]] = await h.stack.sql(`SELECT count(*) FROM records WHERE room_id = '${roomId}' AND kind = 'hash'`);
	assert.ok(Number(hashes) >= 1);

	const s = h.stack.sessions[0];
	await s.stop('SIGKILL');
	await s.start();
	await h.stack.waitRegistered();
	const [a2, w] = await join(h.stack, 'alice', roomId);
	assert.equal(w.seat, sa, 'alice has her seat after the restart');
	assert.deepEqual(w.players.map((p) => p.seat).sort(), [sa, sb].sort());
	const pa = w.players.find((p) => p.seat === sa);
	assert.ok(pa.x > 0 && pa.score >= 0);
	a2.send({ type: 'input', id: 'a3', dir: [-1, -1] });
	await a2.next({ type: 'ack', id: 'a3' });
	await sleep(1200);
	await a2.close();

	const ok = await replay(roomId);
	assert.equal(ok.code, 0, ok.stdout + ok.stderr);
	assert.match(ok.stdout, new RegExp(`^ok ${roomId} app=game records=\\d+ hashes=[1-9]\\d* final=[0-9a-f]{16}`));

	// One input record changed in the database: the replay finds it.
	await h.stack.sql(`UPDATE records SET payload = replace(payload, '"dir":[0,1000]', '"dir":[0,-1000]')
		WHERE room_id = '${roomId}' AND kind = 'input' AND payload LIKE '%"dir":[0,1000]%'`);
	const bad = await replay(roomId);
	assert.equal(bad.code, 1, bad.stdout + bad.stderr);
	assert.match(bad.stdout + bad.stderr, /mismatch at seq \d+: expected [0-9a-f]{16}, got [0-9a-f]{16}/);
});

test('stateroom-replay: a chat room has no model (exit 2), no such room (exit 1)', async () => {
	const chat = await newRoom(h.stack, 'owner');
	const r2 = await replay(chat);
	assert.equal(r2.code, 2, r2.stdout + r2.stderr);
	assert.match(r2.stderr, /no replay model for application "chat"/);
	const r1 = await replay('nosuchroom');
	assert.equal(r1.code, 1, r1.stdout + r1.stderr);
	assert.match(r1.stderr, /no such room/);
});
