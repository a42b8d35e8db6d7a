// A WebSocket client on a bare socket for conformance tests: the handshake
// by hand, frames built byte by byte (any bits, any opcode, masked or not),
// written whole or in chops, and server frames parsed (close code/reason).
import net from 'node:net';
import crypto from 'node:crypto';
import { matcher, FrameQueue } from './match.js';

export const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa };

// One frame's bytes. payload: Buffer or string. Lengths pick the 7-bit,
// 16-bit or 64-bit form as RFC 6455 5.2 requires, unless len16/len64 force
// a (non-minimal) longer form.
export function buildFrame({ fin = true, rsv = 0, opcode = OP.TEXT, payload = Buffer.alloc(0), mask = true, maskKey } = {}) {
	const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
	const len = data.length;
	const head = [((fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0xf)) >>> 0];
	const m = mask ? 0x80 : 0;
	if (len < 126) {
		head.push(m | len);
	} else if (len < 65536) {
		head.push(m | 126, len >> 8, len & 0xff);
	} else {
		head.push(m | 127, 0, 0, 0, 0, (len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff);
	}
	if (!mask) return Buffer.concat([Buffer.from(head), data]);
	const key = maskKey ?? crypto.randomBytes(4);
	const body = Buffer.alloc(len);
	for (let i = 0; i < len; i++) body[i] = data[i] ^ key[i & 3];
	return Buffer.concat([Buffer.from(head), key, body]);
}

// A close frame's payload: 2-byte code then the reason (Buffer or string).
export function closePayload(code, reason = '') {
	const r = Buffer.isBuffer(reason) ? reason : Buffer.from(reason);
	const b = Buffer.alloc(2);
	b.writeUInt16BE(code);
	return Buffer.concat([b, r]);
}

export class RawClient {
	constructor(sock) {
		this.sock = sock;
		this.buf = Buffer.alloc(0);
		this.frames = [];
		this.queue = new FrameQueue({
			closed: () => this.sock.destroyed && 'socket closed',
			summary: (frames) => JSON.stringify(frames.map((f) => ({ opcode: f.opcode, code: f.code, text: f.text?.slice(0, 200) }))),
		});
		this.protocolError = null; // something the server sent that breaks RFC 6455
		this.ended = new Promise((resolve) => sock.once('close', resolve));
		sock.on('close', () => this.queue.fail('socket closed'));
	}

	feed(chunk) {
		this.buf = Buffer.concat([this.buf, chunk]);
		const got = [];
		for (;;) {
			const f = this.parseOne();
			if (!f) break;
			this.frames.push(f);
			got.push(f);
		}
		this.queue.push(got);
	}

	parseOne() {
		const b = this.buf;
		if (b.length < 2) return null;
		let len = b[1] & 0x7f;
		let off = 2;
		if (len === 126) {
			if (b.length < 4) return null;
			len = b.readUInt16BE(2);
			off = 4;
		} else if (len === 127) {
			if (b.length < 10) return null;
			len = Number(b.readBigUInt64BE(2));
			off = 10;
		}
		const masked = (b[1] & 0x80) !== 0;
		if (masked) this.protocolError = 'server sent a masked frame';
		if (masked) off += 4;
		if (b.length < off + len) return null;
		const payload = Buffer.from(b.subarray(off, off + len));
		if (masked) {
			const key = b.subarray(off - 4, off);
			for (let i = 0; i < len; i++) payload[i] ^= key[i & 3];
		}
		this.buf = b.subarray(off + len);
		const f = { fin: (b[0] & 0x80) !== 0, rsv: (b[0] >> 4) & 7, opcode: b[0] & 0xf, payload };
		if (f.opcode === OP.CLOSE) {
			f.code = payload.length >= 2 ? payload.readUInt16BE(0) : null;
			f.reason = payload.subarray(2).toString();
		}
		if (f.opcode === OP.TEXT) {
			f.text = payload.toString();
			try {
				f.json = JSON.parse(f.text);
				f.type = f.json?.type;
			} catch {
				f.json = undefined;
			}
		}
		return f;
	}

	// The first queued or future frame matching pred (see match.js; objects are
	// compared with the parsed frame, e.g. {opcode: OP.PONG}).
	next(pred, timeoutMs = 5000) {
		return this.queue.next(pred, timeoutMs, `nothing within ${timeoutMs} ms`);
	}

	// The server's close frame: {code, reason}.
	async nextClose(timeoutMs = 5000) {
		const f = await this.next({ opcode: OP.CLOSE }, timeoutMs);
		return { code: f.code, reason: f.reason };
	}

	// A text frame's parsed JSON.
	async nextJson(pred, timeoutMs = 5000) {
		const match = matcher(pred);
		const f = await this.next((fr) => fr.opcode === OP.TEXT && fr.json !== undefined && match(fr.json), timeoutMs);
		return f.json;
	}

	// Writes bytes whole, or in pieces of chop bytes, each handed to the
	// kernel before the next (TCP_NODELAY is on, so most become segments).
	async write(bytes, { chop } = {}) {
		if (!chop) {
			await new Promise((r) => this.sock.write(bytes, r));
			return;
		}
		for (let i = 0; i < bytes.length; i += chop) {
			if (this.sock.destroyed) return;
			await new Promise((r) => this.sock.write(bytes.subarray(i, i + chop), r));
		}
	}

	sendFrame(frame, opts) {
		return this.write(buildFrame(frame), opts);
	}

	sendText(text, opts) {
		return this.sendFrame({ opcode: OP.TEXT, payload: text }, opts);
	}

	sendJson(obj, opts) {
		return this.sendText(JSON.stringify(obj), opts);
	}

	destroy() {
		this.sock.destroy();
	}
}

// Connects and upgrades. Resolves { status, headers, client } once the
// response head arrived; client is set only for 101. early: bytes (frames)
// written in the same write as the request, before any answer.
export function rawConnect(host, { ticket, protocol, origin, path = '/', query, headers = {}, early, timeoutMs = 5000 } = {}) {
	const [hostname, port] = host.split(':');
	const q = query ?? (ticket ? `token=${encodeURIComponent(ticket)}` : '');
	const key = crypto.randomBytes(16).toString('base64');
	const lines = [
		`GET ${path}${q ? `?${q}` : ''} HTTP/1.1`,
		`Host: ${host}`,
		'Upgrade: websocket',
		'Connection: Upgrade',
		`Sec-WebSocket-Key: ${key}`,
		'Sec-WebSocket-Version: 13',
	];
	if (protocol) lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
	if (origin) lines.push(`Origin: ${origin}`);
	for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
	const request = `${lines.join('\r\n')}\r\n\r\n`;
	return new Promise((resolve, reject) => {
		const sock = net.connect(Number(port), hostname);
		sock.setNoDelay(true);
		let head = Buffer.alloc(0);
		let client = null;
		const timer = setTimeout(() => {
			sock.destroy();
			reject(new Error('no handshake answer in time'));
		}, timeoutMs);
		sock.on('error', (e) => {
			clearTimeout(timer);
			if (!client) reject(e);
		});
		sock.on('connect', () => sock.write(early ? Buffer.concat([Buffer.from(request), early]) : request));
		sock.on('close', () => {
			clearTimeout(timer);
			if (!client) reject(new Error(`closed before the handshake answer: ${head.toString()}`));
		});
		const onData = (chunk) => {
			if (client) {
				client.feed(chunk);
				return;
			}
			head = Buffer.concat([head, chunk]);
			const end = head.indexOf('\r\n\r\n');
			if (end < 0) return;
			clearTimeout(timer);
			const text = head.subarray(0, end).toString('latin1');
			const [statusLine, ...hl] = text.split('\r\n');
			const status = Number(statusLine.split(' ')[1]);
			const hdrs = {};
			for (const l of hl) {
				const c = l.indexOf(':');
				hdrs[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
			}
			const accept = crypto.createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
			client = new RawClient(sock);
			client.status = status;
			client.headers = hdrs;
			client.acceptOk = hdrs['sec-websocket-accept'] === accept;
			const rest = head.subarray(end + 4);
			if (rest.length) client.feed(rest);
			resolve({ status, headers: hdrs, client: status === 101 ? client : null, text });
			if (status !== 101) sock.destroy();
		};
		sock.on('data', onData);
	});
}
