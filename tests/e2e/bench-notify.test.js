// scripts/bench-notify --quick: the notifications' measurements run end to
// end on a tiny load and report every figure README's "Benchmarks" quotes;
// the replayed group commits made exactly the notification rows the
// triggers should (one per DM and per mention while they were on, none for
// a room nobody follows).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './lib/stack.js';

const SLOW = process.env.STATEROOM_BUILD_DIR?.includes('asan') ? 3 : 1;

test('scripts/bench-notify --quick reports the triggers\' cost, the push delay and the push rate', async () => {
	const run = await new Promise((resolve) => {
		execFile(path.join(ROOT, 'scripts/bench-notify'), ['--quick'],
			{ cwd: ROOT, timeout: 120000 * SLOW, killSignal: 'SIGTERM', maxBuffer: 16 << 20 },
			(err, stdout, stderr) => resolve({ err, stdout, stderr }));
	});
	assert.equal(run.err, null, `${run.err?.message}\n${run.stderr.slice(-4000)}`);
	const out = JSON.parse(run.stdout);
	for (const sync of ['on', 'off']) {
		for (const k of [1, 10]) {
			const part = out.commits[`synchronous_commit_${sync}_batch_of_${k}`];
			for (const c of ['room_nobody_follows', 'dm', 'mention']) {
				assert.equal(part[c].commits_per_s_triggers_on.runs.length, 1, `${sync} ${k} ${c}`);
				assert.ok(part[c].commits_per_s_triggers_off.median > 0, `${sync} ${k} ${c}`);
				assert.equal(typeof part[c].cost_percent, 'number');
			}
		}
	}
	// 50 commits warm and 50 measured with the triggers on, for batches of
	// 1 and 10, in both modes: 2 200 messages each.
	assert.deepEqual(out.commits.notification_rows, { 'benchdm/dm': 2200, 'benchmention/mention': 2200 });
	assert.equal(out.push.dm_ack_to_push_ms.n, 10);
	assert.equal(typeof out.push.dm_ack_to_push_ms.p95, 'number');
	assert.equal(out.push.burst.followers, 20);
	assert.ok(out.push.burst.pushes_per_s.median > 0);
	assert.ok(out.push.burst.backend_cpu_s_per_1000_pushes.median >= 0);
});
