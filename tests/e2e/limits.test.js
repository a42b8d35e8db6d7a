// The seed's limits: 100 users per room, 10 rooms per server, 64 KiB frames,
// and what the user just over a limit sees while everyone else carries on.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
	useStack, connect, decodeToken, newRoom, ticketFor, tokenFor, join, sendAcked, closeAll, createRoom,
} from './lib/stack.js';

async function inBatches(items, size, fn) {
	const out = [];
	for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
	return out;
}

describe('a room of 100 users', () => {
	const h = useStack({ sessions: 1, backends: 1 });

	test('the 101st user is refused with 4009 while the 100 stay connected and chatting', { timeout: 120000 }, async () => {
		const roomId = await newRoom(h.stack, 'u0');
		const users = Array.from({ length: 100 }, (_, i) => `u${i}`);
		const clients = await inBatches(users, 10, async (u) => (await join(h.stack, u, roomId))[0]);
		const { host, token } = await ticketFor(h.stack, 'u100', roomId);
		const late = await connect(host, token, { protocol: 'stateroom.v1' });
		assert.equal((await late.closed).code, 4009);
		assert.equal(late.frames.filter((f) => f?.type === 'welcome').length, 0);

		assert.deepEqual(clients.filter((c) => c.closeInfo), []);
		await sendAcked(clients[99], 'after-full', 'all here?');
		for (const c of clients) {
			const m = await c.next('message');
			assert.equal(m.text, 'all here?');
		}

		// A second tab of one of the 100 is not a new user: it gets in.
		const [tab2, welcome] = await join(h.stack, 'u42', roomId);
		assert.equal(welcome.members.length, 100);
		assert.equal(new Set(welcome.members).size, 100);

		// Once one of them leaves, there is room for the 101st.
		await clients[0].close(1000);
		const [u100, welcome100] = await join(h.stack, 'u100', roomId);
		assert.ok(welcome100.members.includes('u100'));
		await closeAll([...clients, tab2, u100]);
	});

	test('a room created with capacity 2 refuses the third user with 4009', async () => {
		const roomId = await newRoom(h.stack, 'a', { capacity: 2 });
		const [a] = await join(h.stack, 'a', roomId);
		const [b] = await join(h.stack, 'b', roomId);
		const { host, token } = await ticketFor(h.stack, 'c', roomId);
		const c = await connect(host, token, { protocol: 'stateroom.v1' });
		assert.equal((await c.closed).code, 4009);
		await closeAll([a, b]);
	});

	test('a message over 64 KiB closes only its sender, with 1009', async () => {
		const roomId = await newRoom(h.stack, 'alice');
		const [alice] = await join(h.stack, 'alice', roomId);
		const [bob] = await join(h.stack, 'bob', roomId);
		const big = JSON.stringify({ type: 'send', id: 'big', text: 'x' }).padEnd(65537, ' ');
		alice.send(big);
		assert.equal((await alice.closed).code, 1009);
		const aliceId = decodeToken(await tokenFor(h.stack, 'alice')).claims.sub;
		assert.deepEqual(await bob.next('presence'), { type: 'presence', left: 'alice', userId: aliceId });
		assert.equal(await sendAcked(bob, 'b1', 'still fine'), 1);
		await closeAll([bob]);
	});

	test('invalid UTF-8 closes only its sender, with 1007', async () => {
		const roomId = await newRoom(h.stack, 'alice');
		const [alice] = await join(h.stack, 'alice', roomId);
		const [bob] = await join(h.stack, 'bob', roomId);
		const bad = Buffer.concat([Buffer.from('{"type":"send","id":"u","text":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
		alice.ws.send(bad, { binary: false });
		assert.equal((await alice.closed).code, 1007);
		assert.equal(await sendAcked(bob, 'b1', 'still fine'), 1);
		await closeAll([bob]);
	});
});

describe('a server of 10 rooms', () => {
	const h = useStack({ sessions: 1, backends: 1 });

	test('the 11th room gets 503 no_capacity with Retry-After and the 10 rooms still work', async () => {
		const token = await tokenFor(h.stack, 'owner');
		const rooms = [];
		for (let i = 0; i < 10; i++) {
			const res = await createRoom(h.stack.backendUrl, token);
			assert.equal(res.status, 200, `room ${i + 1}: ${res.status} ${res.text}`);
			rooms.push(res.json.roomId);
		}
		const full = await createRoom(h.stack.backendUrl, token);
		assert.equal(full.status, 503, full.text);
		assert.equal(full.json?.error?.code, 'no_capacity');
		assert.match(full.headers.get('retry-after') ?? '', /^\d+$/);

		for (const roomId of rooms) {
			const [c] = await join(h.stack, 'owner', roomId);
			assert.equal(await sendAcked(c, 'm', `in ${roomId}`), 1);
			await closeAll([c]);
		}
	});
});
