// The service worker in headless Chromium (docs/protocol.md, "Notifications"):
// it registers at the root under the backend's Content-Security-Policy, and a
// push delivered to it shows a notification (registration.getNotifications())
// unless a visible window has that room open.
//
// How far headless Chromium goes: it has no push service of its own (no
// Firebase Cloud Messaging connection), so PushManager.subscribe() cannot
// complete and the browser's side of delivery is driven through the DevTools
// protocol (ServiceWorker.deliverPushMessage), which hands the worker a push
// event with the payload as the push service would after decryption. The
// encryption and VAPID, and the subscription API, are shown end to end in
// push.test.js with a fake push service that plays the browser's part.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, createRoom } from './lib/stack.js';
import { launch, openPage, WAIT_MS } from './lib/browser.js';
import { register } from './lib/friendsapi.js';
import { vapidKeys } from './lib/pushservice.js';

let browser;
before(async () => {
	browser = await launch();
});
after(async () => {
	await browser?.close();
});

const vapid = vapidKeys();
const shared = useStack({
	sessions: 1,
	backends: 1,
	backendEnv: {
		STATEROOM_VAPID_PUBLIC_KEY: vapid.publicKey,
		STATEROOM_VAPID_PRIVATE_KEY: vapid.privateKey,
		STATEROOM_VAPID_SUBJECT: 'mailto:ops@example.org',
	},
});
const url = (p = '/') => shared.stack.backendUrl + p;

async function signedIn(user, path = '/') {
	const context = await browser.newContext({ viewport: { width: 1100, height: 720 } });
	await context.grantPermissions(['notifications'], { origin: url('') });
	context.setDefaultTimeout(WAIT_MS);
	const page = await openPage(browser, url(), { context });
	await page.evaluate(({ token, id }) => localStorage.setItem('stateroom.account',
		JSON.stringify({ token, user: id })), user);
	await page.goto(url(path));
	return { context, page };
}

// The worker's registration id, as DevTools knows it.
async function registrationId(cdp, scope) {
	const seen = new Map();
	cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
		for (const r of registrations) if (!r.isDeleted) seen.set(r.scopeURL, r.registrationId);
	});
	await cdp.send('ServiceWorker.enable');
	const deadline = Date.now() + WAIT_MS;
	while (!seen.has(scope)) {
		if (Date.now() > deadline) throw new Error(`no registration for ${scope}: ${[...seen.keys()]}`);
		await new Promise((r) => setTimeout(r, 50));
	}
	return seen.get(scope);
}

const notifications = (page) => page.evaluate(async () => {
	const reg = await navigator.serviceWorker.ready;
	return (await reg.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }));
});

test('the service worker registers under the CSP and shows a pushed DM, not one for the room on screen', async (t) => {
	const bob = await register(shared.stack, 'bob');
	const open = await createRoom(shared.stack.backendUrl, bob.token, { name: 'On screen' });
	assert.equal(open.status, 200, open.text);
	const openId = open.json.roomId;
	const { context, page } = await signedIn(bob, `/?room=${openId}`);
	await page.getByTestId('room-view').waitFor();

	// What the settings view calls: the server has a key, the browser is not
	// subscribed yet.
	const status = await page.evaluate(async (session) => (await import('/push.js')).pushStatus(session),
		{ token: bob.token, registered: true });
	assert.equal(status, 'off');
	// enablePush() as far as headless goes: permission granted, the worker
	// registered; subscribing needs a push service headless has not.
	const enabled = await page.evaluate(async (session) => {
		try {
			return await (await import('/push.js')).enablePush(session);
		} catch (error) {
			return `${error.name}`;
		}
	}, { token: bob.token, registered: true });
	assert.ok(['on', 'AbortError', 'NotAllowedError', 'NotSupportedError'].includes(enabled), enabled);
	t.diagnostic(`enablePush in headless Chromium: ${enabled}`);
	const scope = await page.evaluate(async () => (await navigator.serviceWorker.ready).scope);
	assert.equal(scope, url('/'));
	await page.waitForFunction(() => navigator.serviceWorker.controller !== null);

	const cdp = await context.newCDPSession(page);
	const id = await registrationId(cdp, url('/'));
	const push = (payload) => cdp.send('ServiceWorker.deliverPushMessage', {
		origin: url(''), registrationId: id, data: JSON.stringify(payload),
	});
	// For the room this visible window shows: the reader sees it there.
	await push({ type: 'mention', roomId: openId, seq: 3, by: 'alice', title: 'alice mentioned you in On screen', body: 'here', url: `/?room=${openId}&seq=3` });
	// A DM elsewhere: shown.
	const dmId = 'abcdefghij12';
	await push({ type: 'dm', roomId: dmId, seq: 7, by: 'alice', title: 'Alice', body: 'Are you there?', url: `/?room=${dmId}&seq=7` });
	await page.waitForFunction(async () => (await (await navigator.serviceWorker.ready).getNotifications()).length > 0);
	const shown = await notifications(page);
	assert.deepEqual(shown, [{
		title: 'Alice', body: 'Are you there?', tag: `room-${dmId}`,
		data: { url: url(`/?room=${dmId}&seq=7`), roomId: dmId, seq: 7, type: 'dm' },
	}]);

	// A payload that names another site cannot send a click there.
	await push({ type: 'dm', roomId: dmId, seq: 8, by: 'alice', title: 'Alice', body: 'again', url: 'https://evil.example/' });
	await page.waitForFunction(async () => (await (await navigator.serviceWorker.ready).getNotifications())[0]?.body === 'again');
	assert.equal((await notifications(page))[0].data.url, url('/'));
	assert.deepEqual(page.errors, []);
	await context.close();
});
