// The `process` scheduler: the backend starts session servers on its own
// host when every live one is full, stops them once idle, notices one that
// dies (its rooms re-pin on their next look-up), and two replicas sharing the
// database never start a server for the same need twice. With --min-servers
// (as scripts/run starts it) it keeps servers running by itself, replacing
// one that dies or is drained, and they do not outlive a killed backend.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
	useStack, createRoom, lookup, connect, decodeToken, tokenFor, newRoom, ticketFor, join, sendAcked, closeAll, request,
} from './lib/stack.js';
import { Resumer, chatter, auditRoom } from './lib/resume.js';

const ROOMS_PER_SERVER = 10;
const SERVER_IDLE_MS = 2000;
const ROOM_IDLE_MS = 1000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const env = {
	STATEROOM_SCHEDULER: 'process',
	STATEROOM_SERVER_IDLE_MS: String(SERVER_IDLE_MS),
	STATEROOM_MAX_SERVERS: '4',
	STATEROOM_SPAWN_WAIT_MS: '30000',
	// Passed on to the servers the backend starts.
	SESSION_MAX_ROOMS: String(ROOMS_PER_SERVER),
	SESSION_ROOM_IDLE_MS: String(ROOM_IDLE_MS),
	SESSION_HEARTBEAT_MS: '200',
};
const opts = (backends) => ({
	sessions: 1,
	backends,
	backendEnv: env,
	sessionEnv: { SESSION_MAX_ROOMS: String(ROOMS_PER_SERVER), SESSION_ROOM_IDLE_MS: String(ROOM_IDLE_MS) },
});

// Session servers a backend started, from its log: [{id, pid}].
const started = new Set();
function spawned(stack) {
	const out = [];
	for (const b of stack.backends) {
		for (const line of b.lines) {
			if (!line.startsWith('{') || !line.includes('"session server started"')) continue;
			const { id, pid } = JSON.parse(line);
			out.push({ id, pid, backend: b.name });
			started.add(pid);
			// So that the harness fails the test if one wrote a sanitizer report.
			if (!stack.pids.some((x) => x.pid === pid)) stack.pids.push({ name: `session ${id}`, pid });
		}
	}
	return out;
}

// A test that fails half-way must not leave servers behind.
process.on('exit', () => {
	for (const pid of started) {
		try {
			if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('stateroom-session')) process.kill(pid, 'SIGKILL');
		} catch {
			// gone
		}
	}
});

function alive(pid) {
	try {
		return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('stateroom-session');
	} catch {
		return false;
	}
}

async function registry(stack) {
	const rows = await stack.sql(`SELECT s.id, s.address, s.state, (SELECT count(*) FROM rooms r WHERE r.server_id = s.id)
		FROM session_servers s ORDER BY s.started_at`);
	return rows.map(([id, address, state, pinned]) => ({ id, address, state, pinned: Number(pinned) }));
}

async function until(what, fn, ms = 20000) {
	const deadline = Date.now() + ms;
	for (;;) {
		const v = await fn();
		if (v) return v;
		if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
		await sleep(50);
	}
}

describe('the process scheduler', () => {
	const h = useStack(opts(1));

	test('starts servers while every one is full, chats on each, and stops them once idle', { timeout: 90000 }, async (t) => {
		const { stack } = h;
		const token = await tokenFor(stack, 'owner');
		const rooms = [];
		let firstOnNew = null;
		while ((await registry(stack)).length < 3) {
			assert.ok(rooms.length < 3 * ROOMS_PER_SERVER, `${rooms.length} rooms and still fewer than 3 servers`);
			const full = rooms.length === ROOMS_PER_SERVER;
			const t0 = performance.now();
			const res = await createRoom(stack.backendUrl, token);
			assert.equal(res.status, 200, res.text);
			rooms.push(res.json.roomId);
			if (full) {
				// "All servers full" to the first message on the new server.
				const [c] = await join(stack, 'owner', res.json.roomId);
				await sendAcked(c, 'first', 'first message on a new server');
				firstOnNew = performance.now() - t0;
				await closeAll([c]);
			}
		}
		t.diagnostic(`all servers full → first message acked on the new server: ${firstOnNew.toFixed(0)} ms`);
		assert.equal(rooms.length, 2 * ROOMS_PER_SERVER + 1);
		const servers = await registry(stack);
		assert.equal(servers.length, 3);
		for (const s of servers) assert.ok(s.pinned <= ROOMS_PER_SERVER, `${s.id}: ${s.pinned} rooms`);
		const children = spawned(stack);
		assert.deepEqual(children.map((c) => c.id).sort(), servers.filter((s) => s.id.startsWith('sp-')).map((s) => s.id).sort());
		for (const s of servers.filter((x) => x.id.startsWith('sp-'))) {
			assert.match(s.address, /^127\.0\.0\.1:\d+$/);
			assert.notEqual(s.address, '127.0.0.1:0');
		}

		// Chat in every room: two users each, both see both messages.
		const clients = [];
		const hosts = new Set();
		for (const roomId of rooms) {
			const [a] = await join(stack, 'ann', roomId);
			const [b] = await join(stack, 'bob', roomId);
			clients.push(a, b);
			hosts.add((await ticketFor(stack, 'ann', roomId)).host);
			const seq = await sendAcked(a, `${roomId}-a`, `hello ${roomId}`);
			await b.next({ type: 'message', seq, text: `hello ${roomId}`, user: 'ann' });
			const seq2 = await sendAcked(b, `${roomId}-b`, `hi ${roomId}`);
			await a.next({ type: 'message', seq: seq2, user: 'bob' });
		}
		assert.equal(hosts.size, 3);

		// Everyone leaves: rooms unload, the servers started for them stop.
		await closeAll(clients);
		await until('the started servers stopped', async () => (await registry(stack)).length === 1, 30000);
		assert.deepEqual((await registry(stack)).map((s) => s.id), [stack.sessions[0].id]);
		await until('their processes gone', () => children.every((c) => !alive(c.pid)), 10000);
		const exits = stack.backends[0].lines.filter((l) => l.includes('"session server exited"')).map((l) => JSON.parse(l));
		for (const c of children) {
			const e = exits.find((x) => x.id === c.id);
			assert.ok(e, `no exit logged for ${c.id}`);
			assert.equal(e.status, 0);
			assert.equal(e.signal, 0);
		}
	});

	test('a started server killed with SIGKILL: its rooms re-placed on look-up (new host, higher epoch), chat goes on', { timeout: 60000 }, async () => {
		const { stack } = h;
		const before = new Set(spawned(stack).map((c) => c.id));
		const rooms = [];
		for (let i = 0; i < ROOMS_PER_SERVER + 2; i++) rooms.push(await newRoom(stack, 'owner'));
		const child = spawned(stack).find((c) => !before.has(c.id));
		assert.ok(child, 'a server was started');
		const onChild = [];
		for (const r of rooms) {
			const tk = await ticketFor(stack, 'ann', r);
			if (decodeToken(tk.token).claims.aud === child.id) onChild.push({ room: r, ...tk });
		}
		assert.equal(onChild.length, 2);

		const first = onChild[0];
		const ann = await connect(first.host, first.token, { protocol: 'stateroom.v1' });
		await ann.next('welcome');
		assert.equal(await sendAcked(ann, 'k1', 'before the kill'), 1);

		process.kill(child.pid, 'SIGKILL');
		assert.notEqual((await ann.closed).code, 1000);
		await until('the killed server left the registry', async () => !(await registry(stack)).some((s) => s.id === child.id), 5000);

		// No waiting for the heartbeat to age: the row is gone, the room moves.
		for (const { room, host, token } of onChild) {
			const res = await lookup(stack.backendUrl, await tokenFor(stack, 'ann'), room);
			assert.equal(res.status, 200, res.text);
			assert.notEqual(res.json.host, host);
			const claims = decodeToken(res.json.token).claims;
			assert.notEqual(claims.aud, child.id);
			assert.ok(claims.epoch > decodeToken(token).claims.epoch, `epoch ${claims.epoch}`);
		}
		const again = await ticketFor(stack, 'ann', first.room);
		const ann2 = await connect(again.host, again.token, { protocol: 'stateroom.v1', since: 0 });
		const welcome = await ann2.next('welcome');
		assert.deepEqual(welcome.messages.map((m) => [m.seq, m.text]), [[1, 'before the kill']]);
		assert.equal(await sendAcked(ann2, 'k2', 'after the kill'), 2);
		const [bob, bobWelcome] = await join(stack, 'bob', first.room);
		assert.equal(bobWelcome.seq, 2);
		await closeAll([ann2, bob]);

		const exit = stack.backends[0].lines.filter((l) => l.includes('"session server exited"')).map((l) => JSON.parse(l))
			.find((e) => e.id === child.id);
		assert.equal(exit.signal, 9);
		assert.ok(exit.backoff_ms > 0, 'a crash delays the next start');
	});
});

describe('two backend replicas with the process scheduler', () => {
	const h = useStack(opts(2));

	test('creating rooms concurrently never starts more servers than needed', { timeout: 90000 }, async () => {
		const { stack } = h;
		const [a, b] = stack.backends;
		const token = await tokenFor(stack, 'owner');
		const n = 2 * ROOMS_PER_SERVER + 5; // needs exactly three servers
		let most = 0;
		let watching = true;
		const watch = (async () => {
			while (watching) {
				// Servers registered plus servers being started.
				const [[count]] = await stack.sql(`SELECT (SELECT count(*) FROM session_servers)
					+ (SELECT count(*) FROM session_spawns sp WHERE NOT EXISTS (SELECT 1 FROM session_servers s WHERE s.id = sp.id))`);
				most = Math.max(most, Number(count));
				await sleep(20);
			}
		})();
		const results = await Promise.all(Array.from({ length: n }, (_, i) => createRoom((i % 2 ? b : a).url, token)));
		watching = false;
		await watch;
		for (const r of results) assert.equal(r.status, 200, r.text);

		const children = spawned(stack);
		assert.equal(children.length, 2, JSON.stringify(children));
		assert.ok(most <= 3, `${most} servers registered or starting at once`);
		const servers = await registry(stack);
		assert.equal(servers.length, 3);
		for (const s of servers) assert.ok(s.pinned <= ROOMS_PER_SERVER, `${s.id}: ${s.pinned} rooms`);
		assert.equal(servers.reduce((sum, s) => sum + s.pinned, 0), n);
		await until('the spawn rows cleared', async () => (await stack.sql('SELECT count(*) FROM session_spawns'))[0][0] === '0', 5000);

		// Rooms on servers either replica started are reachable through both.
		for (const roomId of results.map((r) => r.json.roomId).slice(-3)) {
			const fromA = await lookup(a.url, token, roomId);
			const fromB = await lookup(b.url, token, roomId);
			assert.equal(fromA.json.host, fromB.json.host);
		}
		const [c] = await join(stack, 'owner', results.at(-1).json.roomId);
		assert.equal(await sendAcked(c, 'x', 'works'), 1);
		await closeAll([c]);
	});
});

describe('a backend with --min-servers 1 and no other session server (as scripts/run starts it)', () => {
	const ADMIN = 'operator-token-for-min-servers';
	// Otherwise the defaults: the servers it starts take its environment.
	const h = useStack({
		sessions: 0,
		backendEnv: { STATEROOM_SCHEDULER: 'process', STATEROOM_MIN_SERVERS: '1', STATEROOM_ADMIN_TOKEN: ADMIN },
	});

	// The one live server: its registry row and its process.
	async function theServer(stack) {
		const up = await until('a session server up', async () => {
			const rows = (await registry(stack)).filter((s) => s.state === 'up');
			return rows.length ? rows : null;
		});
		assert.equal(up.length, 1, JSON.stringify(up));
		const child = spawned(stack).find((c) => c.id === up[0].id);
		assert.ok(child, `${up[0].id} was started by the backend`);
		return child;
	}

	// Two users chatting through the room's failovers, as the web client does.
	async function talkers(stack, roomId) {
		const clients = ['ann', 'bob'].map((u) => new Resumer(stack, u, roomId));
		for (const c of clients) await c.start();
		// Well under the servers' default rate limit.
		const stop = chatter(clients, 100);
		await until('messages acknowledged', () => clients.every((c) => c.acked.size >= 3));
		return { clients, stop };
	}

	async function resumedElsewhere({ clients, stop }, stack, roomId, goneHost) {
		await until('both clients resumed on another server', () => clients.every((c) => c.hosts.length >= 2));
		for (const c of clients) assert.notEqual(c.hosts.at(-1), goneHost);
		const acked = clients.map((c) => c.acked.size);
		await until('chat goes on', () => clients.every((c, i) => c.acked.size >= acked[i] + 3));
		stop();
		for (const c of clients) await c.settle();
		await until('both saw every message', () => clients[0].lastSeq === clients[1].lastSeq);
		const n = await auditRoom(stack, roomId, clients);
		for (const c of clients) await c.stop();
		return n;
	}

	test('starts a session server by itself, before any request', { timeout: 60000 }, async () => {
		const { stack } = h;
		const child = await theServer(stack);
		assert.match(child.id, /^sp-/);
		assert.ok(alive(child.pid));
		assert.deepEqual(await stack.sql('SELECT count(*) FROM rooms'), [['0']]);
		// And it serves: a room, two users, a message each way.
		const room = await newRoom(stack, 'owner');
		const [a] = await join(stack, 'ann', room);
		const [b] = await join(stack, 'bob', room);
		const seq = await sendAcked(a, 'm1', 'hello');
		await b.next({ type: 'message', seq, text: 'hello', user: 'ann' });
		await closeAll([a, b]);
	});

	test('its server killed with SIGKILL under traffic: a new one replaces it, clients resume there, nothing lost', { timeout: 90000 }, async () => {
		const { stack } = h;
		const victim = await theServer(stack);
		const room = await newRoom(stack, 'owner');
		const chat = await talkers(stack, room);
		const host = chat.clients[0].hosts[0];

		process.kill(victim.pid, 'SIGKILL');
		const n = await resumedElsewhere(chat, stack, room, host);
		assert.ok(n >= 12, `${n} messages`);
		const next = await theServer(stack);
		assert.notEqual(next.id, victim.id);
		const exit = stack.backends[0].lines.filter((l) => l.includes('"session server exited"')).map((l) => JSON.parse(l))
			.find((e) => e.id === victim.id);
		assert.equal(exit.signal, 9);
	});

	test('its server drained through the operator API: replaced, and the room goes on', { timeout: 90000 }, async () => {
		const { stack } = h;
		const victim = await theServer(stack);
		const room = await newRoom(stack, 'owner');
		const chat = await talkers(stack, room);
		const host = chat.clients[0].hosts[0];

		const list = await request(stack.backendUrl, '/api/admin/servers', { token: ADMIN });
		assert.deepEqual(list.json.servers.map((s) => s.id), [victim.id]);
		const res = await request(stack.backendUrl, `/api/admin/servers/${victim.id}/drain`, { method: 'POST', token: ADMIN });
		assert.equal(res.status, 202, res.text);
		await resumedElsewhere(chat, stack, room, host);
		for (const c of chat.clients) assert.ok(c.closes.some((x) => x.code === 1012), JSON.stringify(c.closes));
		await until('the drained server exited', () => !alive(victim.pid));
		const exit = stack.backends[0].lines.filter((l) => l.includes('"session server exited"')).map((l) => JSON.parse(l))
			.find((e) => e.id === victim.id);
		assert.deepEqual([exit.status, exit.signal], [0, 0]);
		assert.notEqual((await theServer(stack)).id, victim.id);
		// A new room works too.
		const [c] = await join(stack, 'ann', await newRoom(stack, 'owner'));
		assert.equal(await sendAcked(c, 'after-drain', 'still here'), 1);
		await closeAll([c]);
	});

	test('the backend killed with SIGKILL: the server it started drains and exits by itself', { timeout: 60000 }, async () => {
		const { stack } = h;
		const child = await theServer(stack);
		const [c] = await join(stack, 'ann', await newRoom(stack, 'owner'));
		assert.equal(await sendAcked(c, 'last', 'before the backend dies'), 1);

		await stack.backends[0].stop('SIGKILL');
		// Drained, not dropped: its client is told to go elsewhere.
		assert.equal((await c.closed).code, 1012);
		await until('the orphaned server exited', () => !alive(child.pid), 30000);
		assert.deepEqual(await registry(stack), []);
	});
});
