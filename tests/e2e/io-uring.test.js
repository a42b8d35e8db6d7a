// The session server's two send paths (--io-uring, docs/protocol.md): a
// loop turn's sends in one io_uring submission, or a send() each. Members
// of a room see the same broadcast either way: every message in order,
// a member that leaves in the middle of it gone without harm to the
// others, a member that stops reading closed 1008. A kernel that refuses
// rings (seccomp, as Docker's default profile does) makes `auto` send
// without one (said once in the log) and `on` refuse to start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import {
	ROOT, startStack, newRoom, ticketFor, join, rawConnect, closeAll, request, freePort, OP,
} from './lib/stack.js';

const BUILD = path.resolve(ROOT, process.env.STATEROOM_BUILD_DIR || 'build');
const DENY = path.join(BUILD, 'tests/deny-io-uring');
const SESSION = path.join(BUILD, 'session-server/stateroom-session');
const MAX_SEND = 64 * 1024;
const TEXT = 'y'.repeat(4000);
const TOTAL = 400;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function closes(stack, code) {
	const res = await request(`http://${stack.sessions[0].address}`, '/metrics');
	const m = new RegExp(`^stateroom_session_closes_total\\{code="${code}"\\} (\\d+)$`, 'm').exec(res.text);
	return m ? Number(m[1]) : 0;
}

async function broadcast(mode) {
	const stack = await startStack({ sessionEnv: { SESSION_IO_URING: mode, SESSION_MAX_SEND_BUFFER: String(MAX_SEND) } });
	try {
		const roomId = await newRoom(stack, 'sender');
		const [sender] = await join(stack, 'sender', roomId);
		const readers = [];
		for (const u of ['r1', 'r2', 'r3']) readers.push((await join(stack, u, roomId))[0]);
		const [leaver] = await join(stack, 'leaver', roomId);

		const { host, token } = await ticketFor(stack, 'slow', roomId);
		const r = await rawConnect(host, { ticket: token, protocol: 'stateroom.v1' });
		assert.equal(r.status, 101, r.text);
		const slow = r.client;
		await slow.nextJson('welcome');
		slow.sock.pause();

		let sent = 0;
		const batch = async (n) => {
			const ids = [];
			for (let k = 0; k < n; k++) {
				const id = `m${++sent}`;
				ids.push(id);
				sender.send({ type: 'send', id, text: TEXT });
			}
			// The leaver goes while the batch is on its way to everyone.
			if (sent === 40) leaver.terminate();
			for (const id of ids) await sender.next({ type: 'ack', id }, 10000);
		};
		await batch(40);
		const deadline = Date.now() + 60000;
		while ((await closes(stack, 1008)) === 0) {
			assert.ok(Date.now() < deadline, `the slow member was not closed after ${sent} messages`);
			await batch(20);
		}
		while (sent < TOTAL) await batch(20);

		for (const c of [sender, ...readers]) {
			const seqs = [];
			while (seqs.length < sent) seqs.push((await c.next('message', 10000)).seq);
			assert.deepEqual(seqs, Array.from({ length: sent }, (_, i) => i + 1));
			assert.equal(c.closeInfo, null);
		}
		assert.ok((await leaver.closed).code, 'the leaver is closed');

		// The slow member, reading again, finds its close 1008 and the end.
		slow.sock.resume();
		await slow.ended;
		const close = slow.frames.find((f) => f.opcode === OP.CLOSE);
		assert.equal(close?.code, 1008, 'the slow member was sent close 1008');

		// The server goes on: someone who joins now is sent the next message.
		const [late] = await join(stack, 'late', roomId);
		sender.send({ type: 'send', id: 'last', text: 'after' });
		assert.equal((await late.next((f) => f.type === 'message' && f.text === 'after')).seq, sent + 1);
		const log = stack.sessions[0].logSince(0);
		assert.doesNotMatch(log, /io_uring unavailable/);
		await closeAll([sender, ...readers, late]);
	} finally {
		await stack.stop();
	}
}

test('a broadcast with --io-uring on: every member gets every message, a leaver and a slow reader (1008) are handled', { timeout: 120000 }, () => broadcast('on'));

test('the same broadcast with --io-uring off', { timeout: 120000 }, () => broadcast('off'));

// Runs the session server where the kernel refuses io_uring, with mode;
// resolves with its exit code and output once it exits, or with its output
// and a kill() once it says it listens.
function refused(stack, mode) {
	return new Promise((resolve, reject) => {
		freePort().then((port) => {
			const child = spawn(DENY, [SESSION], {
				env: {
					...Object.fromEntries(Object.entries(process.env).filter(([k]) =>
						!/^(SESSION_|BACKEND_|STATEROOM_)/.test(k) || k === 'STATEROOM_SANITIZER_DIR')),
					SESSION_HOST: '127.0.0.1', SESSION_PORT: String(port), SESSION_ID: `ss-${port}`,
					SESSION_ADVERTISE: `127.0.0.1:${port}`, DATABASE_URL: stack.databaseUrl,
					STATEROOM_SECRET: stack.secret, SESSION_HEARTBEAT_MS: '200', SESSION_RATE_LIMIT: '0',
					SESSION_IO_URING: mode,
				},
				stdio: ['ignore', 'pipe', 'pipe'],
			});
			let out = '';
			const timer = setTimeout(() => reject(new Error(`no exit nor listening within 20 s: ${out}`)), 20000);
			const take = (d) => {
				out += d;
				if (/"msg":"listening"/.test(out)) {
					clearTimeout(timer);
					resolve({ listening: true, out: () => out, port, id: `ss-${port}`, child });
				}
			};
			child.stdout.on('data', take);
			child.stderr.on('data', take);
			child.on('exit', (code) => {
				clearTimeout(timer);
				resolve({ code, out: () => out });
			});
		}, reject);
	});
}

test('a kernel that refuses io_uring: auto sends without it (said once), on does not start', { timeout: 120000 }, async () => {
	const stack = await startStack({ sessions: 0 });
	let srv;
	try {
		const on = await refused(stack, 'on');
		assert.equal(on.code, 1, on.out());
		assert.match(on.out(), /io_uring unavailable.*Operation not permitted/);

		srv = await refused(stack, 'auto');
		assert.ok(srv.listening, srv.out());
		await stack.waitRegistered([srv.id]);
		const roomId = await newRoom(stack, 'a');
		const [a] = await join(stack, 'a', roomId);
		const [b] = await join(stack, 'b', roomId);
		for (let i = 1; i <= 20; i++) a.send({ type: 'send', id: `m${i}`, text: `hello ${i}` });
		for (let i = 1; i <= 20; i++) assert.equal((await b.next('message')).text, `hello ${i}`);
		await closeAll([a, b]);
		await sleep(100);
		assert.equal(srv.out().match(/io_uring unavailable/g)?.length, 1, srv.out());
		assert.match(srv.out(), /"level":"warn".*io_uring unavailable|io_uring unavailable.*"level":"warn"/);
	} finally {
		if (srv?.child && srv.child.exitCode === null) {
			const exited = new Promise((r) => srv.child.once('exit', r));
			srv.child.kill('SIGTERM');
			await exited;
		}
		await stack.stop();
	}
});
