// scripts/run as a user runs it (against this test's own database, so that
// it starts no cluster): it prints its URL, serves chat, keeps serving when
// its session server is killed or drained (the README's drain example), lets
// in a client served from another origin named in STATEROOM_ALLOWED_ORIGINS,
// and on Ctrl-C stops everything it started; with STATEROOM_SCHEDULER=local
// it starts a fixed session server again when it dies.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
	ROOT, psql, freePort, request, connect, newRoom, ticketFor, tokenFor, join, closeAll,
} from './lib/stack.js';
import { Resumer, chatter, auditRoom } from './lib/resume.js';

const SLOW = process.env.STATEROOM_BUILD_DIR?.includes('asan') ? 3 : 1;
// scripts/run first runs scripts/setup and scripts/build (no-ops when up to date).
const START_MS = 180000;
const SANITIZER_DIR = process.env.STATEROOM_SANITIZER_DIR || '';
const VITE = 'http://localhost:5173'; // the seed's client dev server

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, ms = 20000 * SLOW) {
	const deadline = Date.now() + ms;
	for (;;) {
		const v = await fn();
		if (v) return v;
		if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
		await sleep(50);
	}
}

function alive(pid) {
	try {
		return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').length > 0; // a zombie's is empty
	} catch {
		return false;
	}
}

// Every process whose environment holds this run's database URL: scripts/run
// and whatever it started, however deep.
function processesOf(databaseUrl) {
	const out = [];
	for (const d of fs.readdirSync('/proc')) {
		if (!/^\d+$/.test(d)) continue;
		try {
			if (!fs.readFileSync(`/proc/${d}/environ`, 'utf8').split('\0').includes(`DATABASE_URL=${databaseUrl}`)) continue;
			out.push({ pid: Number(d), cmd: fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ').trim() });
		} catch {
			// gone meanwhile, or not readable
		}
	}
	return out;
}

function cleanEnv() {
	const env = { ...process.env };
	for (const k of Object.keys(env)) {
		if (/^(SESSION_|BACKEND_|STATEROOM_)/.test(k) && !['STATEROOM_SANITIZER_DIR', 'STATEROOM_BUILD_DIR'].includes(k)) delete env[k];
	}
	return env;
}

// One scripts/run in the foreground, its output kept.
class Run {
	constructor(env) {
		this.env = env;
		this.lines = [];
		this.pids = new Set();
		// In a process group of its own, as in a terminal: Ctrl-C signals the group.
		this.proc = spawn(path.join(ROOT, 'scripts/run'), [], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
		let partial = '';
		const take = (d) => {
			const parts = (partial + d.toString()).split('\n');
			partial = parts.pop();
			this.lines.push(...parts);
		};
		this.proc.stdout.on('data', take);
		this.proc.stderr.on('data', take);
		this.exited = new Promise((resolve) => {
			this.proc.on('exit', (code, signal) => resolve({ code, signal }));
		});
		this.running = true;
		this.exited.then(() => { this.running = false; });
	}

	// The backend's JSON log lines with this msg.
	logs(msg) {
		return this.lines.filter((l) => l.startsWith('{') && l.includes(`"msg":"${msg}"`)).map((l) => JSON.parse(l));
	}

	async started() {
		const url = await until('the "Stateroom is running" line', () => {
			if (!this.running) throw new Error(`scripts/run exited\n${this.lines.slice(-60).join('\n')}`);
			return this.lines.map((l) => l.match(/Stateroom is running: open (http:\S+)/)?.[1]).find(Boolean);
		}, START_MS);
		const res = await fetch(new URL('/readyz', url));
		assert.equal(res.status, 200);
		return url.replace(/\/$/, '');
	}

	// Remembers the pids of every process it runs now, for the sanitizer check.
	note() {
		for (const p of processesOf(this.env.DATABASE_URL)) this.pids.add(p.pid);
		for (const s of this.logs('session server started')) this.pids.add(s.pid);
	}

	sanitizerReports() {
		if (!SANITIZER_DIR || !fs.existsSync(SANITIZER_DIR)) return [];
		const files = fs.readdirSync(SANITIZER_DIR);
		return [...this.pids].flatMap((pid) => files.filter((f) => f.endsWith(`.${pid}`))
			.map((f) => `pid ${pid} wrote ${f}:\n${fs.readFileSync(path.join(SANITIZER_DIR, f), 'utf8')}`));
	}

	kill() {
		if (this.running) this.proc.kill('SIGKILL');
		for (const p of processesOf(this.env.DATABASE_URL)) {
			try {
				process.kill(p.pid, 'SIGKILL');
			} catch {
				// gone
			}
		}
	}
}

describe('scripts/run', () => {
	let base;
	let dbName;
	const runs = [];

	before(async () => {
		base = process.env.DATABASE_URL || execFileSync(path.join(ROOT, 'scripts/pg'), ['url'], { encoding: 'utf8' }).trim();
	});

	// A database of the test's own; scripts/run applies the migrations.
	async function start(extra) {
		dbName = `e2e_run_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
		const admin = new URL(base);
		admin.pathname = '/postgres';
		const db = new URL(base);
		db.pathname = `/${dbName}`;
		await psql(admin.toString(), `CREATE DATABASE "${dbName}"`);
		const run = new Run({
			...cleanEnv(),
			DATABASE_URL: db.toString(),
			BACKEND_PORT: String(await freePort()),
			SESSION_PORTS: String(await freePort()),
			...extra,
		});
		runs.push({ run, admin: admin.toString(), dbName });
		const url = await run.started();
		// What the helpers of lib/ need of a stack.
		const stack = { backendUrl: url, sql: (q) => psql(db.toString(), q) };
		return { run, url, stack };
	}

	// Ctrl-C (SIGINT to the whole process group, as a terminal sends it):
	// scripts/run exits, and nothing it started runs on.
	async function ctrlC(run) {
		run.note();
		process.kill(-run.proc.pid, 'SIGINT');
		const { code } = await run.exited;
		// 130 when the script's trap ran first, 0 when the backend (which the
		// Ctrl-C reaches too) stopped first: either way no error is reported.
		assert.ok(code === 130 || code === 0, `exit ${code}\n${run.lines.slice(-40).join('\n')}`);
		assert.ok(!run.lines.some((l) => l.startsWith('error:')), run.lines.slice(-40).join('\n'));
		assert.deepEqual(processesOf(run.env.DATABASE_URL), []);
		for (const pid of run.pids) assert.ok(!alive(pid), `pid ${pid} still runs`);
		assert.deepEqual(run.sanitizerReports(), []);
	}

	// A test that fails half-way must not leave clients talking.
	const talking = [];
	function talk(clients) {
		const stop = chatter(clients, 100); // well under the default rate limit
		talking.push({ clients, stop });
		return stop;
	}

	after(async () => {
		for (const { clients, stop } of talking) {
			stop();
			for (const c of clients) {
				c.stopped = true;
				c.ws?.terminate();
			}
		}
		for (const { run, admin, dbName: name } of runs) {
			run.kill();
			await run.exited;
			await psql(admin, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => {});
		}
	});

	test('STATEROOM_ALLOWED_ORIGINS: a client served from there may connect, beside the backend\'s own origin', { timeout: 300000 }, async () => {
		const { run, url, stack } = await start({ STATEROOM_ALLOWED_ORIGINS: VITE });
		const room = await newRoom(stack, 'owner');

		// A client served elsewhere (the seed's Vite dev server) may connect;
		// an origin nobody named may not.
		const t1 = await ticketFor(stack, 'carol', room);
		const carol = await connect(t1.host, t1.token, { protocol: 'stateroom.v1', origin: VITE });
		await carol.next('welcome');
		await closeAll([carol]);
		const t2 = await ticketFor(stack, 'carol', room);
		await assert.rejects(connect(t2.host, t2.token, { protocol: 'stateroom.v1', origin: 'http://elsewhere.example' }),
			(e) => e.status === 403);
		const t3 = await ticketFor(stack, 'carol', room);
		const own = await connect(t3.host, t3.token, { protocol: 'stateroom.v1', origin: url });
		await own.next('welcome');
		await closeAll([own]);
		await ctrlC(run);
	});

	test('keeps a room going when its session server is killed or drained (the README\'s example), and Ctrl-C stops it all', { timeout: 300000 }, async () => {
		const { run, url, stack } = await start();
		const room = await newRoom(stack, 'owner');
		const clients = ['ann', 'bob'].map((u) => new Resumer(stack, u, room, { resumeMs: 30000 * SLOW }));
		for (const c of clients) await c.start();
		const stopChatter = talk(clients);
		const chatOn = async () => {
			const n = clients.map((c) => c.acked.size);
			await until('chat goes on', () => clients.every((c, i) => c.acked.size >= n[i] + 3));
		};
		await chatOn();

		// The operator's view, with the token scripts/run keeps (README).
		const adminToken = fs.readFileSync(path.join(ROOT, '.run/admin-token'), 'utf8').trim();
		const servers = async () => {
			const res = await request(url, '/api/admin/servers', { token: adminToken });
			assert.equal(res.status, 200, res.text);
			return res.json.servers.filter((s) => s.live && s.state === 'up');
		};

		// SIGKILL the session server: another takes the room, nothing is lost.
		const [first] = await servers();
		const victim = run.logs('session server started').find((s) => s.id === first.id);
		assert.ok(victim, `the pid of ${first.id} in the backend's log`);
		run.note();
		process.kill(victim.pid, 'SIGKILL');
		await until('both clients resumed elsewhere', () => clients.every((c) => c.hosts.length >= 2));
		await chatOn();
		assert.ok(run.running, 'scripts/run still runs');

		// The README's drain example.
		const second = await until('a live server', async () => (await servers()).find((s) => s.id !== first.id));
		const res = await request(url, `/api/admin/servers/${second.id}/drain`, { method: 'POST', token: adminToken });
		assert.equal(res.status, 202, res.text);
		await until('both clients resumed once more', () => clients.every((c) => c.hosts.length >= 3));
		await chatOn();
		assert.ok(run.running, 'scripts/run still runs');
		const third = await until('a live server', async () => (await servers()).find((s) => s.id !== second.id));
		assert.notEqual(third.id, first.id);

		stopChatter();
		for (const c of clients) await c.settle();
		await until('both saw every message', () => clients[0].lastSeq === clients[1].lastSeq);
		const n = await auditRoom(stack, room, clients);
		for (const c of clients) await c.stop();
		// Someone new looks the room up and finds all of it.
		const [dave, welcome] = await join(stack, 'dave', room, { since: 0 });
		assert.equal(welcome.seq, n);
		assert.deepEqual(welcome.messages.map((m) => m.seq), Array.from({ length: n }, (_, i) => i + 1));
		await closeAll([dave]);

		await ctrlC(run);
	});

	test('STATEROOM_TURN=1 runs coturn on 127.0.0.1 with the secret GET /api/ice signs with, and Ctrl-C stops it', { timeout: 300000 }, async () => {
		const turnPort = await freePort();
		const { run, url, stack } = await start({ STATEROOM_TURN: '1', STATEROOM_TURN_PORT: String(turnPort) });
		const res = await request(url, '/api/ice', { token: await tokenFor(stack, 'ann') });
		assert.equal(res.status, 200, res.text);
		const turn = res.json.iceServers.find((s) => s.urls.some((u) => u.startsWith('turn:')));
		assert.ok(turn.urls.includes(`turn:127.0.0.1:${turnPort}?transport=udp`), JSON.stringify(turn));
		const secret = fs.readFileSync(path.join(ROOT, '.run/turn-secret'), 'utf8');
		assert.equal(turn.credential, crypto.createHmac('sha1', secret).update(turn.username).digest('base64'));
		const pid = Number(fs.readFileSync(path.join(ROOT, '.run/turnserver.pid'), 'utf8'));
		assert.ok(alive(pid), 'turnserver runs');
		assert.match(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /turnserver/);
		run.pids.add(pid);
		await ctrlC(run);
	});

	test('STATEROOM_MAIL=1 runs a local mail sink that gets the verification mail, and Ctrl-C stops it', { timeout: 300000 }, async () => {
		const mailPort = await freePort();
		const { run, url } = await start({ STATEROOM_MAIL: '1', STATEROOM_MAIL_PORT: String(mailPort) });
		assert.ok(run.lines.some((l) => l.includes(`Email: to a local sink on 127.0.0.1:${mailPort}`)), 'scripts/run says where mail goes');
		const userId = `mail${process.pid % 10000}`;
		const reg = await request(url, '/api/auth/register', { method: 'POST', body: { userId, password: 'correct horse battery' } });
		assert.equal(reg.status, 200, reg.text);
		const address = `${userId}.${Date.now()}@example.com`;
		const put = await request(url, '/api/me/email', { method: 'PUT', token: reg.json.token, body: { address } });
		assert.equal(put.status, 202, put.text);
		const dir = path.join(ROOT, '.run/mail');
		const mail = await until('the verification mail in .run/mail/', () => fs.readdirSync(dir).filter((f) => f.endsWith('.json'))
			.map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'))).find((m) => m.rcptTos.includes(address)));
		const link = /(http:\S+\/api\/email\/verify\?token=\S+)/.exec(mail.text)[1];
		assert.ok(link.startsWith(`${url}/`), link);
		assert.equal((await fetch(link)).status, 200);
		const me = await request(url, '/api/me/email', { token: reg.json.token });
		assert.deepEqual(me.json, { address, verified: true });
		run.note();
		await ctrlC(run);
	});

	test('STATEROOM_SCHEDULER=local: a fixed session server that dies is started again', { timeout: 300000 }, async () => {
		const { run, stack } = await start({ STATEROOM_SCHEDULER: 'local' });
		const port = Number(run.env.SESSION_PORTS);
		const room = await newRoom(stack, 'owner');
		const clients = ['ann', 'bob'].map((u) => new Resumer(stack, u, room, { resumeMs: 30000 * SLOW }));
		for (const c of clients) await c.start();
		assert.equal(clients[0].hosts[0], `127.0.0.1:${port}`);
		const stopChatter = talk(clients);
		await until('messages acknowledged', () => clients.every((c) => c.acked.size >= 3));

		const [server] = processesOf(run.env.DATABASE_URL).filter((p) => p.cmd.includes('stateroom-session'));
		assert.ok(server, 'a session server runs');
		run.note();
		process.kill(server.pid, 'SIGKILL');
		await until('both clients resumed', () => clients.every((c) => c.hosts.length >= 2));
		const n = clients.map((c) => c.acked.size);
		await until('chat goes on', () => clients.every((c, i) => c.acked.size >= n[i] + 3));
		assert.ok(run.running, 'scripts/run still runs');
		for (const c of clients) assert.equal(c.hosts.at(-1), `127.0.0.1:${port}`);
		assert.ok(run.lines.some((l) => l.includes(`session server on port ${port} exited`)), 'scripts/run said so');

		stopChatter();
		for (const c of clients) await c.settle();
		await until('both saw every message', () => clients[0].lastSeq === clients[1].lastSeq);
		await auditRoom(stack, room, clients);
		for (const c of clients) await c.stop();

		await ctrlC(run);
	});
});
