// A session server that freezes (SIGSTOP: no close, no FIN, its sockets
// stay open) under two users chatting in the web client. The room is
// re-pinned to the other server once the frozen one misses its registry
// heartbeats; the pages must notice the silence by themselves (the
// protocol's liveness rule), say they are reconnecting, resume on the other
// server and deliver what was written meanwhile: in the end both show the
// same messages, each exactly once, in seq order. The frozen server is then
// let go again (SIGCONT) and must not disturb anything.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, startStack } from './lib/stack.js';
import {
	launch, openPage, signIn, waitState, send, seqsOnScreen, textsOnScreen, atLeastMessages, WAIT_MS,
} from './lib/browser.js';

// A short keepalive keeps the first test quick; the second runs with the
// defaults.
let browser;

before(async () => {
	browser = await launch();
});

after(async () => {
	await browser?.close();
});

// After the browser's hooks: a failed stop (a server that died) skips the
// after-hooks registered later, and the browser must still close.
const shared = useStack({ sessions: 2, backends: 1, sessionEnv: { SESSION_KEEPALIVE_MS: '1000' } });

const RECOVER_MS = 60000;

async function guest(stack, name, path) {
	const page = await openPage(browser, stack.backendUrl + path);
	await signIn(page, 'guest', name);
	await page.getByTestId(path === '/' ? 'lobby-view' : 'room-view').waitFor();
	return page;
}

function confirmed(page, text) {
	return page.locator('[data-testid="message"][data-seq]', {
		has: page.locator('[data-testid="message-text"]', { hasText: text }),
	});
}

async function hostOf(stack, roomId) {
	const [[serverId]] = await stack.sql(`SELECT server_id FROM rooms WHERE id = '${roomId}'`);
	const server = stack.sessions.find((s) => s.id === serverId);
	assert.ok(server, `room ${roomId} is on ${serverId}, not one of ours`);
	return server;
}

async function heartbeatAt(stack, server) {
	const [[at]] = await stack.sql(
		`SELECT extract(epoch FROM heartbeat_at) FROM session_servers WHERE id = '${server.id}'`);
	return Number(at);
}

// Alice and bob chat; the room's server freezes. quietBob: bob writes
// nothing while it is frozen, so that only silence can tell him.
async function frozenServer(stack, { quietBob }) {
	const alice = await guest(stack, 'alice_frozen', '/');
	await alice.getByTestId('create-room').click();
	await waitState(alice, 'connected');
	const roomId = (await alice.getByTestId('room-id').textContent()).trim();
	const bob = await guest(stack, 'bob_frozen', `/?room=${roomId}`);
	await waitState(bob, 'connected');

	const expected = [];
	async function say(page, text) {
		await send(page, text);
		expected.push(text);
	}
	await say(alice, 'before: alice');
	await say(bob, 'before: bob');
	for (const page of [alice, bob]) await confirmed(page, 'before: bob').waitFor();

	// Every status the pages show from now on, in order.
	for (const page of [alice, bob]) {
		await page.evaluate(() => {
			window.statusSeen = [];
			const status = document.getElementById('status');
			const note = () => {
				const seen = { state: status.dataset.state, text: document.getElementById('status-text').textContent };
				const last = window.statusSeen.at(-1);
				if (!last || last.state !== seen.state || last.text !== seen.text) window.statusSeen.push(seen);
			};
			new MutationObserver(note).observe(status, {
				attributes: true, childList: true, characterData: true, subtree: true,
			});
		});
	}
	const frozen = await hostOf(stack, roomId);
	process.kill(frozen.pid, 'SIGSTOP');
	let thawed = false;
	try {
		// Written while the server is frozen: the pages still believe they
		// are connected, so these go into a socket nobody reads.
		await say(alice, 'during: alice');
		if (!quietBob) await say(bob, 'during: bob');
		// Each page says it is reconnecting (not "Connected"), then is
		// connected again.
		for (const page of [alice, bob]) {
			await page.waitForFunction(() => window.statusSeen.some((s) => s.state === 'reconnecting')
				&& document.getElementById('status').dataset.state === 'connected', null, { timeout: RECOVER_MS });
			const seen = await page.evaluate(() => window.statusSeen);
			const texts = seen.filter((s) => s.state === 'reconnecting').map((s) => s.text);
			assert.ok(texts.length > 0 && texts.every((t) => /^Reconnecting/.test(t)), JSON.stringify(seen));
		}
		assert.notEqual((await hostOf(stack, roomId)).id, frozen.id, 'the room moved to the live server');
		await say(alice, 'after: alice');
		await say(bob, 'after: bob');
		for (const page of [alice, bob]) await confirmed(page, 'after: bob').waitFor();

		// Let the frozen server go: it finds the bytes the pages left in its
		// sockets and that it lost the room. Once it heartbeats again it has
		// run; nothing may change on the pages because of it.
		const before = await heartbeatAt(stack, frozen);
		process.kill(frozen.pid, 'SIGCONT');
		thawed = true;
		const deadline = Date.now() + WAIT_MS;
		while (await heartbeatAt(stack, frozen) <= before && Date.now() < deadline) {
			await new Promise((r) => setTimeout(r, 100));
		}
		await say(alice, 'thawed: alice');
		await say(bob, 'thawed: bob');
	} finally {
		if (!thawed) process.kill(frozen.pid, 'SIGCONT');
	}

	for (const page of [alice, bob]) await atLeastMessages(page, expected.length, RECOVER_MS);
	const shown = [];
	for (const page of [alice, bob]) {
		const texts = await textsOnScreen(page);
		assert.deepEqual([...texts].sort(), [...expected].sort(),
			'every message on screen exactly once, none lost to the frozen server');
		const seqs = await seqsOnScreen(page);
		assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'in seq order');
		assert.equal(new Set(seqs).size, seqs.length, `duplicate seq: ${seqs}`);
		assert.equal(await page.locator('[data-testid="message"][data-pending]').count(), 0);
		shown.push(texts);
	}
	assert.deepEqual(shown[0], shown[1], 'both pages show the same messages in the same order');
	const [[count, ids]] = await stack.sql(
		`SELECT count(*), count(DISTINCT body) FROM messages WHERE room_id = '${roomId}'`);
	assert.deepEqual([Number(count), Number(ids)], [expected.length, expected.length], 'stored once each');
	assert.deepEqual([...alice.errors, ...bob.errors], []);
	await Promise.all([alice.context().close(), bob.context().close()]);
}

test('a frozen session server: both pages notice, resume elsewhere and lose nothing', async () => {
	await frozenServer(shared.stack, { quietBob: false });
});

test('with the default keepalive too: a page that waits for an ack and one that only listens', async () => {
	const stack = await startStack({ sessions: 2, backends: 1 });
	try {
		await frozenServer(stack, { quietBob: true });
	} finally {
		await stack.stop();
	}
});

// The backends here take a server for dead only after a minute: the room
// moves because the pages, finding the server silent, said so on their
// next look-up (?suspect=, docs/protocol.md "Liveness", suspicions).
test('the pages\' own suspicion moves the room, long before the backends would find the server dead', async () => {
	const stack = await startStack({ sessions: 2, backends: 1, backendEnv: { STATEROOM_DEAD_AFTER_MS: '60000' } });
	try {
		await frozenServer(stack, { quietBob: false });
	} finally {
		await stack.stop();
	}
});
