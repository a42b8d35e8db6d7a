// Device keys of encrypted DMs through the HTTP API (docs/protocol.md,
// "Device keys"): an account adds, lists and removes its devices' public
// keys; hostile keys, algorithms, ids and bodies are refused with a clear
// error; the number of devices is bounded; guests have none.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { useStack, login } from './lib/stack.js';
import { register, call, assertError } from './lib/friendsapi.js';

const h = useStack({ sessions: 1 });

const b64u = (buf) => Buffer.from(buf).toString('base64url');
// A real key of each kind, as WebCrypto exports it raw.
const x25519 = () => b64u(crypto.generateKeyPairSync('x25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32));
const p256 = () => {
	const { publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
	return b64u(publicKey.export({ format: 'der', type: 'spki' }).subarray(-65));
};
const add = (s, u, body) => call(s, u, 'POST', '/api/me/devices', body);
const list = (s, u, of) => call(s, u, 'GET', `/api/users/${encodeURIComponent(of.id)}/devices`);

test('an account adds, lists and removes device keys; others read them', async () => {
	const s = h.stack;
	const [ann, bob] = [await register(s, 'ann'), await register(s, 'bob')];
	const empty = await list(s, bob, ann);
	assert.equal(empty.status, 200, empty.text);
	assert.deepEqual([empty.json.devices, empty.json.revoked], [[], []]);

	const k1 = x25519();
	const k2 = p256();
	const a1 = await add(s, ann, { alg: 'X25519', publicKey: k1 });
	assert.equal(a1.status, 201, a1.text);
	assert.match(a1.json.deviceId, /^[A-Za-z0-9_-]{16}$/);
	const again = await add(s, ann, { alg: 'X25519', publicKey: k1 });
	assert.equal(again.status, 200, 'the same key again is the same device');
	assert.equal(again.json.deviceId, a1.json.deviceId);
	const a2 = await add(s, ann, { alg: 'P-256', publicKey: k2 });
	assert.equal(a2.status, 201, a2.text);

	const seen = await list(s, bob, ann);
	assert.equal(seen.status, 200);
	assert.deepEqual(seen.json.devices.map((d) => [d.deviceId, d.alg, d.publicKey]),
		[[a1.json.deviceId, 'X25519', k1], [a2.json.deviceId, 'P-256', k2]]);

	const del = await call(s, ann, 'DELETE', `/api/me/devices/${a1.json.deviceId}`);
	assert.equal(del.status, 204, del.text);
	assertError(await call(s, ann, 'DELETE', `/api/me/devices/${a1.json.deviceId}`), 404, 'not_found');
	assertError(await call(s, bob, 'DELETE', `/api/me/devices/${a2.json.deviceId}`), 404, 'not_found');
	const after = await list(s, bob, ann);
	assert.deepEqual(after.json.devices.map((d) => d.deviceId), [a2.json.deviceId]);
	assert.deepEqual(after.json.revoked.map((d) => [d.deviceId, d.publicKey]), [[a1.json.deviceId, k1]],
		'a removed device\'s key stays listed as revoked, so its messages stay readable');
	assert.equal(typeof after.json.revoked[0].revokedAt, 'string');
	assertError(await add(s, ann, { alg: 'X25519', publicKey: k1 }), 409, 'key_revoked');
});

test('hostile keys, algorithms, bodies and ids are refused', async () => {
	const s = h.stack;
	const ann = await register(s, 'ann');
	const good = x25519();
	const bad = [
		{ alg: 'X25519' },
		{ publicKey: good },
		{ alg: 'X448', publicKey: good },
		{ alg: 'x25519', publicKey: good },
		{ alg: 'X25519', publicKey: 42 },
		{ alg: 'X25519', publicKey: `${good}=` },
		{ alg: 'X25519', publicKey: Buffer.alloc(32).toString('base64') },
		{ alg: 'X25519', publicKey: b64u(Buffer.alloc(32)) },
		{ alg: 'X25519', publicKey: b64u(crypto.randomBytes(31)) },
		{ alg: 'X25519', publicKey: b64u(crypto.randomBytes(33)) },
		{ alg: 'X25519', publicKey: 'A'.repeat(2000) },
		{ alg: 'P-256', publicKey: good },
		{ alg: 'P-256', publicKey: b64u(Buffer.concat([Buffer.from([2]), crypto.randomBytes(64)])) },
		{ alg: 'X25519', publicKey: good, extra: 1 },
		[good],
	];
	for (const body of bad) assertError(await add(s, ann, body), 400, undefined);
	for (const body of bad.slice(0, -1)) assertError(await add(s, ann, body), 400, 'invalid_key');
	assertError(await call(s, ann, 'POST', '/api/me/devices', '{"alg":'), 400, 'bad_json');
	const none = await list(s, ann, ann);
	assert.deepEqual(none.json.devices, [], 'nothing refused was stored');

	assertError(await list(s, ann, { id: 'nobody-here' }), 404, 'not_found');
	assertError(await call(s, ann, 'GET', '/api/users/a%20b/devices'), 400, 'invalid_user_id');
	assertError(await call(s, ann, 'GET', `/api/users/${'x'.repeat(33)}/devices`), 400, 'invalid_user_id');
	for (const id of ['short', 'A'.repeat(17), 'AAAAAAAAAAAAAAA%2F', '%41AAAAAAAAAAAAAAA'])
		assertError(await call(s, ann, 'DELETE', `/api/me/devices/${id}`), 400, 'invalid_device_id');
});

test('only accounts have devices, and an account has at most six', async () => {
	const s = h.stack;
	const ann = await register(s, 'ann');
	const guest = { token: await login(s.backendUrl, 'someguest') };
	assertError(await add(s, guest, { alg: 'X25519', publicKey: x25519() }), 403, 'account_required');
	assertError(await list(s, guest, ann), 403, 'account_required');
	assertError(await call(s, null, 'GET', `/api/users/${ann.id}/devices`), 401, undefined);
	assertError(await call(s, null, 'POST', '/api/me/devices', { alg: 'X25519', publicKey: x25519() }), 401, undefined);

	const results = await Promise.all(Array.from({ length: 9 }, () => add(s, ann, { alg: 'X25519', publicKey: x25519() })));
	assert.equal(results.filter((r) => r.status === 201).length, 6, 'six at once, even when added concurrently');
	for (const r of results.filter((r) => r.status !== 201)) assertError(r, 409, 'too_many_devices');
	const six = await list(s, ann, ann);
	assert.equal(six.json.devices.length, 6);
	assert.equal((await call(s, ann, 'DELETE', `/api/me/devices/${six.json.devices[0].deviceId}`)).status, 204);
	assert.equal((await add(s, ann, { alg: 'X25519', publicKey: x25519() })).status, 201, 'room again after a removal');
});
