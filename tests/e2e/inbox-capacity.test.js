// Inboxes are counted apart from rooms (docs/protocol.md, "The inbox";
// migration 015): every registered user with the web client open holds an
// inbox room, which must not take one of the server's --max-rooms slots.
// The first stack runs the session server with its default settings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, request, connect, decodeToken, join, newRoom, closeAll } from './lib/stack.js';
import { seedAccounts } from './lib/friendsapi.js';

const ADMIN = 'a-long-random-operator-token-0123456789';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const inboxTicket = (stack, user) => request(stack.backendUrl, '/api/me/inbox', { token: user.token });

async function openInbox(stack, user) {
	const res = await inboxTicket(stack, user);
	assert.equal(res.status, 200, `${user.id}: ${res.text}`);
	const c = await connect(res.json.host, res.json.token, { protocol: 'stateroom.v1' });
	await c.next('welcome');
	c.host = res.json.host;
	return c;
}

async function withStack(opts, fn) {
	const stack = await startStack(opts);
	try {
		await fn(stack);
	} catch (e) {
		process.stderr.write(`\n--- server logs ---\n${stack.logsSinceMark?.() ?? ''}\n`);
		throw e;
	} finally {
		await stack.stop();
	}
}

// Until the heartbeat reports what is expected (or the last row read).
async function serverRow(stack, want) {
	let row;
	for (let i = 0; i < 50; i++) {
		[row] = await stack.sql('SELECT rooms, inboxes FROM session_servers');
		if (row[0] === want[0] && row[1] === want[1]) break;
		await sleep(100);
	}
	return row;
}

function metric(text, name) {
	const m = text.match(new RegExp(`^${name} (\\d+)$`, 'm'));
	return m ? Number(m[1]) : null;
}

test('default settings: 30 users with their inbox open, then a chat room is still created and joined, and only it counts as a room', { timeout: 60000 }, async () => {
	await withStack({ sessions: 1, backends: 1, backendEnv: { STATEROOM_ADMIN_TOKEN: ADMIN } }, async (stack) => {
		const users = await seedAccounts(stack, 'cap', 30);
		const inboxes = [];
		for (const u of users) inboxes.push(await openInbox(stack, u));

		const roomId = await newRoom(stack, 'capowner');
		const [c, welcome] = await join(stack, 'capjoiner', roomId);
		assert.equal(welcome.room, roomId);

		assert.deepEqual(await serverRow(stack, ['1', '30']), ['1', '30']);
		const admin = await request(stack.backendUrl, '/api/admin/servers', { token: ADMIN });
		assert.equal(admin.status, 200, admin.text);
		const [s] = admin.json.servers;
		assert.equal(s.capacity, 10, 'the default --max-rooms');
		assert.equal(s.rooms, 1);
		assert.equal(s.pinnedRooms, 1);
		assert.equal(s.inboxes, 30);
		assert.equal(s.pinnedInboxes, 30);
		assert.equal(s.inboxCapacity, 10000, 'the default --max-inboxes');
		const m = await request(`http://${stack.sessions[0].address}`, '/metrics');
		assert.equal(metric(m.text, 'stateroom_session_rooms'), 1);
		assert.equal(metric(m.text, 'stateroom_session_inboxes'), 30);
		await closeAll([c, ...inboxes]);
	});
});

test('a draining server gets no new inbox; with none up, GET /api/me/inbox is 503 no_capacity', { timeout: 60000 }, async () => {
	await withStack({ sessions: 2, backends: 1, backendEnv: { STATEROOM_ADMIN_TOKEN: ADMIN } }, async (stack) => {
		const [a, b] = stack.sessions;
		// Servers keep draining while an inbox client is connected to them:
		// the open inbox on a holds its drain long enough to look.
		const users = await seedAccounts(stack, 'drn', 7);
		const held = await openInbox(stack, users[0]);
		const draining = stack.sessions.find((s) => s.address === held.host);
		const other = draining === a ? b : a;
		const exited = draining.expectExit();
		const res = await request(stack.backendUrl, `/api/admin/servers/${draining.id}/drain`, { method: 'POST', token: ADMIN });
		assert.equal(res.status, 202, res.text);
		for (const u of users.slice(1, 6)) {
			const t = await inboxTicket(stack, u);
			assert.equal(t.status, 200, t.text);
			assert.equal(t.json.host, other.address, `${u.id}'s inbox is placed on the server that is up`);
			assert.equal(decodeToken(t.json.token).claims.aud, other.id);
		}
		await exited;
		await closeAll([held]);

		const stopped = other.expectExit();
		await stack.sql(`UPDATE session_servers SET state = 'draining' WHERE id = '${other.id}'`);
		await stopped;
		const none = await inboxTicket(stack, users[6]);
		assert.equal(none.status, 503, none.text);
		assert.equal(none.json.error.code, 'no_capacity');
	});
});

test('--max-inboxes 2: the third inbox gets 503 no_capacity, and the server refuses a third inbox pinned to it with 4004', { timeout: 60000 }, async () => {
	await withStack({ sessions: 1, backends: 1, sessionEnv: { SESSION_MAX_INBOXES: '2' } }, async (stack) => {
		const users = await seedAccounts(stack, 'max', 3);
		const open = [await openInbox(stack, users[0]), await openInbox(stack, users[1])];

		const third = await inboxTicket(stack, users[2]);
		assert.equal(third.status, 503, third.text);
		assert.equal(third.json.error.code, 'no_capacity');
		assert.ok(third.headers.get('retry-after'), 'Retry-After');

		// Rooms are not affected by the inboxes' bound.
		const roomId = await newRoom(stack, 'maxowner');
		const [c] = await join(stack, 'maxjoiner', roomId);

		// Pinned past placement's count (as a stale pin would be): the
		// server's own bound refuses the load, and unpins the inbox.
		const id = stack.sessions[0].id;
		await stack.sql(`UPDATE rooms SET server_id = '${id}', epoch = 1, pinned_at = now()
			WHERE kind = 'inbox' AND owner = '${users[2].id}'`);
		const t = await inboxTicket(stack, users[2]);
		assert.equal(t.status, 200, t.text);
		const refused = await connect(t.json.host, t.json.token, { protocol: 'stateroom.v1' });
		const info = await refused.closed;
		assert.equal(info.code, 4004, JSON.stringify(info));
		assert.match(info.reason, /no inbox slot/);
		let pinned;
		for (let i = 0; i < 50; i++) {
			[[pinned]] = await stack.sql(`SELECT server_id IS NOT NULL FROM rooms WHERE kind = 'inbox' AND owner = '${users[2].id}'`);
			if (pinned === 'f') break;
			await sleep(100);
		}
		assert.equal(pinned, 'f', 'the refused inbox is unpinned');
		const again = await inboxTicket(stack, users[2]);
		assert.equal(again.status, 503, again.text);
		await closeAll([c, ...open]);
	});
});
