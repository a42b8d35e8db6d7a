// The whiteboard in headless Chromium with two users: one creates a
// whiteboard room with the lobby's picker, the other opens its link; a
// stroke drawn by one appears at the other, with the drawer's cursor, and
// the drawer's undo takes it away at both.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.js';
import { launch, openPage, signIn, WAIT_MS } from './lib/browser.js';

let browser;

before(async () => {
	browser = await launch();
});

after(async () => {
	await browser?.close();
});

const shared = useStack({ sessions: 1, backends: 1 });

async function guest(name, path = '/') {
	const page = await openPage(browser, shared.stack.backendUrl + path);
	await signIn(page, 'guest', name);
	return page;
}

// How many items the board shows (the canvas says it for screen readers).
function items(page, n) {
	return page.locator(`[data-testid="wb-canvas"][data-ops="${n}"]`).waitFor({ timeout: WAIT_MS });
}

// The colour of the canvas pixel at (fx, fy), fractions of its size.
function pixel(page, fx, fy) {
	return page.getByTestId('wb-canvas').evaluate((c, [x, y]) => {
		const d = c.getContext('2d').getImageData(Math.round(c.width * x), Math.round(c.height * y), 1, 1).data;
		return [d[0], d[1], d[2]];
	}, [fx, fy]);
}

// Drags the pointer over the canvas through the given fractions of it.
async function drag(page, points) {
	const box = await page.getByTestId('wb-canvas').boundingBox();
	const at = ([fx, fy]) => [box.x + box.width * fx, box.y + box.height * fy];
	await page.mouse.move(...at(points[0]));
	await page.mouse.down();
	for (const p of points.slice(1)) await page.mouse.move(...at(p), { steps: 4 });
	await page.mouse.up();
}

test('two users draw on one board: a stroke by one appears at the other, and undo takes it away', async () => {
	const ada = await guest('ada_wb');
	await ada.getByTestId('lobby-view').waitFor();
	await ada.getByTestId('room-app-input').selectOption('whiteboard');
	await ada.getByTestId('create-room').click();
	await ada.getByTestId('wb-view').waitFor();
	await items(ada, 0);
	const roomId = new URL(ada.url()).searchParams.get('room');
	assert.match(roomId, /^[a-z0-9]{12}$/);

	const bob = await guest('bob_wb', `/?room=${roomId}`);
	await bob.getByTestId('wb-view').waitFor();
	await items(bob, 0);

	// A horizontal stroke across the middle, in the default dark colour.
	await drag(ada, [[0.2, 0.5], [0.5, 0.5], [0.8, 0.5]]);
	await items(ada, 1);
	await items(bob, 1);
	const ink = await pixel(bob, 0.5, 0.5);
	assert.ok(ink.every((v) => v < 100), `the stroke is drawn at bob's: ${ink}`);
	// Ada's cursor shows at bob's with her name.
	await bob.getByTestId('wb-cursor').filter({ hasText: 'ada_wb' }).waitFor({ timeout: WAIT_MS });

	// Bob draws a rectangle; ada sees it.
	await bob.getByTestId('wb-tool-rect').click();
	await drag(bob, [[0.1, 0.1], [0.3, 0.3]]);
	await items(ada, 2);

	// Bob's undo takes his rectangle, not ada's stroke.
	await bob.getByTestId('wb-undo').click();
	await items(ada, 1);
	await items(bob, 1);
	assert.ok((await pixel(ada, 0.5, 0.5)).every((v) => v < 100));
	// Ada's undo takes her stroke, at both; redo brings it back.
	await ada.getByTestId('wb-undo').click();
	await items(bob, 0);
	assert.deepEqual(await pixel(bob, 0.5, 0.5), [255, 255, 255]);
	await ada.getByTestId('wb-redo').click();
	await items(bob, 1);

	// A reload shows the same board.
	await bob.reload();
	await bob.getByTestId('wb-view').waitFor();
	await items(bob, 1);
	assert.deepEqual([...ada.errors, ...bob.errors], []);
});
