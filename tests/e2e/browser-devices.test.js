// An account's devices in the web client (docs/e2ee.md): the profile lists
// the account's device keys, this browser's marked, each with its key's
// fingerprint and when it was added, and removes one after a confirmation;
// and a device the peer adds while a DM is open gets the next message
// without the sender reloading (the sender reads the device lists afresh).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, request } from './lib/stack.js';
import { register } from './lib/friendsapi.js';
import { launch, openPage, signIn, waitState, send, textsOnScreen } from './lib/browser.js';

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

async function startDm(from, to) {
	const res = await request(h.stack.backendUrl, '/api/dms', { method: 'POST', token: from.token, body: { userId: to.id } });
	assert.ok(res.status === 200 || res.status === 201, res.text);
	return res.json.roomId;
}

async function openDm(page, roomId) {
	await page.goto(`${h.stack.backendUrl}/?room=${roomId}`);
	await waitState(page, 'connected');
}

async function activeDevices(user) {
	const res = await request(h.stack.backendUrl, `/api/users/${user.id}/devices`, { token: user.token });
	assert.equal(res.status, 200, res.text);
	return res.json.devices.map((d) => d.deviceId);
}

async function until(fn, what) {
	const deadline = Date.now() + 15000;
	for (;;) {
		if (await fn()) return;
		if (Date.now() > deadline) assert.fail(what);
		await new Promise((r) => setTimeout(r, 100));
	}
}

const encrypted = (page) => page.locator('[data-testid="e2ee-menu"][data-state="on"]').waitFor();

test('the profile lists this account\'s devices, this browser marked, and removes one after a confirmation', async () => {
	const [amy, ben] = [await register(h.stack, 'amy'), await register(h.stack, 'ben')];
	const roomId = await startDm(amy, ben);
	// Two browsers of amy's: each makes its device on opening the DM.
	const one = await signedIn(amy);
	await openDm(one, roomId);
	await until(async () => (await activeDevices(amy)).length === 1, 'no first device');
	const two = await signedIn(amy);
	await openDm(two, roomId);
	await until(async () => (await activeDevices(amy)).length === 2, 'no second device');
	const [first, second] = await activeDevices(amy);

	await one.getByTestId('profile-button').click();
	const rows = one.getByTestId('device-row');
	await one.waitForFunction(() => document.querySelectorAll('[data-testid="device-row"]').length === 2);
	assert.deepEqual(await rows.evaluateAll((els) => els.map((e) => [e.dataset.device, e.dataset.current])),
		[[first, 'true'], [second, 'false']]);
	assert.equal(await one.locator('[data-testid="device-row"][data-current="true"] strong').textContent(), 'This browser');
	const prints = await one.getByTestId('device-fingerprint').allTextContents();
	for (const p of prints) assert.match(p, /^(\d{5} ){5}\d{5}$/);
	assert.notEqual(prints[0], prints[1]);
	assert.match(await rows.nth(1).textContent(), /added /);

	// Cancelling the confirmation removes nothing.
	const other = one.locator(`[data-testid="device-row"][data-device="${second}"]`);
	one.once('dialog', (d) => d.dismiss());
	await other.getByTestId('device-remove').click();
	await new Promise((r) => setTimeout(r, 300));
	assert.deepEqual(await activeDevices(amy), [first, second]);

	let asked = '';
	one.once('dialog', (d) => {
		asked = d.message();
		d.accept();
	});
	await other.getByTestId('device-remove').click();
	await other.waitFor({ state: 'detached' });
	assert.match(asked, /^Remove device /);
	assert.deepEqual(await activeDevices(amy), [first]);
	assert.equal(await rows.count(), 1);
	assert.deepEqual([...one.errors, ...two.errors], []);
	for (const p of [one, two]) await p.context().close();
});

test('a device the peer adds is sent the next message without the sender reloading', async () => {
	const [amy, ben] = [await register(h.stack, 'amy'), await register(h.stack, 'ben')];
	const roomId = await startDm(amy, ben);
	const b = await signedIn(ben);
	await openDm(b, roomId);
	await until(async () => (await activeDevices(ben)).length === 1, 'no device of ben');
	const a = await signedIn(amy);
	await openDm(a, roomId);
	await encrypted(a);
	await send(a, 'before the second browser');
	await b.getByText('before the second browser').waitFor();

	// Ben opens the DM in a second browser: a new device, which amy's page,
	// open all along, has not seen.
	const b2 = await signedIn(ben);
	await openDm(b2, roomId);
	await until(async () => (await activeDevices(ben)).length === 2, 'no second device of ben');
	await send(a, 'after the second browser');
	await b2.getByText('after the second browser').waitFor();
	// What was sent before it existed is not for it (docs/e2ee.md).
	assert.ok(!(await textsOnScreen(b2)).includes('before the second browser'));
	await b.getByText('after the second browser').waitFor();
	for (const p of [a, b, b2]) await p.context().close();
});
