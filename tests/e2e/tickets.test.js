// Join tickets and origins: what a client that is not who it claims, or a
// page on another site, gets from the session server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
	useStack, connect, mintToken, decodeToken, nowSeconds, newJti, newRoom, ticketFor, tokenFor, closeAll,
} from './lib/stack.js';

const h = useStack({ sessions: 2, backends: 1, sessionEnv: { SESSION_MAX_ROOMS: '100' } });

// A real ticket's claims, the room's server and a re-signer.
async function realTicket(user = 'alice') {
	const roomId = await newRoom(h.stack, user);
	const t = await ticketFor(h.stack, user, roomId);
	const { claims } = decodeToken(t.token);
	return { roomId, host: t.host, token: t.token, claims };
}

function resign(claims, extra = {}, secret = h.stack.secret) {
	return mintToken(secret, { ...claims, jti: newJti(), ...extra });
}

function otherSession(host) {
	return h.stack.sessions.find((s) => s.address !== host);
}

async function closeCode(host, ticket, opts = { protocol: 'stateroom.v1' }) {
	const c = await connect(host, ticket, opts);
	const info = await Promise.race([c.closed, new Promise((r) => setTimeout(() => r({ code: 'still open' }), 5000))]);
	if (info.code === 'still open') await c.terminate();
	assert.deepEqual(c.frames.filter((f) => f?.type === 'welcome'), [], 'a welcome was sent');
	return info.code;
}

test('a real ticket is admitted', async () => {
	const { host, token } = await realTicket();
	const c = await connect(host, token, { protocol: 'stateroom.v1' });
	assert.equal((await c.next()).type, 'welcome');
	await closeAll([c]);
});

test('no ticket closes with 4001', async () => {
	const { host } = await realTicket();
	assert.equal(await closeCode(host, undefined), 4001);
});

test('a garbage ticket closes with 4001', async () => {
	const { host } = await realTicket();
	assert.equal(await closeCode(host, 'garbage.garbage.garbage'), 4001);
});

test('a ticket signed with another secret closes with 4001', async () => {
	const { host, claims } = await realTicket();
	assert.equal(await closeCode(host, resign(claims, {}, 'z'.repeat(64))), 4001);
});

test('a ticket with a tampered claim closes with 4001', async () => {
	const { host, token } = await realTicket();
	const [head, , sig] = token.split('.');
	const claims = { ...decodeToken(token).claims, sub: 'mallory' };
	const forged = `${head}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
	assert.equal(await closeCode(host, forged), 4001);
});

test('an expired ticket closes with 4001', async () => {
	const { host, claims } = await realTicket();
	const now = nowSeconds();
	assert.equal(await closeCode(host, resign(claims, { iat: now - 60, exp: now - 1 })), 4001);
});

test('a ticket with alg none closes with 4001', async () => {
	const { host, claims } = await realTicket();
	const b = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
	assert.equal(await closeCode(host, `${b({ alg: 'none', typ: 'JWT' })}.${b({ ...claims, jti: newJti() })}.`), 4001);
});

test('a user token used as a ticket closes with 4001', async () => {
	const { host } = await realTicket();
	assert.equal(await closeCode(host, await tokenFor(h.stack, 'alice')), 4001);
});

test('a ticket used a second time closes with 4001', async () => {
	const { host, token } = await realTicket();
	const first = await connect(host, token, { protocol: 'stateroom.v1' });
	assert.equal((await first.next()).type, 'welcome');
	assert.equal(await closeCode(host, token), 4001);
	await closeAll([first]);
});

test('a reused ticket is refused in compat mode too', async () => {
	const { host, token } = await realTicket();
	const first = await connect(host, token);
	await first.next();
	assert.equal(await closeCode(host, token, {}), 4001);
	await closeAll([first]);
});

test('a ticket presented to a server it was not issued for closes with 4004', async () => {
	const { host, token } = await realTicket();
	assert.equal(await closeCode(otherSession(host).address, token), 4004);
});

test('a validly signed ticket naming another server closes with 4004', async () => {
	const { host, claims } = await realTicket();
	assert.equal(await closeCode(host, resign(claims, { aud: otherSession(host).id })), 4004);
});

test('a validly signed ticket for a room this server does not host closes with 4004', async () => {
	const { host, claims } = await realTicket();
	assert.equal(await closeCode(host, resign(claims, { room: 'nosuchroom00' })), 4004);
});

test('a validly signed ticket with an old epoch closes with 4004', async () => {
	const { host, claims } = await realTicket();
	assert.equal(await closeCode(host, resign(claims, { epoch: claims.epoch - 1 })), 4004);
});

test('the ticket may be in another query parameter', async () => {
	const { host, token } = await realTicket();
	const c = await connect(host, null, { protocol: 'stateroom.v1', query: `foo=bar&t=${token}` });
	assert.equal((await c.next()).type, 'welcome');
	await closeAll([c]);
});

test('a page from an origin that is not allowed gets HTTP 403 on the upgrade', async () => {
	const { host, token } = await realTicket();
	await assert.rejects(connect(host, token, { protocol: 'stateroom.v1', origin: 'http://evil.example' }),
		(e) => e.status === 403);
});

test('a page from the backend\'s origin is admitted', async () => {
	for (const origin of [h.stack.backendUrl, h.stack.backendUrl.replace('127.0.0.1', 'localhost')]) {
		const { host, token } = await realTicket();
		const c = await connect(host, token, { protocol: 'stateroom.v1', origin });
		assert.equal((await c.next()).type, 'welcome');
		await closeAll([c]);
	}
});

test('a client with no Origin header is admitted', async () => {
	const { host, token } = await realTicket();
	const c = await connect(host, token, { protocol: 'stateroom.v1' });
	assert.equal(c.upgradeHeaders['sec-websocket-protocol'], 'stateroom.v1');
	assert.equal((await c.next()).type, 'welcome');
	await closeAll([c]);
});
