// The `agones` scheduler against a fake Kubernetes API (fakes/kube-api.js),
// with real session servers standing in for the allocated GameServers (the
// fake's answers carry their names and addresses), and the session server's
// Agones SDK calls against a fake SDK sidecar (fakes/agones-sdk.js). Every
// call is checked for method, path, headers and body.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
	useStack, startStack, createRoom, lookup, decodeToken, connect, tokenFor, ticketFor, sendAcked, closeAll, freePort,
	request,
} from './lib/stack.js';
import { seedAccounts } from './lib/friendsapi.js';
import { FakeKubeApi, allocated, unallocated, contention, failure } from './fakes/kube-api.js';
import { FakeSdk } from './fakes/agones-sdk.js';

const NS = 'stateroom';
const FLEET = 'chat-fleet';
const DEAD_AFTER_MS = 1000;
const ALLOC_PATH = `/apis/allocation.agones.dev/v1/namespaces/${NS}/gameserverallocations`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stateroom-agones-'));
const tokenFile = path.join(dir, 'token');
fs.writeFileSync(tokenFile, 'sa-token-one\n');

const kube = await new FakeKubeApi({ token: 'sa-token-one' }).start();
after(async () => {
	await kube.stop();
	fs.rmSync(dir, { recursive: true, force: true });
});

// The body docs/deploy.md ("Allocation, through the Kubernetes API") prescribes
// for placing room roomId.
function placeBody(roomId) {
	const selector = (state) => ({
		gameServerState: state,
		matchLabels: { 'agones.dev/fleet': FLEET },
		counters: { rooms: { minAvailable: 1 } },
	});
	return {
		apiVersion: 'allocation.agones.dev/v1',
		kind: 'GameServerAllocation',
		spec: {
			scheduling: 'Packed',
			priorities: [{ type: 'Counter', key: 'rooms', order: 'Ascending' }],
			selectors: [selector('Allocated'), selector('Ready')],
			counters: { rooms: { action: 'Increment', amount: 1 } },
			lists: { rooms: { addValues: [roomId] } },
		},
	};
}

function findBody(roomId) {
	return {
		apiVersion: 'allocation.agones.dev/v1',
		kind: 'GameServerAllocation',
		spec: {
			selectors: [{
				gameServerState: 'Allocated',
				matchLabels: { 'agones.dev/fleet': FLEET },
				lists: { rooms: { containsValue: roomId } },
			}],
		},
	};
}

// The body that allocates a Ready GameServer for inboxes: no counter or
// list action, so that the fleet's `rooms` counters count chat rooms only.
function inboxBody() {
	return {
		apiVersion: 'allocation.agones.dev/v1',
		kind: 'GameServerAllocation',
		spec: {
			scheduling: 'Packed',
			selectors: [{ gameServerState: 'Ready', matchLabels: { 'agones.dev/fleet': FLEET } }],
		},
	};
}

const inboxTicket = (stack, user) => request(stack.backendUrl, '/api/me/inbox', { token: user.token });

async function openInbox(stack, user) {
	const res = await inboxTicket(stack, user);
	assert.equal(res.status, 200, `${user.id}: ${res.text}`);
	const c = await connect(res.json.host, res.json.token, { protocol: 'stateroom.v1' });
	await c.next('welcome');
	c.ticket = res.json;
	return c;
}

function assertAllocationCall(call, body, token = 'sa-token-one') {
	assert.equal(call.method, 'POST');
	assert.equal(call.path, ALLOC_PATH);
	assert.equal(call.headers.authorization, `Bearer ${token}`);
	assert.match(call.headers['content-type'], /^application\/json$/);
	assert.deepEqual(call.body, body);
}

// The server answered in the fake's Allocated step.
const gs = (session) => ({ name: session.id, address: '127.0.0.1', port: session.port });

function logOf(stack) {
	return stack.logsSinceMark();
}

describe('agones scheduler', () => {
	const h = useStack({
		sessions: 2,
		backendEnv: {
			STATEROOM_SCHEDULER: 'agones',
			STATEROOM_AGONES_API: kube.url,
			STATEROOM_AGONES_NAMESPACE: NS,
			STATEROOM_AGONES_FLEET: FLEET,
			STATEROOM_AGONES_TOKEN_FILE: tokenFile,
			STATEROOM_DEAD_AFTER_MS: String(DEAD_AFTER_MS),
		},
	});

	// First: it needs a fleet where nothing is allocated yet.
	test('inboxes: the first allocates a Ready GameServer with no counter or list action, the others land on it without allocations, and chat rooms still count', async () => {
		const [a] = h.stack.sessions;
		kube.reset();
		kube.answer(allocated(gs(a)));
		const users = await seedAccounts(h.stack, 'agin', 7);

		// Asked all at once: one allocation serves them (the fake answers
		// any further one UnAllocated, which would be a 503).
		const first = await Promise.all(users.slice(0, 4).map((u) => openInbox(h.stack, u)));
		assert.equal(kube.calls.length, 1, kube.calls.map((c) => c.raw).join('\n'));
		assertAllocationCall(kube.calls[0], inboxBody());
		const later = [];
		for (const u of users.slice(4)) later.push(await openInbox(h.stack, u));
		assert.equal(kube.calls.length, 1, 'an inbox on an allocated server costs no allocation');
		for (const c of [...first, ...later]) {
			assert.equal(c.ticket.host, a.address);
			assert.equal(decodeToken(c.ticket.token).claims.aud, a.id);
		}
		const server = kube.gameServers.get(a.id);
		assert.equal(server.count, 0, 'inboxes move no rooms counter');
		assert.deepEqual([...server.rooms], [], 'inboxes are in no rooms list');

		// A chat room is still counted, and goes to the allocated server.
		kube.answer(allocated(gs(a)));
		const token = await tokenFor(h.stack, 'alice');
		const res = await createRoom(h.stack.backendUrl, token);
		assert.equal(res.status, 200, res.text);
		assert.equal(kube.calls.length, 2);
		assertAllocationCall(kube.calls[1], placeBody(res.json.roomId));
		assert.equal(server.count, 1);
		assert.deepEqual([...server.rooms], [res.json.roomId]);
		await closeAll([...first, ...later]);
	});

	test('Allocated: the room is pinned to the allocated server, looked up without an allocation, and chat works', async () => {
		const [a] = h.stack.sessions;
		kube.reset();
		kube.answer(allocated(gs(a)));
		const token = await tokenFor(h.stack, 'alice');
		const res = await createRoom(h.stack.backendUrl, token);
		assert.equal(res.status, 200, res.text);
		const { roomId } = res.json;
		assert.equal(kube.calls.length, 1);
		assertAllocationCall(kube.calls[0], placeBody(roomId));

		const [[server, epoch]] = await h.stack.sql(`SELECT server_id, epoch FROM rooms WHERE id = '${roomId}'`);
		assert.deepEqual([server, epoch], [a.id, '1']);
		const [[address]] = await h.stack.sql(`SELECT address FROM session_servers WHERE id = '${a.id}'`);
		assert.equal(address, a.address);

		const l = await lookup(h.stack.backendUrl, token, roomId);
		assert.equal(l.status, 200, l.text);
		assert.equal(l.json.host, a.address);
		const claims = decodeToken(l.json.token).claims;
		assert.equal(claims.aud, a.id);
		assert.equal(claims.epoch, 1);
		assert.equal(kube.calls.length, 1, 'a look-up makes no allocation');

		const alice = await connect(l.json.host, l.json.token, { protocol: 'stateroom.v1' });
		await alice.next('welcome');
		const bobTicket = await ticketFor(h.stack, 'bob', roomId);
		const bob = await connect(bobTicket.host, bobTicket.token, { protocol: 'stateroom.v1' });
		await bob.next('welcome');
		assert.equal(await sendAcked(alice, 'a1', 'hello over agones'), 1);
		const got = await bob.next('message');
		assert.equal(got.text, 'hello over agones');
		assert.equal(got.user, 'alice');
		await closeAll([alice, bob]);
	});

	test('UnAllocated: 503 no_capacity and no room row', async () => {
		kube.reset();
		kube.answer(unallocated());
		const before = await h.stack.sql('SELECT count(*) FROM rooms');
		const res = await createRoom(h.stack.backendUrl, await tokenFor(h.stack, 'alice'));
		assert.equal(res.status, 503, res.text);
		assert.equal(res.json.error.code, 'no_capacity');
		assert.equal(kube.calls.length, 1, 'UnAllocated is an answer, not retried');
		assert.deepEqual(await h.stack.sql('SELECT count(*) FROM rooms'), before);
	});

	test('Contention is retried with backoff, then the room is placed', async () => {
		const [a] = h.stack.sessions;
		kube.reset();
		kube.answer(contention(), contention(), allocated(gs(a)));
		const res = await createRoom(h.stack.backendUrl, await tokenFor(h.stack, 'alice'));
		assert.equal(res.status, 200, res.text);
		assert.equal(kube.calls.length, 3);
		for (const c of kube.calls) assertAllocationCall(c, placeBody(res.json.roomId));
		assert.ok(kube.calls[2].at - kube.calls[0].at >= 100, 'the retries wait');
	});

	test('a 500 is retried, then the room is placed', async () => {
		const [a] = h.stack.sessions;
		kube.reset();
		kube.answer(failure(500, 'InternalError', 'etcd timed out'), allocated(gs(a)));
		const res = await createRoom(h.stack.backendUrl, await tokenFor(h.stack, 'alice'));
		assert.equal(res.status, 200, res.text);
		assert.equal(kube.calls.length, 2);
	});

	test('retries are bounded: five 500s give 503 unavailable', async () => {
		kube.reset();
		kube.fallback = failure(503, 'ServiceUnavailable', 'apiserver is shutting down');
		const res = await createRoom(h.stack.backendUrl, await tokenFor(h.stack, 'alice'));
		assert.equal(res.status, 503, res.text);
		assert.equal(res.json.error.code, 'unavailable');
		assert.equal(kube.calls.length, 5);
		assert.match(logOf(h.stack), /allocation failed, giving up/);
		kube.fallback = unallocated();
	});

	test('403 Forbidden: 503 unavailable at once, and a log line that names the reason and the fix', async () => {
		kube.reset();
		kube.answer(failure(403, 'Forbidden', 'gameserverallocations.allocation.agones.dev is forbidden: User "system:serviceaccount:stateroom:backend" cannot create resource'));
		const res = await createRoom(h.stack.backendUrl, await tokenFor(h.stack, 'alice'));
		assert.equal(res.status, 503, res.text);
		assert.equal(res.json.error.code, 'unavailable');
		assert.equal(kube.calls.length, 1, 'no retry on 403');
		const line = logOf(h.stack).split('\n').find((l) => l.includes('allocation refused'));
		assert.ok(line, 'a log line about the refusal');
		assert.match(line, /"reason":"Forbidden"/);
		assert.match(line, /"status":403/);
		assert.match(line, /create on gameserverallocations/);
	});

	test('the token file is read again for every call (projected tokens rotate)', async () => {
		const [a] = h.stack.sessions;
		kube.reset();
		fs.writeFileSync(tokenFile, 'sa-token-two\n');
		kube.token = 'sa-token-two';
		kube.answer(allocated(gs(a)));
		try {
			const res = await createRoom(h.stack.backendUrl, await tokenFor(h.stack, 'alice'));
			assert.equal(res.status, 200, res.text);
			assertAllocationCall(kube.calls[0], placeBody(res.json.roomId), 'sa-token-two');
		} finally {
			fs.writeFileSync(tokenFile, 'sa-token-one\n');
			kube.token = 'sa-token-one';
		}
	});

	test('a room the database has no server for is looked for with containsValue, then pinned with epoch + 1', async () => {
		const [a] = h.stack.sessions;
		kube.reset();
		kube.answer(allocated(gs(a)));
		const token = await tokenFor(h.stack, 'alice');
		const { json: { roomId } } = await createRoom(h.stack.backendUrl, token);
		await h.stack.sql(`UPDATE rooms SET server_id = NULL WHERE id = '${roomId}'`);
		kube.reset();
		kube.answer(allocated(gs(a)));
		const l = await lookup(h.stack.backendUrl, token, roomId);
		assert.equal(l.status, 200, l.text);
		assert.equal(kube.calls.length, 1);
		assertAllocationCall(kube.calls[0], findBody(roomId));
		assert.equal(l.json.host, a.address);
		assert.equal(decodeToken(l.json.token).claims.epoch, 2);

		// In no server's list either: placed like a new room.
		await h.stack.sql(`UPDATE rooms SET server_id = NULL WHERE id = '${roomId}'`);
		kube.reset();
		kube.answer(unallocated(), allocated(gs(a)));
		const l2 = await lookup(h.stack.backendUrl, token, roomId);
		assert.equal(l2.status, 200, l2.text);
		assert.equal(kube.calls.length, 2);
		assertAllocationCall(kube.calls[0], findBody(roomId));
		assertAllocationCall(kube.calls[1], placeBody(roomId));
		assert.equal(decodeToken(l2.json.token).claims.epoch, 3);
	});

	test('an unknown room costs no allocation', async () => {
		kube.reset();
		const l = await lookup(h.stack.backendUrl, await tokenFor(h.stack, 'alice'), 'nosuchroom00');
		assert.equal(l.status, 200);
		assert.equal(l.json.host, null);
		assert.equal(kube.calls.length, 0);
	});

	// Last: it kills a session server.
	test('a server that goes away: the look-up checks its GameServer, allocates anew with epoch + 1, messages kept', { timeout: 30000 }, async () => {
		const [a, b] = h.stack.sessions;
		kube.reset();
		kube.answer(allocated(gs(a)));
		const token = await tokenFor(h.stack, 'alice');
		const { json: { roomId } } = await createRoom(h.stack.backendUrl, token);
		const first = await ticketFor(h.stack, 'alice', roomId);
		const alice = await connect(first.host, first.token, { protocol: 'stateroom.v1' });
		await alice.next('welcome');
		await sendAcked(alice, 'g1', 'before it went away');

		// Silent but still a GameServer: the room stays.
		await a.stop('SIGKILL');
		await alice.closed;
		await sleep(DEAD_AFTER_MS + 300);
		kube.reset();
		const stay = await lookup(h.stack.backendUrl, token, roomId);
		assert.equal(stay.status, 200, stay.text);
		assert.equal(stay.json.host, a.address);
		assert.equal(kube.calls.length, 1);
		assert.equal(kube.calls[0].method, 'GET');
		assert.equal(kube.calls[0].path, `/apis/agones.dev/v1/namespaces/${NS}/gameservers/${a.id}`);
		assert.equal(kube.calls[0].headers.authorization, 'Bearer sa-token-one');

		// Gone from Kubernetes: a new allocation, a new epoch. Its clients
		// all look it up at once; one allocation answers them all.
		kube.deleteGameServer(a.id);
		kube.reset();
		kube.answer(allocated(gs(b)));
		const all = await Promise.all([1, 2, 3, 4].map(() => lookup(h.stack.backendUrl, token, roomId)));
		const again = all[0];
		for (const r of all) {
			assert.equal(r.status, 200, r.text);
			assert.equal(r.json.host, b.address);
			assert.equal(decodeToken(r.json.token).claims.epoch, 2);
		}
		assert.equal(kube.calls.length, 2);
		assert.equal(kube.calls[0].method, 'GET');
		assert.equal(kube.calls[0].path, `/apis/agones.dev/v1/namespaces/${NS}/gameservers/${a.id}`);
		assertAllocationCall(kube.calls[1], placeBody(roomId));
		assert.equal(again.json.host, b.address);
		const claims = decodeToken(again.json.token).claims;
		assert.equal(claims.aud, b.id);
		assert.equal(claims.epoch, 2);

		const alice2 = await connect(again.json.host, again.json.token, { protocol: 'stateroom.v1', since: 0 });
		const welcome = await alice2.next('welcome');
		assert.deepEqual(welcome.messages.map((m) => [m.seq, m.text]), [[1, 'before it went away']]);
		assert.equal(await sendAcked(alice2, 'g2', 'after'), 2);
		await closeAll([alice2]);
		assert.equal(kube.calls.length, 2, 'the next look-ups are database reads');
	});
});

// ---- the session server and its SDK sidecar ---------------------------------

const sdkPort = await freePort();
const HEALTH_MS = 300;
const sdk = new FakeSdk({ port: sdkPort, late: true });

describe('session server with an Agones SDK sidecar', () => {
	let openedAt;
	const h = { stack: null };
	// The sidecar starts late: the server is up (and registered), and has
	// found nothing answering on the SDK port, before anything listens there.
	before(async () => {
		await sdk.start();
		h.stack = await startStack({
			sessions: 1,
			sessionEnv: {
				AGONES_SDK_HTTP_PORT: String(sdkPort),
				SESSION_AGONES_HEALTH_MS: String(HEALTH_MS),
				SESSION_ROOM_IDLE_MS: '500',
			},
		});
		const deadline = Date.now() + 10000;
		while (!/does not answer Ready yet, retrying/.test(h.stack.allLogs()) && Date.now() < deadline) {
			await sleep(25);
		}
		openedAt = Date.now();
		await sdk.open();
	});
	after(async () => {
		await h.stack?.stop();
		await sdk.stop();
	});

	test('a slow sidecar: the server keeps trying Ready until the sidecar listens, then sends it once', async () => {
		await sdk.waitFor((calls) => calls.some((c) => c.path === '/ready'), 'Ready');
		const ready = sdk.callsTo('POST', '/ready');
		assert.equal(ready.length, 1);
		assert.ok(ready[0].at >= openedAt, 'Ready came once the sidecar listened');
		assert.equal(ready[0].headers['content-type'], 'application/json');
		assert.deepEqual(ready[0].body, {});
		assert.match(h.stack.allLogs(), /does not answer Ready yet, retrying/);
		await sleep(500);
		assert.equal(sdk.callsTo('POST', '/ready').length, 1, 'Ready is sent once');
	});

	test('Health goes out on a timer', async () => {
		const from = Date.now();
		await sdk.waitFor((calls) => calls.filter((c) => c.path === '/health' && c.at >= from).length >= 3, 'three Health calls');
		const health = sdk.callsTo('POST', '/health').filter((c) => c.at >= from);
		for (const c of health) {
			assert.equal(c.headers['content-type'], 'application/json');
			assert.deepEqual(c.body, {});
		}
		const gaps = health.slice(1).map((c, i) => c.at - health[i].at);
		for (const g of gaps) assert.ok(g >= HEALTH_MS - 100 && g <= HEALTH_MS * 3, `Health ${g} ms apart`);
	});

	test('the rooms list and counter follow the rooms the server loads and unloads', async () => {
		// The allocation that placed the room counted it; the fake starts there.
		sdk.counters.get('rooms').count = 1;
		const roomId = await newRoomIn(h.stack);
		const t = await ticketFor(h.stack, 'alice', roomId);
		const alice = await connect(t.host, t.token, { protocol: 'stateroom.v1' });
		await alice.next('welcome');
		const add = '/v1beta1/lists/rooms:addValue';
		await sdk.waitFor((calls) => calls.some((c) => c.path === add), 'addValue');
		const [adding] = sdk.callsTo('POST', add);
		assert.deepEqual(adding.body, { value: roomId });
		assert.equal(adding.headers['content-type'], 'application/json');
		assert.deepEqual(sdk.lists.get('rooms').values, [roomId]);

		await closeAll([alice]);
		const counter = '/v1beta1/counters/rooms';
		await sdk.waitFor((calls) => calls.some((c) => c.path === counter), 'the counter going down', 10000);
		const remove = sdk.callsTo('POST', '/v1beta1/lists/rooms:removeValue');
		const patch = sdk.callsTo('PATCH', counter);
		assert.equal(remove.length, 1);
		assert.deepEqual(remove[0].body, { value: roomId });
		assert.equal(patch.length, 1);
		assert.deepEqual(patch[0].body, { countDiff: '-1' }, 'int64 as a string');
		assert.equal(patch[0].headers['content-type'], 'application/json');
		assert.ok(remove[0].at <= patch[0].at);
		assert.deepEqual(sdk.lists.get('rooms').values, []);
		assert.equal(sdk.counters.get('rooms').count, 0);
	});

	test('an inbox is in neither the rooms list nor the counter; a chat room beside it is', { timeout: 30000 }, async () => {
		const from = Date.now();
		const [user] = await seedAccounts(h.stack, 'sdkin', 1);
		const inbox = await openInbox(h.stack, user);
		const inboxId = decodeToken(inbox.ticket.token).claims.room;
		// Closed first: with the same idle time it is unloaded before the
		// chat room is, so its calls, if any, would come before the room's.
		await closeAll([inbox]);

		sdk.counters.get('rooms').count = 1;
		const roomId = await newRoomIn(h.stack);
		const t = await ticketFor(h.stack, 'alice', roomId);
		const alice = await connect(t.host, t.token, { protocol: 'stateroom.v1' });
		await alice.next('welcome');
		await closeAll([alice]);
		const counter = '/v1beta1/counters/rooms';
		await sdk.waitFor((calls) => calls.some((c) => c.at >= from && c.path === counter), 'the counter going down');
		const mine = sdk.calls.filter((c) => c.at >= from && c.path.startsWith('/v1beta1/'));
		assert.deepEqual(mine.map((c) => [c.method, c.path, c.body]), [
			['POST', '/v1beta1/lists/rooms:addValue', { value: roomId }],
			['POST', '/v1beta1/lists/rooms:removeValue', { value: roomId }],
			['PATCH', counter, { countDiff: '-1' }],
		], `the inbox ${inboxId} is not reported`);
		assert.equal(sdk.counters.get('rooms').count, 0);
		assert.deepEqual(sdk.lists.get('rooms').values, []);
	});

	test('drain: the counter capacity drops to the rooms held, then Shutdown, and the process exits 0', { timeout: 30000 }, async () => {
		sdk.counters.get('rooms').count = 1;
		const roomId = await newRoomIn(h.stack);
		const t = await ticketFor(h.stack, 'alice', roomId);
		const alice = await connect(t.host, t.token, { protocol: 'stateroom.v1' });
		await alice.next('welcome');
		await sdk.waitFor((calls) => calls.some((c) => c.path === '/v1beta1/lists/rooms:addValue' && c.body?.value === roomId), 'addValue');
		const from = Date.now();
		const session = h.stack.sessions[0];
		const stopped = session.stop('SIGTERM');
		assert.equal((await alice.closed).code, 1012);
		await stopped;
		const after = sdk.calls.filter((c) => c.at >= from);
		const capacity = after.filter((c) => c.method === 'PATCH' && c.path === '/v1beta1/counters/rooms');
		assert.equal(capacity.length, 1, after.map((c) => `${c.method} ${c.path} ${c.raw}`).join(', '));
		assert.deepEqual(capacity[0].body, { capacity: '1' });
		const shutdown = after.filter((c) => c.path === '/shutdown');
		assert.equal(shutdown.length, 1);
		assert.equal(shutdown[0].method, 'POST');
		assert.deepEqual(shutdown[0].body, {});
		assert.ok(capacity[0].at <= shutdown[0].at);
		assert.equal(after.filter((c) => c.path.startsWith('/v1beta1/') && c.at > capacity[0].at).length, 0,
			'no room change is reported after the capacity is set');
		assert.equal(sdk.state, 'Shutdown');
		for (const c of sdk.calls.filter((x) => x.method !== 'GET')) {
			assert.equal(c.headers['content-type'], 'application/json', `${c.method} ${c.path}`);
		}
	});
});

async function newRoomIn(stack) {
	const res = await createRoom(stack.backendUrl, await tokenFor(stack, 'alice'));
	assert.equal(res.status, 200, res.text);
	return res.json.roomId;
}
