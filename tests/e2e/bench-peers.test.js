// The bench's peer servers (tests/bench/peers: Bun and Node ws) do the work
// our session server does for an ephemeral room, so that scripts/bench
// compares like with like: the same join and send give the same frames, of
// the same sizes, from each (a welcome with the member list, presence to the
// room on join and leave, the ack with the room's seq, the message with it to
// every member, a retried id acked again and not broadcast twice).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { useStack, connect, newRoom, ticketFor, freePort, ROOT } from './lib/stack.js';

const PEERS = path.join(ROOT, 'tests/bench/peers');
const peerCommands = {
	'node-ws': () => fs.existsSync(path.join(PEERS, 'node_modules/ws/package.json'))
		? [process.execPath, [path.join(PEERS, 'node-ws/server.js')]]
		: 'the npm package ws is not installed in tests/bench/peers (scripts/setup installs it)',
	bun: () => fs.existsSync(path.join(PEERS, 'node_modules/.bin/bun'))
		? [path.join(PEERS, 'node_modules/.bin/bun'), [path.join(PEERS, 'bun/server.js')]]
		: 'the npm package bun is not installed in tests/bench/peers (scripts/setup installs it)',
};

// Starts a peer on a free port; resolves once it listens.
async function startPeer(name) {
	const [cmd, args] = peerCommands[name]();
	const port = await freePort();
	const child = spawn(cmd, [...args, '--port', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
	let log = '';
	await new Promise((resolve, reject) => {
		child.stderr.on('data', (d) => {
			log += d;
			if (log.includes('listening')) resolve();
		});
		child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before listening: ${log}`)));
	});
	return { child, host: `127.0.0.1:${port}`, log: () => log };
}

async function stopPeer(p) {
	if (!p || p.child.exitCode !== null) return;
	const gone = new Promise((r) => p.child.once('exit', r));
	p.child.kill('SIGTERM');
	await gone;
}

// One scripted session against host: alice joins, bob joins (in a second tab
// too), alice sends, retries the same id, bob sends, bob's tabs leave.
// Returns what alice and bob received, heartbeats left out (ours sends them
// when a client has had nothing for a while; the peers never need to).
async function script(stack, host, roomId) {
	const ticket = async (user) => (await ticketFor(stack, user, roomId)).token;
	const open = async (user) => connect(host, await ticket(user), { protocol: 'stateroom.v1' });
	const alice = await open('alice');
	await alice.next('welcome');
	const bob = await open('bob');
	await bob.next('welcome');
	await alice.next('presence');
	const bob2 = await open('bob');
	await bob2.next('welcome');
	alice.send({ type: 'send', id: 'a1', text: 'hello there' });
	await alice.next({ type: 'ack', id: 'a1' });
	await bob.next('message');
	alice.send({ type: 'send', id: 'a1', text: 'hello there' });
	await alice.next({ type: 'ack', id: 'a1' });
	bob.send({ type: 'send', id: 'b1', text: 'hi' });
	await bob.next({ type: 'ack', id: 'b1' });
	await alice.next({ type: 'message', id: 'b1' });
	bob.send('{"type":"nope"}');
	await bob.next('error');
	await bob2.next({ type: 'message', id: 'b1' });
	await bob2.close();
	bob.send({ type: 'send', id: 'b2', text: 'bye' });
	await alice.next({ type: 'message', id: 'b2' });
	await bob.close();
	await alice.next('presence');
	await alice.close();
	const seen = (c) => c.frames.filter((f) => f?.type !== 'heartbeat');
	return { alice: seen(alice), bob: seen(bob), bob2: seen(bob2) };
}

// What differs by nature between two runs: the clock, the room's id (a room
// of each server's own) and the roles, which only our server knows (the
// peers have no owner). Each frame as its JSON text, keys in the order sent:
// the same text means the same fields and the same size.
function normal(frames) {
	return frames.map((f) => JSON.stringify({
		...f,
		...('ts' in f ? { ts: typeof f.ts === 'number' && f.ts > 1.6e12 ? 1e12 : f.ts } : {}),
		...('room' in f ? { room: typeof f.room === 'string' ? 'room' : f.room } : {}),
		...('roles' in f ? { roles: typeof f.roles === 'object' && f.roles ? 'roles' : f.roles } : {}),
	}));
}

describe('the bench peers send what our session server sends', () => {
	const h = useStack();
	let ours;

	before(async () => {
		ours = await script(h.stack, h.stack.sessions[0].address, await newRoom(h.stack, 'owner', { persistent: false }));
	});

	test('ours, for reference: welcome, presence, ack, message, in that order', () => {
		assert.deepEqual(ours.alice.map((f) => f.type),
			['welcome', 'presence', 'ack', 'message', 'ack', 'message', 'message', 'presence']);
		assert.deepEqual(ours.bob[0].members, ['alice', 'bob']);
		assert.deepEqual(ours.bob2.map((f) => f.type), ['welcome', 'message', 'message']);
	});

	for (const name of Object.keys(peerCommands)) {
		const how = peerCommands[name]();
		test(`${name}: the same frames, field for field`, { skip: typeof how === 'string' ? how : false }, async () => {
			const peer = await startPeer(name);
			try {
				const got = await script(h.stack, peer.host, await newRoom(h.stack, 'owner', { persistent: false }));
				for (const c of ['alice', 'bob', 'bob2']) {
					assert.deepEqual(normal(got[c]), normal(ours[c]), `what ${c} received`);
				}
				assert.deepEqual(got.alice[0].roles, {}, 'no owner among the peers');
			} finally {
				await stopPeer(peer);
			}
		});
	}
});
