// Join tickets and origins: what a client that is not who it claims, or a
// page on another site, gets from the session server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
	useStack, connect, mintToken, mintRawToken, decodeToken, nowSeconds, newJti, newRoom, ticketFor, tokenFor,
	closeAll,
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

// Forged with the secret (as a leaked key or a bug in a signer would), a
// ticket whose times are not integers in range is refused, and stays
// refused: an exp of 1e300 once overflowed the used-ticket table, and the
// ticket then joined any number of times.
for (const [what, extra] of [
	['an exp of 1e300', { exp: 1e300 }],
	['a fractional exp', { exp: nowSeconds() + 20.5 }],
	['an exp far beyond the ticket lifetime', { exp: nowSeconds() + 86400 }],
	['an exp given as a string', { exp: String(nowSeconds() + 20) }],
	['no iat', { iat: undefined }],
	['an iat of 1e300', { iat: 1e300 }],
	['an epoch of 1e300', { epoch: 1e300 }],
]) {
	test(`a correctly signed ticket with ${what} closes with 4001, every time`, async () => {
		const { host, claims } = await realTicket();
		const forged = resign(claims, extra);
		assert.equal(await closeCode(host, forged), 4001);
		assert.equal(await closeCode(host, forged), 4001);
	});
}

test('a correctly signed ticket that gives a claim twice closes with 4001', async () => {
	const { host, claims } = await realTicket();
	const json = JSON.stringify({ ...claims, jti: newJti() });
	for (const [key, value] of [['exp', 1e300], ['aud', JSON.stringify(claims.aud)], ['sub', '"mallory"']]) {
		const forged = mintRawToken(h.stack.secret, `${json.slice(0, -1)},"${key}":${value}}`);
		assert.equal(await closeCode(host, forged), 4001, key);
	}
});

// The used tickets live in the session server's memory; a restarted server
// (same --id) has a new boot id, and tickets name the boot they were issued
// for. These restart a server, so they come last.
async function restart(host, signal) {
	const s = h.stack.sessions.find((x) => x.address === host);
	await s.stop(signal);
	await s.start();
	await h.stack.waitRegistered([s.id]);
}

test('a used ticket is refused after its server is killed and restarted with the same id', async () => {
	const { roomId, host, token } = await realTicket();
	const first = await connect(host, token, { protocol: 'stateroom.v1' });
	assert.equal((await first.next()).type, 'welcome');
	await restart(host, 'SIGKILL');
	await first.closed;
	assert.equal(await closeCode(host, token), 4001);
	// What a client does with a refused ticket: look the room up again.
	const again = await ticketFor(h.stack, 'alice', roomId);
	assert.equal(again.host, host);
	const c = await connect(again.host, again.token, { protocol: 'stateroom.v1' });
	assert.equal((await c.next()).type, 'welcome');
	assert.equal(await closeCode(host, again.token), 4001);
	await closeAll([c]);
});

test('a ticket looked up before its server restarted is refused; a new look-up joins', async () => {
	const { roomId, host, token } = await realTicket('bob');
	await restart(host, 'SIGTERM');
	assert.equal(await closeCode(host, token), 4001);
	const again = await ticketFor(h.stack, 'bob', roomId);
	const c = await connect(again.host, again.token, { protocol: 'stateroom.v1' });
	assert.equal((await c.next()).type, 'welcome');
	await closeAll([c]);
});
