// The failover lab's driver (started by scripts/chaos inside the clients'
// namespace, once the namespaces exist): starts PostgreSQL, two backends
// and three session servers each in its own namespace, runs the workload,
// injects the faults of a seeded schedule, then runs the checker and prints
// what held. The last line: "violations N, worst recovery S s".
import { spawn, execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { check } from './check.js';
import { NativeClient, CompatClient } from './workload.js';
import { FAULTS, schedule } from './faults.js';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const { lab, net, dir, mode, build } = args;
const seed = Number(args.seed);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
const say = (msg) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);

// A seeded generator (mulberry32): the same seed, the same schedule.
function rng(s) {
	let a = s >>> 0;
	return () => {
		a = (a + 0x6D2B79F5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

const ADDR = { pg: 2, pg2: 3, mon: 4, be1: 11, be2: 12, ss1: 21, ss2: 22, ss3: 23, cl: 100 };
// --ha: PostgreSQL as a pg_auto_failover formation (a monitor, a primary and
// a synchronous standby) that the servers reach through a multi-host URL.
const HA = args.ha === '1';
const ip = (h) => `${net}.${ADDR[h]}`;
const PGBIN = fs.readdirSync('/usr/lib/postgresql').sort((a, b) => a - b).map((v) => `/usr/lib/postgresql/${v}/bin`).pop();
const secret = crypto.randomBytes(32).toString('hex');
const dbUrl = HA
	? `postgresql://postgres@${ip('pg')}:5432,${ip('pg2')}:5432/stateroom?target_session_attrs=read-write`
	: `postgresql://postgres@${ip('pg')}:5432/stateroom`;
fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
fs.mkdirSync(path.join(dir, 'clients'), { recursive: true });

function run(cmd, argv, opts = {}) {
	return new Promise((resolve, reject) => {
		// The history of a long run is megabytes.
		execFile(cmd, argv, { encoding: 'utf8', maxBuffer: 1 << 30, ...opts }, (err, stdout, stderr) => {
			if (err) reject(new Error(`${cmd} ${argv.join(' ')}: ${stderr.trim() || err.message}`));
			else resolve(stdout);
		});
	});
}

const psql = (sql, url = dbUrl) => run('psql', ['-X', '-q', '-tA', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql])
	.then((out) => out.split('\n').filter(Boolean).map((l) => l.split('\t')));

// One component: a process in its host's namespace, logging to logs/NAME.log.
class Proc {
	constructor(name, host, argv, env = {}) {
		Object.assign(this, { name, host, argv, env, child: null, starts: 0 });
	}

	start() {
		const log = fs.openSync(path.join(dir, 'logs', `${this.name}.log`), 'a');
		fs.writeSync(log, `--- start ${new Date().toISOString()}\n`);
		// ip netns exec execs the command: the child's pid is the server's.
		const child = spawn('ip', ['netns', 'exec', `${lab}-${this.host}`, ...this.argv], {
			env: { PATH: process.env.PATH, ...SANITIZER_ENV, ...this.env }, stdio: ['ignore', log, log],
		});
		fs.closeSync(log);
		this.child = child;
		this.starts++;
		this.exited = new Promise((r) => child.on('exit', (code, sig) => {
			if (this.child === child) this.child = null;
			r({ code, sig });
		}));
	}

	signal(sig) {
		this.child?.kill(sig);
	}

	async stop(sig = 'SIGTERM', ms = 10000) {
		if (!this.child) return;
		const { exited } = this;
		this.child.kill(sig);
		const t = setTimeout(() => this.child?.kill('SIGKILL'), ms);
		await exited;
		clearTimeout(t);
	}
}

async function waitFor(what, fn, ms = 30000 * SLOW) {
	const deadline = Date.now() + ms;
	let last;
	while (Date.now() < deadline) {
		try {
			if (await fn()) return;
		} catch (e) {
			last = e.message;
		}
		await sleep(100);
	}
	throw new Error(`${what} not ready within ${ms} ms ${last ?? ''}`);
}

// A sanitizer build's options (scripts/test sets them) reach the servers.
const SANITIZER_ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(ASAN|UBSAN|LSAN)_OPTIONS$/.test(k)));
const SLOW = /asan/.test(build) ? 3 : 1;

const httpOk = (url) => fetch(url, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok);

// --- the components ------------------------------------------------------

const pgData = path.join(dir, 'pg');
const asPg = ['setpriv', '--reuid=postgres', '--regid=postgres', '--init-groups', '--'];
const pg = new Proc('postgres', 'pg', [...asPg, `${PGBIN}/postgres`, '-D', pgData]);

async function initPg() {
	fs.mkdirSync(pgData);
	await run('chown', ['postgres:', pgData]);
	await run(asPg[0], [...asPg.slice(1), `${PGBIN}/initdb`, '-D', pgData, '-U', 'postgres', '-E', 'UTF8', '--locale=C',
		'--auth-local=trust', '--auth-host=trust'], { cwd: '/' });
	fs.appendFileSync(path.join(pgData, 'postgresql.conf'),
		`listen_addresses = '${ip('pg')}'\nport = 5432\nunix_socket_directories = ''\nmax_connections = 200\n`);
	fs.appendFileSync(path.join(pgData, 'pg_hba.conf'), `host all all ${net}.0/24 trust\n`);
}

// pg_auto_failover: every pg_autoctl with a folder of its own for its
// configuration, state, run files and Unix socket (the namespaces share the
// file system), and trust for the lab's network.
const PAF_MONITOR = `postgres://autoctl_node@${ip('mon')}:5432/pg_auto_failover?sslmode=disable`;
const pafEnv = (h) => {
	const base = path.join(dir, `paf-${h}`);
	for (const d of ['cfg', 'data', 'run', 'sock']) fs.mkdirSync(path.join(base, d), { recursive: true });
	return {
		PATH: `${PGBIN}:${process.env.PATH}`, HOME: base, XDG_CONFIG_HOME: path.join(base, 'cfg'),
		XDG_DATA_HOME: path.join(base, 'data'), XDG_RUNTIME_DIR: path.join(base, 'run'), PG_REGRESS_SOCK_DIR: path.join(base, 'sock'),
	};
};
const pafNodes = {};
let pafMonitor = null;
async function startHa() {
	const mon = new Proc('pg-monitor', 'mon', [...asPg, 'pg_autoctl', 'create', 'monitor', '--pgdata', path.join(dir, 'paf-mon', 'pgdata'),
		'--pgport', '5432', '--hostname', ip('mon'), '--auth', 'trust', '--no-ssl', '--run'], pafEnv('mon'));
	await run('chown', ['-R', 'postgres:', dir]);
	pafMonitor = mon;
	mon.start();
	await waitFor('the pg_auto_failover monitor', () => psql('SELECT 1', PAF_MONITOR).then(() => true), 60000);
	for (const h of ['pg', 'pg2']) {
		const env = pafEnv(h);
		await run('chown', ['-R', 'postgres:', path.join(dir, `paf-${h}`)]);
		const node = new Proc(`postgres-${h}`, h, [...asPg, 'pg_autoctl', 'create', 'postgres', '--pgdata', path.join(dir, `paf-${h}`, 'pgdata'),
			'--pgport', '5432', '--pghost', env.PG_REGRESS_SOCK_DIR, '--hostname', ip(h), '--name', h, '--dbname', 'stateroom',
			'--monitor', PAF_MONITOR, '--auth', 'trust', '--no-ssl', '--pg-hba-lan', '--run'], env);
		pafNodes[h] = node;
		node.start();
		const want = h === 'pg' ? ['single', 'wait_primary'] : ['secondary'];
		await waitFor(`pg_auto_failover node ${h}`, async () => {
			// pg_basebackup waits for a checkpoint: ask for it now.
			if (h === 'pg2') await psql('CHECKPOINT', `postgresql://postgres@${ip('pg')}:5432/stateroom`).catch(() => {});
			const rows = await psql(`SELECT reportedstate FROM pgautofailover.node WHERE nodename = '${h}'`, PAF_MONITOR);
			return rows.length === 1 && want.includes(rows[0][0]);
		}, 120000);
	}
	// Synchronous replication once the standby has caught up: no workload
	// before it, or an acked message could be the primary's alone.
	let sync = '';
	await waitFor('synchronous replication', async () => {
		sync = (await psql('SHOW synchronous_standby_names'))[0]?.[0] ?? '';
		return sync !== '';
	}, 60000);
	say(`pg_auto_failover: primary pg, synchronous standby pg2 (${sync})`);
}

// The node pg_auto_failover has as primary now.
async function haPrimary() {
	const rows = await psql("SELECT nodename FROM pgautofailover.node WHERE reportedstate IN ('primary', 'wait_primary', 'single') AND goalstate IN ('primary', 'wait_primary', 'single')", PAF_MONITOR);
	return rows[0]?.[0];
}

async function startPg() {
	pg.start();
	await waitFor('PostgreSQL', () => psql('SELECT 1', dbUrl.replace(/stateroom$/, 'postgres')).then(() => true));
}

const backends = ['be1', 'be2'].map((h) => Object.assign(new Proc(h, h, [path.join(build, 'backend-server/stateroom-backend')], {
	BACKEND_HOST: ip(h), BACKEND_PORT: '8080', DATABASE_URL: dbUrl, STATEROOM_SECRET: secret,
}), { url: `http://${ip(h)}:8080` }));
// Every session server runs under libfaketime (when installed), its offset
// read from a file the clock-step fault writes; the monotonic clock is not
// faked.
const FAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const fakeTimeFile = (h) => path.join(dir, `faketime-${h}`);
const fakeEnv = (h) => {
	if (!fs.existsSync(FAKETIME) || SANITIZER_ENV.ASAN_OPTIONS) return {};
	fs.writeFileSync(fakeTimeFile(h), '+0\n');
	return { LD_PRELOAD: FAKETIME, FAKETIME_TIMESTAMP_FILE: fakeTimeFile(h), FAKETIME_CACHE_DURATION: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' };
};
const sessions = ['ss1', 'ss2', 'ss3'].map((h) => Object.assign(new Proc(h, h, [path.join(build, 'session-server/stateroom-session')], {
	...fakeEnv(h),
	SESSION_HOST: ip(h), SESSION_PORT: '9001', SESSION_ID: h, SESSION_ADVERTISE: `${ip(h)}:9001`,
	DATABASE_URL: dbUrl, STATEROOM_SECRET: secret, SESSION_COMMIT_LOG: path.join(dir, `commit-${h}.jsonl`),
}), { url: `http://${ip(h)}:9001` }));

// --- the run -------------------------------------------------------------

const clients = [];
const faults = [];

async function main() {
	for (const k of (args.fault || '').split(',').filter(Boolean)) {
		if (!FAULTS[k]) throw new Error(`no fault ${k}: ${Object.keys(FAULTS).join(', ')}`);
	}
	const plan = schedule(mode, rng(seed), args.fault);
	say(`seed ${seed}, ${mode}: ${plan.map((p) => p.kind).join(', ')}`);
	if (HA) {
		await startHa();
	} else {
		await initPg();
		await startPg();
		await psql('CREATE DATABASE stateroom', dbUrl.replace(/stateroom$/, 'postgres'));
	}
	for (const b of backends) b.start();
	await Promise.all(backends.map((b) => waitFor(b.name, () => httpOk(`${b.url}/readyz`))));
	for (const s of sessions) s.start();
	await Promise.all(sessions.map((s) => waitFor(s.name, () => httpOk(`${s.url}/readyz`))));
	say('PostgreSQL, 2 backends and 3 session servers up');

	// The workload: rooms spread over the servers, 3 native clients in each,
	// a compat client in every other one.
	const nRooms = mode === 'short' ? 3 : 6;
	const backendUrls = backends.map((b) => b.url);
	const login = async (user) => {
		const res = await fetch(`${backendUrls[0]}/api/login`, {
			method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: user }),
		});
		if (res.status !== 200) throw new Error(`login ${user}: ${res.status} ${await res.text()}`);
		return (await res.json()).token;
	};
	const clientRng = rng(seed ^ 0x5eed);
	let newcomers = 0;
	const addClient = async (roomId) => {
		const user = `new${++newcomers}`;
		const c = new NativeClient({
			dir: path.join(dir, 'clients'), name: user, user, token: await login(user), roomId,
			backends: backendUrls, everyMs: 250, rng: clientRng,
		});
		clients.push(c);
		c.start();
		c.sending = true;
		say(`  ${user} joins ${roomId}`);
	};
	for (let i = 0; i < nRooms; i++) {
		const owner = await login(`owner${i}`);
		const res = await fetch(`${backendUrls[i % 2]}/api/rooms`, {
			method: 'POST', headers: { authorization: `Bearer ${owner}`, 'content-type': 'application/json' }, body: '{}',
		});
		if (res.status !== 200) throw new Error(`create room: ${res.status} ${await res.text()}`);
		const { roomId } = await res.json();
		for (const u of ['ann', 'bob', 'cat']) {
			const user = `${u}${i}`;
			clients.push(new NativeClient({
				dir: path.join(dir, 'clients'), name: `${user}`, user, token: await login(user), roomId,
				backends: i % 2 ? backendUrls : [...backendUrls].reverse(), everyMs: 250, rng: clientRng,
			}));
		}
		if (i % 2 === 0) {
			const user = `old${i}`;
			clients.push(new CompatClient({
				dir: path.join(dir, 'clients'), name: user, user, token: await login(user), roomId, backends: backendUrls, everyMs: 700,
			}));
		}
	}
	for (const c of clients) c.start();
	await waitFor('every client welcomed', () => clients.every((c) => !c.room || c.room.welcome), 30000);
	for (const c of clients) c.sending = true;
	say(`${clients.length} clients in ${nRooms} rooms, sending`);
	await sleep(3000);

	const ctx = { lab, net, ip, dir, fs, fakeTimeFile, addClient, pg, startPg, HA, pafNodes, haPrimary, PAF_MONITOR, backends, sessions, psql, run, say, sleep, waitFor, httpOk };
	for (const step of plan) {
		const fault = FAULTS[step.kind];
		const target = await fault.target(ctx, step);
		const pinned = await psql('SELECT id, coalesce(server_id, \'\') FROM rooms');
		const rooms = fault.rooms(pinned, target);
		const f = { kind: step.kind, target, at: Date.now(), rooms };
		faults.push(f);
		say(`fault: ${step.kind} ${target} (rooms ${rooms.join(' ') || 'none'})`);
		await fault.inject(ctx, target, step);
		f.healed = Date.now();
		await sleep(step.after ?? 8000);
	}

	// Settle: no new messages; everything outstanding gets its ack.
	const deadline = Date.now() + 30000;
	const left = await Promise.all(clients.map((c) => c.settle(deadline)));
	const endMs = Date.now();
	await sleep(1500);
	for (const c of clients) c.close();
	const unacked = left.reduce((a, b) => a + b, 0);
	say(`workload stopped; ${unacked} sends still unacked after 30 s`);

	const rows = (await psql('SELECT room_id, seq, coalesce(client_id, \'\'), user_id, payload FROM records WHERE kind = \'message\' ORDER BY room_id, seq'))
		.map(([room, seq, clientId, user, text]) => ({ room, seq: Number(seq), clientId: clientId || null, user, text }));
	const res = check({ dir, rows, faults, endMs });
	if (unacked) res.violations.push({ kind: 'never acked', detail: `${unacked} sends never acknowledged`, ms: null });
	report(res);
	return res;
}

function report(res) {
	const fmt = (v) => (v === null ? 'never' : `${v.toFixed(2)} s`);
	const out = [];
	out.push('');
	out.push(`checker: ${res.totals.rows} messages in ${res.totals.rooms} rooms; ${res.totals.acked} acked to ${res.totals.natives} native clients, ${res.totals.compat} compat clients; ${res.totals.commitLines} commit-log lines`);
	out.push('');
	out.push('fault               target  sent  acked  lost  dup  order  unavail s  recovery per affected room');
	for (const f of res.perFault) {
		out.push(`${f.kind.padEnd(19)} ${String(f.target).padEnd(7)} ${String(f.sent).padStart(5)} ${String(f.acked).padStart(6)} ${String(f.lost).padStart(5)} ${String(f.duplicated).padStart(4)} ${String(f.outOfOrder).padStart(6)} ${f.unavailable.toFixed(1).padStart(10)}  ${Object.values(f.recovery).map(fmt).join(' ') || '-'}`);
	}
	const kinds = {};
	for (const f of res.perFault) {
		if (f.worst === null || kinds[f.kind] === null) kinds[f.kind] = null;
		else kinds[f.kind] = Math.max(kinds[f.kind] ?? 0, f.worst);
	}
	out.push('');
	out.push('worst time from the fault to the first message delivered again, per fault kind:');
	for (const [k, v] of Object.entries(kinds)) out.push(`  ${k.padEnd(19)} ${fmt(v)}`);
	if (res.violations.length) {
		out.push('');
		out.push(`violations (${res.violations.length}):`);
		for (const v of res.violations.slice(0, 50)) out.push(`  ${v.kind}: ${v.detail}`);
		if (res.violations.length > 50) out.push(`  ... (${res.violations.length - 50} more in ${dir}/violations.json)`);
	}
	fs.writeFileSync(path.join(dir, 'report.json'), JSON.stringify(res, null, 1));
	fs.writeFileSync(path.join(dir, 'violations.json'), JSON.stringify(res.violations, null, 1));
	const worst = Object.values(kinds).reduce((m, v) => (v === null || m === null ? null : Math.max(m, v)), 0);
	out.push(`seed ${seed}`);
	out.push(`violations ${res.violations.length}, worst recovery ${worst === null ? 'never' : `${worst.toFixed(2)} s`}`);
	process.stdout.write(`${out.join('\n')}\n`);
}

async function shutdown() {
	for (const c of clients) {
		try {
			c.close();
		} catch {
			// closed already
		}
	}
	for (const p of [...sessions, ...backends]) p.signal('SIGCONT');
	await Promise.all([...sessions, ...backends].map((p) => p.stop('SIGTERM', 5000)));
	pg.signal('SIGCONT');
	await pg.stop('SIGINT', 10000);
	for (const p of [...Object.values(pafNodes), ...(pafMonitor ? [pafMonitor] : [])]) await p.stop('SIGTERM', 10000);
}

let code = 1;
try {
	const res = await main();
	code = res.violations.length ? 1 : 0;
} catch (e) {
	process.stderr.write(`lab failed: ${e.stack}\n`);
	process.stdout.write(`seed ${seed}\nviolations -, worst recovery - (the lab did not complete: ${e.message.split('\n')[0]})\n`);
	code = 2;
} finally {
	await shutdown().catch(() => {});
}
process.exit(code);
