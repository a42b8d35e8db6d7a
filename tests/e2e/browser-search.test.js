// Message search in the web client, in headless Chromium: the search box in
// the room's header finds a message far back in the room's history and
// jumps to it, loading the older pages it takes; on a phone too.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, newRoom } from './lib/stack.js';
import { launch, openPage, signIn, waitState, seqsOnScreen } from './lib/browser.js';

const SCREENSHOTS = process.env.STATEROOM_SCREENSHOT_DIR ?? null;

let browser;
before(async () => {
	browser = await launch();
});
after(async () => {
	await browser?.close();
});
// After the browser's hooks (see browser-accounts.test.js).
const shared = useStack({ sessions: 1, backends: 1 });
const url = (path = '/') => shared.stack.backendUrl + path;

// A room with total messages written before anyone joins; the one at seq
// needle says "the marmalade recipe".
async function archive(total, needle) {
	const roomId = await newRoom(shared.stack, 'archivist', { name: 'Archive', visibility: 'unlisted' });
	await shared.stack.sql(`INSERT INTO messages (room_id, seq, client_id, user_id, body, created_at)
		SELECT '${roomId}', g, 'c' || g, 'scribe',
		       CASE WHEN g = ${needle} THEN 'the marmalade recipe' ELSE 'message ' || g END,
		       now() - (${total} - g) * interval '1 minute'
		FROM generate_series(1, ${total}) AS g`);
	return roomId;
}

async function reader(path, viewport) {
	const page = await openPage(browser, url(path));
	if (viewport) await page.setViewportSize(viewport);
	await signIn(page, 'guest', 'reader');
	await page.getByTestId('room-view').waitFor();
	await waitState(page, 'connected');
	return page;
}

// Whether the message at seq is on screen, inside the conversation's pane.
function inView(page, seq) {
	return page.locator('#messages-scroll').evaluate((pane, s) => {
		const li = pane.querySelector(`[data-testid="message"][data-seq="${s}"]`);
		if (!li) return false;
		const a = pane.getBoundingClientRect();
		const b = li.getBoundingClientRect();
		return b.bottom > a.top && b.top < a.bottom;
	}, seq);
}

for (const [what, viewport] of [['', null], [' on a phone', { width: 390, height: 760 }]]) {
	test(`the search box finds a message far back in history and jumps to it${what}`, async () => {
		const total = 400;
		const needle = 7;
		const roomId = await archive(total, needle);
		const page = await reader(`/?room=${roomId}`, viewport);
		const first = await seqsOnScreen(page);
		assert.ok(!first.includes(needle), 'the message is not loaded when the room opens');

		await page.getByTestId('search-input').fill('marmalade');
		await page.getByTestId('search-submit').click();
		const hit = page.getByTestId('search-hit');
		await hit.first().waitFor();
		assert.equal(await hit.count(), 1);
		assert.equal(await hit.getAttribute('data-seq'), String(needle));
		assert.equal(await hit.locator('mark').textContent(), 'marmalade');
		if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/search${viewport ? '-phone' : ''}.png` });
		assert.match(await hit.textContent(), /the marmalade recipe/);

		await hit.click();
		await page.waitForFunction((s) => {
			const li = document.querySelector(`[data-testid="message"][data-seq="${s}"]`);
			return li !== null && li.classList.contains('search-target');
		}, needle);
		assert.equal(await inView(page, needle), true, 'the message found is on screen');
		if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}/search-jump${viewport ? '-phone' : ''}.png` });
		const seqs = await seqsOnScreen(page);
		assert.deepEqual(seqs, Array.from({ length: total - seqs[0] + 1 }, (_, i) => seqs[0] + i),
			'the pages loaded on the way are all there, once and in order');
		assert.ok(seqs[0] <= needle);

		// A word no message has: said so, nothing to click.
		await page.getByTestId('search-input').fill('quasar');
		await page.getByTestId('search-submit').click();
		await page.getByTestId('search-status').filter({ hasText: 'No messages match' }).waitFor();
		assert.equal(await hit.count(), 0);
		assert.deepEqual(page.errors, []);
		await page.context().close();
	});
}
