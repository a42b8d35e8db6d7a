// Files in the web client (client/files.js), in headless Chromium: a user
// attaches an image and the other sees its thumbnail; a PDF shows as a
// download link; a file name with markup shows as text.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.js';
import { launch, openPage, signIn, waitState, WAIT_MS } from './lib/browser.js';
import { png, PDF } from './lib/images.js';

let browser;
before(async () => {
	browser = await launch();
});
after(async () => {
	await browser?.close();
});
const shared = useStack({ sessions: 1, backends: 1 });

async function guestIn(name, path = '/') {
	const page = await openPage(browser, `${shared.stack.backendUrl}${path}`);
	await signIn(page, 'guest', name);
	await page.getByTestId(path === '/' ? 'lobby-view' : 'room-view').waitFor();
	return page;
}

test('Chromium: an attached image shows to the other member as its thumbnail, a PDF as a download link', async () => {
	const alice = await guestIn('alice');
	await alice.getByTestId('create-room').click();
	await waitState(alice, 'connected');
	const roomId = (await alice.getByTestId('room-id').textContent()).trim();
	const bob = await guestIn('bob', `/?room=${roomId}`);
	await waitState(bob, 'connected');

	await alice.getByTestId('attach-input').setInputFiles({ name: 'cat.png', mimeType: 'image/png', buffer: png(640, 480) });
	const thumb = bob.locator('[data-testid="message-list"] [data-testid="file-thumb"]');
	await thumb.waitFor({ timeout: WAIT_MS });
	assert.equal(await thumb.getAttribute('alt'), 'cat.png');
	await bob.waitForFunction(() => {
		const img = document.querySelector('[data-testid="file-thumb"]');
		return img && img.complete && img.naturalWidth > 0;
	});
	assert.deepEqual(await thumb.evaluate((img) => [img.naturalWidth, img.naturalHeight]), [320, 240]);

	await alice.getByTestId('attach-input').setInputFiles({ name: '<b>report.pdf', mimeType: 'application/pdf', buffer: PDF });
	const link = bob.locator('[data-testid="message-list"] [data-testid="file-link"]');
	await link.waitFor({ timeout: WAIT_MS });
	assert.equal(await link.textContent(), '<b>report.pdf');
	assert.equal(await bob.locator('[data-testid="message-list"] b').count(), 0, 'the name is text, not markup');
	const download = bob.waitForEvent('download');
	await link.click();
	assert.match((await download).suggestedFilename(), /report\.pdf$/);
	assert.deepEqual([...alice.errors, ...bob.errors], []);
});
