// HTTP helpers for the backend's API (fetch), plus a raw socket request for
// what fetch cannot send (huge heads, slow heads).
import http from 'node:http';
import net from 'node:net';

// localAddress (say '127.0.0.2') sends from that address, so that a test
// can be several clients: fetch cannot choose it, node:http can.
export async function request(base, path, { method = 'GET', token, body, headers = {}, localAddress } = {}) {
	const h = { ...headers };
	if (token) h.authorization = `Bearer ${token}`;
	let payload = body;
	if (body !== undefined && typeof body !== 'string' && !Buffer.isBuffer(body)) {
		payload = JSON.stringify(body);
	}
	if (payload !== undefined && !Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) {
		h['content-type'] = 'application/json';
	}
	let status;
	let resHeaders;
	let text;
	if (localAddress) {
		({ status, headers: resHeaders, text } = await requestFrom(new URL(path, base), method, h, payload, localAddress));
	} else {
		const res = await fetch(new URL(path, base), { method, headers: h, body: payload });
		status = res.status;
		resHeaders = res.headers;
		text = await res.text();
	}
	let json;
	try {
		json = JSON.parse(text);
	} catch {
		json = undefined;
	}
	return { status, headers: resHeaders, text, json };
}

function requestFrom(url, method, headers, payload, localAddress) {
	return new Promise((resolve, reject) => {
		const req = http.request(url, { method, headers, localAddress, agent: false }, (res) => {
			const chunks = [];
			res.on('data', (d) => chunks.push(d));
			res.on('end', () => {
				const hs = new Headers();
				for (const [k, v] of Object.entries(res.headers)) hs.set(k, Array.isArray(v) ? v.join(', ') : v);
				resolve({ status: res.statusCode, headers: hs, text: Buffer.concat(chunks).toString('utf8') });
			});
			res.on('error', reject);
		});
		req.on('error', reject);
		req.end(payload);
	});
}

// Logs userId in as a guest and returns the user token; throws on failure.
export async function login(url, userId) {
	const res = await request(url, '/api/login', { method: 'POST', body: { userId } });
	if (res.status !== 200 || typeof res.json?.token !== 'string') {
		throw new Error(`login ${userId}: ${res.status} ${res.text}`);
	}
	return res.json.token;
}

// POST /api/rooms; body is optional room options.
export function createRoom(url, token, body) {
	return request(url, '/api/rooms', { method: 'POST', token, body });
}

// GET /api/rooms/:id: where the room lives and a join ticket.
export function lookup(url, token, roomId) {
	return request(url, `/api/rooms/${encodeURIComponent(roomId)}`, { token });
}

// Sends raw bytes to host:port, optionally in pieces with pauses, and
// resolves with everything the server sent until it closed (or timeoutMs).
export function rawHttp(port, chunks, { host = '127.0.0.1', pauseMs = 0, timeoutMs = 5000 } = {}) {
	return new Promise((resolve, reject) => {
		const sock = net.connect(port, host);
		const got = [];
		const started = Date.now();
		let timer;
		let finished = false;
		const done = (timedOut) => {
			if (finished) return;
			finished = true;
			clearTimeout(timer);
			sock.destroy();
			const text = Buffer.concat(got).toString('latin1');
			const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
			resolve({ status: m ? Number(m[1]) : null, text, timedOut, ms: Date.now() - started });
		};
		timer = setTimeout(() => done(true), timeoutMs);
		sock.on('data', (d) => got.push(d));
		sock.on('end', () => done(false));
		sock.on('close', () => done(false));
		sock.on('error', (e) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? done(false) : reject(e)));
		sock.on('connect', async () => {
			const list = Array.isArray(chunks) ? chunks : [chunks];
			for (const c of list) {
				if (sock.destroyed) return;
				sock.write(c);
				if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
			}
		});
	});
}
