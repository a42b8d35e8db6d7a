// Draining a session server (SIGTERM, or the operator's drain endpoint) while
// its rooms are busy: every client is closed with 1012 once its messages are
// committed, looks the room up again, resumes on the other server with
// since=<last seq> and goes on: no message lost, no gap, no duplicate.
// /readyz answers 503 while the server drains, and it exits 0 in time.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import crypto from 'node:crypto';
import { useStack, newRoom, ticketFor, request } from './lib/stack.js';
import { Resumer, chatter, auditRoom } from './lib/resume.js';

const ADMIN = 'drain-test-operator-token';
const GRACE_MS = 8000;
const ROOMS = 4;
const USERS = ['ann', 'bo', 'cy'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A member that never finishes the closing handshake: its socket stays
// half-open after the server's FIN, so the server keeps it for its close
// linger, long enough to watch /readyz while it drains. Resolves once
// welcomed, with {closed}: resolves to every byte received once the server
// has let go.
function lurk(host, ticket) {
	const [hostname, port] = host.split(':');
	const sock = net.connect({ host: hostname, port: Number(port), allowHalfOpen: true });
	let got = Buffer.alloc(0);
	const closed = new Promise((resolve) => sock.once('end', () => resolve(got)));
	sock.on('error', () => {});
	sock.write([
		`GET /?token=${encodeURIComponent(ticket)} HTTP/1.1`, `Host: ${host}`, 'Upgrade: websocket',
		'Connection: Upgrade', `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}`,
		'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Protocol: stateroom.v1', '', '',
	].join('\r\n'));
	return new Promise((resolve, reject) => {
		const timer = setTimeout(() => reject(new Error('no welcome')), 5000);
		sock.on('data', (d) => {
			got = Buffer.concat([got, d]);
			if (got.includes('"type":"welcome"')) {
				clearTimeout(timer);
				resolve({ closed, destroy: () => sock.destroy() });
			}
		});
	});
}

// Polls /readyz until the process is gone; resolves with the statuses seen.
async function watchReadyz(address, exited) {
	const seen = [];
	let done = false;
	exited.then(() => {
		done = true;
	});
	while (!done) {
		try {
			const res = await fetch(`http://${address}/readyz`, { signal: AbortSignal.timeout(500) });
			await res.arrayBuffer();
			seen.push(res.status);
		} catch {
			seen.push('refused');
		}
		await sleep(20);
	}
	return seen;
}

describe('a draining session server', () => {
	const h = useStack({
		sessions: 2,
		sessionEnv: { SESSION_MAX_ROOMS: '50', SESSION_DRAIN_GRACE_MS: String(GRACE_MS) },
		backendEnv: { STATEROOM_ADMIN_TOKEN: ADMIN },
	});

	// Busy rooms on both servers, then trigger(server) drains the one holding
	// the first room; returns what the test then checks further.
	async function drainBusyServer(trigger) {
		const { stack } = h;
		// Each test drains one server: bring back the one drained before
		// (even if that test failed), so that there is somewhere to go.
		for (const s of stack.sessions) if (!s.running) await s.start();
		await stack.waitRegistered();
		const rooms = [];
		for (let i = 0; i < ROOMS; i++) rooms.push(await newRoom(stack, 'owner'));
		const hostOf = new Map();
		for (const r of rooms) hostOf.set(r, (await ticketFor(stack, 'owner', r)).host);
		const target = stack.sessions.find((s) => s.address === hostOf.get(rooms[0]));
		const other = stack.sessions.find((s) => s !== target);
		const moved = rooms.filter((r) => hostOf.get(r) === target.address);

		const clients = new Map(rooms.map((r) => [r, USERS.map((u) => new Resumer(stack, u, r))]));
		const all = [...clients.values()].flat();
		await Promise.all(all.map((c) => c.start()));
		const stopChatter = chatter(all, 25);
		await sleep(400);

		// A client that never answers the closing handshake holds the drain
		// open for the server's close linger, long enough to watch /readyz.
		const { token } = await ticketFor(stack, 'lurker', moved[0]);
		const lurker = await lurk(target.address, token);

		const started = Date.now();
		const exited = trigger(target);
		const readyz = await watchReadyz(target.address, exited);
		const { code } = await exited;
		const drainMs = Date.now() - started;
		assert.equal(code, 0);
		// The close frame: FIN + close, 17 bytes, code 1012 (0x03f4), reason.
		const closeFrame = Buffer.concat([Buffer.from([0x88, 17, 0x03, 0xf4]), Buffer.from('server draining')]);
		assert.ok((await lurker.closed).includes(closeFrame), 'the lurker got close 1012');
		lurker.destroy();

		await sleep(400); // traffic goes on after the move
		stopChatter();
		await Promise.all(all.map((c) => c.settle()));
		await sleep(300); // the last broadcasts arrive
		await Promise.all(all.map((c) => c.stop()));

		const firstFail = readyz.indexOf(503);
		assert.ok(firstFail >= 0, `readyz never said 503: ${readyz.join(' ')}`);
		assert.ok(!readyz.slice(firstFail).includes(200), `readyz said 200 again while draining: ${readyz.join(' ')}`);
		assert.ok(drainMs < GRACE_MS + 3000, `drain took ${drainMs} ms`);
		const rows = await stack.sql(`SELECT count(*) FROM session_servers WHERE id = '${target.id}'`);
		assert.equal(rows[0][0], '0', 'the drained server left the registry');

		for (const r of rooms) {
			const n = await auditRoom(stack, r, clients.get(r));
			assert.ok(n > 10, `room ${r}: only ${n} messages`);
			for (const c of clients.get(r)) {
				if (moved.includes(r)) {
					assert.equal(c.closes[0]?.code, 1012, `${c.user} in ${r}: closes ${JSON.stringify(c.closes)}`);
					assert.deepEqual([...new Set(c.hosts)], [target.address, other.address]);
					assert.ok(c.epochs.at(-1) > c.epochs[0], `epochs ${c.epochs}`);
				} else {
					assert.deepEqual(c.closes.map((x) => x.code), [1000], `${c.user} in ${r} (not moved)`);
				}
			}
		}
	}

	test('on SIGTERM: clients closed with 1012 after their acks, resumed elsewhere with no loss, gap or duplicate', { timeout: 60000 }, () =>
		drainBusyServer((s) => s.stop('SIGTERM').then(() => s.exited)));

	test('on the operator drain endpoint: the same, noticed on the next heartbeat', { timeout: 60000 }, () =>
		drainBusyServer(async (s) => {
			const exited = s.expectExit();
			const res = await request(h.stack.backendUrl, `/api/admin/servers/${s.id}/drain`, { method: 'POST', token: ADMIN });
			assert.equal(res.status, 202, res.text);
			assert.deepEqual(res.json, { id: s.id, state: 'draining' });
			return exited;
		}));
});
