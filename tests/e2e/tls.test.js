// Transport security (docs/deploy.md, "TLS"): every answer of the backend
// carries the security headers; scripts/run with STATEROOM_TLS=1 serves the
// whole flow through Debian's nginx over https:// and wss:// with a
// certificate this test makes (login, a room, its WebSocket, a message acked,
// history, a file up and down, and the web client in Chromium), and Ctrl-C
// stops the proxy with the rest.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { ROOT, psql, freePort, useStack, request, rawHttp, login } from './lib/stack.js';
import { launch, openPage, signIn, waitState, send, atLeastMessages, textsOnScreen, seqsOnScreen, WAIT_MS } from './lib/browser.js';

const SLOW = process.env.STATEROOM_BUILD_DIR?.includes('asan') ? 3 : 1;
const START_MS = 180000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The headers the backend sends with every answer (main.c).
function assertSecurityHeaders(headers, what) {
	const csp = headers.get('content-security-policy');
	assert.ok(csp, `${what}: no Content-Security-Policy`);
	const directives = Object.fromEntries(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v]));
	assert.deepEqual(directives['default-src'], ["'self'"], `${what}: ${csp}`);
	assert.deepEqual(directives['script-src'], ["'self'"], `${what}: no inline script: ${csp}`);
	assert.deepEqual(directives['connect-src'], ["'self'", 'ws:', 'wss:'], `${what}: ${csp}`);
	assert.deepEqual(directives['img-src'], ["'self'", 'blob:', 'data:'], `${what}: ${csp}`);
	assert.deepEqual(directives['media-src'], ["'self'", 'blob:'], `${what}: ${csp}`);
	assert.equal(headers.get('x-content-type-options'), 'nosniff', what);
	assert.equal(headers.get('referrer-policy'), 'no-referrer', what);
	const perms = headers.get('permissions-policy') ?? '';
	for (const f of ['camera', 'microphone', 'display-capture']) {
		assert.ok(perms.split(',').map((s) => s.trim()).includes(`${f}=(self)`), `${what}: ${f} for self: ${perms}`);
	}
}

describe('security headers on plain HTTP', () => {
	const h = useStack();

	test('the web client, its modules, JSON answers, errors and httpd\'s own refusals carry the CSP and the rest; no HSTS without TLS', async () => {
		const url = h.stack.backendUrl;
		for (const p of ['/', '/app.js', '/lib/stateroom.js', '/style.css', '/healthz']) {
			const res = await fetch(new URL(p, url));
			assert.equal(res.status, 200, p);
			assertSecurityHeaders(res.headers, p);
			assert.equal(res.headers.get('strict-transport-security'), null, p);
		}
		const token = await login(url, 'hdr');
		const room = await request(url, '/api/rooms', { method: 'POST', token });
		assert.equal(room.status, 200, room.text);
		assertSecurityHeaders(room.headers, 'POST /api/rooms');
		const missing = await request(url, '/api/nothing-here');
		assert.equal(missing.status, 404);
		assertSecurityHeaders(missing.headers, 'a 404');
		const unauth = await request(url, `/api/rooms/${room.json.roomId}`);
		assert.equal(unauth.status, 401);
		assertSecurityHeaders(unauth.headers, 'a 401');
		// A request httpd refuses before any handler sees it.
		const bad = await rawHttp(Number(new URL(url).port), 'NONSENSE\r\n\r\n');
		assert.equal(bad.status, 400, bad.text);
		assert.match(bad.text, /\r\nContent-Security-Policy: default-src 'self';/);
		assert.match(bad.text, /\r\nX-Content-Type-Options: nosniff\r\n/);
	});

	test('the web client has no inline script, style or event handler for the CSP to refuse', () => {
		const dir = path.join(ROOT, 'client');
		const files = [];
		const walk = (d) => {
			for (const e of fs.readdirSync(d, { withFileTypes: true })) {
				if (e.isDirectory()) walk(path.join(d, e.name));
				else if (/\.(html|js)$/.test(e.name) && e.name !== 'meson.build') files.push(path.join(d, e.name));
			}
		};
		walk(dir);
		for (const f of files) {
			const text = fs.readFileSync(f, 'utf8');
			const rel = path.relative(ROOT, f);
			if (f.endsWith('.html')) {
				assert.doesNotMatch(text, /<script(?![^>]*\bsrc=)[^>]*>/i, `${rel}: an inline <script>`);
				assert.doesNotMatch(text, /<style/i, `${rel}: an inline <style>`);
			}
			assert.doesNotMatch(text, /\son[a-z]+\s*=\s*["']/i, `${rel}: an inline event handler`);
			assert.doesNotMatch(text, /\sstyle\s*=\s*["']/i, `${rel}: a style attribute`);
			assert.doesNotMatch(text, /setAttribute\(\s*['"](style|on[a-z]+)['"]/, `${rel}: a style or handler attribute`);
			assert.doesNotMatch(text, /\beval\s*\(|new Function\s*\(|javascript:/, `${rel}: eval or javascript:`);
		}
	});
});

test('the backend refuses a --session-public it could not hand out, before it starts', () => {
	const build = process.env.STATEROOM_BUILD_DIR || path.join(ROOT, 'build');
	for (const bad of ['x/{room}', 'x/ws/{port}/', 'a b/{port}', 'x/"{port}', '']) {
		let out;
		try {
			execFileSync(path.join(build, 'backend-server/stateroom-backend'), [`--session-public=${bad}`],
				{ env: { ...cleanEnv(), STATEROOM_SECRET: 'x'.repeat(40) }, stdio: 'pipe', timeout: 10000 });
			assert.fail(`started with --session-public=${bad}`);
		} catch (e) {
			out = e;
		}
		assert.equal(out.status, 2, `${bad}: ${out.message}`);
		assert.match(out.stderr.toString(), /--session-public: /, bad);
	}
});

// --- scripts/run behind nginx ---------------------------------------------

function alive(pid) {
	try {
		return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').length > 0;
	} catch {
		return false;
	}
}

// Every process whose environment holds this run's database URL.
function processesOf(databaseUrl) {
	const out = [];
	for (const d of fs.readdirSync('/proc')) {
		if (!/^\d+$/.test(d)) continue;
		try {
			if (!fs.readFileSync(`/proc/${d}/environ`, 'utf8').split('\0').includes(`DATABASE_URL=${databaseUrl}`)) continue;
			out.push({ pid: Number(d), cmd: fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ').trim() });
		} catch {
			// gone meanwhile
		}
	}
	return out;
}

function cleanEnv() {
	const env = { ...process.env };
	for (const k of Object.keys(env)) {
		if (/^(SESSION_|BACKEND_|STATEROOM_)/.test(k) && !['STATEROOM_SANITIZER_DIR', 'STATEROOM_BUILD_DIR'].includes(k)) delete env[k];
	}
	delete env.NODE_EXTRA_CA_CERTS;
	return env;
}

// An https request that trusts ca only (fetch cannot be given a CA).
function tlsRequest(url, { method = 'GET', token, body, headers = {}, ca }) {
	return new Promise((resolve, reject) => {
		const h = { ...headers };
		if (token) h.authorization = `Bearer ${token}`;
		let payload = body;
		if (body !== undefined && !Buffer.isBuffer(body) && typeof body !== 'string') {
			payload = JSON.stringify(body);
			h['content-type'] = 'application/json';
		}
		const req = https.request(url, { method, headers: h, ca, agent: false }, (res) => {
			const chunks = [];
			res.on('data', (d) => chunks.push(d));
			res.on('end', () => {
				const hs = new Headers();
				for (const [k, v] of Object.entries(res.headers)) hs.set(k, Array.isArray(v) ? v.join(', ') : v);
				const raw = Buffer.concat(chunks);
				let json;
				try {
					json = JSON.parse(raw.toString('utf8'));
				} catch {
					json = undefined;
				}
				resolve({ status: res.statusCode, headers: hs, raw, text: raw.toString('utf8'), json });
			});
			res.on('error', reject);
		});
		req.on('error', reject);
		req.end(payload);
	});
}

describe('scripts/run with STATEROOM_TLS=1', () => {
	let run;
	let dbName;
	let adminUrl;
	let databaseUrl;
	let url;
	let ca;
	let lines = [];
	let exited;
	let browser;
	const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stateroom-tls-'));

	before(async () => {
		// A certificate of this test's own, for localhost and 127.0.0.1.
		execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost',
			'-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
			'-keyout', path.join(tmp, 'key.pem'), '-out', path.join(tmp, 'cert.pem')], { stdio: 'ignore' });
		ca = fs.readFileSync(path.join(tmp, 'cert.pem'));
		const base = process.env.DATABASE_URL || execFileSync(path.join(ROOT, 'scripts/pg'), ['url'], { encoding: 'utf8' }).trim();
		dbName = `e2e_tls_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
		const admin = new URL(base);
		admin.pathname = '/postgres';
		adminUrl = admin.toString();
		const db = new URL(base);
		db.pathname = `/${dbName}`;
		databaseUrl = db.toString();
		await psql(adminUrl, `CREATE DATABASE "${dbName}"`);
		const env = {
			...cleanEnv(),
			DATABASE_URL: databaseUrl,
			BACKEND_PORT: String(await freePort()),
			STATEROOM_TLS: '1',
			STATEROOM_TLS_PORT: String(await freePort()),
			STATEROOM_TLS_CERT: path.join(tmp, 'cert.pem'),
			STATEROOM_TLS_KEY: path.join(tmp, 'key.pem'),
			STATEROOM_FILES_DIR: path.join(tmp, 'files'),
		};
		run = spawn(path.join(ROOT, 'scripts/run'), [], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
		let partial = '';
		const take = (d) => {
			const parts = (partial + d.toString()).split('\n');
			partial = parts.pop();
			lines.push(...parts);
		};
		run.stdout.on('data', take);
		run.stderr.on('data', take);
		exited = new Promise((resolve) => run.on('exit', (code) => resolve(code)));
		let done = false;
		exited.then(() => { done = true; });
		const deadline = Date.now() + START_MS;
		while (!url) {
			if (done) throw new Error(`scripts/run exited\n${lines.slice(-40).join('\n')}`);
			if (Date.now() > deadline) throw new Error(`scripts/run did not start\n${lines.slice(-40).join('\n')}`);
			url = lines.map((l) => l.match(/Stateroom is running: open (\S+)/)?.[1]).find(Boolean);
			await sleep(100);
		}
		url = url.replace(/\/$/, '');
	});

	after(async () => {
		await browser?.close();
		if (run && run.exitCode === null) {
			try {
				process.kill(-run.pid, 'SIGKILL');
			} catch {
				// gone
			}
		}
		for (const p of databaseUrl ? processesOf(databaseUrl) : []) {
			try {
				process.kill(p.pid, 'SIGKILL');
			} catch {
				// gone
			}
		}
		if (adminUrl) await psql(adminUrl, `DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`).catch(() => {});
		fs.rmSync(tmp, { recursive: true, force: true });
	});

	test('login, a room, wss:// through the proxy, a message acked, history, a file up and down, all over TLS', { timeout: 120000 * SLOW }, async () => {
		assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/, 'scripts/run names the https address');
		const tlsPort = new URL(url).port;

		const page = await tlsRequest(`${url}/`, { ca });
		assert.equal(page.status, 200);
		assertSecurityHeaders(page.headers, 'GET / over TLS');
		assert.match(page.headers.get('strict-transport-security') ?? '', /^max-age=\d+/);

		const guest = await tlsRequest(`${url}/api/login`, { method: 'POST', body: { userId: 'tlsuser' }, ca });
		assert.equal(guest.status, 200, guest.text);
		const token = guest.json.token;
		assert.match(guest.headers.get('strict-transport-security') ?? '', /^max-age=\d+/, 'HSTS on the API too');
		const created = await tlsRequest(`${url}/api/rooms`, { method: 'POST', token, body: {}, ca });
		assert.equal(created.status, 200, created.text);
		const roomId = created.json.roomId;

		// The look-up names the proxy's path to the room's session server.
		const look = await tlsRequest(`${url}/api/rooms/${roomId}`, { token, ca });
		assert.equal(look.status, 200, look.text);
		assert.match(look.json.host, new RegExp(`^127\\.0\\.0\\.1:${tlsPort}/ws/\\d+$`));

		// As the web client builds it from an https page: wss://host/?token=.
		const ws = new WebSocket(`wss://${look.json.host}/?token=${encodeURIComponent(look.json.token)}`, 'stateroom.v1',
			{ ca, origin: url });
		const frames = [];
		const waiters = [];
		ws.on('message', (d) => {
			const f = JSON.parse(d.toString());
			frames.push(f);
			for (const w of waiters.splice(0)) w();
		});
		const closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
		ws.on('error', () => {});
		const next = async (pred) => {
			const deadline = Date.now() + 10000 * SLOW;
			for (;;) {
				const i = frames.findIndex(pred);
				if (i >= 0) return frames.splice(i, 1)[0];
				if (Date.now() > deadline) throw new Error(`no such frame; got ${JSON.stringify(frames).slice(0, 500)}`);
				await Promise.race([new Promise((r) => waiters.push(r)), sleep(200), closed.then((c) => { throw new Error(`closed ${c}`); })]);
			}
		};
		await next((f) => f.type === 'welcome');
		ws.send(JSON.stringify({ type: 'send', id: 'tls-1', text: 'over TLS ✓' }));
		const ack = await next((f) => f.type === 'ack' && f.id === 'tls-1');
		assert.ok(Number.isInteger(ack.seq));

		const history = await tlsRequest(`${url}/api/rooms/${roomId}/messages`, { token, ca });
		assert.equal(history.status, 200, history.text);
		assert.deepEqual(history.json.messages.map((m) => [m.seq, m.text]), [[ack.seq, 'over TLS ✓']]);

		// More than one TLS record, streamed through the proxy.
		const bytes = Buffer.from(`${crypto.randomBytes(150000).toString('hex')}\n`);
		const up = await tlsRequest(`${url}/api/rooms/${roomId}/files?name=notes.txt`, { method: 'POST', token, body: bytes,
			headers: { 'content-type': 'text/plain; charset=utf-8' }, ca });
		assert.equal(up.status, 201, up.text);
		const down = await tlsRequest(`${url}/api/rooms/${roomId}/files/${up.json.fileId}`, { token, ca });
		assert.equal(down.status, 200, down.text.slice(0, 200));
		assert.ok(down.raw.equals(bytes), 'the same bytes come back');

		ws.close();
		await closed;
	});

	test('the web client over https connects to its room with wss:// and sends, under the CSP', { timeout: 120000 * SLOW }, async () => {
		browser = await launch();
		const ctx = await browser.newContext({ viewport: { width: 1100, height: 720 }, ignoreHTTPSErrors: true });
		ctx.setDefaultTimeout(WAIT_MS);
		const page = await openPage(browser, `${url}/`, { context: ctx });
		const sockets = [];
		page.on('websocket', (w) => sockets.push(w.url()));
		await signIn(page, 'guest', 'tlsweb');
		await page.getByTestId('lobby-view').waitFor();
		await page.getByTestId('create-room').click();
		await waitState(page, 'connected');
		await send(page, 'hello over wss');
		// Confirmed (acked: it has its seq) over the wss:// connection.
		await atLeastMessages(page, 1);
		assert.deepEqual(await textsOnScreen(page), ['hello over wss']);
		assert.equal((await seqsOnScreen(page)).length, 1);
		assert.ok(sockets.length > 0 && sockets.every((s) => s.startsWith('wss://')), sockets.join(' '));
		assert.deepEqual(page.errors, []);
	});

	test('Ctrl-C stops nginx with the servers', { timeout: 60000 * SLOW }, async () => {
		// nginx rewrites its environment (its process titles): found by its pid file.
		const pidFile = path.join(ROOT, `.run/tls/nginx-${new URL(url).port}/nginx.pid`);
		const nginx = Number(fs.readFileSync(pidFile, 'utf8').trim());
		assert.ok(alive(nginx), 'nginx runs');
		const before = [...processesOf(databaseUrl), { pid: nginx, cmd: 'nginx' }];
		process.kill(-run.pid, 'SIGINT');
		const code = await exited;
		assert.ok(code === 130 || code === 0, `exit ${code}\n${lines.slice(-30).join('\n')}`);
		for (const p of before) assert.ok(!alive(p.pid), `still runs: ${p.cmd}`);
	});
});
