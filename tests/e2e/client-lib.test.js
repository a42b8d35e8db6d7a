// The client library (client/lib/stateroom.js, docs/client.md) run in Node
// against the real backend and session servers, and the choice of a room's
// application (POST /api/rooms "app", the registry's apps, placement).
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import {
	ROOT, useStack, startStack, newRoom, tokenFor, createRoom, lookup, request, freePort,
} from './lib/stack.js';
import { connect, Room, FINAL_CLOSES, lookup as libLookup } from '../../client/lib/stateroom.js';

const shared = useStack({ sessions: 1, backends: 1 });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Every room a test opened is closed after it, passed or failed: an open
// Room keeps reconnecting (and so the test process alive) until closed.
const opened = new Set();
afterEach(() => {
	for (const room of opened) room.close();
	opened.clear();
});

// A room through the library, as docs/client.md shows it (Node passes ws).
async function open(stack, user, roomId, opts = {}) {
	const room = connect({
		backend: stack.backendUrl, token: await tokenFor(stack, user), roomId, WebSocket, ...opts,
	});
	opened.add(room);
	room.seen = [];
	room.on('message', (m) => room.seen.push(m));
	return room;
}

// Waits until the room has seen a message with text.
function seenText(room, text) {
	if (room.seen.some((m) => m.text === text)) return Promise.resolve();
	return room.once('message', (m) => m.text === text);
}

// The session server that the database says hosts roomId now.
async function hostOf(stack, roomId) {
	const [[id]] = await stack.sql(`SELECT coalesce(server_id, '') FROM rooms WHERE id = '${roomId}'`);
	return stack.sessions.find((s) => s.id === id);
}

function assertGapless(room, texts) {
	const seqs = room.seen.map((m) => m.seq);
	assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), `seqs ${seqs}`);
	assert.deepEqual(room.seen.map((m) => m.text), texts);
}

test('connect, wait for the welcome, send with acks; the other client sees each message once', async () => {
	const roomId = await newRoom(shared.stack, 'lib_owner');
	const alice = await open(shared.stack, 'lib_alice', roomId);
	const bob = await open(shared.stack, 'lib_bob', roomId);
	try {
		// Each welcome may come while the other client is still being
		// made: ready() has it either way.
		const welcome = await alice.ready();
		assert.equal(welcome.room, roomId);
		assert.equal(welcome.resumed, false);
		assert.equal(await bob.ready(), bob.welcome);
		const one = await alice.send('one');
		const two = await alice.send('two');
		assert.ok(Number.isInteger(one) && two === one + 1, `${one} ${two}`);
		await seenText(bob, 'two');
		assert.deepEqual(bob.seen.map((m) => [m.seq, m.text, m.user]), [[one, 'one', 'lib_alice'], [two, 'two', 'lib_alice']]);
		// A refused send rejects its promise with the server's code.
		await assert.rejects(alice.send(''), (e) => e.code === 'bad_frame');
		await assert.rejects(alice.send('x'.repeat(4001)), (e) => e.code === 'too_long');
		assert.equal(alice.state, 'open');
	} finally {
		alice.close();
		bob.close();
	}
});

test('sends made before the welcome are held by the server and acked in order', async () => {
	const roomId = await newRoom(shared.stack, 'lib_owner');
	const alice = await open(shared.stack, 'lib_early', roomId);
	try {
		assert.notEqual(alice.state, 'open');
		const seqs = await Promise.all(['a', 'b', 'c'].map((t) => alice.send(t)));
		assert.deepEqual(seqs, [1, 2, 3]);
		await seenText(alice, 'c');
		assertGapless(alice, ['a', 'b', 'c']);
	} finally {
		alice.close();
	}
});

test('a lookup option replaces the look-up; a stop is started over by retry(); request keeps the id it is given', async () => {
	const { stack } = shared;
	const roomId = await newRoom(stack, 'lib_owner');
	const token = await tokenFor(stack, 'lib_looker');
	// The web client's inbox has its own look-up: here the first answer is
	// "no such room" (a stop), the next ones the backend's.
	const asked = [];
	const room = new Room({
		roomId, WebSocket, wsUrl: (host) => `ws://${host}`,
		lookup: (id) => {
			asked.push(id);
			return asked.length === 1 ? null : libLookup({ backend: stack.backendUrl, token, roomId: id });
		},
	});
	opened.add(room);
	const stopped = room.once('stop');
	room.connect();
	assert.equal((await stopped).reason, 'no_such_room');
	assert.equal(room.state, 'stopped');
	room.retry();
	const welcome = await room.ready();
	assert.equal(welcome.room, roomId);
	assert.equal(welcome.user, 'lib_looker');
	assert.deepEqual(asked, [roomId, roomId]);
	// A caller that gives the id knows it before the ack (the chat shows
	// the message pending by it); the message carries it.
	const id = 'ab'.repeat(16);
	const message = room.once('message', (m) => m.id === id);
	const seq = await room.request({ type: 'send', id, text: 'mine' });
	assert.equal((await message).seq, seq);
	room.close();
	// After close() there is nothing to start over.
	room.retry();
	assert.equal(room.state, 'stopped');
});

test('the backend serves the library to browsers at /lib/stateroom.js', async () => {
	const res = await request(shared.stack.backendUrl, '/lib/stateroom.js');
	assert.equal(res.status, 200);
	assert.match(res.headers.get('content-type'), /^text\/javascript/);
	assert.match(res.text, /export class Room/);
	// Only under its own folder's name, and that folder holds no page.
	assert.equal((await request(shared.stack.backendUrl, '/other/stateroom.js')).status, 404);
	assert.equal((await request(shared.stack.backendUrl, '/lib/app.js')).status, 404);
});

test('app: unknown names are 400 unknown_app with the known list; no app and "chat" are the chat', async () => {
	const token = await tokenFor(shared.stack, 'lib_apps');
	for (const app of ['nosuchapp', 'inbox', 'Chat', '', 'x'.repeat(40)]) {
		const res = await createRoom(shared.stack.backendUrl, token, { app });
		assert.equal(res.status, 400, `${app}: ${res.text}`);
		assert.equal(res.json.error.code, 'unknown_app');
		assert.deepEqual(res.json.error.apps, ['chat', 'game', 'whiteboard'], 'the known applications, never the inbox');
		assert.match(res.json.error.message, /chat/);
	}
	const bad = await createRoom(shared.stack.backendUrl, token, { app: 7 });
	assert.equal(bad.status, 400);
	assert.equal(bad.json.error.code, 'invalid_room');

	const plain = await newRoom(shared.stack, 'lib_apps');
	const chat = await newRoom(shared.stack, 'lib_apps', { app: 'chat' });
	const rows = await shared.stack.sql(`SELECT id, app FROM rooms WHERE id IN ('${plain}', '${chat}') ORDER BY id`);
	assert.deepEqual(rows.map((r) => r[1]), ['chat', 'chat']);
	const room = await open(shared.stack, 'lib_apps', chat);
	try {
		assert.equal(await room.send('in a chat room'), 1);
	} finally {
		room.close();
	}
	// Every server publishes what it hosts: by default every application.
	const published = await shared.stack.sql('SELECT apps FROM session_servers');
	assert.deepEqual(published, [['{chat,game,whiteboard}']]);
});

test('placement: rooms go only to servers that host their application; none live: 503 app_unavailable', async () => {
	const stack = await startStack({
		sessions: 2, backends: 1,
		// The second hosts no room application: it is a server for inboxes only.
		sessionEnvs: [{ SESSION_APPS: 'chat' }, { SESSION_APPS: '' }],
	});
	try {
		const [chatOnly, inboxOnly] = stack.sessions;
		const apps = await stack.sql(`SELECT id, apps FROM session_servers ORDER BY id = '${chatOnly.id}' DESC`);
		assert.deepEqual(apps, [[chatOnly.id, '{chat}'], [inboxOnly.id, '{}']]);
		const rooms = [];
		for (let i = 0; i < 4; i++) rooms.push(await newRoom(stack, 'placer', { app: 'chat' }));
		for (const id of rooms) assert.equal((await hostOf(stack, id)).id, chatOnly.id);
		// The empty server has more free slots, but no chat.
		const token = await tokenFor(stack, 'placer');
		const where = await lookup(stack.backendUrl, token, rooms[0]);
		assert.equal(where.json.host, chatOnly.address);

		await chatOnly.stop('SIGTERM');
		const res = await createRoom(stack.backendUrl, token, { app: 'chat' });
		assert.equal(res.status, 503, res.text);
		assert.equal(res.json.error.code, 'app_unavailable');
		assert.ok(res.headers.get('retry-after'));
		const moved = await lookup(stack.backendUrl, token, rooms[0]);
		assert.equal(moved.status, 503, moved.text);
		assert.equal(moved.json.error.code, 'app_unavailable');
		// Still a known application: 503, not 400.
		assert.equal(stack.sessions[1].running, true);
	} finally {
		await stack.stop();
	}
});

test('a session server refuses to start with an application it does not have', () => {
	const bin = path.join(ROOT, process.env.STATEROOM_BUILD_DIR || 'build', 'session-server/stateroom-session');
	const r = spawnSync(bin, ['--apps', 'chat,nosuchapp'], {
		encoding: 'utf8', env: { PATH: process.env.PATH, STATEROOM_SECRET: 'x'.repeat(40) },
	});
	assert.equal(r.status, 2, r.stderr);
	assert.match(r.stderr, /--apps must name applications among: chat/);
});

test('SIGKILL under the client: it reconnects once the room is re-pinned and resumes with no gap and no duplicate; an unacked send arrives once', async () => {
	const stack = await startStack({ sessions: 2, backends: 1 });
	try {
		const roomId = await newRoom(stack, 'kill_owner');
		const alice = await open(stack, 'kill_alice', roomId);
		const bob = await open(stack, 'kill_bob', roomId);
		const texts = [];
		for (let i = 0; i < 5; i++) {
			texts.push(`before ${i}`);
			await alice.send(`before ${i}`);
		}
		await seenText(bob, 'before 4');
		const victim = await hostOf(stack, roomId);
		// Frozen first, so that the send surely reaches a server that never
		// answers it: it is left unacked, then the server is killed.
		process.kill(victim.pid, 'SIGSTOP');
		texts.push('unacked');
		const unacked = alice.send('unacked');
		await sleep(200);
		await victim.stop('SIGKILL');
		const seq = await unacked;
		assert.equal(seq, 6);
		for (let i = 0; i < 3; i++) {
			texts.push(`after ${i}`);
			await alice.send(`after ${i}`);
		}
		await seenText(bob, 'after 2');
		await seenText(alice, 'after 2');
		assert.notEqual((await hostOf(stack, roomId)).id, victim.id);
		for (const room of [alice, bob]) assertGapless(room, texts);
		const stored = await stack.sql(`SELECT count(*) FROM records WHERE room_id = '${roomId}' AND kind = 'message'`);
		assert.equal(Number(stored[0][0]), texts.length, 'each message stored once');
		alice.close();
		bob.close();
	} finally {
		await stack.stop();
	}
});

test('a frozen server (SIGSTOP) is detected by its silence and left for the live one', async () => {
	// heartbeat_ms of 1 s (the documented --keepalive-ms) so that silence
	// shows within 4 s rather than 22.
	const stack = await startStack({ sessions: 2, backends: 1, sessionEnv: { SESSION_KEEPALIVE_MS: '1000' } });
	const frozen = [];
	try {
		const roomId = await newRoom(stack, 'frz_owner');
		const alice = await open(stack, 'frz_alice', roomId);
		assert.equal((await alice.ready()).heartbeat_ms, 1000);
		await alice.send('before');
		const victim = await hostOf(stack, roomId);
		const silent = alice.once('silent');
		process.kill(victim.pid, 'SIGSTOP');
		frozen.push(victim);
		// Nothing is sent: only the silence can tell.
		assert.equal((await silent).reason, 'the server went silent');
		const welcome = await alice.once('welcome');
		assert.equal(welcome.resumed, true);
		assert.equal(await alice.send('after'), 2);
		assert.notEqual((await hostOf(stack, roomId)).id, victim.id);
		assertGapless(alice, ['before', 'after']);
		alice.close();
	} finally {
		for (const s of frozen) process.kill(s.pid, 'SIGCONT');
		await stack.stop();
	}
});

// A backend and a session server that the test plays: what the real ones
// close with is up to their moderation, here it is up to the script.
async function fakeServers(closes) {
	const wsPort = await freePort();
	const wss = new WebSocketServer({ port: wsPort, host: '127.0.0.1', handleProtocols: (ps) => (ps.has('stateroom.v1') ? 'stateroom.v1' : false) });
	const fake = { lookups: 0, joins: 0, got: [] };
	wss.on('connection', (ws) => {
		const [code, reason] = closes[Math.min(fake.joins++, closes.length - 1)];
		ws.on('message', (d) => fake.got.push(JSON.parse(String(d))));
		ws.send(JSON.stringify({ type: 'welcome', room: 'fakeroom', seq: 0, heartbeat_ms: 10000, messages: [] }));
		setTimeout(() => ws.close(code, reason), 100);
	});
	const httpServer = http.createServer((req, res) => {
		fake.lookups++;
		res.writeHead(200, { 'content-type': 'application/json' });
		res.end(JSON.stringify({ host: `127.0.0.1:${wsPort}`, token: `ticket${fake.lookups}`, name: null }));
	});
	await new Promise((r) => httpServer.listen(0, '127.0.0.1', r));
	fake.backend = `http://127.0.0.1:${httpServer.address().port}`;
	fake.stop = () => {
		for (const c of wss.clients) c.terminate();
		return Promise.all([new Promise((r) => wss.close(r)), new Promise((r) => httpServer.close(r))]);
	};
	return fake;
}

for (const [code, reason] of [[4010, 'banned'], [4011, 'removed'], [4012, 'deleted']]) {
	test(`close ${code} (${reason}) stops the client for good, with the reason; a 1012 before it did not`, async () => {
		const fake = await fakeServers([[1012, 'server draining'], [code, reason]]);
		try {
			const room = new Room({ backend: fake.backend, token: 't', roomId: 'fakeroom', WebSocket, backoffBaseMs: 50 });
			opened.add(room);
			const stopped = room.once('stop');
			room.connect();
			const pending = room.send('never acked');
			const stop = await stopped;
			assert.deepEqual(stop, { reason: FINAL_CLOSES[code], code, message: reason });
			assert.equal(stop.reason, reason);
			await assert.rejects(pending, (e) => e.code === reason && e.closeCode === code);
			assert.equal(room.state, 'stopped');
			// The 1012 was followed (a second look-up); the final close was not.
			assert.equal(fake.lookups, 2);
			await sleep(1000);
			assert.equal(fake.lookups, 2, 'no look-up after the final close');
			// The send went to both sockets with one id: the server dedupes.
			const sends = fake.got.filter((f) => f.type === 'send');
			assert.equal(sends.length, 2);
			assert.equal(sends[0].id, sends[1].id);
			await assert.rejects(room.send('after'), (e) => e.code === reason);
		} finally {
			await fake.stop();
		}
	});
}

test('the twenty-line example of docs/client.md runs as written', async () => {
	const doc = fs.readFileSync(path.join(ROOT, 'docs/client.md'), 'utf8');
	const code = doc.match(/```js\n([\s\S]*?)```/)[1]
		.replace("'./stateroom.js'", JSON.stringify(pathToFileURL(path.join(ROOT, 'client/lib/stateroom.js')).href))
		.replace('http://127.0.0.1:8080', shared.stack.backendUrl);
	assert.ok(code.split('\n').length <= 22, 'about twenty lines');
	// In tests/, where the ws package resolves.
	const file = path.join(ROOT, 'tests', `.client-example-${process.pid}.mjs`);
	fs.writeFileSync(file, code);
	const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
	try {
		let out = '';
		child.stderr.on('data', (d) => { out += d; });
		await new Promise((resolve, reject) => {
			child.stdout.on('data', (d) => {
				out += d;
				if (/acked as 1\n/.test(out)) resolve();
			});
			child.on('exit', (c) => reject(new Error(`the example exited (${c}):\n${out}`)));
		});
		assert.match(out, /in [a-z0-9]{12} as ada, \d+ here/);
		assert.match(out, /#1 ada: hello/);
	} finally {
		child.kill('SIGKILL');
		fs.rmSync(file, { force: true });
	}
});
