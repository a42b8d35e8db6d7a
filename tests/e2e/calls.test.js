// Calls (docs/protocol.md, "Calls"): the session server keeps who is in a
// room's call and relays each participant's signalling to the one it names,
// and to no one else; the 7th joiner is refused; a connection that drops
// leaves the call at once.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, newRoom, join, closeAll } from './lib/stack.js';

const members = (c, n) => c.next((f) => f?.type === 'call' && f.op === 'members' && f.participants.length === n);
const isSignal = (f) => f?.type === 'call' && f.op === 'signal';

async function joinCall(c, media = { audio: true, video: true }) {
	c.send({ type: 'call', op: 'join', ...media });
	return (await c.next((f) => f?.type === 'call' && f.op === 'joined')).self;
}

describe('calls', () => {
	const h = useStack();

	test('join, members, signals reach their target only, leave', async () => {
		const roomId = await newRoom(h.stack, 'alice');
		const [alice] = await join(h.stack, 'alice', roomId);
		const [bob] = await join(h.stack, 'bob', roomId);
		const [carol] = await join(h.stack, 'carol', roomId);

		const a = await joinCall(alice);
		// Everyone in the room hears who is in the call, in the call or not.
		for (const c of [alice, bob, carol]) {
			const m = await members(c, 1);
			assert.deepEqual(m.participants.map((p) => [p.id, p.user, p.audio, p.video, p.screen]),
				[[a, 'alice', true, true, false]]);
		}
		const b = await joinCall(bob, { audio: true, video: false });
		const c3 = await joinCall(carol);
		const m = await members(carol, 3);
		assert.deepEqual(m.participants.map((p) => [p.id, p.user, p.video]),
			[[a, 'alice', true], [b, 'bob', false], [c3, 'carol', true]]);
		assert.notEqual(a, b);

		// A signal goes to its target, marked from the sender; nobody else sees it.
		const offer = { sdp: { type: 'offer', sdp: 'v=0 fake' } };
		alice.send({ type: 'call', op: 'signal', to: b, data: offer });
		const got = await bob.next(isSignal);
		assert.deepEqual([got.from, got.data], [a, offer]);
		await carol.none(isSignal, 300);
		await alice.none(isSignal, 0);

		// State changes reach everyone.
		bob.send({ type: 'call', op: 'state', audio: false, screen: true });
		const s = await alice.next((f) => f?.op === 'members' && f.participants.some((p) => p.screen));
		assert.deepEqual(s.participants.find((p) => p.id === b), { id: b, userId: s.participants[1].userId, user: 'bob', audio: false, video: false, screen: true });

		// Leaving: the others see two participants, and a leaver's signals are refused.
		carol.send({ type: 'call', op: 'leave' });
		await carol.next((f) => f?.op === 'left');
		assert.deepEqual((await members(alice, 2)).participants.map((p) => p.id), [a, b]);
		carol.send({ type: 'call', op: 'signal', to: a, data: offer });
		assert.equal((await carol.next('error')).code, 'not_in_call');
		await closeAll([alice, bob, carol]);
	});

	test('bad signals are refused: unknown target, oversized data, bad fields', async () => {
		const roomId = await newRoom(h.stack, 'alice');
		const [alice] = await join(h.stack, 'alice', roomId);
		const [bob] = await join(h.stack, 'bob', roomId);
		const a = await joinCall(alice);
		const b = await joinCall(bob);
		const refused = async (frame, code) => {
			alice.send(frame);
			assert.equal((await alice.next('error')).code, code, JSON.stringify(frame).slice(0, 80));
		};
		await refused({ type: 'call', op: 'signal', to: 'p999', data: {} }, 'no_participant');
		await refused({ type: 'call', op: 'signal', to: a, data: {} }, 'no_participant');
		await refused({ type: 'call', op: 'signal', to: b }, 'bad_frame');
		await refused({ type: 'call', op: 'signal', to: b, data: 5 }, 'bad_frame');
		await refused({ type: 'call', op: 'signal', to: b, data: 'x'.repeat(40000) }, 'too_big');
		await refused({ type: 'call', op: 'state', audio: 'yes' }, 'bad_frame');
		await refused({ type: 'call', op: 'ring' }, 'bad_frame');
		await refused({ type: 'call' }, 'bad_frame');
		await bob.none(isSignal, 200);
		// Still in the call and still relaying.
		alice.send({ type: 'call', op: 'signal', to: b, data: 'candidate' });
		assert.equal((await bob.next(isSignal)).data, 'candidate');
		await closeAll([alice, bob]);
	});

	test('the 7th participant gets call_full; a dropped connection leaves at once', async () => {
		const roomId = await newRoom(h.stack, 'u0');
		const clients = [];
		for (let i = 0; i < 7; i++) clients.push((await join(h.stack, `u${i}`, roomId))[0]);
		for (let i = 0; i < 6; i++) await joinCall(clients[i]);
		await members(clients[6], 6);
		clients[6].send({ type: 'call', op: 'join', audio: true, video: true });
		assert.equal((await clients[6].next('error')).code, 'call_full');

		// u2's connection drops: the others see five, and the seventh gets in.
		await members(clients[0], 6);
		clients[0].drain();
		await clients[2].terminate();
		const m = await members(clients[0], 5);
		assert.ok(!m.participants.some((p) => p.user === 'u2'));
		await joinCall(clients[6]);
		assert.ok((await members(clients[0], 6)).participants.some((p) => p.user === 'u6'));
		await closeAll(clients);
	});

	test('a client joining the room hears who is in the call', async () => {
		const roomId = await newRoom(h.stack, 'alice');
		const [alice] = await join(h.stack, 'alice', roomId);
		await joinCall(alice);
		const [bob] = await join(h.stack, 'bob', roomId);
		assert.deepEqual((await members(bob, 1)).participants.map((p) => p.user), ['alice']);
		await closeAll([alice, bob]);
	});
});
