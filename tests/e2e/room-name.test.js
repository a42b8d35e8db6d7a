// GET /api/rooms/:id names the room, so that a page opened by a share link
// can show it; the fields the seed knows stay as they were.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, newRoom, lookup, tokenFor } from './lib/stack.js';

const h = useStack({ sessions: 1, backends: 1 });

test('the room lookup answers the room name, or null for a room without one', async () => {
	const token = await tokenFor(h.stack, 'visitor');
	const named = await newRoom(h.stack, 'owner', { name: 'Café “Ünïcode”' });
	const unnamed = await newRoom(h.stack, 'owner');
	const ephemeral = await newRoom(h.stack, 'owner', { name: 'Game', persistent: false });

	for (const [roomId, name] of [[named, 'Café “Ünïcode”'], [unnamed, null], [ephemeral, 'Game']]) {
		const res = await lookup(h.stack.backendUrl, token, roomId);
		assert.equal(res.status, 200, res.text);
		assert.deepEqual(Object.keys(res.json).sort(), ['app', 'epoch', 'host', 'name', 'token']);
		assert.ok(Number.isInteger(res.json.epoch) && res.json.epoch >= 1, 'the placement a suspicion names');
		assert.equal(res.json.app, 'chat', 'the application a client should open');
		assert.equal(typeof res.json.host, 'string');
		assert.equal(typeof res.json.token, 'string');
		assert.equal(res.json.name, name);
	}
});

test('an unknown room is still exactly {"host":null,"token":null}', async () => {
	const token = await tokenFor(h.stack, 'visitor');
	for (const roomId of ['zzzzzzzzzzzz', 'not-an-id']) {
		const res = await lookup(h.stack.backendUrl, token, roomId);
		assert.equal(res.status, 200, res.text);
		assert.equal(res.text.replace(/\s/g, ''), '{"host":null,"token":null}');
	}
});

test('after the session server restarts the room is re-pinned and keeps its name', async () => {
	const token = await tokenFor(h.stack, 'visitor');
	const roomId = await newRoom(h.stack, 'owner', { name: 'Lounge' });
	const session = h.stack.sessions[0];
	await session.stop('SIGTERM');
	await session.start();
	const res = await lookup(h.stack.backendUrl, token, roomId);
	assert.equal(res.status, 200, res.text);
	assert.equal(res.json.name, 'Lounge');
	assert.equal(typeof res.json.host, 'string');
});
