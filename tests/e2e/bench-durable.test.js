// scripts/bench-durable --quick: the persisted path's measurements run end
// to end on a tiny load and report every figure README's "The persisted
// path" quotes: a kept durable rate in each shape with every acked message
// found committed in the records table, a first join of each long log, and
// pgbench's rows a second with the session server's own INSERT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './lib/stack.js';

const SLOW = process.env.STATEROOM_BUILD_DIR?.includes('asan') ? 3 : 1;

test('scripts/bench-durable --quick reports the durable rates, hydration and PostgreSQL\'s ceiling', async () => {
	const run = await new Promise((resolve) => {
		execFile(path.join(ROOT, 'scripts/bench-durable'), ['--quick'],
			{ cwd: ROOT, timeout: 180000 * SLOW, killSignal: 'SIGTERM', maxBuffer: 16 << 20 },
			(err, stdout, stderr) => resolve({ err, stdout, stderr }));
	});
	assert.equal(run.err, null, `${run.err?.message}\n${run.stderr.slice(-4000)}`);
	const out = JSON.parse(run.stdout);
	assert.equal(out.meta.postgresql.synchronous_commit, 'on');

	assert.deepEqual(out.durable.shapes.map((s) => [s.rooms, s.members_per_room]), [[1, 3], [2, 3], [4, 2]]);
	for (const s of out.durable.shapes) {
		// The tiny load is kept at its top rate in every shape.
		assert.equal(s.msgs_per_sec.runs.length, 1, s.shape);
		assert.equal(s.msgs_per_sec.median, 40, s.shape);
		const check = s.runs[0].check;
		assert.equal(check.kept, true, s.shape);
		// Every message sent was acked, and every acked one is a row.
		assert.ok(check.acked > 0, s.shape);
		assert.equal(check.acked, check.scheduled, s.shape);
		assert.equal(check.rows_in_db, check.acked, s.shape);
		assert.equal(check.delivered, check.expected, s.shape);
		assert.equal(s.every_ack_committed, true, s.shape);
		assert.ok(check.commits >= 1 && check.commits <= check.rows_in_db, s.shape);
		assert.ok(s.mean_batch_at_max >= 1, s.shape);
	}

	assert.deepEqual(out.hydration.map((h) => h.records), [200, 2000]);
	for (const h of out.hydration) {
		assert.equal(h.welcomed, 1, `${h.records}`);
		assert.equal(typeof h.median_ms, 'number', `${h.records}`);
	}

	const runs = out.ceiling.runs;
	for (const shape of ['group_commit', 'single_row']) {
		for (const clients of [1, 2]) {
			const r = runs.find((x) => x.shape === shape && x.clients === clients);
			assert.ok(r, `${shape} ${clients}`);
			assert.equal(r.failed_transactions, 0, `${shape} ${clients}`);
			assert.ok(r.rows_per_sec > 0, `${shape} ${clients}`);
		}
	}
	assert.ok(runs.some((x) => x.shape === 'group_commit' && x.rows_per_commit === 10));
	assert.ok(out.ceiling.best_rows_per_sec > 0);
	for (const r of out.ratios) {
		assert.ok(r.of_best > 0 && r.of_best_one_client > 0, r.shape);
		assert.ok(r.same_batch_one_client.ratio > 0, r.shape);
	}
});
