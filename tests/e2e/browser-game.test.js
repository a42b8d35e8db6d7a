// The game's view in Chromium with two players and a spectator: a move made
// with the keyboard shows at the other player's and the spectator's, a
// player who reloads the page keeps the seat, and stateroom-replay of the
// finished room matches. Each user signs in as a guest and opens the room's
// link (/?room=ID): the web client opens a game room in the game's view.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { launch, openPage, signIn, WAIT_MS } from './lib/browser.js';
import { useStack, newRoom, ROOT } from './lib/stack.js';

let browser = null;
after(async () => {
	await browser?.close();
});
const h = useStack({ sessions: 1, backends: 1 });
const BUILD = path.resolve(ROOT, process.env.STATEROOM_BUILD_DIR || 'build');

async function gameShown(page) {
	await page.getByTestId('game-canvas').waitFor();
	await page.waitForFunction(() => document.querySelector('#game-root')?.game.arena);
}

const gameOf = (page) => page.evaluate(() => {
	const g = document.querySelector('#game-root').game;
	return { seat: g.seat, players: [...g.players.values()] };
});

test('two players in Chromium: moves show at the other and a spectator, a reload keeps the seat, replay matches', async () => {
	browser = await launch();
	const roomId = await newRoom(h.stack, 'owner', { app: 'game', seats: 2 });
	const pages = {};
	for (const u of ['alice', 'bob', 'sam']) {
		pages[u] = await openPage(browser, `${h.stack.backendUrl}/?room=${roomId}`);
		await signIn(pages[u], 'guest', `${u}_g`);
		await gameShown(pages[u]);
	}
	await pages.alice.getByTestId('game-sit').click();
	await pages.alice.getByTestId('game-stand').waitFor();
	await pages.bob.getByTestId('game-sit').click();
	await pages.bob.getByTestId('game-stand').waitFor();
	const seatA = (await gameOf(pages.alice)).seat;
	assert.notEqual(seatA, null);
	await pages.bob.waitForFunction((s) => document.querySelector('#game-root').game.players.has(s), seatA);
	const x0 = (await gameOf(pages.bob)).players.find((p) => p.seat === seatA).x;

	await pages.alice.keyboard.down('ArrowRight');
	for (const u of ['bob', 'sam'])
		await pages[u].waitForFunction(({ s, x }) => document.querySelector('#game-root').game.players.get(s)?.x > x + 2000,
			{ s: seatA, x: x0 }, { timeout: WAIT_MS });
	await pages.alice.keyboard.up('ArrowRight');
	// The spectator sees both players listed, and has no seat.
	assert.equal(await pages.sam.getByTestId('game-player').count(), 2);
	assert.equal((await gameOf(pages.sam)).seat, null);

	// Alice reloads: her seat is still hers.
	await pages.alice.reload();
	await gameShown(pages.alice);
	assert.equal((await gameOf(pages.alice)).seat, seatA);
	await pages.alice.getByTestId('game-stand').waitFor();
	await pages.alice.keyboard.down('ArrowDown');
	const y0 = (await gameOf(pages.bob)).players.find((p) => p.seat === seatA).y;
	await pages.bob.waitForFunction(({ s, y }) => document.querySelector('#game-root').game.players.get(s)?.y > y + 2000,
		{ s: seatA, y: y0 }, { timeout: WAIT_MS });
	await pages.alice.keyboard.up('ArrowDown');
	for (const u of ['alice', 'bob', 'sam']) {
		assert.deepEqual(pages[u].errors, []);
		await pages[u].getByTestId('game-leave').click();
		await pages[u].getByTestId('lobby-view').waitFor();
	}
	await new Promise((r) => setTimeout(r, 1200));

	const out = await new Promise((resolve) => execFile(path.join(BUILD, 'tools/stateroom-replay'),
		['--database-url', h.stack.databaseUrl, roomId], { encoding: 'utf8' },
		(err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr })));
	assert.equal(out.code, 0, out.stdout + out.stderr);
	assert.match(out.stdout, /^ok \S+ app=game records=\d+ hashes=[1-9]/);
});
