// Who a user is, as the seed's client and other users see it: the user
// token's `userId` claim (read with jwt-decode by the seed's React client),
// and guest logins that pick the same name being different users, so that a
// guest name is not a key to somebody else's rooms and read marks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
	useStack, login, createRoom, lookup, request, connect, sendAcked, closeAll,
} from './lib/stack.js';

const h = useStack({ sessions: 1, backends: 1, sessionEnv: { SESSION_MAX_ROOMS: '100' } });

// What the seed's client does with jwt-decode: the payload, base64url-decoded.
function jwtDecode(token) {
	return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

async function register(userId, password) {
	const res = await request(h.stack.backendUrl, '/api/auth/register', { method: 'POST', body: { userId, password } });
	assert.equal(res.status, 200, res.text);
	return res.json.token;
}

async function loginPassword(userId, password) {
	const res = await request(h.stack.backendUrl, '/api/auth/login', { method: 'POST', body: { userId, password } });
	assert.equal(res.status, 200, res.text);
	return res.json.token;
}

async function room(token, body) {
	const res = await createRoom(h.stack.backendUrl, token, body);
	assert.equal(res.status, 200, res.text);
	return res.json.roomId;
}

// Joins with a user token: compat when protocol is null, else native (and
// waits for the welcome). Returns [client, welcome].
async function enter(token, roomId, protocol = 'stateroom.v1') {
	const res = await lookup(h.stack.backendUrl, token, roomId);
	assert.equal(res.status, 200, res.text);
	const c = await connect(res.json.host, res.json.token, { protocol: protocol ?? undefined });
	return [c, protocol ? await c.next('welcome') : null];
}

async function myRooms(token) {
	const res = await request(h.stack.backendUrl, '/api/rooms', { token });
	assert.equal(res.status, 200, res.text);
	return res.json.rooms;
}

const snapshotWith = (pred) => (f) => typeof f === 'object' && Array.isArray(f.connectedUsers) && pred(f);

for (const kind of ['guest', 'registered']) {
	test(`a ${kind} user's token carries userId, the name the compat protocol shows for them`, async () => {
		const name = kind === 'guest' ? 'Guest.Greta' : 'Reg_Rita';
		let token;
		if (kind === 'guest') {
			token = await login(h.stack.backendUrl, name);
		} else {
			await register(name, 'correct horse battery');
			token = await loginPassword(name, 'correct horse battery');
		}
		const claims = jwtDecode(token);
		assert.equal(claims.userId, name, `token payload ${JSON.stringify(claims)}`);
		assert.equal(claims.name, name);

		// "Logged in as", own messages and own entry in the member list: the
		// seed's client compares them with claims.userId.
		const roomId = await room(token);
		const [c] = await enter(token, roomId, null);
		const joined = await c.next(snapshotWith((s) => s.connectedUsers.length === 1));
		assert.deepEqual(joined.connectedUsers, [claims.userId]);
		c.send('hello from me');
		const after = await c.next(snapshotWith((s) => s.messages.length === 1));
		assert.equal(after.messages[0].userId, claims.userId);
		assert.equal(after.messages[0].msg, 'hello from me');

		const me = await request(h.stack.backendUrl, '/api/me', { token });
		assert.equal(me.status, 200, me.text);
		assert.equal(me.json.userId, name);
		assert.equal(me.json.name, name);
		assert.equal(me.json.registered, kind === 'registered');
		await closeAll([c]);
	});
}

test('a second guest login with the same name does not own the first one\'s rooms, read marks or messages', async () => {
	const hog1 = await login(h.stack.backendUrl, 'hog');
	const unlisted = await room(hog1, { name: 'Hog den' });
	const open = await room(hog1, { name: 'Hog square', visibility: 'public' });
	const [a] = await enter(hog1, unlisted);
	await sendAcked(a, 'u1', 'secret plans');
	await sendAcked(a, 'u2', 'more plans');
	const [b] = await enter(hog1, open);
	const seqs = [await sendAcked(b, 'p1', 'hello square'), await sendAcked(b, 'p2', 'anyone?')];
	a.send({ type: 'read', seq: 2 });
	b.send({ type: 'read', seq: seqs[1] });
	await b.next({ type: 'read' });

	// Hog #1 sees both rooms as its own, read.
	let mine;
	for (const deadline = Date.now() + 10000; Date.now() < deadline;) {
		mine = await myRooms(hog1);
		if (mine.filter((r) => r.roomId === unlisted || r.roomId === open).every((r) => r.unread === 0)) break;
		await new Promise((r) => setTimeout(r, 100));
	}
	const hog1Unlisted = mine.find((r) => r.roomId === unlisted);
	assert.ok(hog1Unlisted, `hog #1 does not see its unlisted room: ${JSON.stringify(mine)}`);
	assert.equal(hog1Unlisted.owner, 'hog');
	assert.equal(hog1Unlisted.mine, true);
	assert.equal(hog1Unlisted.unread, 0);
	assert.equal(mine.find((r) => r.roomId === open)?.unread, 0);

	// Hog #2: a new login with the same name, as anybody could do.
	const hog2 = await login(h.stack.backendUrl, 'hog');
	assert.equal(jwtDecode(hog2).userId, 'hog');
	assert.notEqual(jwtDecode(hog2).sub, jwtDecode(hog1).sub);
	const theirs = await myRooms(hog2);
	assert.equal(theirs.find((r) => r.roomId === unlisted), undefined,
		`hog #2 is shown hog #1's unlisted room: ${JSON.stringify(theirs)}`);
	const square = theirs.find((r) => r.roomId === open);
	assert.ok(square, 'a public room is listed for everyone');
	assert.equal(square.owner, 'hog', 'the owner is shown by name');
	assert.equal(square.mine, false);
	assert.equal(square.unread, 2, 'hog #1\'s read mark is not hog #2\'s');

	// Unlisted still means "anyone with the link": hog #2 may join and read,
	// as a member of its own, named hog like the other one.
	const [c, welcome] = await enter(hog2, unlisted);
	assert.equal(welcome.user, 'hog');
	assert.deepEqual(welcome.messages.map((m) => [m.user, m.text]), [['hog', 'secret plans'], ['hog', 'more plans']]);
	assert.deepEqual(welcome.members, ['hog', 'hog'], 'two users named hog are two members');
	// A send id is the sender's own: hog #2 reusing hog #1's id is a new message.
	const seq = await sendAcked(c, 'u1', 'not a retry');
	assert.equal(seq, 3, 'hog #2\'s send was taken for a retry of hog #1\'s');
	const msg = await a.next({ type: 'message', seq: 3 });
	assert.equal(msg.user, 'hog');
	assert.equal(msg.text, 'not a retry');

	const hist = await request(h.stack.backendUrl, `/api/rooms/${unlisted}/messages`, { token: hog2 });
	assert.equal(hist.status, 200, hist.text);
	assert.deepEqual(hist.json.messages.map((m) => m.user), ['hog', 'hog', 'hog']);
	await closeAll([a, b, c]);
});

test('two guests with one name in a compat room are both listed and both shown by that name', async () => {
	const one = await login(h.stack.backendUrl, 'twin');
	const two = await login(h.stack.backendUrl, 'twin');
	const roomId = await room(one);
	const [a] = await enter(one, roomId, null);
	await a.next(snapshotWith((s) => s.connectedUsers.length === 1));
	const [b] = await enter(two, roomId, null);
	const both = await a.next(snapshotWith((s) => s.connectedUsers.length === 2));
	assert.deepEqual(both.connectedUsers, ['twin', 'twin']);
	b.send('from the second twin');
	const s = await a.next(snapshotWith((x) => x.messages.length === 1));
	assert.deepEqual(s.messages.map((m) => [m.userId, m.msg]), [['twin', 'from the second twin']]);
	await b.close();
	const left = await a.next(snapshotWith((x) => x.connectedUsers.length === 1));
	assert.deepEqual(left.connectedUsers, ['twin']);
	await closeAll([a]);
});

test('a guest token keeps working across rooms: the same login is one user in two tabs', async () => {
	const token = await login(h.stack.backendUrl, 'tabby');
	const roomId = await room(token);
	const [a] = await enter(token, roomId);
	const [b, welcome] = await enter(token, roomId);
	assert.deepEqual(welcome.members, ['tabby']);
	// A retry from the other tab (same login, same id) is recognised.
	const seq = await sendAcked(a, 'x1', 'once');
	assert.equal(await sendAcked(b, 'x1', 'once'), seq);
	await closeAll([a, b]);
});
