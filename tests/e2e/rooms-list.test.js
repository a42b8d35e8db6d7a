// GET /api/rooms: which rooms a user sees, in which order, with which
// member and unread counts; room names stored and returned byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, request, createRoom, tokenFor, newRoom, join, sendAcked, closeAll, decodeToken } from './lib/stack.js';

const h = useStack({ sessions: 1, backends: 1, sessionEnv: { SESSION_MAX_ROOMS: '100' } });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Who user is to the API: a guest's subject (its login), not its name.
async function subOf(user) {
	return decodeToken(await tokenFor(h.stack, user)).claims.sub;
}

async function list(user) {
	const res = await request(h.stack.backendUrl, '/api/rooms', { token: await tokenFor(h.stack, user) });
	assert.equal(res.status, 200, res.text);
	assert.ok(Array.isArray(res.json?.rooms), res.text);
	return res.json.rooms;
}

async function entry(user, roomId) {
	return (await list(user)).find((r) => r.roomId === roomId);
}

// Polls user's entry for roomId until check(entry) holds (written by the
// session server in its own time), or fails with the last entry seen.
async function eventually(user, roomId, check, what, ms = 5000) {
	const deadline = Date.now() + ms;
	let last;
	while (Date.now() < deadline) {
		last = await entry(user, roomId);
		if (last && check(last)) return last;
		await sleep(50);
	}
	assert.fail(`${what}: last seen ${JSON.stringify(last)}`);
}

test('a user sees public rooms, and their own unlisted ones, but not unlisted rooms of others', async () => {
	const pub = await newRoom(h.stack, 'ann', { name: 'Ann public', visibility: 'public' });
	const hidden = await newRoom(h.stack, 'ann', { name: 'Ann unlisted', visibility: 'unlisted' });
	const own = await newRoom(h.stack, 'ben', { name: 'Ben unlisted' });
	const ben = await list('ben');
	const ids = ben.map((r) => r.roomId);
	assert.ok(ids.includes(pub), 'the public room of another user');
	assert.ok(ids.includes(own), 'the own unlisted room');
	assert.ok(!ids.includes(hidden), 'not the unlisted room of another user');
	assert.ok((await list('ann')).some((r) => r.roomId === hidden));
	const e = ben.find((r) => r.roomId === pub);
	assert.equal(typeof e.createdAt, 'number');
	assert.ok(Math.abs(e.createdAt - Date.now()) < 60000, `createdAt ${e.createdAt} is milliseconds`);
	assert.deepEqual({ ...e, createdAt: 0 }, {
		roomId: pub, name: 'Ann public', owner: 'ann', mine: false, visibility: 'public', capacity: 100,
		members: 0, lastSeq: 0, unread: 0, createdAt: 0, persistent: true, app: 'chat',
	});
});

test('a room with no name lists its name as null, and its capacity as created', async () => {
	const id = await newRoom(h.stack, 'cid', { capacity: 7 });
	const e = await entry('cid', id);
	assert.equal(e.name, null);
	assert.equal(e.capacity, 7);
	assert.equal(e.visibility, 'unlisted');
});

test('rooms are listed newest first, at most 100', async () => {
	// Older than every room the API makes in this file, so they sort last.
	await h.stack.sql(`INSERT INTO rooms (id, name, owner, capacity, visibility, created_at)
		SELECT 'old' || g, 'old ' || g, 'someone', 10, 'public', now() - interval '1 day' - g * interval '1 second'
		FROM generate_series(1, 120) g`);
	const mine = await newRoom(h.stack, 'dee', { name: 'newest' });
	const rooms = await list('dee');
	assert.equal(rooms.length, 100);
	assert.equal(rooms[0].roomId, mine);
	for (let i = 1; i < rooms.length; i++) {
		assert.ok(rooms[i - 1].createdAt >= rooms[i].createdAt, `order at ${i}`);
	}
	assert.equal(new Set(rooms.map((r) => r.roomId)).size, 100, 'no room twice');
	assert.ok(rooms.some((r) => r.roomId === 'old1'));
	assert.ok(!rooms.some((r) => r.roomId === 'old120'), 'the oldest fall off');
});

test('lastSeq and unread follow messages sent over the native WebSocket', async () => {
	const id = await newRoom(h.stack, 'eve', { name: 'chatty', visibility: 'public' });
	const [fay] = await join(h.stack, 'fay', id);
	try {
		for (let i = 1; i <= 3; i++) assert.equal(await sendAcked(fay, `m${i}`, `hello ${i}`), i);
		const eve = await entry('eve', id);
		assert.equal(eve.lastSeq, 3);
		assert.equal(eve.unread, 3);
		assert.equal((await entry('gus', id)).unread, 3, 'another user who never joined');
	} finally {
		await closeAll([fay]);
	}
});

test('a read frame lowers the reader\'s unread count and no one else\'s', async () => {
	const id = await newRoom(h.stack, 'hal', { visibility: 'public' });
	const [hal] = await join(h.stack, 'hal', id);
	const [ivy] = await join(h.stack, 'ivy', id);
	try {
		for (let i = 1; i <= 5; i++) await sendAcked(ivy, `r${i}`, `message ${i}`);
		hal.send({ type: 'read', seq: 4 });
		await hal.next({ type: 'read', user: 'hal' });
		await eventually('hal', id, (e) => e.unread === 1 && e.lastSeq === 5, 'hal read up to 4 of 5');
		assert.equal((await entry('ivy', id)).unread, 5);
		// A lower mark later does not bring messages back as unread.
		hal.send({ type: 'read', seq: 2 });
		await hal.next({ type: 'read', user: 'hal', seq: 2 });
		await sendAcked(ivy, 'r6', 'message 6');
		await eventually('hal', id, (e) => e.lastSeq === 6, 'the sixth message');
		assert.equal((await entry('hal', id)).unread, 2);
	} finally {
		await closeAll([hal, ivy]);
	}
});

test('unread is never negative, even with a mark beyond the last message', async () => {
	const id = await newRoom(h.stack, 'jon', { visibility: 'public' });
	await h.stack.sql(`INSERT INTO read_marks (room_id, user_id, seq) VALUES ('${id}', '${await subOf('jon')}', 50)`);
	const e = await entry('jon', id);
	assert.equal(e.lastSeq, 0);
	assert.equal(e.unread, 0);
});

test('members counts the users connected now', async () => {
	const id = await newRoom(h.stack, 'kim', { visibility: 'public' });
	const [a] = await join(h.stack, 'kim', id);
	const [b] = await join(h.stack, 'lou', id);
	const [b2] = await join(h.stack, 'lou', id);
	try {
		await eventually('kim', id, (e) => e.members === 2, 'two users (one in two tabs)');
	} finally {
		await closeAll([b, b2]);
	}
	await eventually('kim', id, (e) => e.members === 1, 'one user left');
	await closeAll([a]);
});

test('members is 0 for a room whose server is not live', async () => {
	const live = h.stack.sessions[0].id;
	await h.stack.sql(`INSERT INTO session_servers (id, address, capacity, heartbeat_at)
		VALUES ('ss-gone', '127.0.0.1:1', 10, now() - interval '1 hour')`);
	const max = await subOf('max');
	await h.stack.sql(`INSERT INTO rooms (id, owner, capacity, visibility, server_id, epoch, pinned_at, members)
		VALUES ('ondead', '${max}', 10, 'unlisted', 'ss-gone', 1, now(), 7),
		       ('onlive', '${max}', 10, 'unlisted', '${live}', 1, now(), 3),
		       ('onnone', '${max}', 10, 'unlisted', NULL, 0, NULL, 4)`);
	const rooms = await list('max');
	const members = Object.fromEntries(rooms.map((r) => [r.roomId, r.members]));
	assert.deepEqual({ ondead: members.ondead, onlive: members.onlive, onnone: members.onnone },
		{ ondead: 0, onlive: 3, onnone: 0 });
});

for (const [what, name] of [
	['an SQL fragment', "x'); DROP TABLE rooms; --"],
	['quotes, backslashes and a dollar quote', '"\\\'$$ $1 %s \\u0000'],
	['right-to-left marks', '\u202Eevil\u202C \u200Fשלום\u200E'],
	['emoji with joiners and skin tones', '\u{1F468}\u200D\u{1F469}\u200D\u{1F467} \u{1F44D}\u{1F3FD} \u{1F600}'],
	['25 four-byte emoji (exactly 100 bytes)', '\u{1F600}'.repeat(25)],
	['an empty string', ''],
	['control characters and a newline', '\u0001\u001f\ttab\nline'],
]) {
	test(`a room name with ${what} comes back byte for byte`, async () => {
		const id = await newRoom(h.stack, 'nia', { name, visibility: 'public' });
		const e = await entry('otto', id);
		assert.ok(e, 'listed for another user');
		assert.equal(Buffer.from(e.name).toString('hex'), Buffer.from(name).toString('hex'));
		const rows = await h.stack.sql(`SELECT encode(convert_to(name, 'UTF8'), 'hex') FROM rooms WHERE id = '${id}'`);
		assert.equal(rows[0]?.[0] ?? '', Buffer.from(name).toString('hex'));
	});
}

for (const [what, name] of [
	['over 100 bytes', 'x'.repeat(101)],
	['26 four-byte emoji (104 bytes)', '\u{1F600}'.repeat(26)],
	['a NUL', 'before\u0000after'],
	['a number', 42],
	['an array', ['a']],
]) {
	test(`a room name with ${what} is refused with 400`, async () => {
		const before = await h.stack.sql('SELECT count(*) FROM rooms');
		const res = await createRoom(h.stack.backendUrl, await tokenFor(h.stack, 'pat'), { name });
		assert.equal(res.status, 400, res.text);
		assert.equal(typeof res.json?.error?.code, 'string', res.text);
		assert.deepEqual(await h.stack.sql('SELECT count(*) FROM rooms'), before);
	});
}

test('the room list needs a user token', async () => {
	const none = await request(h.stack.backendUrl, '/api/rooms');
	assert.equal(none.status, 401);
	assert.equal(none.json?.error?.code, 'unauthorized');
	const id = await newRoom(h.stack, 'quin');
	const { json: { token: ticket } } = await request(h.stack.backendUrl, `/api/rooms/${id}`,
		{ token: await tokenFor(h.stack, 'quin') });
	const withTicket = await request(h.stack.backendUrl, '/api/rooms', { token: ticket });
	assert.equal(withTicket.status, 401);
	assert.equal(withTicket.json?.error?.code, 'unauthorized');
});
