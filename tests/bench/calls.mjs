// How long a call takes to start (scripts/bench-calls; README, "Calls";
// docs/protocol.md, "Calls"). In headless Chromium with fake camera and
// microphone, the web client, two people in a room: from the second one's
// click on "join with video" to the first decoded video frame on each side
// (getStats: inbound video framesDecoded > 0), median, min and max of RUNS
// calls (a fresh room and browser profiles each):
//   direct  the default stack, no TURN server: host candidates
//   relay   the backend handing out a local coturn's credentials (as
//           scripts/run with STATEROOM_TURN=1) and the pages forcing
//           iceTransportPolicy "relay", so media go through it
// And a DM's ringing, with native WebSocket clients: from the caller's call
// join to the callee's inbox call_ring event (RINGS DMs): with the DM open
// a while, and with the join sent as soon as the caller's welcome came (the
// server reads that a room is a DM just after loading it; a join before
// that rings at the next second's tick: docs/protocol.md, "Ringing in a DM").
// Prints one JSON object. Options: --quick (one call each), --runs N, --rings N.
import { startStack, request, connect, lookup, mintToken, decodeToken } from '../e2e/lib/stack.js';
import { chromium } from 'playwright-core';
import { startTurn } from '../e2e/lib/turn.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const opt = (name, dflt) => {
	const i = args.indexOf(name);
	return i >= 0 ? Number(args[i + 1]) : dflt;
};
const RUNS = opt('--runs', quick ? 1 : 7);
const RINGS = opt('--rings', quick ? 3 : 30);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const WAIT_MS = 30000;
const round = (x) => Math.round(x * 10) / 10;

function pct(xs, p) {
	const s = [...xs].sort((a, b) => a - b);
	return s.length ? round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]) : null;
}
const summary = (xs) => ({ median: pct(xs, 50), p95: pct(xs, 95), min: round(Math.min(...xs)), max: round(Math.max(...xs)), runs: xs.map(round) });

// In the page before its scripts: keeps every RTCPeerConnection (relay:
// forced to iceTransportPolicy "relay"), and window.__firstFrame(), which
// resolves with the wall clock (Date.now(), the same clock in every page and
// in node) at which a peer connection first has a decoded video frame, and
// window.__path(), the local candidate type of the path it settled on.
function instrument({ relay }) {
	const Original = window.RTCPeerConnection;
	const pcs = [];
	window.RTCPeerConnection = class extends Original {
		constructor(config = {}) {
			super(relay ? { ...config, iceTransportPolicy: 'relay' } : config);
			pcs.push(this);
		}
	};
	window.__firstFrame = () => new Promise((resolve) => {
		const poll = async () => {
			for (const pc of pcs) {
				if (pc.connectionState === 'closed') continue;
				const stats = await pc.getStats();
				let frames = 0;
				for (const s of stats.values()) if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded ?? 0;
				if (frames > 0) return resolve(Date.now());
			}
			setTimeout(poll, 10);
			return undefined;
		};
		poll();
	});
	window.__path = () => new Promise((resolve) => {
		const poll = async () => {
			for (const pc of pcs) {
				if (pc.connectionState === 'closed') continue;
				const stats = await pc.getStats();
				const pair = [...stats.values()].find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
				const type = pair && stats.get(pair.localCandidateId)?.candidateType;
				if (type) return resolve(type);
			}
			setTimeout(poll, 50);
			return undefined;
		};
		poll();
	});
}

async function person(browser, stack, name, { relay, path }) {
	const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
	context.setDefaultTimeout(WAIT_MS);
	await context.addInitScript(instrument, { relay });
	const page = await context.newPage();
	await page.goto(stack.backendUrl + path);
	await page.getByTestId('login-user').fill(name);
	await page.getByTestId('login-submit').click();
	await page.getByTestId(path === '/' ? 'lobby-view' : 'room-view').waitFor();
	if (path === '/') await page.getByTestId('create-room').click();
	await page.locator('[data-testid="status"][data-state="connected"]').waitFor();
	return page;
}

// One call: ann makes a room and joins its call; bob opens the room, sees
// the call going, and joins; returns ms from bob's click to each one's
// first decoded frame.
async function oneCall(browser, stack, relay, n) {
	const ann = await person(browser, stack, `ann${n}`, { relay, path: '/' });
	const roomId = (await ann.getByTestId('room-id').textContent()).trim();
	const bob = await person(browser, stack, `bob${n}`, { relay, path: `/?room=${roomId}` });
	try {
		await ann.getByTestId('call-join-video').click();
		await ann.locator('[data-testid="call-bar"][data-state="in-call"]').waitFor();
		await bob.getByTestId('call-status').filter({ hasText: '1 in the call' }).waitFor();
		const frames = Promise.all([ann, bob].map((p) => p.evaluate(() => window.__firstFrame())));
		frames.catch(() => {}); // a page closed after a timeout
		const t0 = Date.now();
		await bob.getByTestId('call-join-video').click();
		let timer;
		const timeout = new Promise((_, reject) => {
			timer = setTimeout(() => reject(new Error(`no video within ${WAIT_MS} ms`)), WAIT_MS);
		});
		const [a, b] = await Promise.race([frames, timeout]).finally(() => clearTimeout(timer));
		const local = await Promise.all([ann, bob].map((p) => p.evaluate(() => window.__path())));
		if (relay && (local[0] !== 'relay' || local[1] !== 'relay')) throw new Error(`a relay-only call took ${local}`);
		return { first: a - t0, second: b - t0, local };
	} finally {
		await ann.context().close();
		await bob.context().close();
	}
}

async function calls(browser, relay) {
	let turn = null;
	if (relay) turn = await startTurn();
	const stack = await startStack({ backendEnv: { STATEROOM_LOG_LEVEL: 'warn', ...(turn?.env ?? {}) } });
	try {
		await oneCall(browser, stack, relay, 0); // warm: the client's files, Chromium's codecs
		const first = [], second = [], both = [];
		let local;
		for (let i = 1; i <= RUNS; i++) {
			const r = await oneCall(browser, stack, relay, i);
			first.push(r.first);
			second.push(r.second);
			both.push(Math.max(r.first, r.second));
			local = r.local;
		}
		return { runs: RUNS, local_candidates: local.join('/'), first_frame_at_first_ms: summary(first), first_frame_at_second_ms: summary(second), both_ms: summary(both) };
	} finally {
		await stack.stop();
		await turn?.stop();
	}
}

async function rings() {
	const stack = await startStack({ sessionEnv: { SESSION_MAX_ROOMS: String(RINGS * 2 + 50) }, backendEnv: { STATEROOM_LOG_LEVEL: 'warn' } });
	const open = [];
	try {
		const reg = await request(stack.backendUrl, '/api/auth/register', {
			method: 'POST', body: { userId: 'ringseed', password: 'correct horse battery' },
		});
		if (reg.status !== 200) throw new Error(`register: ${reg.text}`);
		const seed = decodeToken(reg.json.token).claims;
		const tokenOf = (id) => mintToken(stack.secret, { ...seed, sub: id, name: id, userId: id });
		await stack.sql(`INSERT INTO users (id, password_hash, login_key)
			SELECT p || i, 'x', p || i FROM generate_series(0, ${RINGS}) i, unnest(ARRAY['rca', 'rcb']) p`);
		const ws = async (t) => {
			const c = await connect(t.json.host, t.json.token, { protocol: 'stateroom.v1' });
			await c.next('welcome');
			open.push(c);
			return c;
		};
		const isEvent = (type) => (f) => f?.type === 'event' && f.event?.type === type;
		const ring = async (inbox, room, roomId) => {
			const t0 = performance.now();
			room.send({ type: 'call', op: 'join', audio: true, video: true });
			const ev = await inbox.next(isEvent('call_ring'), 10000);
			const ms = performance.now() - t0;
			if (ev.event.roomId !== roomId) throw new Error(`a ring for ${ev.event.roomId}`);
			room.send({ type: 'call', op: 'leave' });
			await inbox.next(isEvent('call_ring_end'), 10000);
			return ms;
		};
		const atLoad = [], opened = [];
		// Pair 0 warms the path; each pair rings twice: at once, and again
		// once the DM has been open a while.
		for (let i = 0; i <= RINGS; i++) {
			const a = tokenOf(`rca${i}`), b = tokenOf(`rcb${i}`);
			const dm = await request(stack.backendUrl, '/api/dms', { method: 'POST', token: a, body: { userId: `rcb${i}` } });
			if (dm.status !== 201) throw new Error(`dm: ${dm.text}`);
			const inbox = await ws(await request(stack.backendUrl, '/api/me/inbox', { token: b }));
			const room = await ws(await lookup(stack.backendUrl, a, dm.json.roomId));
			const first = await ring(inbox, room, dm.json.roomId);
			// A DM rings at most once a second; and the server has read
			// that the room is a DM by now.
			await sleep(1100);
			const second = await ring(inbox, room, dm.json.roomId);
			if (i > 0) {
				atLoad.push(first);
				opened.push(second);
			}
			inbox.terminate();
			room.terminate();
		}
		return { rings: RINGS, join_to_call_ring_ms: summary(opened), join_as_dm_loads_to_call_ring_ms: summary(atLoad) };
	} finally {
		for (const c of open) c.terminate();
		await stack.stop();
	}
}

const out = {};
// As tests/e2e/lib/browser.js launches it for the calls' tests (that module
// registers test hooks, which would print TAP here).
const browser = await chromium.launch({
	executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
	headless: true,
	args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--disable-component-update',
		'--disable-sync', '--no-first-run', '--disable-quic', '--use-fake-device-for-media-stream',
		'--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required'],
});
try {
	out.direct = await calls(browser, false);
	out.relay = await calls(browser, true);
} finally {
	await browser.close();
}
out.dm_ring = await rings();
console.log(JSON.stringify(out, null, 2).replace(/\[\s+([-\d.,\s]+?)\s+\]/g, (_, xs) => `[${xs.split(/,\s*/).join(', ')}]`));
