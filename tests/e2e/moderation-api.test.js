// Roles and moderation through the HTTP API (docs/protocol.md, "Roles and
// moderation"): a plain member attempting each moderator and owner action is
// refused and nothing changes; a moderator cannot act on another moderator
// or the owner; the owner's actions work; a banned user is refused at every
// way back in; invite-only rooms, invites and links; hostile input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, login, createRoom, lookup, request } from './lib/stack.js';
import { register, call } from './lib/friendsapi.js';

const h = useStack({ sessions: 1, backends: 1 });
const sql = (q) => h.stack.sql(q);

function assertError(res, status, code) {
	assert.equal(res.status, status, res.text);
	assert.equal(res.json?.error?.code, code, res.text);
}

async function roomOf(who, body) {
	const res = await createRoom(h.stack.backendUrl, who.token, body);
	assert.equal(res.status, 200, res.text);
	return res.json.roomId;
}

// Looks the room up (so an account is one of its members) and expects a ticket.
async function enter(who, roomId) {
	const res = await lookup(h.stack.backendUrl, who.token, roomId);
	assert.equal(res.status, 200, res.text);
	assert.equal(typeof res.json.token, 'string', res.text);
	return res.json;
}

const counts = async (roomId) => (await sql(`SELECT
	(SELECT count(*) FROM room_actions WHERE room_id = '${roomId}'),
	(SELECT count(*) FROM room_bans WHERE room_id = '${roomId}'),
	(SELECT count(*) FROM room_mutes WHERE room_id = '${roomId}'),
	(SELECT count(*) FROM room_roles WHERE room_id = '${roomId}'),
	(SELECT count(*) FROM room_invites WHERE room_id = '${roomId}'),
	(SELECT count(*) FROM room_invite_links WHERE room_id = '${roomId}'),
	(SELECT row(name, visibility, capacity, invite_only, owner)::text FROM rooms WHERE id = '${roomId}')`))[0];

async function guest(prefix) {
	const name = `${prefix}${process.pid % 10000}`;
	return { name, token: await login(h.stack.backendUrl, name) };
}

test('a plain member attempting each moderator and owner action is refused, and nothing changes', async () => {
	const s = h.stack;
	const [own, mem, other] = [await register(s, 'mo'), await register(s, 'mm'), await register(s, 'mx')];
	const room = await roomOf(own, { name: 'Plain' });
	await enter(own, room);
	await enter(mem, room);
	await enter(other, room);
	const before = await counts(room);
	const attempts = [
		['PATCH', `/api/rooms/${room}`, { name: 'Mine now' }],
		['DELETE', `/api/rooms/${room}`],
		['PATCH', `/api/rooms/${room}/members/${other.id}`, { role: 'moderator' }],
		['PATCH', `/api/rooms/${room}/members/${mem.id}`, { role: 'moderator' }],
		['POST', `/api/rooms/${room}/owner`, { userId: mem.id }],
		['DELETE', `/api/rooms/${room}/members/${other.id}`],
		['GET', `/api/rooms/${room}/bans`],
		['POST', `/api/rooms/${room}/bans`, { userId: other.id, reason: 'because' }],
		['DELETE', `/api/rooms/${room}/bans/${other.id}`],
		['POST', `/api/rooms/${room}/mutes`, { userId: other.id, durationS: 60 }],
		['DELETE', `/api/rooms/${room}/mutes/${other.id}`],
		['GET', `/api/rooms/${room}/invites`],
		['POST', `/api/rooms/${room}/invites`, { userId: other.id }],
		['POST', `/api/rooms/${room}/invites`, { link: true }],
		['DELETE', `/api/rooms/${room}/invites/${other.id}`],
		['DELETE', `/api/rooms/${room}/invites/links/1`],
	];
	for (const [method, path, body] of attempts) {
		assertError(await call(s, mem, method, path, body), 403, 'forbidden');
	}
	// Nor on the owner: their role may not, whatever the target.
	assertError(await call(s, mem, 'POST', `/api/rooms/${room}/bans`, { userId: own.id }), 403, 'forbidden');
	assert.deepEqual(await counts(room), before, 'no action, ban, mute, role, invite nor link was written');
	assert.equal((await enter(mem, room)).name, 'Plain');
	const members = await call(s, mem, 'GET', `/api/rooms/${room}/members`);
	assert.equal(members.status, 200, members.text);
	assert.deepEqual(members.json.you, { role: 'member' });
	assert.deepEqual(members.json.owner, { userId: own.id, name: own.id });
	assert.deepEqual(members.json.members.map((m) => m.userId).sort(), [own.id, mem.id, other.id].sort());
});

test('a moderator moderates members but cannot act on another moderator or the owner', async () => {
	const s = h.stack;
	const [own, m1, m2, mem] = [await register(s, 'qo'), await register(s, 'q1'), await register(s, 'q2'), await register(s, 'qm')];
	const room = await roomOf(own);
	for (const u of [m1, m2, mem]) await enter(u, room);
	for (const u of [m1, m2]) {
		const r = await call(s, own, 'PATCH', `/api/rooms/${room}/members/${u.id}`, { role: 'moderator' });
		assert.equal(r.status, 200, r.text);
	}
	assertError(await call(s, own, 'PATCH', `/api/rooms/${room}/members/${m1.id}`, { role: 'moderator' }), 409, 'exists');
	const list = await call(s, m1, 'GET', `/api/rooms/${room}/members`);
	assert.deepEqual(list.json.moderators.map((m) => m.userId).sort(), [m1.id, m2.id].sort());
	assert.equal(list.json.you.role, 'moderator');
	assert.equal(list.json.members.find((m) => m.userId === m2.id).role, 'moderator');

	for (const target of [m2, own, m1]) {
		assertError(await call(s, m1, 'POST', `/api/rooms/${room}/bans`, { userId: target.id }), 403, 'outranked');
		assertError(await call(s, m1, 'DELETE', `/api/rooms/${room}/members/${target.id}`), 403, 'outranked');
		assertError(await call(s, m1, 'POST', `/api/rooms/${room}/mutes`, { userId: target.id, durationS: 60 }),
			403, 'outranked');
	}
	assertError(await call(s, m1, 'PATCH', `/api/rooms/${room}/members/${m2.id}`, { role: 'member' }), 403, 'forbidden');
	assertError(await call(s, m1, 'PATCH', `/api/rooms/${room}`, { name: 'x' }), 403, 'forbidden');
	assertError(await call(s, m1, 'DELETE', `/api/rooms/${room}`), 403, 'forbidden');
	assert.equal((await counts(room))[1], '0', 'nobody is banned');

	// A member, though: muted, unmuted, kicked.
	const mute = await call(s, m1, 'POST', `/api/rooms/${room}/mutes`, { userId: mem.id, durationS: 600 });
	assert.equal(mute.status, 201, mute.text);
	const you = (await call(s, mem, 'GET', `/api/rooms/${room}/members`)).json.you;
	assert.equal(you.role, 'member');
	assert.ok(you.mutedUntil > Date.now() + 500_000 && you.mutedUntil < Date.now() + 700_000, JSON.stringify(you));
	assert.equal((await call(s, m1, 'DELETE', `/api/rooms/${room}/mutes/${mem.id}`)).status, 204);
	assertError(await call(s, m1, 'DELETE', `/api/rooms/${room}/mutes/${mem.id}`), 404, 'not_found');
	const kick = await call(s, m1, 'DELETE', `/api/rooms/${room}/members/${mem.id}?reason=${encodeURIComponent('off topic')}`);
	assert.equal(kick.status, 204, kick.text);
	const after = await call(s, own, 'GET', `/api/rooms/${room}/members`);
	assert.ok(!after.json.members.some((m) => m.userId === mem.id), 'a kicked member leaves the members list');
	const acts = await sql(`SELECT action, actor_name, target, detail::text FROM room_actions WHERE room_id = '${room}' ORDER BY id`);
	assert.deepEqual(acts.map((a) => a[0]), ['promote', 'promote', 'mute', 'unmute', 'kick']);
	assert.deepEqual(acts[4], ['kick', m1.id, mem.id, '{"reason": "off topic"}']);

	// The owner demotes a moderator, who is then a member again.
	assert.equal((await call(s, own, 'PATCH', `/api/rooms/${room}/members/${m2.id}`, { role: 'member' })).status, 200);
	assertError(await call(s, own, 'PATCH', `/api/rooms/${room}/members/${m2.id}`, { role: 'member' }), 404, 'not_found');
	assert.equal((await call(s, m2, 'GET', `/api/rooms/${room}/members`)).json.you.role, 'member');
});

test('the owner renames, sets capacity, visibility and invite-only, hands over, and deletes', async () => {
	const s = h.stack;
	const [own, heir, mem] = [await register(s, 'wo'), await register(s, 'wh'), await register(s, 'wm')];
	const room = await roomOf(own, { name: 'Before' });
	await enter(heir, room);
	await enter(mem, room);
	const p = await call(s, own, 'PATCH', `/api/rooms/${room}`, { name: 'After', capacity: 7, visibility: 'public', extra: 1 });
	assert.equal(p.status, 200, p.text);
	assert.deepEqual(p.json, { roomId: room, name: 'After', visibility: 'public', capacity: 7, inviteOnly: false, owner: own.id });
	assert.equal((await enter(mem, room)).name, 'After', 'a look-up gives the new name');
	assert.deepEqual((await call(s, mem, 'GET', `/api/rooms/${room}/members`)).json.room,
		{ name: 'After', visibility: 'public', capacity: 7, inviteOnly: false });
	const listed = await call(s, mem, 'GET', '/api/rooms');
	assert.equal(listed.json.rooms.find((r) => r.roomId === room)?.capacity, 7, 'public now, with its new capacity');

	const io = await call(s, own, 'PATCH', `/api/rooms/${room}`, { inviteOnly: true });
	assert.equal(io.json.inviteOnly, true);
	const stranger = await register(s, 'ws');
	assertError(await lookup(s.backendUrl, stranger.token, room), 403, 'invite_only');
	assert.ok(!(await call(s, stranger, 'GET', '/api/rooms')).json.rooms.some((r) => r.roomId === room),
		'an invite-only room leaves the public list of those it does not admit');
	assert.equal((await call(s, own, 'PATCH', `/api/rooms/${room}`, { inviteOnly: false, name: null })).json.name, null);

	const t = await call(s, own, 'POST', `/api/rooms/${room}/owner`, { userId: heir.id });
	assert.equal(t.status, 200, t.text);
	const m = await call(s, own, 'GET', `/api/rooms/${room}/members`);
	assert.deepEqual(m.json.owner, { userId: heir.id, name: heir.id });
	assert.equal(m.json.you.role, 'moderator', 'the old owner becomes a moderator');
	assertError(await call(s, own, 'PATCH', `/api/rooms/${room}`, { name: 'Mine' }), 403, 'forbidden');
	assertError(await call(s, own, 'DELETE', `/api/rooms/${room}`), 403, 'forbidden');
	assertError(await call(s, heir, 'POST', `/api/rooms/${room}/owner`, { userId: 'nobody_here' }), 404, 'no_such_user');

	const d = await call(s, heir, 'DELETE', `/api/rooms/${room}`);
	assert.equal(d.status, 204, d.text);
	const gone = await lookup(s.backendUrl, mem.token, room);
	assert.equal(gone.status, 200, gone.text);
	assert.deepEqual(gone.json, { host: null, token: null }, 'a deleted room is no room');
	assertError(await call(s, mem, 'GET', `/api/rooms/${room}/members`), 404, 'not_found');
	assertError(await call(s, heir, 'DELETE', `/api/rooms/${room}`), 404, 'not_found');
});

async function upload(who, roomId, text) {
	const res = await fetch(`${h.stack.backendUrl}/api/rooms/${roomId}/files?name=a.txt`, {
		method: 'POST', headers: { authorization: `Bearer ${who.token}`, 'content-type': 'text/plain' }, body: text,
	});
	return { status: res.status, json: await res.json().catch(() => undefined) };
}

test('a banned user is refused at every way back in, until unbanned', async () => {
	const s = h.stack;
	const [own, bad] = [await register(s, 'bo'), await register(s, 'bb')];
	const room = await roomOf(own, { visibility: 'public', name: 'Banroom' });
	await enter(bad, room);
	await sql(`INSERT INTO records (room_id, seq, user_id, payload, kind)
		VALUES ('${room}', 1, '${own.id}', 'zebracorn sighting', 'message')`);
	const file = await upload(own, room, 'hello');
	assert.equal(file.status, 201, JSON.stringify(file.json));
	const ways = {
		lookup: () => lookup(s.backendUrl, bad.token, room),
		file: () => call(s, bad, 'GET', `/api/rooms/${room}/files/${file.json.fileId}`),
		history: () => call(s, bad, 'GET', `/api/rooms/${room}/messages`),
		versions: () => call(s, bad, 'GET', `/api/rooms/${room}/messages/1/versions`),
		search: () => call(s, bad, 'GET', `/api/rooms/${room}/search?q=zebracorn`),
		members: () => call(s, bad, 'GET', `/api/rooms/${room}/members`),
	};
	for (const [way, f] of Object.entries(ways)) {
		const r = await f();
		assert.ok(r.status === 200 || (way === 'versions' && r.status === 404), `${way} before the ban: ${r.status}`);
	}
	const listed = async () => (await call(s, bad, 'GET', '/api/rooms')).json.rooms.some((r) => r.roomId === room);
	const found = async () => (await call(s, bad, 'GET', '/api/search?q=zebracorn')).json.hits.some((x) => x.roomId === room);
	assert.equal(await listed(), true);
	assert.equal(await found(), true);

	const ban = await call(s, own, 'POST', `/api/rooms/${room}/bans`, { userId: bad.id, reason: 'spam' });
	assert.equal(ban.status, 201, ban.text);
	for (const [way, f] of Object.entries(ways)) {
		const r = await f();
		assert.equal(r.status, 403, `${way}: ${r.text}`);
		assert.equal(r.json.error.code, 'banned', `${way}: ${r.text}`);
	}
	assertError(await upload(bad, room, 'let me in').then((r) => ({ ...r, text: JSON.stringify(r.json) })), 403, 'banned');
	assert.equal(await listed(), false, 'the public list leaves the room out');
	assert.equal(await found(), false, 'the room leaves the cross-room search');
	const link = await call(s, own, 'POST', `/api/rooms/${room}/invites`, { link: true });
	assertError(await call(s, bad, 'POST', `/api/invites/${link.json.token}`), 403, 'banned');
	assert.equal((await call(s, own, 'POST', `/api/rooms/${room}/invites`, { userId: bad.id })).status, 201);
	assertError(await lookup(s.backendUrl, bad.token, room), 403, 'banned');

	const bans = await call(s, own, 'GET', `/api/rooms/${room}/bans`);
	assert.equal(bans.status, 200, bans.text);
	assert.equal(bans.json.bans.length, 1);
	assert.deepEqual({ ...bans.json.bans[0], at: 0 }, { userId: bad.id, name: bad.id, by: own.id, reason: 'spam', at: 0, until: null });
	assert.equal((await call(s, own, 'DELETE', `/api/rooms/${room}/bans/${bad.id}`)).status, 204);
	assertError(await call(s, own, 'DELETE', `/api/rooms/${room}/bans/${bad.id}`), 404, 'not_found');
	await enter(bad, room);
});

test('a ban with durationS ends by itself', async () => {
	const s = h.stack;
	const [own, bad] = [await register(s, 'do'), await register(s, 'db')];
	const room = await roomOf(own);
	const ban = await call(s, own, 'POST', `/api/rooms/${room}/bans`, { userId: bad.id, durationS: 1 });
	assert.equal(ban.status, 201, ban.text);
	assertError(await lookup(s.backendUrl, bad.token, room), 403, 'banned');
	const until = (await call(s, own, 'GET', `/api/rooms/${room}/bans`)).json.bans[0].until;
	assert.ok(until > Date.now() - 5000 && until <= Date.now() + 1500, `until ${until}`);
	await new Promise((r) => setTimeout(r, Math.max(0, until - Date.now()) + 300));
	await enter(bad, room);
	assert.deepEqual((await call(s, own, 'GET', `/api/rooms/${room}/bans`)).json.bans, []);
});

test('an invite-only room refuses the uninvited and admits an invited user and a link holder', async () => {
	const s = h.stack;
	const [own, friend, stranger] = [await register(s, 'io'), await register(s, 'if'), await register(s, 'is')];
	const room = await roomOf(own, { inviteOnly: true, visibility: 'public', name: 'Secret' });
	await enter(own, room);
	assertError(await lookup(s.backendUrl, stranger.token, room), 403, 'invite_only');
	assertError(await call(s, stranger, 'GET', `/api/rooms/${room}/messages`), 403, 'invite_only');
	assertError(await call(s, stranger, 'GET', `/api/rooms/${room}/members`), 403, 'invite_only');
	assert.ok(!(await call(s, stranger, 'GET', '/api/rooms')).json.rooms.some((r) => r.roomId === room));
	assert.ok((await call(s, own, 'GET', '/api/rooms')).json.rooms.some((r) => r.roomId === room));

	const inv = await call(s, own, 'POST', `/api/rooms/${room}/invites`, { userId: friend.id });
	assert.equal(inv.status, 201, inv.text);
	assertError(await call(s, own, 'POST', `/api/rooms/${room}/invites`, { userId: friend.id }), 409, 'exists');
	assertError(await call(s, own, 'POST', `/api/rooms/${room}/invites`, { userId: 'no_such_one' }), 404, 'no_such_user');
	await enter(friend, room);

	const link = await call(s, own, 'POST', `/api/rooms/${room}/invites`, { link: true, expiresInS: 3600 });
	assert.equal(link.status, 201, link.text);
	assert.match(link.json.token, /^[A-Za-z0-9_-]{43}$/);
	assert.equal(link.json.url, `/#/invite/${link.json.token}`);
	assert.ok(Math.abs(link.json.expiresAt - (Date.now() + 3_600_000)) < 60_000);
	const stored = await sql(`SELECT encode(token_hash, 'hex') FROM room_invite_links WHERE id = ${link.json.id}`);
	assert.notEqual(stored[0][0], Buffer.from(link.json.token).toString('hex'), 'only a hash is stored');

	const g = await guest('gl');
	assertError(await lookup(s.backendUrl, g.token, room), 403, 'invite_only');
	const took = await call(s, g, 'POST', `/api/invites/${link.json.token}`);
	assert.equal(took.status, 200, took.text);
	assert.deepEqual(took.json, { roomId: room, name: 'Secret' });
	await enter(g, room);

	const list = await call(s, own, 'GET', `/api/rooms/${room}/invites`);
	assert.equal(list.status, 200, list.text);
	assert.equal(list.json.invites.length, 2);
	assert.equal(list.json.invites.find((i) => i.userId === friend.id).by, own.id);
	assert.deepEqual({ ...list.json.links[0], createdAt: 0 }, {
		id: link.json.id, createdBy: own.id, createdAt: 0, expiresAt: link.json.expiresAt,
		revoked: false, uses: 1, maxUses: null,
	});
	// Uninvited, the friend is out again.
	assert.equal((await call(s, own, 'DELETE', `/api/rooms/${room}/invites/${friend.id}`)).status, 204);
	assertError(await lookup(s.backendUrl, friend.token, room), 403, 'invite_only');
	// A guest's id in a path, as a client encodes it.
	const gid = list.json.invites.find((i) => i.userId !== friend.id).userId;
	assert.match(gid, /^guest:/);
	assert.equal((await call(s, own, 'DELETE', `/api/rooms/${room}/invites/${encodeURIComponent(gid)}`)).status, 204);
	assertError(await lookup(s.backendUrl, g.token, room), 403, 'invite_only');
});

test('a link works until it expires, is revoked or used up, and every dead link gets one answer', async () => {
	const s = h.stack;
	const own = await register(s, 'lo');
	const room = await roomOf(own, { inviteOnly: true });
	const mk = async (body) => {
		const r = await call(s, own, 'POST', `/api/rooms/${room}/invites`, { link: true, ...body });
		assert.equal(r.status, 201, r.text);
		return r.json;
	};
	const once = await mk({ maxUses: 1 });
	const [a, b, c, d] = [await register(s, 'la'), await register(s, 'lb'), await register(s, 'lc'), await register(s, 'ld')];
	assert.equal((await call(s, a, 'POST', `/api/invites/${once.token}`)).status, 200);
	assert.equal((await call(s, a, 'POST', `/api/invites/${once.token}`)).status, 404, 'used up, for its taker too');
	const used = await call(s, b, 'POST', `/api/invites/${once.token}`);

	const revoked = await mk({});
	assert.equal((await call(s, own, 'DELETE', `/api/rooms/${room}/invites/links/${revoked.id}`)).status, 204);
	assertError(await call(s, own, 'DELETE', `/api/rooms/${room}/invites/links/${revoked.id}`), 404, 'not_found');
	const rv = await call(s, c, 'POST', `/api/invites/${revoked.token}`);

	const short = await mk({ expiresInS: 1 });
	await sql(`UPDATE room_invite_links SET expires_at = now() - interval '1 second' WHERE id = ${short.id}`);
	const ex = await call(s, d, 'POST', `/api/invites/${short.token}`);
	const unknown = await call(s, d, 'POST', `/api/invites/${'A'.repeat(43)}`);
	const malformed = await call(s, d, 'POST', '/api/invites/not-a-token');
	for (const r of [used, rv, ex, unknown, malformed]) assertError(r, 404, 'not_found');
	assert.equal(new Set([used, rv, ex, unknown, malformed].map((r) => r.text)).size, 1, 'one answer for every dead link');
	for (const u of [b, c, d]) assertError(await lookup(s.backendUrl, u.token, room), 403, 'invite_only');
	const links = (await call(s, own, 'GET', `/api/rooms/${room}/invites`)).json.links;
	assert.deepEqual(links.map((l) => [l.id, l.uses, l.revoked]),
		[[short.id, 0, false], [revoked.id, 0, true], [once.id, 1, false]]);
});

test('hostile input gets 400, unknown room ids 404', async () => {
	const s = h.stack;
	const [own, mem] = [await register(s, 'ho'), await register(s, 'hm')];
	const room = await roomOf(own);
	await enter(mem, room);
	const bad = [
		['PATCH', `/api/rooms/${room}`, {}],
		['PATCH', `/api/rooms/${room}`, { unknown: 1 }],
		['PATCH', `/api/rooms/${room}`, { name: 'x'.repeat(101) }],
		['PATCH', `/api/rooms/${room}`, { name: 5 }],
		['PATCH', `/api/rooms/${room}`, { capacity: '5' }],
		['PATCH', `/api/rooms/${room}`, { capacity: 0 }],
		['PATCH', `/api/rooms/${room}`, { capacity: 1e9 }],
		['PATCH', `/api/rooms/${room}`, { visibility: 'secret' }],
		['PATCH', `/api/rooms/${room}`, { inviteOnly: 'yes' }],
		['PATCH', `/api/rooms/${room}`, '[1,2]'],
		['PATCH', `/api/rooms/${room}`, '{"name":'],
		['PATCH', `/api/rooms/${room}/members/${mem.id}`, { role: 'admin' }],
		['PATCH', `/api/rooms/${room}/members/${mem.id}`, { role: 1 }],
		['POST', `/api/rooms/${room}/bans`, { userId: mem.id, durationS: -5 }],
		['POST', `/api/rooms/${room}/bans`, { userId: mem.id, durationS: 0 }],
		['POST', `/api/rooms/${room}/bans`, { userId: mem.id, durationS: 31536001 }],
		['POST', `/api/rooms/${room}/bans`, { userId: mem.id, durationS: 1.5 }],
		['POST', `/api/rooms/${room}/bans`, { userId: mem.id, durationS: '60' }],
		['POST', `/api/rooms/${room}/bans`, { userId: mem.id, reason: 'r'.repeat(201) }],
		['POST', `/api/rooms/${room}/bans`, { userId: mem.id, reason: 'é'.repeat(101) }],
		['POST', `/api/rooms/${room}/bans`, { userId: mem.id, reason: 7 }],
		['POST', `/api/rooms/${room}/mutes`, { userId: mem.id }],
		['POST', `/api/rooms/${room}/mutes`, { userId: mem.id, durationS: -1 }],
		['POST', `/api/rooms/${room}/invites`, { link: true, expiresInS: 0 }],
		['POST', `/api/rooms/${room}/invites`, { link: true, expiresInS: 2592001 }],
		['POST', `/api/rooms/${room}/invites`, { link: true, maxUses: 0 }],
		['POST', `/api/rooms/${room}/invites`, { link: 'yes' }],
		['DELETE', `/api/rooms/${room}/invites/links/abc`],
		['DELETE', `/api/rooms/${room}/invites/links/-1`],
		['DELETE', `/api/rooms/${room}/invites/links/99999999999999999999`],
		['DELETE', `/api/rooms/${room}/members/${mem.id}?reason=${'r'.repeat(201)}`],
		['DELETE', `/api/rooms/${room}/members/${mem.id}?reason=%FF`],
	];
	for (const [method, path, body] of bad) {
		const r = await call(s, own, method, path, body);
		assert.equal(r.status, 400, `${method} ${path} ${JSON.stringify(body)}: ${r.text}`);
	}
	const badIds = [
		['POST', `/api/rooms/${room}/bans`, { userId: 'a b' }],
		['POST', `/api/rooms/${room}/bans`, { userId: 'x'.repeat(33) }],
		['POST', `/api/rooms/${room}/bans`, { userId: 42 }],
		['POST', `/api/rooms/${room}/bans`, {}],
		['POST', `/api/rooms/${room}/owner`, { userId: '' }],
		['POST', `/api/rooms/${room}/invites`, { userId: '../x' }],
		['DELETE', `/api/rooms/${room}/bans/a%20b`],
		['DELETE', `/api/rooms/${room}/members/a%00b`],
		['PATCH', `/api/rooms/${room}/members/${'y'.repeat(40)}`, { role: 'moderator' }],
	];
	for (const [method, path, body] of badIds) assertError(await call(s, own, method, path, body), 400, 'invalid_user_id');
	for (const id of ['nope', 'x'.repeat(40), 'a%20b']) {
		assertError(await call(s, own, 'PATCH', `/api/rooms/${id}`, { name: 'x' }), 404, 'not_found');
		assertError(await call(s, own, 'GET', `/api/rooms/${id}/members`), 404, 'not_found');
	}
	assertError(await call(s, own, 'GET', '/api/rooms/zzzzzzzzzzzz/bans'), 404, 'not_found');
	assertError(await request(s.backendUrl, `/api/rooms/${room}/bans`, { method: 'POST', body: { userId: mem.id } }), 401, 'unauthorized');
	assertError(await createRoom(s.backendUrl, own.token, { inviteOnly: 'yes' }), 400, 'invalid_room');
	const c = await counts(room);
	assert.deepEqual(c.slice(0, 6), ['0', '0', '0', '0', '0', '0'], 'nothing was written');
	// Unknown fields beside known ones are ignored, as POST /api/rooms does.
	const ok = await call(s, own, 'POST', `/api/rooms/${room}/bans`, { userId: mem.id, durationS: 60, colour: 'red' });
	assert.equal(ok.status, 201, ok.text);
});
