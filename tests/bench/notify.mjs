// What reaching people who are away costs (scripts/bench-notify; README,
// "Reaching people who are away"; docs/protocol.md, "Notifications"):
//   commits   migration 026's triggers (records_notify, mentions_notify) on
//             the persisted path: the rate at which PostgreSQL takes the
//             session server's group commits with them on and disabled, for
//             a message in a room nobody follows, in a DM, and one with a
//             mention; batches of 1 and of 10 records; median, min and max
//             of RUNS runs each, on and off interleaved
//   push      a backend with --push-grace-ms 0 --push-allow-http and a local
//             fake push service (tests/e2e/lib/pushservice.js: checks VAPID,
//             decrypts every payload): from a DM's ack to its push arriving,
//             one at a time (median, p95, max); and pushes a second one
//             backend sends, from one message in a room followed in full by
//             FOLLOWERS users (each with a subscription), with the backend's
//             CPU per 1 000 pushes
// The commits are measured by replaying the session server's own INSERT
// statement (read from session-server/store.c) through psql, one
// transaction per batch as the group commit makes them, not through the
// servers: at any rate the servers sustain, a commit's cost hides under the
// group commit (the next batch fills while one commits), so the triggers
// would show only as noise on a shared machine.
// Prints one JSON object. Options: --quick (tiny), --runs N, --commits N,
// --dms N, --followers N, --part commits|push (only that part).
import { startStack, request, connect, lookup, mintToken, decodeToken, ROOT } from '../e2e/lib/stack.js';
import { PushService, vapidKeys } from '../e2e/lib/pushservice.js';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const opt = (name, dflt) => {
	const i = args.indexOf(name);
	return i >= 0 ? Number(args[i + 1]) : dflt;
};
const RUNS = opt('--runs', quick ? 1 : 3);
const COMMITS = opt('--commits', quick ? 50 : 1000);
const DMS = opt('--dms', quick ? 10 : 300);
const FOLLOWERS = opt('--followers', quick ? 20 : 1000);
const BURSTS = quick ? 1 : 3;
const TICK = 100; // USER_HZ
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

function pct(xs, p) {
	const s = [...xs].sort((a, b) => a - b);
	return s.length ? round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]) : null;
}

function cpuSeconds(pid) {
	const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
	return (Number(f[11]) + Number(f[12])) / TICK; // utime, stime
}

// The session server's statement for a batch without scrubs (plain_insert in
// session-server/store.c), put together from its string literals and macros
// as the C compiler does, so that this measures what the server sends.
function sessionInsert() {
	const src = fs.readFileSync(path.join(ROOT, 'session-server/store.c'), 'utf8');
	const pieces = (text) => {
		let out = '';
		for (const m of text.matchAll(/"((?:[^"\\]|\\.)*)"|\b([A-Z_]+)\b/g)) {
			if (m[1] !== undefined) out += m[1];
			else if (macros[m[2]] !== undefined) out += macros[m[2]];
			else throw new Error(`store.c: unknown macro ${m[2]} in the insert statement`);
		}
		return out;
	};
	const macros = {};
	for (const m of src.matchAll(/^#define (INSERT_[A-Z]+) ((?:.*\\\n)*.*)$/gm)) macros[m[1]] = pieces(m[2]);
	const def = /static const char plain_insert\[\] = ([^;]*);/.exec(src);
	if (!def) throw new Error('store.c: plain_insert not found');
	const stmt = pieces(def[1]);
	if (!/INSERT INTO records/.test(stmt) || !stmt.includes('$4')) throw new Error(`store.c: unexpected statement ${stmt}`);
	return stmt;
}

const lit = (s) => `'${String(s).replaceAll("'", "''")}'`;

// The group commits of the chat messages in 'commits' below: n batches of k
// records each into room (pinned to 'benchss' at epoch 1), one statement and
// so one transaction each, through one psql; returns commits a second.
async function replay(stack, stmt, room, from, n, k, text, author, sync) {
	const lines = sync ? [] : ['SET synchronous_commit = off;'];
	let seq = from;
	const ts = Date.now();
	for (let b = 0; b < n; b++) {
		const recs = [];
		for (let i = 0; i < k; i++, seq++) recs.push(JSON.stringify([seq, `c${seq}`, author, text, ts, author, 'message', 0, 0, 0]));
		const params = [lit(room), lit('benchss'), '1', lit(`[${recs.join(',')}]`)];
		lines.push(`${stmt.replace(/\$([1-4])\b/g, (_, i) => params[i - 1])};`);
	}
	const t0 = performance.now();
	await psqlScript(stack, lines.join('\n'));
	return n / ((performance.now() - t0) / 1000);
}

// Runs a script through one psql, given on its standard input (a command
// line holds far less).
function psqlScript(stack, text) {
	return new Promise((resolve, reject) => {
		const p = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', stack.databaseUrl], { stdio: ['pipe', 'ignore', 'inherit'] });
		p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`psql exited ${code}`))));
		p.stdin.end(text);
	});
}

const summary = (xs) => ({ median: pct(xs, 50), min: round(Math.min(...xs)), max: round(Math.max(...xs)), runs: xs.map((x) => round(x)) });

async function commits(out) {
	// The database alone: the backend applies the migrations; no sender runs
	// (no VAPID key, no SMTP), so a notification row stays as the trigger
	// made it and nothing else touches the database.
	const stack = await startStack({ sessions: 0, backends: 1 });
	try {
		const stmt = sessionInsert();
		// bob can be reached (a push subscription), so that a DM and a
		// mention make their notification row and its NOTIFY, as for anyone
		// who turned push on.
		await stack.sql(`INSERT INTO session_servers (id, address, capacity) VALUES ('benchss', '127.0.0.1:1', 100);
			INSERT INTO users (id, password_hash, login_key) VALUES ('alice', 'x', 'alice'), ('bob', 'x', 'bob');
			INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth)
				VALUES ('bob', 'https://push.example.org/bob', 'k', 'a');
			INSERT INTO rooms (id, owner, capacity, server_id, epoch) VALUES
				('benchplain', 'alice', 10, 'benchss', 1), ('benchmention', 'alice', 10, 'benchss', 1);
			INSERT INTO rooms (id, owner, capacity, server_id, epoch, kind) VALUES ('benchdm', 'alice', 2, 'benchss', 1, 'dm');
			INSERT INTO direct_rooms (room_id, user_a, user_b) VALUES ('benchdm', 'alice', 'bob')`);
		const text = 'sixty-four bytes of text, more or less, as a chat message has';
		const cases = {
			room_nobody_follows: { room: 'benchplain', text },
			dm: { room: 'benchdm', text },
			mention: { room: 'benchmention', text: `@bob ${text}` },
		};
		const next = {};
		const trig = (on) => stack.sql(['records_notify ON records', 'mentions_notify ON mentions']
			.map((t) => `ALTER TABLE ${t.split(' ON ')[1]} ${on ? 'ENABLE' : 'DISABLE'} TRIGGER ${t.split(' ON ')[0]};`).join('\n'));
		out.commits = { method: 'the session server\'s INSERT (store.c plain_insert) replayed through psql, a transaction per batch', commits_per_run: COMMITS };
		// As deployed (each commit waits for its WAL flush), and without
		// the wait: what the triggers cost in CPU, which the flush's time on
		// a shared disk would otherwise hide.
		for (const [sync, k] of [[true, 1], [true, 10], [false, 1], [false, 10]]) {
			const res = {};
			for (const [name, c] of Object.entries(cases)) {
				next[c.room] ??= 1;
				const run = async () => {
					const r = await replay(stack, stmt, c.room, next[c.room], COMMITS, k, c.text, 'alice', sync);
					next[c.room] += COMMITS * k;
					return r;
				};
				await trig(true);
				await run(); // warm
				const on = [], off = [];
				for (let r = 0; r < RUNS; r++) {
					await trig(false);
					off.push(await run());
					await trig(true);
					on.push(await run());
				}
				const mOn = pct(on, 50), mOff = pct(off, 50);
				res[name] = {
					commits_per_s_triggers_on: summary(on),
					commits_per_s_triggers_off: summary(off),
					cost_percent: round((mOff / mOn - 1) * 100, 1),
					us_per_commit_added: round(1e6 / mOn - 1e6 / mOff, 0),
				};
			}
			out.commits[`synchronous_commit_${sync ? 'on' : 'off'}_batch_of_${k}`] = res;
		}
		// What the triggers made: one row per DM and per mention, none for the plain room.
		const rows = await stack.sql(`SELECT room_id, kind, count(*) FROM notifications GROUP BY 1, 2 ORDER BY 1, 2`);
		out.commits.notification_rows = Object.fromEntries(rows.map((r) => [`${r[0]}/${r[1]}`, Number(r[2])]));
	} finally {
		await stack.stop();
	}
}

async function push(out) {
	const vapid = vapidKeys();
	const service = await new PushService(vapid.publicKey).start();
	// Each accepted push, stamped on arrival with this clock.
	const arrivals = [];
	const waiters = [];
	const got = service.got.push.bind(service.got);
	service.got.push = (g) => {
		g.t = performance.now();
		arrivals.push(g);
		for (const w of [...waiters]) w();
		return got(g);
	};
	// Resolves once n pushes have arrived in all.
	const arrived = (n, ms) => new Promise((resolve, reject) => {
		if (arrivals.length >= n) return resolve();
		const timer = setTimeout(() => {
			waiters.splice(waiters.indexOf(check), 1);
			reject(new Error(`${arrivals.length} of ${n} pushes arrived (errors: ${service.errors.slice(0, 3).join('; ')})`));
		}, ms);
		const check = () => {
			if (arrivals.length < n) return;
			waiters.splice(waiters.indexOf(check), 1);
			clearTimeout(timer);
			resolve();
		};
		waiters.push(check);
		return undefined;
	});
	const stack = await startStack({
		sessionEnv: { SESSION_MAX_ROOMS: '100' },
		backendEnv: {
			STATEROOM_VAPID_PUBLIC_KEY: vapid.publicKey,
			STATEROOM_VAPID_PRIVATE_KEY: vapid.privateKey,
			STATEROOM_VAPID_SUBJECT: 'mailto:ops@example.org',
			STATEROOM_PUSH_ALLOW_HTTP: 'true',
			STATEROOM_PUSH_GRACE_MS: '0',
			STATEROOM_LOG_LEVEL: 'warn',
		},
	});
	const open = [];
	try {
		const reg = await request(stack.backendUrl, '/api/auth/register', {
			method: 'POST', body: { userId: 'pushalice', password: 'correct horse battery' },
		});
		if (reg.status !== 200) throw new Error(`register: ${reg.text}`);
		const seed = decodeToken(reg.json.token).claims;
		const tokenOf = (id) => mintToken(stack.secret, { ...seed, sub: id, name: id, userId: id });
		const alice = { id: 'pushalice', token: reg.json.token };
		const bob = { id: 'pushbob', token: tokenOf('pushbob') };
		const followers = Array.from({ length: FOLLOWERS }, (_, i) => `pf${i}`);
		await stack.sql(`INSERT INTO users (id, password_hash, login_key) SELECT x, 'x', x
			FROM unnest(ARRAY['pushbob', ${followers.map(lit).join(',')}]::text[]) x`);
		const sub = await request(stack.backendUrl, '/api/me/push', { method: 'POST', token: bob.token, body: service.subscribe(bob.id) });
		if (sub.status !== 204) throw new Error(`subscribe: ${sub.text}`);
		const subs = followers.map((u) => ({ u, s: service.subscribe(u) }));
		await psqlScript(stack, `INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth) VALUES
			${subs.map(({ u, s }) => `(${lit(u)}, ${lit(s.endpoint)}, ${lit(s.keys.p256dh)}, ${lit(s.keys.auth)})`).join(',\n')};`);

		const join = async (who, roomId) => {
			const t = await lookup(stack.backendUrl, who.token, roomId);
			if (t.status !== 200) throw new Error(`lookup ${roomId}: ${t.text}`);
			const c = await connect(t.json.host, t.json.token, { protocol: 'stateroom.v1' });
			await c.next('welcome');
			open.push(c);
			return c;
		};
		let ids = 0;
		const send = async (c, text) => {
			const id = `n${++ids}`;
			c.send({ type: 'send', id, text });
			await c.next({ type: 'ack', id }, 10000);
			return performance.now();
		};

		// A DM's push, one at a time.
		const dm = await request(stack.backendUrl, '/api/dms', { method: 'POST', token: alice.token, body: { userId: bob.id } });
		if (dm.status !== 201) throw new Error(`dm: ${dm.text}`);
		const c = await join(alice, dm.json.roomId);
		await send(c, 'warm');
		await arrived(1, 10000);
		const delays = [];
		for (let i = 0; i < DMS; i++) {
			const before = arrivals.length;
			const acked = await send(c, `hello ${i}`);
			await arrived(before + 1, 10000);
			delays.push(arrivals[before].t - acked);
			if (arrivals[before].payload.roomId !== dm.json.roomId) throw new Error('a push for another room');
		}
		out.push = {
			dm_ack_to_push_ms: { n: DMS, median: pct(delays, 50), p95: pct(delays, 95), max: round(Math.max(...delays)) },
		};

		// Throughput: one message in a room that FOLLOWERS users follow in full.
		const room = await request(stack.backendUrl, '/api/rooms', { method: 'POST', token: alice.token, body: { name: 'Harbour' } });
		if (room.status !== 200) throw new Error(`room: ${room.text}`);
		const roomId = room.json.roomId;
		await stack.sql(`INSERT INTO notify_rooms (user_id, room_id, level)
			SELECT x, ${lit(roomId)}, 'all' FROM unnest(ARRAY[${followers.map(lit).join(',')}]::text[]) x`);
		const rc = await join(alice, roomId);
		const backend = stack.backends[0];
		const rates = [], cpu = [], serviceCpu = [];
		for (let b = 0; b < BURSTS; b++) {
			const before = arrivals.length;
			const cpu0 = cpuSeconds(backend.pid);
			const own0 = process.cpuUsage();
			const acked = await send(rc, `to everyone ${b}`);
			await arrived(before + FOLLOWERS, 120000);
			const last = arrivals[before + FOLLOWERS - 1].t;
			rates.push(FOLLOWERS / ((last - acked) / 1000));
			cpu.push(((cpuSeconds(backend.pid) - cpu0) * 1000) / FOLLOWERS);
			const own = process.cpuUsage(own0);
			serviceCpu.push(((own.user + own.system) / 1e6) * 1000 / FOLLOWERS);
			await sleep(500);
		}
		out.push.burst = {
			followers: FOLLOWERS,
			pushes_per_s: summary(rates),
			backend_cpu_s_per_1000_pushes: summary(cpu),
			// This process: the fake push service, which checks VAPID and
			// decrypts each push, and the bench's own bookkeeping.
			fake_service_cpu_s_per_1000_pushes: summary(serviceCpu),
		};
		if (service.errors.length) throw new Error(`the push service refused: ${service.errors.slice(0, 5).join('; ')}`);
	} finally {
		for (const c of open) c.terminate();
		await stack.stop();
		await service.stop();
	}
}

const part = args.includes('--part') ? args[args.indexOf('--part') + 1] : 'all';
const out = { runs: RUNS };
if (part === 'all' || part === 'commits') await commits(out);
if (part === 'all' || part === 'push') await push(out);
// Arrays of numbers on one line.
console.log(JSON.stringify(out, null, 2).replace(/\[\s+([-\d.,\s]+?)\s+\]/g, (_, xs) => `[${xs.split(/,\s*/).join(', ')}]`));
