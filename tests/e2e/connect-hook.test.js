// The connect hook (docs/protocol.md, "Connect hook"): before the backend
// issues a ticket it asks the app's own backend (a real HTTP receiver here)
// whether this user may join this room. 2xx: a ticket; 403: 403
// hook_refused with the hook's message; no answer in time, a 5xx or nobody
// listening: 503 hook_unavailable when failing closed (the default), a
// ticket when failing open. Every call is signed (X-Stateroom-Signature).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { useStack, startStack, freePort, login, createRoom, lookup } from './lib/stack.js';

const SECRET = 'hook-secret-0123456789abcdef';

// The app's backend: decides by the user's name; keeps every call it got,
// with whether its signature verified.
const calls = [];
const port = await freePort();
let receiver;

function verify(header, body) {
	const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
	if (!m) return false;
	if (Math.abs(Date.now() / 1000 - Number(m[1])) > 300) return false;
	const want = crypto.createHmac('sha256', SECRET).update(`${m[1]}.${body}`).digest();
	return crypto.timingSafeEqual(want, Buffer.from(m[2], 'hex'));
}

function listen() {
	receiver = http.createServer((req, res) => {
		const chunks = [];
		req.on('data', (d) => chunks.push(d));
		req.on('end', () => {
			const body = Buffer.concat(chunks).toString('utf8');
			const json = JSON.parse(body);
			calls.push({ method: req.method, body: json, signed: verify(req.headers['x-stateroom-signature'], body) });
			const name = json.name;
			if (name.startsWith('slow')) {
				setTimeout(() => res.end('{}'), 3000);
			} else if (name.startsWith('refusedctl')) {
				res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'bad\u0007news' }));
			} else if (name.startsWith('refused')) {
				res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Not on the guest list' }));
			} else if (name.startsWith('broken')) {
				res.writeHead(500).end('oops');
			} else {
				res.writeHead(204).end();
			}
		});
	});
	return new Promise((resolve) => receiver.listen(port, '127.0.0.1', resolve));
}

function down() {
	receiver.closeAllConnections();
	return new Promise((resolve) => receiver.close(resolve));
}

before(listen);
after(() => receiver.listening && down());

const hookEnv = {
	STATEROOM_CONNECT_HOOK_URL: `http://127.0.0.1:${port}/may-join`,
	STATEROOM_CONNECT_HOOK_SECRET: SECRET,
};
const h = useStack({ backendEnv: hookEnv });

async function attempt(url, name, room) {
	const token = await login(url, name);
	if (!room) {
		const made = await createRoom(url, token, {});
		assert.equal(made.status, 200, made.text);
		room = made.json.roomId;
	}
	calls.length = 0;
	return { room, res: await lookup(url, token, room) };
}

test('an allowed user gets a ticket, and the hook was asked with a signed body naming room, user and app', async () => {
	const { room, res } = await attempt(h.stack.backendUrl, 'alice');
	assert.equal(res.status, 200, res.text);
	assert.equal(typeof res.json.token, 'string');
	assert.equal(calls.length, 1);
	assert.equal(calls[0].method, 'POST');
	assert.equal(calls[0].signed, true, 'the signature verifies with the shared secret');
	assert.deepEqual(Object.keys(calls[0].body).sort(), ['app', 'name', 'roomId', 'userId']);
	assert.equal(calls[0].body.roomId, room);
	assert.equal(calls[0].body.name, 'alice');
	assert.equal(calls[0].body.app, 'chat');
	assert.match(calls[0].body.userId, /^guest:/);
});

test('a refusal is 403 hook_refused with the hook\'s message, and no ticket', async () => {
	const { res } = await attempt(h.stack.backendUrl, 'refused1');
	assert.equal(res.status, 403, res.text);
	assert.equal(res.json.error.code, 'hook_refused');
	assert.equal(res.json.error.message, 'Not on the guest list');
	assert.equal(res.json.token, undefined);
	// A message that is not fit to show is replaced by a plain one.
	const ctl = await attempt(h.stack.backendUrl, 'refusedctl');
	assert.equal(ctl.res.status, 403, ctl.res.text);
	assert.equal(ctl.res.json.error.code, 'hook_refused');
	assert.doesNotMatch(ctl.res.json.error.message, /[\u0000-\u001f]/);
});

test('failing closed: a slow hook, a 5xx and a hook that is down give 503 hook_unavailable', async () => {
	for (const name of ['slow1', 'broken1']) {
		const { res } = await attempt(h.stack.backendUrl, name);
		assert.equal(res.status, 503, `${name}: ${res.text}`);
		assert.equal(res.json.error.code, 'hook_unavailable');
		assert.equal(res.json.token, undefined);
	}
	const token = await login(h.stack.backendUrl, 'downer');
	const room = (await createRoom(h.stack.backendUrl, token, {})).json.roomId;
	await down();
	try {
		const res = await lookup(h.stack.backendUrl, token, room);
		assert.equal(res.status, 503, res.text);
		assert.equal(res.json.error.code, 'hook_unavailable');
	} finally {
		await listen();
	}
	// Back up: the same user gets in.
	const again = await lookup(h.stack.backendUrl, token, room);
	assert.equal(again.status, 200, again.text);
});

test('the hook is not asked about a room that does not exist', async () => {
	const token = await login(h.stack.backendUrl, 'nobody');
	calls.length = 0;
	const res = await lookup(h.stack.backendUrl, token, 'nosuchroom1');
	assert.equal(res.status, 200, res.text);
	assert.equal(res.json.token, null);
	assert.equal(calls.length, 0);
});

test('failing open: a slow hook and a hook that is down still give a ticket, a refusal still refuses', async () => {
	const stack = await startStack({ backendEnv: { ...hookEnv, STATEROOM_CONNECT_HOOK_FAIL: 'open' } });
	try {
		const slow = await attempt(stack.backendUrl, 'slow2');
		assert.equal(slow.res.status, 200, slow.res.text);
		assert.equal(typeof slow.res.json.token, 'string');
		const refused = await attempt(stack.backendUrl, 'refused2');
		assert.equal(refused.res.status, 403, refused.res.text);
		const token = await login(stack.backendUrl, 'downer2');
		const room = (await createRoom(stack.backendUrl, token, {})).json.roomId;
		await down();
		try {
			const res = await lookup(stack.backendUrl, token, room);
			assert.equal(res.status, 200, res.text);
			assert.equal(typeof res.json.token, 'string');
		} finally {
			await listen();
		}
	} finally {
		await stack.stop();
	}
});
