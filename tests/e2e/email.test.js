// Email (docs/protocol.md, "Notifications"): an address is verified by a
// link mailed to it; what stays unread after the quiet period arrives as
// one digest through a real SMTP relay (an aiosmtpd sink, tests/e2e/lib/
// mailsink.js); the unsubscribe link works without logging in; a relay
// that refuses or hangs delays mail but nothing else; two backends send
// each digest once.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, request, lookup, connect, sendAcked, closeAll } from './lib/stack.js';
import { startMailSink, header } from './lib/mailsink.js';

const PUBLIC = 'https://chat.stateroom.test';
const DELAY_MS = 1500;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(pred, what, timeoutMs = 20000) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const v = await pred();
		if (v) return v;
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await sleep(50);
	}
}

const mailEnv = (sink, extra = {}) => ({
	STATEROOM_SMTP_URL: sink.url,
	STATEROOM_SMTP_FROM: 'chat@stateroom.test',
	STATEROOM_PUBLIC_URL: PUBLIC,
	STATEROOM_EMAIL_TEST_DELAY_MS: String(DELAY_MS),
	STATEROOM_EMAIL_POLL_MS: '200',
	STATEROOM_EMAIL_TIMEOUT_MS: '2000',
	STATEROOM_EMAIL_RETRY_BASE_MS: '200',
	STATEROOM_EMAIL_RETRY_MAX_MS: '400',
	...extra,
});

let n = 0;
const fresh = (prefix) => `${prefix}${process.pid % 10000}_${++n}`;

async function register(url, prefix) {
	const userId = fresh(prefix);
	const res = await request(url, '/api/auth/register', { method: 'POST', body: { userId, password: 'correct horse battery' } });
	assert.equal(res.status, 200, res.text);
	return { userId, token: res.json.token, address: `${userId.toLowerCase()}@mail.stateroom.test` };
}

// The link of the mail as the backend under test serves it.
function local(stack, link) {
	assert.ok(link.startsWith(`${PUBLIC}/`), link);
	return link.slice(PUBLIC.length);
}

async function page(stack, pathAndQuery, opts = {}) {
	const res = await fetch(`${stack.backendUrl}${pathAndQuery}`, opts);
	return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

// Adds and verifies who's address through the mailed link.
async function verify(stack, sink, who) {
	const put = await request(stack.backendUrl, '/api/me/email', { method: 'PUT', token: who.token, body: { address: who.address } });
	assert.equal(put.status, 202, put.text);
	const mail = await until(() => sink.to(who.address)[0], 'the verification mail');
	const link = /https?:\/\/\S+\/api\/email\/verify\?token=[A-Za-z0-9_-]+/.exec(mail.text)?.[0];
	assert.ok(link, mail.text);
	const res = await page(stack, local(stack, link));
	assert.equal(res.status, 200, res.text);
	return { mail, link };
}

async function dmBetween(stack, a, b) {
	const res = await request(stack.backendUrl, '/api/dms', { method: 'POST', token: a.token, body: { userId: b.userId } });
	assert.equal(res.status, 201, res.text);
	return res.json.roomId;
}

async function joinAs(stack, who, roomId) {
	const t = await lookup(stack.backendUrl, who.token, roomId);
	assert.equal(t.status, 200, t.text);
	const c = await connect(t.json.host, t.json.token, { protocol: 'stateroom.v1' });
	await c.next('welcome');
	return c;
}

const emailStates = async (stack, who) =>
	(await stack.sql(`SELECT email_state FROM notifications WHERE user_id = '${who.userId}' ORDER BY id`)).map((r) => r[0]);

describe('email with a relay', () => {
	let sink;
	let stack;
	before(async () => {
		sink = await startMailSink();
		stack = await startStack({ backendEnv: mailEnv(sink) });
	});
	after(async () => {
		await stack?.stop();
		await sink?.stop();
	});

	test('an address is verified by the mailed link, once, and its checks hold', async () => {
		const b = await register(stack.backendUrl, 'vb');
		assert.equal((await request(stack.backendUrl, '/api/me/email', { token: b.token })).status, 404);
		for (const address of ['not an address', 'b@example.com\r\nBcc: eve@example.com', 'b@exa mple.com', 'ä@example.com', 42, '']) {
			const res = await request(stack.backendUrl, '/api/me/email', { method: 'PUT', token: b.token, body: { address } });
			assert.equal(res.status, 400, `${JSON.stringify(address)}: ${res.text}`);
			assert.equal(res.json.error.code, 'invalid_address');
		}
		const guest = await request(stack.backendUrl, '/api/login', { method: 'POST', body: { userId: 'guest' } });
		const asGuest = await request(stack.backendUrl, '/api/me/email', { method: 'PUT', token: guest.json.token, body: { address: 'g@example.com' } });
		assert.equal(asGuest.status, 403, asGuest.text);

		const { mail, link } = await verify(stack, sink, b);
		assert.equal(mail.mailFrom, 'chat@stateroom.test');
		assert.match(mail.subject, /Confirm your email address/);
		assert.deepEqual(mail.defects, []);
		const me = await request(stack.backendUrl, '/api/me/email', { token: b.token });
		assert.deepEqual(me.json, { address: b.address, verified: true });

		// Single use: the same link again says so.
		const again = await page(stack, local(stack, link));
		assert.equal(again.status, 404);
		assert.match(again.text, /used already/);
		assert.match(again.type, /text\/html/);
		const junk = await page(stack, '/api/email/verify?token=%3Cscript%3E');
		assert.equal(junk.status, 400);
		assert.doesNotMatch(junk.text, /<script>/);

		// The same verified address again sends nothing; a new one does, but
		// not twice within a minute (two minutes pass here as the database
		// sees it: the first mail's send time moves back).
		const same = await request(stack.backendUrl, '/api/me/email', { method: 'PUT', token: b.token, body: { address: b.address } });
		assert.equal(same.status, 200, same.text);
		assert.deepEqual(same.json, { address: b.address, verified: true });
		const other = `other.${b.address}`;
		const tooSoon = await request(stack.backendUrl, '/api/me/email', { method: 'PUT', token: b.token, body: { address: other } });
		assert.equal(tooSoon.status, 429, tooSoon.text);
		await stack.sql(`UPDATE email_addresses SET verify_expires = verify_expires - interval '2 minutes' WHERE user_id = '${b.userId}'`);
		const put = await request(stack.backendUrl, '/api/me/email', { method: 'PUT', token: b.token, body: { address: other } });
		assert.equal(put.status, 202, put.text);
		const soon = await request(stack.backendUrl, '/api/me/email', { method: 'PUT', token: b.token, body: { address: other } });
		assert.equal(soon.status, 429, soon.text);
		assert.ok(Number(soon.headers.get('retry-after')) > 0);
		await until(() => sink.to(other).length === 1, 'the second verification mail');
		assert.deepEqual((await request(stack.backendUrl, '/api/me/email', { token: b.token })).json, { address: other, verified: false });

		// An expired link says so and verifies nothing.
		await stack.sql(`UPDATE email_addresses SET verify_expires = now() - interval '1 second' WHERE user_id = '${b.userId}'`);
		const mail2 = sink.to(other)[0];
		const link2 = /https?:\/\/\S+\/api\/email\/verify\?token=[A-Za-z0-9_-]+/.exec(mail2.text)[0];
		const expired = await page(stack, local(stack, link2));
		assert.equal(expired.status, 410);
		assert.match(expired.text, /expired/);

		const del = await request(stack.backendUrl, '/api/me/email', { method: 'DELETE', token: b.token });
		assert.equal(del.status, 204);
		assert.equal((await request(stack.backendUrl, '/api/me/email', { token: b.token })).status, 404);
	});

	test('messages left unread make one digest after the delay; read ones none', async () => {
		const a = await register(stack.backendUrl, 'da');
		const b = await register(stack.backendUrl, 'db');
		await verify(stack, sink, b);
		const roomId = await dmBetween(stack, a, b);
		const ca = await joinAs(stack, a, roomId);
		const seq1 = await sendAcked(ca, 'm1', 'first thing');
		const seq2 = await sendAcked(ca, 'm2', 'second thing\nwith a second line');
		await sendAcked(ca, 'm3', '{"e2ee":1,"d":"x","s":"y","i":"z","c":"SECRETCIPHERTEXT","k":{}}');

		const digest = await until(() => sink.to(b.address).find((m) => !/Confirm/.test(m.subject)), 'the digest');
		assert.equal(digest.subject, '3 unread messages on Stateroom');
		assert.match(digest.text, /first thing/);
		assert.match(digest.text, /second thing with a second line/);
		assert.match(digest.text, /\(encrypted message\)/);
		assert.doesNotMatch(digest.text, /SECRETCIPHERTEXT/);
		// Each links to its message: the client opens the room there.
		for (const seq of [seq1, seq2]) {
			assert.ok(digest.text.includes(`${PUBLIC}/?room=${roomId}&seq=${seq}`), digest.text);
		}
		assert.match(digest.text, new RegExp(a.userId));
		assert.deepEqual(digest.defects, []);
		// RFC 5322's limit for any line, RFC 2045's for quoted-printable.
		assert.ok(digest.longestLine <= 998, `a line of ${digest.longestLine}`);
		assert.ok(digest.longestBodyLine <= 76, `a body line of ${digest.longestBodyLine}`);
		assert.equal(header(digest, 'List-Unsubscribe-Post'), 'List-Unsubscribe=One-Click');
		assert.match(header(digest, 'List-Unsubscribe'), /^<https:\/\/chat\.stateroom\.test\/api\/email\/unsubscribe\?token=[A-Za-z0-9_-]+>$/);
		assert.deepEqual(await emailStates(stack, b), ['sent', 'sent', 'sent']);

		// A message b reads before the delay is over is never mailed.
		const cb = await joinAs(stack, b, roomId);
		const seq = await sendAcked(ca, 'm4', 'read at once');
		cb.send({ type: 'read', seq });
		await cb.next('read');
		await until(async () => (await emailStates(stack, b))[3] === 'skipped', 'the read message skipped', 10000);
		assert.equal(sink.to(b.address).filter((m) => !/Confirm/.test(m.subject)).length, 1);
		await closeAll([ca, cb]);
	});

	test('the unsubscribe link works without logging in: GET asks, POST turns email off', async () => {
		const a = await register(stack.backendUrl, 'ua');
		const b = await register(stack.backendUrl, 'ub');
		await verify(stack, sink, b);
		const roomId = await dmBetween(stack, a, b);
		const ca = await joinAs(stack, a, roomId);
		await sendAcked(ca, 'u1', 'ping');
		const digest = await until(() => sink.to(b.address).find((m) => !/Confirm/.test(m.subject)), 'the digest');
		assert.equal(digest.subject, `${a.userId} sent you a message`);
		const link = /^<(.*)>$/.exec(header(digest, 'List-Unsubscribe'))[1];

		const shown = await page(stack, local(stack, link));
		assert.equal(shown.status, 200);
		assert.match(shown.text, /<form method="post"/);
		assert.deepEqual(await stack.sql(`SELECT email FROM notify_prefs WHERE user_id = '${b.userId}'`), []);

		// RFC 8058: a mail client POSTs "List-Unsubscribe=One-Click" as a form.
		const posted = await page(stack, local(stack, link), {
			method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click',
		});
		assert.equal(posted.status, 200, posted.text);
		assert.match(posted.text, /Email notifications are off/);
		assert.deepEqual(await stack.sql(`SELECT email FROM notify_prefs WHERE user_id = '${b.userId}'`), [['f']]);

		// A message now makes no email at all.
		await sendAcked(ca, 'u2', 'after unsubscribing');
		assert.deepEqual(await emailStates(stack, b), ['sent']);
		const bad = await page(stack, '/api/email/unsubscribe?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', { method: 'POST' });
		assert.equal(bad.status, 404);
		await closeAll([ca]);
	});

	test('a relay that refuses or hangs delays the digest, never the API, and nothing is lost', async () => {
		const a = await register(stack.backendUrl, 'ra');
		const b = await register(stack.backendUrl, 'rb');
		await verify(stack, sink, b);
		const roomId = await dmBetween(stack, a, b);
		const ca = await joinAs(stack, a, roomId);
		try {
			sink.setMode('refuse');
			await sendAcked(ca, 'r1', 'while the relay refuses');
			await until(async () => (await stack.sql(`SELECT last_error FROM email_addresses WHERE user_id = '${b.userId}' AND last_error LIKE '%451%'`)).length, 'a refused attempt');
			sink.setMode('hang');
			await until(async () => (await stack.sql(`SELECT last_error FROM email_addresses WHERE user_id = '${b.userId}' AND last_error NOT LIKE '%451%'`)).length, 'a timed-out attempt');
			// Meanwhile the backend answers as ever.
			const me = await request(stack.backendUrl, '/api/me/email', { token: b.token });
			assert.equal(me.status, 200);
			await sendAcked(ca, 'r2', 'while the relay hangs');
			assert.equal(sink.to(b.address).filter((m) => !/Confirm/.test(m.subject)).length, 0);
		} finally {
			sink.setMode('accept');
		}
		const digest = await until(() => sink.to(b.address).find((m) => !/Confirm/.test(m.subject)), 'the digest once the relay takes it');
		assert.match(digest.text, /while the relay refuses/);
		assert.match(digest.text, /while the relay hangs/);
		assert.deepEqual(await emailStates(stack, b), ['sent', 'sent']);
		await closeAll([ca]);
	});
});

test('without --smtp-url email is off: PUT /api/me/email is 503 email_disabled', async () => {
	const stack = await startStack({ sessions: 0 });
	try {
		const b = await register(stack.backendUrl, 'off');
		const res = await request(stack.backendUrl, '/api/me/email', { method: 'PUT', token: b.token, body: { address: b.address } });
		assert.equal(res.status, 503, res.text);
		assert.equal(res.json.error.code, 'email_disabled');
	} finally {
		await stack.stop();
	}
});

test('two backends on one database send each user one digest', async () => {
	const sink = await startMailSink();
	const stack = await startStack({ backends: 2, backendEnv: mailEnv(sink) });
	try {
		const a = await register(stack.backendUrl, 'ta');
		const people = [];
		for (let i = 0; i < 4; i++) people.push(await register(stack.backends[i % 2].url, 'tb'));
		for (const b of people) await verify(stack, sink, b);
		const clients = [];
		for (const b of people) {
			const roomId = await dmBetween(stack, a, b);
			const c = await joinAs(stack, a, roomId);
			clients.push(c);
			await sendAcked(c, 'x1', `hello ${b.userId}`);
			await sendAcked(c, 'x2', `again ${b.userId}`);
		}
		const digests = () => sink.messages().filter((m) => !/Confirm/.test(m.subject));
		await until(() => digests().length >= people.length, 'a digest for everyone');
		await until(async () => (await stack.sql(`SELECT count(*) FROM email_addresses WHERE last_digest_at IS NOT NULL AND claimed_until IS NULL`))[0][0] === String(people.length), 'every digest recorded');
		// Past several polls of both backends: still one each.
		await sleep(1000);
		for (const b of people) {
			const got = digests().filter((m) => m.rcptTos.includes(b.address));
			assert.equal(got.length, 1, `${b.userId} got ${got.length}`);
			assert.equal(got[0].subject, '2 unread messages on Stateroom');
		}
		await closeAll(clients);
	} finally {
		await stack.stop();
		await sink.stop();
	}
});
