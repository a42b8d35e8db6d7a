// The end-to-end harness: a fresh database, one or more backends and session
// servers from $STATEROOM_BUILD_DIR (default build/), on free ports, with a
// new secret. Everything it starts is stopped by stack.stop(), which also
// fails when a server wrote a sanitizer report or died unasked.
import { spawn, execFile, execFileSync } from 'node:child_process';
import { before, after, beforeEach, afterEach } from 'node:test';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export { login, createRoom, lookup, request, rawHttp } from './http.js';
export { connect, wsUrl, Client } from './ws.js';
export { mintToken, mintRawToken, decodeToken, nowSeconds, newJti } from './token.js';
export { tokenFor, newRoom, ticketFor, join, sendAcked, closeAll } from './chat.js';
export { rawConnect, buildFrame, closePayload, OP, RawClient } from './rawws.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const BUILD = path.resolve(ROOT, process.env.STATEROOM_BUILD_DIR || 'build');
const SANITIZER_DIR = process.env.STATEROOM_SANITIZER_DIR || '';
// Sanitizer builds start and answer slower.
const SLOW = process.env.STATEROOM_BUILD_DIR?.includes('asan') ? 3 : 1;
const READY_MS = 20000 * SLOW;
const STOP_MS = 10000 * SLOW;
const LOG_LINES = 20000; // per process, the most recent

const live = new Set(); // every running child, killed if this process exits

process.on('exit', () => {
	for (const child of live) child.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) {
	process.once(sig, () => process.exit(130));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function clusterUrl() {
	if (process.env.DATABASE_URL) return process.env.DATABASE_URL;
	return execFileSync(path.join(ROOT, 'scripts/pg'), ['url'], { encoding: 'utf8' }).trim();
}

function withDatabase(url, name) {
	const u = new URL(url);
	u.pathname = `/${name}`;
	return u.toString();
}

// Runs SQL with psql; resolves with the rows as arrays of strings.
export function psql(url, sql) {
	return new Promise((resolve, reject) => {
		execFile('psql', ['-X', '-q', '-tA', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql],
			{ encoding: 'utf8' }, (err, stdout, stderr) => {
				if (err) {
					reject(new Error(`psql: ${stderr.trim() || err.message}`));
					return;
				}
				resolve(stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t')));
			});
	});
}

export function freePort() {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.on('error', reject);
		srv.listen(0, '127.0.0.1', () => {
			const { port } = srv.address();
			srv.close(() => resolve(port));
		});
	});
}

async function waitReady(proc, url) {
	const deadline = Date.now() + READY_MS;
	while (Date.now() < deadline) {
		if (!proc.running) throw new Error(`${proc.name} exited before it was ready\n${proc.logTail(60)}`);
		try {
			const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
			await res.arrayBuffer();
			if (res.status === 200) return;
		} catch {
			// not listening yet
		}
		await sleep(50);
	}
	throw new Error(`${proc.name}: ${url} not ready within ${READY_MS} ms\n${proc.logTail(60)}`);
}

// One server process that can be stopped and started again with the same
// id, port and environment.
class Proc {
	constructor(stack, name, bin, env, port) {
		this.stack = stack;
		this.name = name;
		this.bin = bin;
		this.env = env;
		this.port = port;
		this.proc = null;
		this.lines = [];
		this.dropped = 0; // lines dropped from the front of this.lines
		this.mark = 0;
		this.running = false;
	}

	get pid() {
		return this.proc?.pid;
	}

	addOutput(chunk) {
		const text = (this.partial ?? '') + chunk.toString();
		const parts = text.split('\n');
		this.partial = parts.pop();
		for (const l of parts) this.lines.push(l);
		if (this.lines.length > LOG_LINES) {
			const n = this.lines.length - LOG_LINES;
			this.lines.splice(0, n);
			this.dropped += n;
		}
	}

	logSince(mark = 0) {
		return this.lines.slice(Math.max(0, mark - this.dropped)).map((l) => `[${this.name}] ${l}`).join('\n');
	}

	logTail(n) {
		return this.lines.slice(-n).map((l) => `[${this.name}] ${l}`).join('\n');
	}

	async start() {
		if (this.running) throw new Error(`${this.name} already runs`);
		if (!fs.existsSync(this.bin)) throw new Error(`${this.bin} not built (STATEROOM_BUILD_DIR=${BUILD})`);
		const child = spawn(this.bin, [], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
		this.proc = child;
		this.running = true;
		this.sent = null;
		this.stack.pids.push({ name: this.name, pid: child.pid });
		live.add(child);
		this.lines.push(`--- started, pid ${child.pid}`);
		child.stdout.on('data', (d) => this.addOutput(d));
		child.stderr.on('data', (d) => this.addOutput(d));
		this.exited = new Promise((resolve) => {
			child.on('exit', (code, signal) => {
				live.delete(child);
				this.running = false;
				this.lines.push(`--- exited, code ${code} signal ${signal}`);
				if (signal && signal !== this.sent) {
					this.stack.problems.push(`${this.name} (pid ${child.pid}) died of ${signal}`);
				} else if (!this.sent) {
					this.stack.problems.push(`${this.name} (pid ${child.pid}) exited by itself with code ${code}`);
				} else if ((this.sent === 'SIGTERM' || this.sent === 'drain') && code !== 0) {
					this.stack.problems.push(`${this.name} (pid ${child.pid}) exited with code ${code} after ${this.sent}`);
				}
				resolve({ code, signal });
			});
		});
		child.on('error', (e) => this.stack.problems.push(`${this.name}: ${e.message}`));
		await waitReady(this, `http://127.0.0.1:${this.port}/readyz`);
	}

	// The process is about to exit by itself (an operator drain): status 0 is
	// expected, anything else is a problem. Resolves with {code, signal}.
	expectExit() {
		this.sent = 'drain';
		return this.exited;
	}

	// Sends sig and resolves once the process exited (SIGKILL after a while).
	async stop(signal = 'SIGTERM') {
		if (!this.running) return;
		this.sent = signal;
		this.proc.kill(signal);
		let timer;
		const timeout = new Promise((r) => {
			timer = setTimeout(() => r('timeout'), STOP_MS);
		});
		const outcome = await Promise.race([this.exited, timeout]);
		clearTimeout(timer);
		if (outcome === 'timeout') {
			this.stack.problems.push(`${this.name} did not exit within ${STOP_MS} ms of ${signal}`);
			this.sent = 'SIGKILL';
			this.proc.kill('SIGKILL');
			await this.exited;
		}
	}
}

class Stack {
	constructor() {
		this.problems = [];
		this.pids = [];
		this.backends = [];
		this.sessions = [];
		this.stopped = false;
	}

	get procs() {
		return [...this.backends, ...this.sessions];
	}

	// SQL against this stack's database.
	sql(query) {
		return psql(this.databaseUrl, query);
	}

	// Remembers where each log stands, so logsSinceMark() shows one test's.
	markLogs() {
		for (const p of this.procs) p.mark = p.lines.length + p.dropped;
	}

	logsSinceMark() {
		return this.procs.map((p) => p.logSince(p.mark)).filter(Boolean).join('\n');
	}

	allLogs() {
		return this.procs.map((p) => p.logSince(0)).join('\n');
	}

	// Waits until every running session server is in the registry as up.
	async waitRegistered(ids = this.sessions.filter((s) => s.running).map((s) => s.id)) {
		const deadline = Date.now() + READY_MS;
		const list = ids.map((id) => `'${id}'`).join(',');
		let last = '';
		while (Date.now() < deadline) {
			try {
				const rows = await this.sql(`SELECT count(*) FROM session_servers WHERE id IN (${list}) AND state = 'up'`);
				if (Number(rows[0][0]) === ids.length) return;
			} catch (e) {
				last = e.message;
			}
			await sleep(50);
		}
		throw new Error(`session servers ${ids.join(', ')} not registered within ${READY_MS} ms ${last}`);
	}

	sanitizerReports() {
		if (!SANITIZER_DIR || !fs.existsSync(SANITIZER_DIR)) return [];
		const files = fs.readdirSync(SANITIZER_DIR);
		const out = [];
		for (const { name, pid } of this.pids) {
			for (const f of files.filter((x) => x.endsWith(`.${pid}`))) {
				out.push(`${name} (pid ${pid}) wrote ${f}:\n${fs.readFileSync(path.join(SANITIZER_DIR, f), 'utf8')}`);
			}
		}
		return out;
	}

	// Stops every process (SIGTERM), drops the database, and throws if a
	// process misbehaved or wrote a sanitizer report.
	async stop() {
		if (this.stopped) return;
		this.stopped = true;
		await Promise.all(this.procs.map((p) => p.stop('SIGTERM')));
		try {
			await psql(this.adminUrl, `DROP DATABASE IF EXISTS "${this.dbName}" WITH (FORCE)`);
		} catch (e) {
			this.problems.push(`dropping ${this.dbName}: ${e.message}`);
		}
		fs.rmSync(this.filesDir, { recursive: true, force: true });
		const reports = this.sanitizerReports();
		if (this.problems.length || reports.length) {
			process.stderr.write(`\n--- server logs ---\n${this.allLogs()}\n`);
			throw new Error([...this.problems, ...reports].join('\n'));
		}
	}
}

function cleanEnv() {
	const env = { ...process.env };
	for (const k of Object.keys(env)) {
		if (/^(SESSION_|BACKEND_|STATEROOM_)/.test(k) && k !== 'STATEROOM_SANITIZER_DIR') delete env[k];
	}
	return env;
}

// A variable set to undefined in sessionEnv or backendEnv is left unset, so
// that the server takes its default over the harness's setting.
function dropUndefined(env) {
	for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
}

// Starts a stack; see the file comment. Options:
//   sessions, backends   how many of each (1, 1)
//   sessionEnv, backendEnv   extra environment (wins over the harness's)
//   sessionEnvs[i]      extra environment for session server i only
//   databaseUrl         a PostgreSQL server of the test's own (the stack's
//                       database is created in it; default: scripts/pg url)
//   prepare(sql)        runs once the database exists, before any server
//                       starts (and so before the migrations): sql(query)
//                       runs SQL there
export async function startStack({
	sessions = 1, backends = 1, sessionEnv = {}, backendEnv = {}, sessionEnvs = [], databaseUrl,
	prepare,
} = {}) {
	const stack = new Stack();
	const base = databaseUrl || clusterUrl();
	stack.dbName = `e2e_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
	stack.adminUrl = withDatabase(base, 'postgres');
	stack.databaseUrl = withDatabase(base, stack.dbName);
	stack.secret = crypto.randomBytes(32).toString('hex');
	// Uploaded files (--files-dir), one directory per stack, like its database.
	stack.filesDir = path.join(os.tmpdir(), `stateroom-${stack.dbName}-files`);
	try {
		await psql(stack.adminUrl, `CREATE DATABASE "${stack.dbName}"`);
	} catch (e) {
		throw new Error(`cannot create a database in ${base} (is PostgreSQL running? scripts/pg start): ${e.message}`);
	}
	try {
		if (prepare) await prepare((query) => stack.sql(query));
		const backendPorts = [];
		for (let i = 0; i < backends; i++) backendPorts.push(await freePort());
		const origins = backendPorts.flatMap((p) => [`http://127.0.0.1:${p}`, `http://localhost:${p}`]).join(',');
		const logLevel = process.env.STATEROOM_E2E_LOG_LEVEL || 'info';

		for (const port of backendPorts) {
			const env = {
				...cleanEnv(),
				BACKEND_HOST: '127.0.0.1',
				BACKEND_PORT: String(port),
				DATABASE_URL: stack.databaseUrl,
				STATEROOM_SECRET: stack.secret,
				STATEROOM_FILES_DIR: stack.filesDir,
				STATEROOM_LOG_LEVEL: logLevel,
				// Tests create rooms as fast as they can; rooms-quota.test.js
				// runs with the defaults.
				STATEROOM_MAX_UNJOINED_ROOMS: '0',
				STATEROOM_ROOM_CREATES_PER_MINUTE: '0',
				// Tests log guests in as fast as they can; logins.test.js sets its own limit.
				STATEROOM_GUEST_LOGINS_PER_MINUTE: '0',
				...backendEnv,
			};
			dropUndefined(env);
			const p = new Proc(stack, `backend:${port}`, path.join(BUILD, 'backend-server/stateroom-backend'), env, port);
			p.url = `http://127.0.0.1:${port}`;
			stack.backends.push(p);
		}
		// Backends first: they apply the migrations the session servers need.
		await Promise.all(stack.backends.map((b) => b.start()));

		for (let i = 0; i < sessions; i++) {
			const port = await freePort();
			const id = `ss-${port}`;
			const env = {
				...cleanEnv(),
				SESSION_HOST: '127.0.0.1',
				SESSION_PORT: String(port),
				SESSION_ID: id,
				SESSION_ADVERTISE: `127.0.0.1:${port}`,
				DATABASE_URL: stack.databaseUrl,
				STATEROOM_SECRET: stack.secret,
				STATEROOM_ALLOWED_ORIGINS: origins,
				SESSION_HEARTBEAT_MS: '200',
				// Tests send as fast as they can; abuse.test.js sets its own limit.
				SESSION_RATE_LIMIT: '0',
				STATEROOM_LOG_LEVEL: logLevel,
				// The whole suite on one send path: STATEROOM_E2E_IO_URING=on|off.
				...(process.env.STATEROOM_E2E_IO_URING ? { SESSION_IO_URING: process.env.STATEROOM_E2E_IO_URING } : {}),
				...sessionEnv,
				...(sessionEnvs[i] ?? {}),
			};
			dropUndefined(env);
			const s = new Proc(stack, `session:${port}`, path.join(BUILD, 'session-server/stateroom-session'), env, port);
			s.id = id;
			s.address = `127.0.0.1:${port}`;
			stack.sessions.push(s);
		}
		await Promise.all(stack.sessions.map((s) => s.start()));
		if (stack.sessions.length) await stack.waitRegistered();
		stack.backendUrl = stack.backends[0]?.url;
		return stack;
	} catch (e) {
		await stack.stop().catch(() => {});
		throw e;
	}
}

// Registers node:test hooks for a file that shares one stack: starts it
// before the first test, prints the servers' logs of any test that failed,
// stops it after the last. Returns a holder: `const h = useStack(opts)`,
// then `h.stack` inside tests.
export function useStack(opts = {}) {
	const holder = { stack: null };
	before(async () => {
		holder.stack = await startStack(opts);
	});
	beforeEach(() => holder.stack?.markLogs());
	afterEach((t) => {
		if (holder.stack && 'passed' in t && !t.passed) {
			process.stderr.write(`\n--- server logs during "${t.name}" ---\n${holder.stack.logsSinceMark()}\n`);
		}
	});
	// A stop that fails (a server died unasked) skips the after-hooks
	// registered later in the file: register cleanups such as a browser's
	// before calling useStack().
	after(async () => {
		await holder.stack?.stop();
	});
	return holder;
}
