// Room settings in headless Chromium: the owner renames the room, makes it
// invite-only and creates an invite link in the settings dialog; a second
// user opens the link and gets in, a third (no link) is refused, and a dead
// link says so. A plain member sees no settings button.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, createRoom } from './lib/stack.js';
import { register } from './lib/friendsapi.js';
import { launch, openPage, signIn, waitState } from './lib/browser.js';

let browser;

before(async () => {
	browser = await launch();
});

after(async () => {
	await browser?.close();
});

const shared = useStack({ sessions: 1, backends: 1 });

async function signedIn(prefix, path = '/') {
	const user = await register(shared.stack, prefix);
	const page = await openPage(browser, new URL(path, shared.stack.backendUrl).href);
	await signIn(page, 'login', user.id, 'correct horse battery');
	return { user, page };
}

test('the owner renames the room, makes it invite-only and shares a link: its holder gets in, others are refused', async () => {
	const s = shared.stack;
	const owner = await signedIn('ao');
	await owner.page.getByTestId('lobby-view').waitFor();
	const made = await createRoom(s.backendUrl, owner.user.token, { name: 'Open door' });
	assert.equal(made.status, 200, made.text);
	const roomId = made.json.roomId;
	await owner.page.goto(new URL(`/?room=${roomId}`, s.backendUrl).href);
	await waitState(owner.page, 'connected');

	await owner.page.getByTestId('room-settings-button').click();
	const dialog = owner.page.getByTestId('room-settings');
	await dialog.waitFor();
	await owner.page.getByTestId('rs-owner').waitFor();
	await owner.page.getByTestId('rs-name').fill('Back room');
	await owner.page.getByTestId('rs-invite-only').check();
	await owner.page.getByTestId('rs-save').click();
	await owner.page.getByTestId('rs-done').filter({ hasText: 'Saved.' }).waitFor();
	assert.equal(await owner.page.getByTestId('room-name').textContent(), 'Back room');

	await owner.page.getByTestId('rs-link-create').click();
	const linkInput = owner.page.getByTestId('rs-new-link');
	await linkInput.waitFor();
	const link = await linkInput.inputValue();
	assert.match(link, /\/#\/invite\/[A-Za-z0-9_-]{43}$/);
	await owner.page.locator('[data-testid="rs-link-row"]').first().waitFor();

	// The holder of the link: logged in at the link, straight into the room.
	const holder = await signedIn('ah', link);
	await waitState(holder.page, 'connected');
	assert.equal(await holder.page.getByTestId('room-name').textContent(), 'Back room');
	assert.equal(await holder.page.getByTestId('room-id').textContent(), roomId);
	assert.equal(await holder.page.getByTestId('room-settings-button').isVisible(), false,
		'a member sees no settings');

	// A third user with only the room's id is refused, and told why.
	const third = await signedIn('at', `/?room=${roomId}`);
	const error = third.page.getByTestId('lobby-error');
	await error.waitFor();
	assert.match(await error.textContent(), /invite-only/);
	assert.equal(await third.page.getByTestId('room-view').isVisible(), false);

	// A dead link says so.
	await third.page.goto(new URL(`/#/invite/${'A'.repeat(43)}`, s.backendUrl).href);
	await third.page.getByTestId('lobby-error').filter({ hasText: 'This invite link does not work' }).waitFor();

	// The owner sees the holder among the invited.
	await owner.page.getByTestId('room-settings-close').click();
	await owner.page.getByTestId('room-settings-button').click();
	await owner.page.locator(`[data-testid="rs-invited-row"][data-key="${holder.user.id}"]`).waitFor();
	for (const p of [owner.page, holder.page, third.page]) assert.deepEqual(p.errors, []);
});
