// The operator API: GET /api/admin/servers and POST
// /api/admin/servers/:id/drain, behind --admin-token (absent: no such routes).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, request, join, newRoom, tokenFor, closeAll } from './lib/stack.js';

const ADMIN = 'a-long-random-operator-token-0123456789';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('the operator API', () => {
	const h = useStack({
		sessions: 2,
		sessionEnv: { SESSION_MAX_ROOMS: '7' },
		backendEnv: { STATEROOM_ADMIN_TOKEN: ADMIN },
	});
	const get = (token) => request(h.stack.backendUrl, '/api/admin/servers', { token });
	const drain = (id, token = ADMIN) =>
		request(h.stack.backendUrl, `/api/admin/servers/${id}/drain`, { method: 'POST', token });

	test('without a Bearer token: 401 with a challenge', async () => {
		for (const res of [await get(), await drain(h.stack.sessions[0].id, null)]) {
			assert.equal(res.status, 401, res.text);
			assert.equal(res.json.error.code, 'unauthorized');
			assert.equal(res.headers.get('www-authenticate'), 'Bearer');
		}
	});

	test('with a wrong token, a prefix of it, or a user token: 403', async () => {
		const user = await tokenFor(h.stack, 'mallory');
		for (const token of ['nope', ADMIN.slice(0, -1), `${ADMIN}x`, user]) {
			const res = await get(token);
			assert.equal(res.status, 403, `${token}: ${res.text}`);
			assert.equal(res.json.error.code, 'forbidden');
			assert.equal((await drain(h.stack.sessions[0].id, token)).status, 403);
		}
		assert.equal((await h.stack.sql("SELECT count(*) FROM session_servers WHERE state = 'draining'"))[0][0], '0');
	});

	test('lists every server with its state, load and heartbeat', async () => {
		const roomId = await newRoom(h.stack, 'alice');
		const [alice, welcome] = await join(h.stack, 'alice', roomId);
		assert.equal(welcome.type, 'welcome');
		const [[host]] = await h.stack.sql(`SELECT s.address FROM rooms r JOIN session_servers s ON s.id = r.server_id WHERE r.id = '${roomId}'`);
		await sleep(600); // a few heartbeats (200 ms in the harness) carry the counts

		const res = await get(ADMIN);
		assert.equal(res.status, 200, res.text);
		assert.equal(res.headers.get('cache-control'), 'no-store');
		const servers = res.json.servers;
		assert.deepEqual(servers.map((s) => s.id), h.stack.sessions.map((s) => s.id).sort());
		for (const s of servers) {
			assert.deepEqual(Object.keys(s).sort(),
				['address', 'capacity', 'connections', 'heartbeatAgeMs', 'id', 'inboxCapacity', 'inboxes', 'live', 'pinnedInboxes', 'pinnedRooms', 'rooms', 'state']);
			const proc = h.stack.sessions.find((p) => p.id === s.id);
			assert.equal(s.address, proc.address);
			assert.equal(s.state, 'up');
			assert.equal(s.capacity, 7);
			assert.equal(s.live, true);
			assert.ok(Number.isInteger(s.heartbeatAgeMs) && s.heartbeatAgeMs >= 0 && s.heartbeatAgeMs < 1500, `age ${s.heartbeatAgeMs}`);
			const hosting = s.address === host;
			assert.equal(s.rooms, hosting ? 1 : 0, `${s.id} rooms`);
			assert.equal(s.pinnedRooms, hosting ? 1 : 0, `${s.id} pinned rooms`);
			assert.equal(s.connections, hosting ? 1 : 0, `${s.id} connections`);
		}
		await closeAll([alice]);
	});

	test('draining an unknown server: 404, and nothing changes', async () => {
		for (const id of ['ss-1', 'no%20such', 'x'.repeat(64), encodeURIComponent('ss-1\u00e9')]) {
			const res = await drain(id);
			assert.equal(res.status, 404, `${id}: ${res.text}`);
			assert.equal(res.json.error.code, 'not_found');
		}
		assert.equal((await h.stack.sql("SELECT count(*) FROM session_servers WHERE state = 'up'"))[0][0], '2');
	});

	test('draining a server: 202, listed as draining, then gone from the list', { timeout: 20000 }, async () => {
		const s = h.stack.sessions[1];
		const exited = s.expectExit();
		const res = await drain(s.id);
		assert.equal(res.status, 202, res.text);
		assert.deepEqual(res.json, { id: s.id, state: 'draining' });
		const listed = (await get(ADMIN)).json.servers.find((x) => x.id === s.id);
		assert.ok(!listed || listed.state === 'draining', JSON.stringify(listed));
		assert.equal((await exited).code, 0);
		assert.deepEqual((await get(ADMIN)).json.servers.map((x) => x.id), [h.stack.sessions[0].id]);
		await s.start();
		await h.stack.waitRegistered();
	});

	test('other methods on the admin routes: 405', async () => {
		const res = await request(h.stack.backendUrl, '/api/admin/servers', { method: 'DELETE', token: ADMIN });
		assert.equal(res.status, 405);
	});
});

describe('the operator API without --admin-token', () => {
	const h = useStack({ sessions: 1 });

	test('does not exist: 404 with or without a token', async () => {
		for (const token of [undefined, 'anything', '']) {
			const res = await request(h.stack.backendUrl, '/api/admin/servers', { token });
			assert.equal(res.status, 404, res.text);
			const d = await request(h.stack.backendUrl, `/api/admin/servers/${h.stack.sessions[0].id}/drain`, { method: 'POST', token });
			assert.equal(d.status, 404, d.text);
		}
		assert.equal((await h.stack.sql("SELECT count(*) FROM session_servers WHERE state = 'up'"))[0][0], '1');
	});
});
