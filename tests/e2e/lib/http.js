// HTTP helpers for the backend's API (fetch), plus a raw socket request for
// what fetch cannot send (huge heads, slow heads).
import net from 'node:net';

export async function request(base, path, { method = 'GET', token, body, headers = {} } = {}) {
	const h = { ...headers };
	if (token) h.authorization = `Bearer ${token}`;
	let payload = body;
	if (body !== undefined && typeof body !== 'string' && !Buffer.isBuffer(body)) {
		payload = JSON.stringify(body);
	}
	if (payload !== undefined && !Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) {
		h['content-type'] = 'application/json';
	}
	const res = await fetch(new URL(path, base), { method, headers: h, body: payload });
	const text = await res.text();
	let json;
	try {
		json = JSON.parse(text);
	} catch {
		json = undefined;
	}
	return { status: res.status, headers: res.headers, text, json };
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
