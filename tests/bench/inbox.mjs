// The live inbox's costs (scripts/bench-inbox; docs/architecture.md, "Live
// updates"). On a stack of the e2e harness (one backend, one session server):
//   dm_delay      DMs sent one at a time in a DM room: from the sender's ack
//                 (the batch committed) and from its send to the recipient's
//                 inbox event, median and p99
//   per_1000      RSS of the session server before and after USERS inbox
//                 connections, scaled to 1 000; its CPU while they idle, and
//                 per 1 000 presence changes (each notifying the user's 10 friends)
//   trigger_alternative  the design not taken (a statement trigger on
//                 records): its cost to a non-DM room's commits, 2 000
//                 commits of 10 records with and without it (median of 3)
// Prints one JSON object. Options: --quick (tiny), --users N, --dms N.
import { startStack, request, connect, lookup, mintToken, decodeToken, newJti } from '../e2e/lib/stack.js';
import { spawn } from 'node:child_process';
import fs from 'node:fs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const opt = (name, dflt) => {
	const i = args.indexOf(name);
	return i >= 0 ? Number(args[i + 1]) : dflt;
};
const USERS = opt('--users', quick ? 20 : 1000);
const DMS = opt('--dms', quick ? 10 : 300);
const RING = 5; // friends on each side: 10 friends each
const CHURN_ROUNDS = quick ? 1 : 5;
const TICK = 100; // USER_HZ: /proc's clock ticks per second on Linux
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function pct(xs, p) {
	const s = [...xs].sort((a, b) => a - b);
	return s.length ? Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] * 100) / 100 : null;
}

function rssKb(pid) {
	return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}

function cpuSeconds(pid) {
	const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
	return (Number(f[11]) + Number(f[12])) / TICK; // utime, stime
}

const stack = await startStack({
	sessionEnv: { SESSION_MAX_ROOMS: String(USERS + 100), SESSION_MAX_CONNS: String(USERS * 2 + 100) },
	backendEnv: { STATEROOM_DEAD_AFTER_MS: '3000' },
});
const out = { users: USERS, dms: DMS };
const clients = [];
try {
	// One registered user through the API; the others as rows, with tokens
	// of the same shape (registering a thousand users through argon2id would
	// measure the hash).
	const reg = await request(stack.backendUrl, '/api/auth/register', {
		method: 'POST', body: { userId: 'benchseed', password: 'correct horse battery' },
	});
	if (reg.status !== 200) throw new Error(`register: ${reg.text}`);
	const seed = decodeToken(reg.json.token).claims;
	const tokenOf = (id) => mintToken(stack.secret, { ...seed, sub: id, name: id, userId: id });
	const ids = Array.from({ length: USERS }, (_, i) => `ib${i}`);
	await stack.sql(`INSERT INTO users (id, password_hash, login_key)
		SELECT 'ib' || i, 'x', 'ib' || i FROM generate_series(0, ${USERS - 1}) i`);
	await stack.sql(`INSERT INTO friends (user_id, friend_id)
		SELECT 'ib' || i, 'ib' || ((i + k) % ${USERS}) FROM generate_series(0, ${USERS - 1}) i,
		generate_series(1, ${Math.min(RING, Math.floor((USERS - 1) / 2))}) k
		UNION SELECT 'ib' || ((i + k) % ${USERS}), 'ib' || i FROM generate_series(0, ${USERS - 1}) i,
		generate_series(1, ${Math.min(RING, Math.floor((USERS - 1) / 2))}) k`);

	const session = stack.sessions[0];
	await sleep(500);
	const rssBefore = rssKb(session.pid);
	for (let i = 0; i < USERS; i += 50) {
		await Promise.all(ids.slice(i, i + 50).map(async (id) => {
			const t = await request(stack.backendUrl, '/api/me/inbox', { token: tokenOf(id) });
			if (t.status !== 200) throw new Error(`inbox ${id}: ${t.text}`);
			const c = await connect(t.json.host, t.json.token, { protocol: 'stateroom.v1', timeoutMs: 20000 });
			await c.next('welcome', 20000);
			c.id = id;
			clients.push(c);
		}));
	}
	await sleep(2000); // the online writes and their notifications settle
	for (const c of clients) c.drain();
	const rssAfter = rssKb(session.pid);
	out.rss_kb_before = rssBefore;
	out.rss_kb_after = rssAfter;
	out.rss_kb_per_1000 = Math.round(((rssAfter - rssBefore) * 1000) / USERS);

	const idleMs = quick ? 1000 : 10000;
	let cpu0 = cpuSeconds(session.pid);
	await sleep(idleMs);
	out.idle_cpu_percent_per_1000 = Math.round(((cpuSeconds(session.pid) - cpu0) / (idleMs / 1000)) * 100 * 1000 / USERS * 100) / 100;

	// Presence churn: every user goes away and back, CHURN_ROUNDS times.
	const changes = USERS * 2 * CHURN_ROUNDS;
	const friendRows = Number((await stack.sql(`SELECT count(*) FROM friends WHERE user_id LIKE 'ib%'`))[0][0]);
	out.friends_each = Math.round(friendRows / USERS);
	const expected = 2 * CHURN_ROUNDS * friendRows;
	let got = 0;
	let lastAt = Date.now();
	for (const c of clients) {
		c.ws.on('message', (d) => {
			if (d.toString().includes('"type":"presence"')) {
				got++;
				lastAt = Date.now();
			}
		});
	}
	cpu0 = cpuSeconds(session.pid);
	const t0 = performance.now();
	for (let r = 0; r < CHURN_ROUNDS; r++) {
		for (const c of clients) c.send({ type: 'presence', state: 'away' });
		await sleep(200);
		for (const c of clients) c.send({ type: 'presence', state: 'online' });
		await sleep(200);
	}
	// Writes of one user are coalesced (the latest state wins), so fewer
	// than expected may come: done when none came for a second.
	while (got < expected && Date.now() - lastAt < 1000) await sleep(50);
	const churnSec = (performance.now() - t0 - (got < expected ? 1000 : 0)) / 1000;
	out.presence_changes = changes;
	out.presence_events_expected = expected;
	out.presence_events_delivered = got;
	out.presence_seconds = Math.round(churnSec * 100) / 100;
	out.cpu_seconds_per_1000_presence_changes = Math.round(((cpuSeconds(session.pid) - cpu0) * 1000 / changes) * 1000) / 1000;
	await sleep(500);
	for (const c of clients) c.drain();

	// DM delay: alice (ib0 is bob, the recipient) sends one at a time.
	const bob = clients[0];
	const alice = 'benchseed';
	const room = 'benchdm';
	await stack.sql(`INSERT INTO rooms (id, owner, capacity, kind) VALUES ('${room}', '${alice}', 2, 'dm');
		INSERT INTO direct_rooms (room_id, user_a, user_b) VALUES ('${room}', '${alice}', '${bob.id}')`);
	const t = await lookup(stack.backendUrl, reg.json.token, room);
	const dm = await connect(t.json.host, t.json.token, { protocol: 'stateroom.v1' });
	await dm.next('welcome');
	const fromAck = [], fromSend = [];
	for (let i = 0; i < DMS; i++) {
		const sent = performance.now();
		dm.send({ type: 'send', id: `m${i}`, text: 'hello' });
		let acked = 0;
		const ack = dm.next({ type: 'ack', id: `m${i}` }).then(() => { acked = performance.now(); });
		const ev = await bob.next((f) => f?.type === 'event' && f.event?.type === 'dm', 10000);
		const at = performance.now();
		await ack;
		fromAck.push(at - acked);
		fromSend.push(at - sent);
		if (ev.event.roomId !== room) throw new Error(`event for ${ev.event.roomId}`);
	}
	dm.terminate();
	out.dm_delay_from_commit_ms = { median: pct(fromAck, 50), p99: pct(fromAck, 99) };
	out.dm_delay_from_send_ms = { median: pct(fromSend, 50), p99: pct(fromSend, 99) };

	// The design not taken: a statement trigger on records (transition
	// table joined with direct_rooms), measured on a non-DM room's commits,
	// each batch of 10 records its own transaction as in group commit.
	const batches = quick ? 200 : 2000;
	await stack.sql(`INSERT INTO rooms (id, owner, capacity) VALUES ('benchplain', 'x', 10);
		CREATE FUNCTION bench_dm_trigger() RETURNS trigger LANGUAGE plpgsql AS $f$
		BEGIN
			PERFORM pg_notify('stateroom_inbox', json_build_object('to', t.to_user, 'event',
				json_build_object('type', 'dm', 'roomId', t.room_id, 'seq', t.seq))::text)
			FROM (SELECT d.room_id, CASE WHEN n.user_id = d.user_a THEN d.user_b ELSE d.user_a END AS to_user,
				     max(n.seq) AS seq
			      FROM (SELECT DISTINCT room_id FROM new_records) r
			      JOIN direct_rooms d ON d.room_id = r.room_id
			      JOIN new_records n ON n.room_id = d.room_id
			      GROUP BY 1, 2) t;
			RETURN NULL;
		END $f$;`);
	let next = 1;
	const commits = async () => {
		const lines = [];
		for (let b = 0; b < batches; b++, next += 10) {
			lines.push(`INSERT INTO records (room_id, seq, user_id, payload, created_at) SELECT 'benchplain', ${next} + i, 'x', 'sixty-four bytes of text, more or less, as a chat message has them', now() FROM generate_series(0, 9) i;`);
		}
		const t1 = performance.now();
		await new Promise((resolve, reject) => {
			const p = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', stack.databaseUrl], { stdio: ['pipe', 'ignore', 'inherit'] });
			p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`psql exited ${code}`))));
			p.stdin.end(lines.join('\n'));
		});
		return ((performance.now() - t1) / batches) * 1000;
	};
	const trigger = (on) => stack.sql(on
		? `CREATE TRIGGER bench_dm AFTER INSERT ON records REFERENCING NEW TABLE AS new_records
			FOR EACH STATEMENT EXECUTE FUNCTION bench_dm_trigger()`
		: 'DROP TRIGGER bench_dm ON records');
	await commits(); // warm
	const runs = { with: [], without: [] };
	for (let r = 0; r < 3; r++) {
		runs.without.push(await commits());
		await trigger(true);
		runs.with.push(await commits());
		await trigger(false);
	}
	out.trigger_alternative_us_per_commit_of_10 = { with: pct(runs.with, 50), without: pct(runs.without, 50) };
} finally {
	for (const c of clients) c.terminate();
	await stack.stop();
}
console.log(JSON.stringify(out, null, 2));
