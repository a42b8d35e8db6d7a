// A retried send is recognised for as long as the ring holds its message,
// whatever else came in between; once evicted, the same id is a new message.
// (The ring finds retries through an index kept as messages come and go.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, newRoom, join, sendAcked, closeAll } from './lib/stack.js';

const RING = 8;

const h = useStack({ sessionEnv: { SESSION_RING_SIZE: String(RING) } });

test('retries within the ring get their original seq, evicted ids become new messages', { timeout: 60000 }, async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const [alice] = await join(h.stack, 'alice', roomId);
	const [bob] = await join(h.stack, 'bob', roomId);
	const seqOf = new Map();
	let last = 0;
	// Interleaved users and ids that share prefixes, many times the ring.
	for (let i = 1; i <= 20 * RING; i++) {
		const [c, user] = i % 3 === 0 ? [bob, 'bob'] : [alice, 'alice'];
		const id = `id-${i % 5}-${i}`;
		last = await sendAcked(c, id, `m${i}`);
		assert.equal(last, i);
		seqOf.set(`${user} ${id}`, last);
		// Every message still in the ring is recognised, the latest first.
		for (let k = i; k > Math.max(0, i - RING) && k > i - 3; k--) {
			const [rc, ru] = k % 3 === 0 ? [bob, 'bob'] : [alice, 'alice'];
			const rid = `id-${k % 5}-${k}`;
			assert.equal(await sendAcked(rc, rid, `m${k}`), seqOf.get(`${ru} ${rid}`), `retry of ${ru} ${rid}`);
		}
	}
	// The oldest message still held, then one just evicted.
	const held = 20 * RING - RING + 1;
	const [hc, hu] = held % 3 === 0 ? [bob, 'bob'] : [alice, 'alice'];
	assert.equal(await sendAcked(hc, `id-${held % 5}-${held}`, 'again'), seqOf.get(`${hu} id-${held % 5}-${held}`));
	const gone = held - 1;
	const gc = gone % 3 === 0 ? bob : alice;
	assert.equal(await sendAcked(gc, `id-${gone % 5}-${gone}`, 'again'), last + 1);
	await closeAll([alice, bob]);
});
