// GET /api/ice: the ICE servers for a call, with TURN REST API credentials
// (username "<expiry>:<userId>", credential base64(HMAC-SHA1(secret,
// username))) that a TURN server sharing the secret accepts; checked here
// against the openssl tool.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { useStack, request, tokenFor, startStack } from './lib/stack.js';

const SECRET = 'ice-test-secret-0123456789';

function opensslCredential(secret, username) {
	const mac = execFileSync('openssl', ['dgst', '-sha1', '-hmac', secret, '-binary'], { input: username });
	return mac.toString('base64');
}

describe('GET /api/ice with STUN and TURN configured', () => {
	const h = useStack({
		backendEnv: {
			STATEROOM_STUN_URLS: 'stun:stun.example.org:3478',
			STATEROOM_TURN_URLS: 'turn:127.0.0.1:3478?transport=udp,turn:127.0.0.1:3478?transport=tcp',
			STATEROOM_TURN_SECRET: SECRET,
			STATEROOM_TURN_TTL_S: '600',
		},
	});

	test('answers the STUN URLs and a TURN credential for the caller that expires after the ttl', async () => {
		const token = await tokenFor(h.stack, 'alice');
		const me = (await request(h.stack.backendUrl, '/api/me', { token })).json;
		const before = Math.floor(Date.now() / 1000);
		const res = await request(h.stack.backendUrl, '/api/ice', { token });
		const after = Math.floor(Date.now() / 1000);
		assert.equal(res.status, 200, res.text);
		assert.equal(res.json.ttl, 600);
		const [stun, turn] = res.json.iceServers;
		assert.deepEqual(stun, { urls: ['stun:stun.example.org:3478'] });
		assert.deepEqual(turn.urls, ['turn:127.0.0.1:3478?transport=udp', 'turn:127.0.0.1:3478?transport=tcp']);
		// The expiry ends at the first colon (a guest's id has one of its own).
		const colon = turn.username.indexOf(':');
		const [expiry, userId] = [turn.username.slice(0, colon), turn.username.slice(colon + 1)];
		assert.equal(userId, me.sub);
		assert.ok(Number(expiry) >= before + 600 && Number(expiry) <= after + 600, turn.username);
		assert.equal(turn.credential, opensslCredential(SECRET, turn.username));
	});

	test('needs a token', async () => {
		const res = await request(h.stack.backendUrl, '/api/ice');
		assert.equal(res.status, 401);
	});
});

describe('GET /api/ice by default', () => {
	const h = useStack();

	test('answers no servers (browsers on one network need none)', async () => {
		const res = await request(h.stack.backendUrl, '/api/ice', { token: await tokenFor(h.stack, 'bob') });
		assert.equal(res.status, 200, res.text);
		assert.deepEqual(res.json.iceServers, []);
	});
});

test('the backend refuses TURN URLs without a secret, and URLs of the wrong scheme', async () => {
	for (const env of [{ STATEROOM_TURN_URLS: 'turn:127.0.0.1:3478' },
		{ STATEROOM_TURN_URLS: 'turn:127.0.0.1:3478', STATEROOM_TURN_SECRET: 'short' },
		{ STATEROOM_STUN_URLS: 'turn:127.0.0.1:3478' },
		{ STATEROOM_TURN_URLS: 'http://x', STATEROOM_TURN_SECRET: SECRET }]) {
		await assert.rejects(startStack({ backendEnv: env }), undefined, JSON.stringify(env));
	}
});
