// A session server whose clock is off (found by the failover lab,
// scripts/chaos, fault clock-step: its clock stepped 90 s ahead, every join
// ticket, valid for 30 s, looked expired to it; a client joining then was
// refused twice with 4001 and gave up for good). The server judges tickets
// by PostgreSQL's clock, read with every heartbeat, as the backends judge
// its liveness: a join works whichever way its own clock is off. The skew
// is made with libfaketime (LD_PRELOAD; its monotonic clock, which the
// server's timers use, left alone, as a real clock step leaves it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startStack, newRoom, join, sendAcked, closeAll } from './lib/stack.js';

const FAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const ASAN = process.env.STATEROOM_BUILD_DIR?.includes('asan');

for (const offset of ['+90', '-90']) {
	test(`a session server whose clock is ${offset} s off admits fresh join tickets`, {
		skip: !fs.existsSync(FAKETIME) && `no ${FAKETIME} (apt-get install libfaketime; scripts/setup does)`,
	}, async () => {
		const stack = await startStack({
			sessions: 1,
			sessionEnv: {
				LD_PRELOAD: FAKETIME, FAKETIME: offset, FAKETIME_DONT_FAKE_MONOTONIC: '1',
				// The sanitizer runtime must come first unless told otherwise.
				...(ASAN ? { ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ?? ''}:verify_asan_link_order=0` } : {}),
			},
		});
		try {
			// The server's first heartbeat has measured the offset once it is
			// registered, which startStack waits for.
			const roomId = await newRoom(stack, 'alice');
			const [alice, welcome] = await join(stack, 'alice', roomId);
			assert.equal(welcome.type, 'welcome');
			assert.equal(await sendAcked(alice, 'm1', 'hello'), 1);
			await closeAll([alice]);
		} finally {
			await stack.stop();
		}
	});
}
