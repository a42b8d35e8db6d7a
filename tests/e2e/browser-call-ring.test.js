// Ringing in a DM in the web client (client/ring.js, client/call.js), in
// headless Chromium with fake camera and microphone: A calls B from their DM;
// B, in another room (or in the lobby), sees the incoming-call banner; Accept
// opens the DM and joins the call, and both receive each other's audio and
// video (RTCPeerConnection statistics); Decline ends the ring, and A's call
// bar says "Declined". Runs with the default --call-ring-timeout-s (30 s).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack } from './lib/stack.js';
import { register } from './lib/friendsapi.js';
import { launch, openPage, signIn, waitState } from './lib/browser.js';

let browser;
before(async () => {
	browser = await launch({ media: true });
});
after(async () => {
	await browser?.close();
});

const h = useStack({ sessions: 1, backends: 1 });

// Keeps every RTCPeerConnection the page makes (window.__pcs).
function recordPeers() {
	const Original = window.RTCPeerConnection;
	window.__pcs = [];
	window.RTCPeerConnection = class extends Original {
		constructor(config = {}) {
			super(config);
			window.__pcs.push(this);
		}
	};
}

async function signedIn(user) {
	const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
	await context.addInitScript(recordPeers);
	const page = await openPage(browser, h.stack.backendUrl, { context });
	await signIn(page, 'login', user.id, 'correct horse battery');
	await page.getByTestId('lobby-view').waitFor();
	// The inbox is what hears a ring.
	await page.locator('body[data-inbox="connected"]').waitFor();
	return page;
}

async function dmPair() {
	const [amy, ben] = [await register(h.stack, 'amy'), await register(h.stack, 'ben')];
	const res = await fetch(`${h.stack.backendUrl}/api/dms`, {
		method: 'POST', headers: { authorization: `Bearer ${amy.token}`, 'content-type': 'application/json' },
		body: JSON.stringify({ userId: ben.id }),
	});
	assert.equal(res.status, 201);
	const { roomId } = await res.json();
	const [a, b] = [await signedIn(amy), await signedIn(ben)];
	await a.goto(`${h.stack.backendUrl}/?room=${roomId}`);
	await waitState(a, 'connected');
	return { amy, ben, roomId, a, b };
}

// Waits until the page has n open peer connections, each receiving audio
// bytes and video bytes and frames.
async function waitMedia(page, n) {
	const read = () => page.evaluate(async () => {
		const out = [];
		for (const pc of window.__pcs) {
			if (pc.connectionState === 'closed') continue;
			const r = { audioBytes: 0, videoBytes: 0, frames: 0 };
			for (const s of (await pc.getStats()).values()) {
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
		if (last.length === n && last.every((r) => r.audioBytes > 0 && r.videoBytes > 0 && r.frames > 0)) return;
		if (Date.now() > deadline) assert.fail(`no media on ${n} connections: ${JSON.stringify(last)}`);
		await new Promise((r) => setTimeout(r, 250));
	}
}

const ringState = (page, state) => page.locator(`[data-testid="call-bar"][data-ring="${state}"]`).waitFor();

test('A calls B in their DM; B, in another room, accepts from the banner; both get audio and video', async () => {
	const { amy, roomId, a, b } = await dmPair();
	// B is busy elsewhere: a room of its own.
	await b.getByTestId('create-room').click();
	await waitState(b, 'connected');
	const elsewhere = (await b.getByTestId('room-id').textContent()).trim();
	assert.notEqual(elsewhere, roomId);

	await a.getByTestId('call-join-video').click();
	await a.locator('[data-testid="call-bar"][data-state="in-call"]').waitFor();
	await ringState(a, 'ringing');
	assert.equal(await a.getByTestId('call-ring').textContent(), 'Ringing…');

	const banner = b.getByTestId('incoming-call');
	await banner.waitFor();
	assert.equal(await b.getByTestId('incoming-call-text').textContent(), `${amy.id} is calling you (video)`);
	await b.getByTestId('incoming-accept').click();
	// The DM opens and B is in its call.
	await b.waitForURL((url) => url.searchParams.get('room') === roomId);
	await b.locator('[data-testid="call-bar"][data-state="in-call"]').waitFor();
	await banner.waitFor({ state: 'detached' });
	await ringState(a, '');
	for (const p of [a, b]) await p.waitForFunction(() => document.querySelectorAll('[data-testid="call-participant"]').length === 2);
	for (const p of [a, b]) await waitMedia(p, 1);

	// Hanging up leaves a line in the DM's history at both ends.
	await b.getByTestId('call-leave').click();
	await a.getByTestId('call-leave').click();
	for (const p of [a, b]) {
		await p.locator('[data-testid="system-line"][data-action="call"]').filter({ hasText: /^Video call, \d+ (s|min)/ }).waitFor();
	}
	assert.deepEqual([...a.errors, ...b.errors], []);
	for (const p of [a, b]) await p.context().close();
});

test('B declines from the lobby without joining; A sees "Declined" and the DM says so', async () => {
	const { amy, ben, a, b } = await dmPair();
	await a.getByTestId('call-join-audio').click();
	await ringState(a, 'ringing');
	await b.getByTestId('incoming-call').waitFor();
	assert.equal(await b.getByTestId('incoming-call-text').textContent(), `${amy.id} is calling you`);
	await b.getByTestId('incoming-decline').click();

	await ringState(a, 'declined');
	assert.equal(await a.getByTestId('call-ring').textContent(), 'Declined');
	// A has hung up: out of the call, and the DM has the record.
	await a.locator('[data-testid="call-bar"][data-state="idle"]').waitFor();
	await a.locator('[data-testid="system-line"][data-action="call"]')
		.filter({ hasText: `${ben.id} declined a call from ${amy.id}` }).waitFor();
	// B stayed where it was, its banner gone.
	await b.getByTestId('incoming-call').waitFor({ state: 'detached' });
	assert.equal(await b.getByTestId('lobby-view').isVisible(), true);
	assert.deepEqual([...a.errors, ...b.errors], []);
	for (const p of [a, b]) await p.context().close();
});
