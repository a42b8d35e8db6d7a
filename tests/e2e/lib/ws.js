// A WebSocket client on the npm `ws` package (an implementation independent
// of ours) with a queue of received frames.
import WebSocket from 'ws';
import { matcher, FrameQueue } from './match.js';

export function wsUrl(host, ticket, { since, path = '/', query } = {}) {
	const params = new URLSearchParams();
	if (ticket !== undefined && ticket !== null) params.set('token', ticket);
	if (since !== undefined && since !== null) params.set('since', String(since));
	const q = query ?? params.toString();
	return `ws://${host}${path}${q ? `?${q}` : ''}`;
}

export class Client {
	constructor(ws) {
		this.ws = ws;
		this.frames = []; // every frame received, in order (parsed JSON, or the string)
		this.closeInfo = null;
		this.queue = new FrameQueue({ // frames not yet taken by next()
			closed: () => this.closeInfo && `connection closed (${this.closeInfo.code} ${this.closeInfo.reason})`,
			summary: (frames) => JSON.stringify(frames).slice(0, 2000),
		});
		this.closed = new Promise((resolve) => {
			ws.on('close', (code, reason) => {
				this.closeInfo = { code, reason: reason.toString() };
				this.queue.fail(`connection closed (${code} ${reason})`);
				resolve(this.closeInfo);
			});
		});
		ws.on('message', (data, isBinary) => {
			let frame = isBinary ? data : data.toString();
			if (!isBinary) {
				try {
					frame = JSON.parse(frame);
				} catch {
					// not JSON: keep the string
				}
			}
			this.frames.push(frame);
			this.queue.push([frame]);
		});
		ws.on('error', () => {}); // surfaces as close 1006
	}

	get protocol() {
		return this.ws.protocol;
	}

	// The first queued or future frame that matches pred, taken off the queue.
	// Frames that do not match stay queued.
	next(pred, timeoutMs = 5000) {
		return this.queue.next(pred, timeoutMs, `no frame within ${timeoutMs} ms`);
	}

	// Resolves if no frame matching pred arrives within ms; rejects with the
	// frame if one does (a queued one counts).
	async none(pred, ms = 300) {
		const match = matcher(pred);
		const found = this.queue.frames.find(match);
		if (found !== undefined) throw new Error(`unexpected frame ${JSON.stringify(found)}`);
		await new Promise((r) => setTimeout(r, ms));
		const late = this.queue.frames.find(match);
		if (late !== undefined) throw new Error(`unexpected frame ${JSON.stringify(late)}`);
	}

	// Drops every queued frame.
	drain() {
		this.queue.frames.length = 0;
	}

	send(obj) {
		this.ws.send(typeof obj === 'string' || Buffer.isBuffer(obj) ? obj : JSON.stringify(obj));
	}

	close(code, reason) {
		this.ws.close(code, reason);
		return this.closed;
	}

	terminate() {
		this.ws.terminate();
		return this.closed;
	}
}

// Opens ws://host/?token=ticket[&since=N]. Resolves with a Client once the
// server answered 101 (a bad ticket still opens, then closes); rejects with
// err.status set when the server answers the upgrade with an HTTP error.
export function connect(host, ticket, { protocol, since, origin, path, query, headers, timeoutMs = 5000 } = {}) {
	const url = wsUrl(host, ticket, { since, path, query });
	const ws = new WebSocket(url, protocol ? [protocol] : [], {
		origin,
		headers,
		handshakeTimeout: timeoutMs,
		maxPayload: 64 * 1024 * 1024,
	});
	const client = new Client(ws);
	return new Promise((resolve, reject) => {
		ws.once('upgrade', (res) => {
			client.upgradeHeaders = res.headers;
		});
		ws.once('open', () => resolve(client));
		ws.once('unexpected-response', (req, res) => {
			const chunks = [];
			res.on('data', (d) => chunks.push(d));
			res.on('end', () => {
				const err = new Error(`upgrade answered ${res.statusCode}`);
				err.status = res.statusCode;
				err.headers = res.headers;
				err.body = Buffer.concat(chunks).toString();
				req.destroy();
				reject(err);
			});
		});
		ws.once('error', (e) => reject(e));
		ws.once('close', (code) => reject(new Error(`closed (${code}) before opening`)));
	});
}
