// The native protocol's liveness rule (docs/protocol.md, "Liveness"): the
// welcome advertises heartbeat_ms, and a native client the server has sent
// nothing else for that long gets {"type":"heartbeat"}, so that silence
// means a dead server, never a quiet room. Compat clients get nothing new.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, startStack, newRoom, join, closeAll } from './lib/stack.js';

const shared = useStack({ sessions: 1, backends: 1 });

// What a client allows before it gives up on a silent server (client/connection.js).
const deadline = (heartbeatMs) => 2 * heartbeatMs + 2000;

test('the welcome advertises heartbeat_ms, 10 s by default', async () => {
	const roomId = await newRoom(shared.stack, 'hb_owner');
	const [c, welcome] = await join(shared.stack, 'hb_default', roomId);
	assert.equal(welcome.heartbeat_ms, 10000);
	// A resuming welcome says it too.
	const [again, resumed] = await join(shared.stack, 'hb_default', roomId, { since: 0 });
	assert.equal(resumed.heartbeat_ms, 10000);
	await closeAll([c, again]);
});

test('an idle native client hears a heartbeat every heartbeat_ms; a compat client does not', async () => {
	const stack = await startStack({ sessions: 1, backends: 1, sessionEnv: { SESSION_KEEPALIVE_MS: '1000' } });
	try {
		const roomId = await newRoom(stack, 'hb_owner');
		const [compat] = await join(stack, 'hb_compat', roomId, { protocol: null });
		const [idle, welcome] = await join(stack, 'hb_idle', roomId);
		assert.equal(welcome.heartbeat_ms, 1000);
		const gaps = [];
		let last = Date.now();
		for (let i = 0; i < 3; i++) {
			const frame = await idle.next(() => true, deadline(welcome.heartbeat_ms));
			assert.deepEqual(frame, { type: 'heartbeat' });
			const now = Date.now();
			gaps.push(now - last);
			last = now;
		}
		// Each came within what a client allows (generous: the server's
		// tick is 1 s), so an idle room never looks dead.
		for (const gap of gaps) assert.ok(gap < deadline(welcome.heartbeat_ms), `gaps ${gaps}`);

		// The compat client got the snapshots of the two joins, nothing else.
		assert.equal(compat.frames.length, 2, JSON.stringify(compat.frames));
		for (const f of compat.frames) assert.ok(Array.isArray(f.connectedUsers), JSON.stringify(f));
		await closeAll([compat, idle]);
	} finally {
		await stack.stop();
	}
});
