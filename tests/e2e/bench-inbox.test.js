// scripts/bench-inbox --quick: the inbox's measurements run end to end on a
// tiny load and report every figure docs/architecture.md quotes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './lib/stack.js';

const SLOW = process.env.STATEROOM_BUILD_DIR?.includes('asan') ? 3 : 1;

test('scripts/bench-inbox --quick reports the DM delay and the cost per connected user', async () => {
	const run = await new Promise((resolve) => {
		execFile(path.join(ROOT, 'scripts/bench-inbox'), ['--quick'],
			{ cwd: ROOT, timeout: 120000 * SLOW, killSignal: 'SIGTERM', maxBuffer: 16 << 20 },
			(err, stdout, stderr) => resolve({ err, stdout, stderr }));
	});
	assert.equal(run.err, null, `${run.err?.message}\n${run.stderr.slice(-4000)}`);
	const out = JSON.parse(run.stdout);
	assert.equal(out.users, 20);
	for (const k of ['dm_delay_from_commit_ms', 'dm_delay_from_send_ms']) {
		assert.equal(typeof out[k].median, 'number', k);
		assert.equal(typeof out[k].p99, 'number', k);
	}
	assert.ok(out.rss_kb_after > 0 && out.rss_kb_before > 0);
	assert.equal(typeof out.idle_cpu_percent_per_1000, 'number');
	assert.equal(typeof out.cpu_seconds_per_1000_presence_changes, 'number');
	// Every user's last state reached its friends at least once.
	assert.ok(out.presence_events_delivered > 0 && out.presence_events_delivered <= out.presence_events_expected);
	assert.equal(typeof out.trigger_alternative_us_per_commit_of_10.with, 'number');
	assert.equal(typeof out.trigger_alternative_us_per_commit_of_10.without, 'number');
});
