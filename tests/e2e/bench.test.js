// scripts/bench --quick: the bench runs end to end on a tiny load (its own
// PostgreSQL, backend, session server, the peer servers and load generator)
// and reports every figure the closing notes quote, with nothing lost on the
// way, and draws its chart.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './lib/stack.js';

const SLOW = process.env.STATEROOM_BUILD_DIR?.includes('asan') ? 3 : 1;
const TIMEOUT_MS = 120000 * SLOW;

let run; // { code, stdout, stderr, results, html }

before(async () => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stateroom-bench-'));
	const out = path.join(dir, 'results.json');
	// The bench starts its own PostgreSQL; the suite's DATABASE_URL is not for it.
	const env = { ...process.env };
	delete env.DATABASE_URL;
	run = await new Promise((resolve) => {
		execFile(path.join(ROOT, 'scripts/bench'), ['--quick', '--out', out],
			{ cwd: ROOT, env, timeout: TIMEOUT_MS, killSignal: 'SIGTERM', maxBuffer: 16 << 20 },
			(err, stdout, stderr) => {
				let results = null;
				let html = null;
				try {
					results = JSON.parse(fs.readFileSync(out, 'utf8'));
					html = fs.readFileSync(path.join(dir, 'results.html'), 'utf8');
				} catch {
					// reported by the tests below
				}
				fs.rmSync(dir, { recursive: true, force: true });
				resolve({ code: err ? (err.code ?? err.signal) : 0, stdout, stderr, results, html });
			});
	});
}, { timeout: TIMEOUT_MS + 10000 });

function results() {
	assert.equal(run.code, 0, `scripts/bench --quick failed (${run.code}):\n${run.stderr.slice(-4000)}`);
	assert.ok(run.results, 'no results file');
	return run.results;
}

const positive = (v, name) => assert.ok(typeof v === 'number' && Number.isFinite(v) && v > 0,
	`${name} is ${JSON.stringify(v)}`);

test('bench --quick exits 0 and prints the table', () => {
	results();
	assert.match(run.stdout, /sustained persisted msg\/s, 1 room/);
	assert.match(run.stdout, /hydration of \d+ messages/);
});

test('every figure of the closing note is a positive number', () => {
	const r = results();
	for (const k of ['busy_room_msgs_per_sec', 'ten_rooms_msgs_per_sec', 'ack_p50_ms', 'ack_p99_ms',
		'e2e_p99_ms', 'hydration_p50_ms', 'idle_rss_per_conn_bytes', 'server_cpu_us_per_delivery']) {
		positive(r.summary[k], `summary.${k}`);
	}
	assert.equal(r.meta.postgresql.synchronous_commit, 'on');
	assert.ok(r.hydration.runs_ms.length >= 2, 'hydration has several runs');
	r.hydration.runs_ms.forEach((v, i) => positive(v, `hydration run ${i + 1}`));
});

test('each step reports deliveries, latency percentiles and server cost', () => {
	const r = results();
	const steps = [...r.busy_room.steps, ...r.ten_rooms.steps, r.ack_latency];
	assert.ok(steps.length >= 3);
	for (const s of steps) {
		positive(s.deliveries_per_sec, 'deliveries_per_sec');
		for (const h of ['ack_ms', 'e2e_ms']) {
			for (const q of ['p50', 'p99', 'p999']) positive(s[h][q], `${h}.${q}`);
			assert.ok(s[h].p50 <= s[h].p99 && s[h].p99 <= s[h].p999 && s[h].p999 <= s[h].max,
				`${h} percentiles in order: ${JSON.stringify(s[h])}`);
		}
		positive(s.server_cpu_us_per_delivery, 'server_cpu_us_per_delivery');
		positive(s.server_rss_kb, 'server_rss_kb');
	}
});

test('on the tiny load every message is acked and delivered to every member', () => {
	const r = results();
	const steps = [...r.busy_room.steps, ...r.ten_rooms.steps, r.ack_latency];
	for (const s of steps) {
		assert.equal(s.delivered_ratio, 1, `delivered ${s.delivered} of ${s.expected} at ${s.rate} msg/s`);
		assert.equal(s.acked, s.scheduled, `acked ${s.acked} of ${s.scheduled} at ${s.rate} msg/s`);
		assert.equal(s.delivered, s.expected);
		assert.ok(s.expected > s.scheduled, 'each message goes to several members');
	}
	assert.equal(r.summary.min_delivered_ratio, 1);
});

// The peers run when their packages are installed (scripts/bench installs
// them on a full run; --quick only uses what is there).
const PEERS = path.join(ROOT, 'tests/bench/peers/node_modules');
const expectedServers = ['stateroom', 'stateroom-ephemeral', 'stateroom-nodelay',
	...(fs.existsSync(path.join(PEERS, 'ws/package.json')) ? ['node-ws'] : []),
	...(fs.existsSync(path.join(PEERS, '.bin/bun')) ? ['bun'] : [])];

test('every server is measured at every point of the matrix, nothing lost', () => {
	const r = results();
	assert.deepEqual(r.meta.session_server_crashes, [], 'the session server never died');
	const ids = r.servers.map((s) => s.id);
	for (const s of expectedServers) assert.ok(ids.includes(s), `${s} measured (servers: ${ids})`);
	assert.ok(r.matrix.length >= 2, 'two shapes at least');
	for (const p of r.matrix) {
		for (const s of ids) {
			const v = p.servers[s];
			assert.ok(v, `${s} at ${p.shape} ${p.rate} msg/s`);
			assert.equal(v.delivered_ratio, 1, `${s} at ${p.shape} ${p.rate} msg/s delivered everything`);
			positive(v.server_cpu_us_per_delivery, `${s} server_cpu_us_per_delivery`);
			for (const q of ['p50', 'p99', 'p999']) positive(v.e2e_ms[q], `${s} e2e_ms.${q}`);
			assert.ok(typeof v.other_cpu_pct === 'number', `${s} other_cpu_pct`);
		}
	}
});

// --quick makes one run per point (a full bench three, by rounds); each
// server's point keeps its runs, their spread, and against Bun the pairwise
// ratios with a verdict.
test('each matrix point carries its runs, their spread and the verdict against Bun', () => {
	const r = results();
	for (const p of r.matrix) {
		for (const [s, v] of Object.entries(p.servers)) {
			const where = `${s} at ${p.shape} ${p.rate} msg/s`;
			assert.equal(v.n_runs, 1, `${where}: one run in --quick`);
			assert.equal(v.runs.length, v.n_runs, `${where}: every run kept`);
			assert.deepEqual(v.runs.map((x) => x.mrun), [1]);
			for (const k of ['cpu_us_per_delivery', 'e2e_p99_ms']) {
				const sp = v[k];
				for (const q of ['median', 'min', 'max']) positive(sp[q], `${where} ${k}.${q}`);
				assert.ok(sp.min <= sp.median && sp.median <= sp.max, `${where} ${k} in order: ${JSON.stringify(sp)}`);
			}
			assert.equal(v.cpu_us_per_delivery.median, v.runs[0].server_cpu_us_per_delivery);
			assert.equal(v.e2e_p99_ms.median, v.runs[0].e2e_ms.p99);
			assert.equal(v.kept_runs, v.runs.filter((x) => x.keeps_up).length, `${where} kept_runs`);
			assert.equal(v.keeps_up, v.kept_runs === v.n_runs, `${where} keeps_up`);
		}
		if (!p.servers.bun) continue;
		for (const s of Object.keys(p.servers).filter((x) => x.startsWith('stateroom'))) {
			for (const k of ['cpu', 'e2e_p99']) {
				const vs = p.vs_bun[s][k];
				const where = `${s} ÷ bun ${k} at ${p.shape} ${p.rate} msg/s`;
				assert.equal(vs.pairs, 1, where);
				positive(vs.median, where);
				assert.ok(['tie', 'ahead', 'behind'].includes(vs.verdict), `${where}: ${vs.verdict}`);
				const f = k === 'cpu' ? (x) => x.server_cpu_us_per_delivery : (x) => x.e2e_ms.p99;
				const ratio = f(p.servers[s].runs[0]) / f(p.servers.bun.runs[0]);
				assert.ok(Math.abs(vs.median - ratio) < 1e-9 * ratio, `${where}: ${vs.median} is ${ratio}`);
				// One run each: a tie only when the two figures are equal.
				assert.equal(vs.verdict, ratio === 1 ? 'tie' : ratio < 1 ? 'ahead' : 'behind', where);
			}
		}
	}
	assert.match(run.stdout, /cpu vs bun/);
});

test('idle memory and handshakes are measured for each server', () => {
	const r = results();
	const matrixOnly = ['stateroom-ephemeral', 'stateroom-nodelay'];
	for (const s of r.servers.map((x) => x.id).filter((x) => !matrixOnly.includes(x))) {
		positive(r.idle_by_server[s]?.rss_per_conn_bytes, `${s} idle bytes per connection`);
		positive(r.handshakes[s]?.handshakes_per_sec, `${s} handshakes per second`);
		assert.equal(r.handshakes[s].failed, 0, `${s}: no handshake failed`);
	}
});

test('bad clients beside normal ones: each runs, the normal ones lose nothing', () => {
	const r = results();
	const v = r.bad_input.variants;
	assert.deepEqual(Object.keys(v).sort(), ['baseline', 'baseline2', 'flood', 'halfopen', 'stall']);
	for (const [name, x] of Object.entries(v)) {
		assert.equal(x.delivered_ratio, 1, `${name}: the normal clients got every message`);
		positive(x.e2e_p99_ratio, `${name} e2e p99 ratio`);
	}
	assert.equal(v.stall.bad.stall_conns > 0, true);
	positive(v.flood.bad.flood_sent, 'messages the flooder sent');
	// Over the rate limit it is slowed down (not read faster), not closed.
	assert.equal(v.flood.bad.closed_by_server.flood, 0, 'the flooder stays connected');
	assert.ok(v.halfopen.bad.halfopen_conns > 0);
});

test('the chart page shows every server and a panel per figure, self-contained', () => {
	const r = results();
	const html = run.html;
	assert.ok(html, 'results.html written beside the results');
	for (const s of r.servers) assert.ok(html.includes(s.label), `legend names ${s.label}`);
	// Per shape: CPU, latency, deliveries; then idle memory, handshakes, bad input.
	const shapes = new Set(r.matrix.map((p) => p.shape)).size;
	assert.equal((html.match(/<svg /g) ?? []).length, 3 * shapes + 3);
	assert.equal((html.match(/<rect /g) ?? []).length, 3 * r.matrix.length * r.servers.length
		+ 2 * Object.keys(r.idle_by_server).length + Object.keys(r.bad_input.variants).length, 'a bar per figure');
	assert.doesNotMatch(html, /<script|https?:\/\/(?!www\.w3\.org)/, 'no scripts, nothing fetched');
});
