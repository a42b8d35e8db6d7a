// Encrypted DMs in headless Chromium, two accounts (docs/e2ee.md): messages
// are readable at both ends, live and after a reload, while the database and
// the servers' logs hold none of their text; a ciphertext changed in the
// database shows as "could not be decrypted", never as other text; a new
// device of the peer shows a warning; both ends show the same safety number.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { useStack } from './lib/stack.js';
import { register } from './lib/friendsapi.js';
import { launch, openPage, signIn, waitState, send, textsOnScreen, atLeastMessages } from './lib/browser.js';

let browser;

before(async () => {
	browser = await launch();
});

after(async () => {
	await browser?.close();
});

const h = useStack({ sessions: 1, backends: 1 });

async function signedIn(user) {
	const page = await openPage(browser, h.stack.backendUrl);
	await signIn(page, 'login', user.id, 'correct horse battery');
	await page.getByTestId('lobby-view').waitFor();
	return page;
}

// Opens the DM with other through the API's room id, as a link would.
async function openDm(page, roomId) {
	await page.goto(`${h.stack.backendUrl}/?room=${roomId}`);
	await waitState(page, 'connected');
}

const encrypted = (page) => page.locator('[data-testid="e2ee-menu"][data-state="on"]').waitFor();

async function dmPair() {
	const [amy, ben] = [await register(h.stack, 'amy'), await register(h.stack, 'ben')];
	const res = await fetch(`${h.stack.backendUrl}/api/dms`, {
		method: 'POST', headers: { authorization: `Bearer ${amy.token}`, 'content-type': 'application/json' },
		body: JSON.stringify({ userId: ben.id }),
	});
	assert.equal(res.status, 201);
	const { roomId } = await res.json();
	const [a, b] = [await signedIn(amy), await signedIn(ben)];
	await openDm(a, roomId);
	await openDm(b, roomId);
	// Each end has registered its device; the one that opened first learns
	// of the other's on its next read (a reload here).
	await encrypted(b);
	await a.reload();
	await waitState(a, 'connected');
	await encrypted(a);
	return { amy, ben, roomId, a, b };
}

async function databaseText() {
	const { stdout } = await promisify(execFile)('pg_dump', ['--data-only', h.stack.databaseUrl], { maxBuffer: 64 << 20 });
	return stdout;
}

async function safetyNumber(page) {
	await page.getByTestId('e2ee-status').click();
	const n = await page.getByTestId('safety-number').textContent();
	await page.getByTestId('e2ee-status').click();
	return n;
}

test('an encrypted DM reads at both ends and after a reload; the server sees no text', async () => {
	const { a, b } = await dmPair();
	await send(a, 'the boat leaves at dawn marmalade');
	await atLeastMessages(b, 1);
	await send(b, 'bring the periwinkle lantern');
	await atLeastMessages(a, 2);
	const both = ['the boat leaves at dawn marmalade', 'bring the periwinkle lantern'];
	assert.deepEqual(await textsOnScreen(a), both);
	assert.deepEqual(await textsOnScreen(b), both);

	await a.reload();
	await waitState(a, 'connected');
	await a.getByTestId('message-text').filter({ hasText: 'periwinkle' }).waitFor();
	assert.deepEqual(await textsOnScreen(a), both, 'history decrypts after a reload');

	const dump = await databaseText();
	assert.match(dump, /\{\\*"e2ee\\*":1,/, 'the records hold envelopes');
	for (const word of ['marmalade', 'periwinkle']) {
		assert.equal(dump.includes(word), false, `the database holds no "${word}"`);
		assert.equal(h.stack.allLogs().includes(word), false, `the servers' logs hold no "${word}"`);
	}

	const [na, nb] = [await safetyNumber(a), await safetyNumber(b)];
	assert.match(na, /^(\d{5} ){11}\d{5}$/);
	assert.equal(na, nb, 'both ends show the same safety number');
	assert.deepEqual([...a.errors, ...b.errors], []);
	await Promise.all([a, b].map((p) => p.context().close()));
});

test('a ciphertext changed in the database shows as could not be decrypted', async () => {
	const { a, b, roomId } = await dmPair();
	await send(a, 'first untouched');
	await send(a, 'second to be tampered');
	await atLeastMessages(b, 2);
	assert.deepEqual(await textsOnScreen(b), ['first untouched', 'second to be tampered']);

	// One byte of the second message's ciphertext changes, then the room is
	// read again from PostgreSQL (its server restarts).
	const rows = JSON.parse((await h.stack.sql(`SELECT json_agg(json_build_object('seq', seq, 'payload', payload) ORDER BY seq)
		FROM records WHERE room_id = '${roomId}' AND kind = 'message'`))[0][0]);
	const row = rows[1];
	const env = JSON.parse(row.payload);
	env.c = (env.c[0] === 'A' ? 'B' : 'A') + env.c.slice(1);
	await h.stack.sql(`UPDATE records SET payload = $x$${JSON.stringify(env)}$x$ WHERE room_id = '${roomId}' AND seq = ${row.seq}`);
	await h.stack.sessions[0].stop('SIGTERM');
	await h.stack.sessions[0].start();
	await h.stack.waitRegistered();

	for (const p of [a, b]) {
		await p.reload();
		await waitState(p, 'connected');
		await p.getByTestId('message-undecryptable').waitFor();
		assert.deepEqual(await textsOnScreen(p), ['first untouched'], 'the changed one shows no text at all');
		assert.equal(await p.getByTestId('message-undecryptable').textContent(), 'This message could not be decrypted.');
	}
	await Promise.all([a, b].map((p) => p.context().close()));
});

test('a new device of the peer shows a warning and changes the safety number', async () => {
	const { ben, a, b, roomId } = await dmPair();
	await send(a, 'before the new device');
	await atLeastMessages(b, 1);
	const before = await safetyNumber(a);

	// Ben signs in on another browser (a fresh profile: a new key).
	const b2 = await signedIn(ben);
	await openDm(b2, roomId);
	await encrypted(b2);
	assert.deepEqual(await textsOnScreen(b2), [],
		'a new device cannot read what was sent before it had a key');
	assert.equal(await b2.getByTestId('message-undecryptable').count(), 1);
	await send(b2, 'from my new laptop');
	await a.getByTestId('message-text').filter({ hasText: 'from my new laptop' }).waitFor();
	await a.getByTestId('e2ee-warning').waitFor();
	assert.deepEqual(await a.getByTestId('e2ee-warning').allTextContents(),
		[`⚠ ${ben.id}'s device keys changed (1 added). Check the safety number in the 🔒 menu before trusting new messages.`]);
	await b.getByTestId('e2ee-warning').filter({ hasText: 'Your device keys changed (1 added)' }).waitFor();
	const afterNumber = await safetyNumber(a);
	assert.notEqual(afterNumber, before, 'the safety number changes with the keys');
	assert.equal(await safetyNumber(b2), afterNumber);

	// Checked: the warning goes, and stays gone after a reload.
	await a.getByTestId('e2ee-status').click();
	await a.getByTestId('e2ee-verified').click();
	assert.equal(await a.getByTestId('e2ee-warning').count(), 0);
	await a.reload();
	await waitState(a, 'connected');
	await encrypted(a);
	await a.getByTestId('message-text').filter({ hasText: 'from my new laptop' }).waitFor();
	assert.equal(await a.getByTestId('e2ee-warning').count(), 0);
	assert.deepEqual([...a.errors, ...b.errors, ...b2.errors], []);
	await Promise.all([a, b, b2].map((p) => p.context().close()));
});
