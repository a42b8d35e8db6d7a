// scripts/bench-calls --quick: a call's start, direct and relayed only, and
// a DM's ring run end to end once and report every figure README's
// "Benchmarks" quotes; the relayed call really went through the TURN server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './lib/stack.js';

const SLOW = process.env.STATEROOM_BUILD_DIR?.includes('asan') ? 3 : 1;

test('scripts/bench-calls --quick reports the first frames and the ring delay', async () => {
	const run = await new Promise((resolve) => {
		execFile(path.join(ROOT, 'scripts/bench-calls'), ['--quick'],
			{ cwd: ROOT, timeout: 180000 * SLOW, killSignal: 'SIGTERM', maxBuffer: 16 << 20 },
			(err, stdout, stderr) => resolve({ err, stdout, stderr }));
	});
	assert.equal(run.err, null, `${run.err?.message}\n${run.stderr.slice(-4000)}`);
	const out = JSON.parse(run.stdout);
	assert.equal(out.relay.local_candidates, 'relay/relay');
	assert.notEqual(out.direct.local_candidates, 'relay/relay');
	for (const way of ['direct', 'relay']) {
		for (const k of ['first_frame_at_first_ms', 'first_frame_at_second_ms', 'both_ms']) {
			assert.equal(out[way][k].runs.length, 1, `${way} ${k}`);
			assert.equal(typeof out[way][k].median, 'number', `${way} ${k}`);
		}
	}
	assert.equal(out.dm_ring.join_to_call_ring_ms.runs.length, 3);
	assert.equal(out.dm_ring.join_as_dm_loads_to_call_ring_ms.runs.length, 3);
});
