// Calls in the web client (client/call.js), in headless Chromium with fake
// camera and microphone: two and three people in a room's call each receive
// the others' audio and video (RTCPeerConnection statistics: bytes of
// audio, bytes and decoded frames of video arriving), someone who leaves or
// whose connection drops disappears from the others, and a call whose
// browsers may only use relayed paths (iceTransportPolicy "relay": no
// direct path) connects through a local coturn.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.js';
import { launch, WAIT_MS } from './lib/browser.js';
import { startTurn } from './lib/turn.js';

let browser;
before(async () => {
	browser = await launch({ media: true });
});
after(async () => {
	await browser?.close();
});

// Keeps every RTCPeerConnection the page makes (window.__pcs) so that the
// test can read its statistics; relay: forces iceTransportPolicy "relay".
function recordPeers({ relay }) {
	const Original = window.RTCPeerConnection;
	window.__pcs = [];
	window.RTCPeerConnection = class extends Original {
		constructor(config = {}) {
			super(relay ? { ...config, iceTransportPolicy: 'relay' } : config);
			window.__pcs.push(this);
		}
	};
}

async function person(stack, name, { relay = false, path = '/' } = {}) {
	const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
	context.setDefaultTimeout(WAIT_MS);
	await context.addInitScript(recordPeers, { relay });
	const page = await context.newPage();
	page.errors = [];
	page.on('pageerror', (e) => page.errors.push(e.message));
	await page.goto(stack.backendUrl + path);
	await page.getByTestId('login-user').fill(name);
	await page.getByTestId('login-submit').click();
	await page.getByTestId(path === '/' ? 'lobby-view' : 'room-view').waitFor();
	return page;
}

const connected = (page) => page.locator('[data-testid="status"][data-state="connected"]').waitFor();

async function room(stack, names, opts) {
	const first = await person(stack, names[0], opts);
	await first.getByTestId('create-room').click();
	await connected(first);
	const roomId = (await first.getByTestId('room-id').textContent()).trim();
	const pages = [first];
	for (const name of names.slice(1)) {
		const p = await person(stack, name, { ...opts, path: `/?room=${roomId}` });
		await connected(p);
		pages.push(p);
	}
	return pages;
}

async function joinCall(page) {
	await page.getByTestId('call-join-video').click();
	await page.locator('[data-testid="call-bar"][data-state="in-call"]').waitFor();
}

function participants(page) {
	return page.getByTestId('call-participant').locator('.call-name').allTextContents();
}

async function waitParticipants(page, n) {
	await page.waitForFunction((count) => document.querySelectorAll('[data-testid="call-participant"]').length === count, n);
}

// Waits until the page has n open peer connections, each receiving audio
// bytes and video bytes and frames; returns their statistics.
async function waitMedia(page, n) {
	const read = () => page.evaluate(async () => {
		const out = [];
		for (const pc of window.__pcs) {
			if (pc.connectionState === 'closed') continue;
			const r = { state: pc.connectionState, audioBytes: 0, videoBytes: 0, frames: 0, local: null };
			const stats = await pc.getStats();
			const pair = [...stats.values()].find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
			if (pair) r.local = stats.get(pair.localCandidateId)?.candidateType ?? null;
			for (const s of stats.values()) {
				if (s.type !== 'inbound-rtp') continue;
				if (s.kind === 'audio') r.audioBytes += s.bytesReceived;
				else {
					r.videoBytes += s.bytesReceived;
					r.frames += s.framesDecoded ?? 0;
				}
			}
			out.push(r);
		}
		return out;
	});
	const deadline = Date.now() + 30000;
	let last;
	for (;;) {
		last = await read();
		if (last.length === n && last.every((r) => r.audioBytes > 0 && r.videoBytes > 0 && r.frames > 0)) return last;
		if (Date.now() > deadline) assert.fail(`no media on ${n} connections: ${JSON.stringify(last)}`);
		await new Promise((r) => setTimeout(r, 250));
	}
}

async function closeAll(pages) {
	for (const p of pages) await p.context().close();
}

describe('calls between browsers', () => {
	const h = useStack();

	test('two people: each receives the other\'s audio and video; the one who leaves disappears', async () => {
		const [ann, bob] = await room(h.stack, ['ann', 'bob']);
		await joinCall(ann);
		// Bob sees the call going before he joins it.
		await bob.getByTestId('call-status').filter({ hasText: '1 in the call' }).waitFor();
		await joinCall(bob);
		for (const p of [ann, bob]) await waitParticipants(p, 2);
		assert.deepEqual(await participants(ann), ['ann (you)', 'bob']);
		for (const p of [ann, bob]) await waitMedia(p, 1);
		// A video tile per person: one's own and the other's.
		assert.equal(await ann.getByTestId('call-tile').count(), 2);

		// Bob mutes: Ann sees it.
		await bob.getByTestId('call-mute').click();
		await ann.locator('[data-testid="call-participant"][data-muted="true"]').filter({ hasText: 'bob' }).waitFor();

		await bob.getByTestId('call-leave').click();
		await waitParticipants(ann, 1);
		assert.deepEqual(await participants(ann), ['ann (you)']);
		await ann.waitForFunction(() => document.querySelectorAll('[data-testid="call-tile"]').length === 1);
		assert.deepEqual([...ann.errors, ...bob.errors], []);
		await closeAll([ann, bob]);
	});

	test('three people: each receives both others\' audio and video; one whose page closes disappears', async () => {
		const pages = await room(h.stack, ['ann', 'bob', 'cat']);
		for (const p of pages) await joinCall(p);
		for (const p of pages) await waitParticipants(p, 3);
		for (const p of pages) await waitMedia(p, 2);
		assert.deepEqual(await participants(pages[2]), ['ann', 'bob', 'cat (you)']);

		// Cat's tab goes away without leaving: her connection drops, and the call goes on without her.
		await pages[2].context().close();
		for (const p of pages.slice(0, 2)) {
			await waitParticipants(p, 2);
			assert.deepEqual((await participants(p)).map((n) => n.replace(' (you)', '')), ['ann', 'bob']);
			await waitMedia(p, 1);
		}
		await closeAll(pages.slice(0, 2));
	});
});

describe('a call with only relayed paths', () => {
	// The backend's TURN options, filled in once the TURN server's port is
	// known (before the stack starts: this hook is registered first).
	const turnEnv = {};
	let turn;
	before(async () => {
		turn = await startTurn();
		Object.assign(turnEnv, turn.env);
	});
	after(async () => {
		await turn?.stop();
	});
	const h = useStack({ backendEnv: turnEnv });

	test('connects through the local coturn, and media arrive', async () => {
		const [ann, bob] = await room(h.stack, ['ann', 'bob'], { relay: true });
		await joinCall(ann);
		await joinCall(bob);
		for (const p of [ann, bob]) {
			const [stats] = await waitMedia(p, 1);
			assert.equal(stats.local, 'relay', JSON.stringify(stats));
		}
		await closeAll([ann, bob]);
	});
});
