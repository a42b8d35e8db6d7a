// Mentions in the web client, in headless Chromium with two accounts: alice
// types "@" and the first letters of bob's id, picks him from the list, and
// sends; bob, in the lobby, sees an @1 badge on the room apart from its
// unread count (live, from his inbox); he opens the room and the message is
// highlighted with his name in it, and search shows the hit highlighted
// too; once he has read it the badge is gone.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, connect, lookup, createRoom, closeAll } from './lib/stack.js';
import { launch, openPage, waitState, atLeastMessages, WAIT_MS } from './lib/browser.js';
import { register, call } from './lib/friendsapi.js';

let browser;

before(async () => {
	browser = await launch();
});

after(async () => {
	await browser?.close();
});

const shared = useStack({ sessions: 1, backends: 1 });

const url = (p = '/') => shared.stack.backendUrl + p;

async function account(prefix, displayName) {
	const user = await register(shared.stack, prefix);
	const res = await call(shared.stack, user, 'PATCH', '/api/me', { displayName });
	assert.equal(res.status, 200, res.text);
	return { ...user, displayName };
}

async function pageOf(user) {
	const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
	context.setDefaultTimeout(WAIT_MS);
	const page = await openPage(browser, url(), { context });
	await page.evaluate(({ token, id }) => localStorage.setItem('stateroom.account',
		JSON.stringify({ token, user: id })), user);
	await page.reload();
	await page.getByTestId('lobby-view').waitFor();
	return page;
}

async function joinAs(user, roomId) {
	const t = await lookup(shared.stack.backendUrl, user.token, roomId);
	assert.equal(t.status, 200, t.text);
	const c = await connect(t.json.host, t.json.token, { protocol: 'stateroom.v1' });
	await c.next('welcome');
	return c;
}

test('alice mentions bob from the composer; bob sees @1 apart, the message highlighted, and reading clears it', async () => {
	const alice = await account('alice', 'Alice Ames');
	const bob = await account('bob', 'Bob Berg');
	const created = await createRoom(shared.stack.backendUrl, alice.token, { name: 'Mentions', visibility: 'unlisted' });
	assert.equal(created.status, 200, created.text);
	const roomId = created.json.roomId;

	// Bob is in the room (a member: alice's completion lists him), then
	// waits in the lobby.
	const bobThere = await joinAs(bob, roomId);
	const bobPage = await pageOf(bob);
	const lobbyAt = Date.now();
	const row = bobPage.locator(`[data-testid="conversation-item"][data-room="${roomId}"]`);
	await row.waitFor();
	assert.equal(await row.getByTestId('conversation-mentions').isVisible(), false);

	const alicePage = await pageOf(alice);
	await alicePage.goto(url(`/?room=${roomId}`));
	await waitState(alicePage, 'connected');
	await alicePage.locator(`[data-testid="member"][data-user-id="${bob.id}"]`).waitFor();
	const input = alicePage.getByTestId('composer-input');
	await input.pressSequentially('hello before');
	await input.press('Enter');
	await input.pressSequentially(`can you check this, @${bob.id.slice(0, 3).toUpperCase()}`);
	const option = alicePage.locator(`[data-testid="mention-option"][data-user-id="${bob.id}"]`);
	await option.waitFor();
	assert.match(await option.textContent(), /Bob Berg/);
	await input.press('Enter'); // picks, does not send
	assert.equal(await input.inputValue(), `can you check this, @${bob.id} `);
	await input.pressSequentially('please?');
	// The lobby fetches the conversations once more 2 s after it shows
	// (view-lobby.js), then every minute: past that, only the inbox's
	// mention event can bring the badge within the wait below.
	await new Promise((r) => setTimeout(r, Math.max(0, lobbyAt + 2500 - Date.now())));
	await input.press('Enter');
	await atLeastMessages(alicePage, 2);
	const sent = alicePage.locator('[data-testid="message"].mine[data-seq]').last();
	await sent.getByTestId('mention').filter({ hasText: '@Bob Berg' }).waitFor();
	assert.equal(await sent.getAttribute('data-mentions-me'), null, 'alice is not mentioned');
	await closeAll([bobThere]);

	// Live in bob's lobby, from his inbox: two unread, one of them mentions him.
	await bobPage.locator(`[data-testid="conversation-item"][data-room="${roomId}"][data-mentions="1"]`)
		.waitFor();
	assert.equal((await row.getByTestId('conversation-mentions').textContent()).trim(), '@1');
	assert.equal((await row.getByTestId('conversation-unread').textContent()).trim(), '2');

	await row.click();
	await waitState(bobPage, 'connected');
	await atLeastMessages(bobPage, 2);
	const highlighted = bobPage.locator('[data-testid="message"][data-mentions-me="true"]');
	assert.equal(await highlighted.count(), 1);
	assert.match(await highlighted.getByTestId('message-text').textContent(), /can you check this, @Bob Berg please\?/);
	assert.equal(await bobPage.locator('[data-testid="message"]').first().getAttribute('data-mentions-me'), null);

	await bobPage.getByTestId('search-input').fill('check');
	await bobPage.getByTestId('search-submit').click();
	await bobPage.locator('[data-testid="search-hit"][data-mentions-me="true"]').waitFor();

	await bobPage.getByTestId('leave-room').click();
	await bobPage.locator(`[data-testid="conversation-item"][data-room="${roomId}"][data-mentions="0"][data-unread="0"]`)
		.waitFor();
	assert.equal(await row.getByTestId('conversation-mentions').isVisible(), false);
	// The server agrees: a fresh page has no badge either.
	await bobPage.reload();
	await bobPage.locator(`[data-testid="conversation-item"][data-room="${roomId}"][data-mentions="0"]`).waitFor();
	assert.deepEqual(alicePage.errors, []);
	assert.deepEqual(bobPage.errors, []);
});
