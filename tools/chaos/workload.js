// The lab's clients. A native client is the web client's own library
// (client/lib/stateroom.js: look-up, resume with since, unacknowledged sends
// written again with their ids, liveness), with a tap on its sockets that
// records every frame as it came off the wire, before the library orders or
// deduplicates anything. A compat client speaks the seed's protocol (no
// subprotocol, every text frame a message) and reconnects as the seed's
// client does. Each writes one JSONL file of what it did and saw.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WebSocket = createRequire(path.join(ROOT, 'tests/package.json'))('ws');
const { Room, lookup } = await import(path.join(ROOT, 'client/lib/stateroom.js'));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function ticketClaims(ticket) {
	try {
		return JSON.parse(Buffer.from(ticket.split('.')[1], 'base64url').toString());
	} catch {
		return {};
	}
}

// Asks the backends in turn (a client behind a load balancer): the first
// that answers, passing on the library's suspicion of a silent server.
// Records the pin it was given (server, epoch).
function makeLookup(backends, token, roomId, rec) {
	let next = 0;
	return async (_id, { suspect = null } = {}) => {
		let err;
		for (let i = 0; i < backends.length; i++) {
			const backend = backends[(next + i) % backends.length];
			try {
				const t = await lookup({ backend, token, roomId, timeoutMs: 3000, suspect });
				next = (next + i + 1) % backends.length;
				if (t) {
					const c = ticketClaims(t.ticket);
					rec({ t: 'pin', host: t.host, server: c.aud, epoch: c.epoch, suspect });
				}
				return t;
			} catch (e) {
				err = e;
				if (e.status && e.status !== 503) throw e; // a refusal, not an outage
			}
		}
		rec({ t: 'lookup_failed', why: err?.message });
		throw err;
	};
}

class Recorder {
	constructor(dir, name) {
		this.file = path.join(dir, `${name}.jsonl`);
		this.fd = fs.openSync(this.file, 'w');
		this.buf = [];
	}

	rec(o) {
		if (this.fd === null) return;
		o.ms = Date.now();
		this.buf.push(JSON.stringify(o));
		if (this.buf.length >= 200) this.flush();
	}

	flush() {
		if (this.buf.length) fs.writeSync(this.fd, `${this.buf.join('\n')}\n`);
		this.buf = [];
	}

	close() {
		if (this.fd === null) return;
		this.flush();
		fs.closeSync(this.fd);
		this.fd = null;
	}
}

export class NativeClient {
	constructor({ dir, name, user, token, roomId, backends, everyMs, rng }) {
		this.name = name;
		this.user = user;
		this.roomId = roomId;
		this.everyMs = everyMs;
		this.rng = rng;
		this.r = new Recorder(dir, name);
		this.n = 0;
		this.outstanding = new Map(); // id -> text, not yet acked
		this.sending = false;
		this.sock = 0;
		const rec = (o) => this.r.rec(o);
		rec({ t: 'start', kind: 'native', user, room: roomId });
		const self = this;
		let room;
		// The tap: every frame of the library's current socket, as it came.
		class TapWebSocket extends WebSocket {
			constructor(url, proto) {
				super(url, proto);
				const sock = ++self.sock;
				const u = new URL(url);
				const since = u.searchParams.get('since');
				const c = ticketClaims(u.searchParams.get('token') ?? '');
				rec({ t: 'open', sock, host: u.host, server: c.aud, epoch: c.epoch, since: since === null ? null : Number(since) });
				this.on('message', (data) => {
					if (room._ws !== this) return;
					let f;
					try {
						f = JSON.parse(data.toString());
					} catch {
						rec({ t: 'junk', sock, text: data.toString().slice(0, 200) });
						return;
					}
					if (f.type === 'welcome') {
						rec({ t: 'welcome', sock, me: f.userId, seq: f.seq, more: !!f.more, msgs: f.messages.map((m) => [m.seq, m.userId, m.id, m.text]) });
					} else if (f.type === 'message') {
						rec({ t: 'rx', sock, seq: f.seq, user: f.userId, id: f.id, text: f.text });
					} else if (f.type === 'ack') {
						rec({ t: 'ack', sock, id: f.id, seq: f.seq });
					} else if (f.type === 'error') {
						rec({ t: 'error', sock, id: f.id, code: f.code });
					}
				});
				this.on('close', (code) => rec({ t: 'close', sock, code }));
			}
		}
		room = new Room({
			roomId, token, WebSocket: TapWebSocket,
			lookup: makeLookup(backends, token, roomId, rec),
		});
		room.on('state', ({ state, reason }) => rec({ t: 'state', state, reason }));
		room.on('stop', (s) => rec({ t: 'stop', reason: s.reason, code: s.code }));
		this.room = room;
	}

	start() {
		this.room.connect();
		this.timer = setInterval(() => this.tick(), this.everyMs);
	}

	tick() {
		// A client that cannot get acks stops writing new messages (the web
		// client's user would too), but keeps its unacked ones.
		if (!this.sending || this.outstanding.size >= 10) return;
		const id = `${this.name}-${++this.n}`;
		this.send(id, `${this.name} says ${this.n}`);
	}

	send(id, text) {
		this.outstanding.set(id, text);
		this.r.rec({ t: 'send', id, text, sock: this.sock });
		this.room.request({ type: 'send', id, text }).then((seq) => {
			this.outstanding.delete(id);
			this.r.rec({ t: 'acked', id, seq });
		}, (e) => {
			// unavailable (the database), or the room stopped: the same id
			// again later, which is always safe.
			this.r.rec({ t: 'refused', id, code: e.code });
			if (this.room.state === 'stopped') return;
			setTimeout(() => {
				if (this.outstanding.has(id)) this.send(id, text);
			}, 500 + Math.floor(this.rng() * 500));
		});
	}

	// Stops writing new messages; resolves once nothing is unacked (or not).
	async settle(deadline) {
		this.sending = false;
		clearInterval(this.timer);
		while (this.outstanding.size && Date.now() < deadline) await sleep(100);
		return this.outstanding.size;
	}

	close() {
		this.r.rec({ t: 'end', unacked: [...this.outstanding.keys()], lastSeq: this.room.lastSeq });
		this.room.close();
		this.r.close();
	}
}

// The seed's client: no subprotocol, every text frame a message, the whole
// room's last 100 messages in every answer; on a close it looks the room up
// again and reconnects. Sends only while connected (it has no acks to retry).
export class CompatClient {
	constructor({ dir, name, user, token, roomId, backends, everyMs }) {
		this.name = name;
		this.roomId = roomId;
		this.everyMs = everyMs;
		this.r = new Recorder(dir, name);
		this.lookup = makeLookup(backends, token, roomId, (o) => this.r.rec(o));
		this.n = 0;
		this.ws = null;
		this.sending = false;
		this.stopped = false;
		this.r.rec({ t: 'start', kind: 'compat', user, room: roomId });
	}

	async loop() {
		while (!this.stopped) {
			try {
				const t = await this.lookup();
				if (!t) throw new Error('no such room');
				await new Promise((resolve) => {
					const ws = new WebSocket(`ws://${t.host}/?token=${encodeURIComponent(t.ticket)}`);
					this.ws = ws;
					ws.on('open', () => this.r.rec({ t: 'open', host: t.host }));
					ws.on('message', (d) => {
						try {
							const f = JSON.parse(d.toString());
							this.r.rec({ t: 'snap', msgs: (f.messages ?? []).map((m) => [m.userId, m.msg]) });
						} catch {
							this.r.rec({ t: 'junk' });
						}
					});
					ws.on('error', () => {});
					ws.on('close', (code) => {
						this.r.rec({ t: 'close', code });
						this.ws = null;
						resolve();
					});
				});
			} catch (e) {
				this.r.rec({ t: 'lookup_error', why: e.message });
			}
			if (!this.stopped) await sleep(500);
		}
	}

	start() {
		this.loop();
		this.timer = setInterval(() => {
			if (!this.sending || this.ws?.readyState !== WebSocket.OPEN) return;
			const text = `${this.name} compat ${++this.n}`;
			this.r.rec({ t: 'send', text });
			this.ws.send(text);
		}, this.everyMs);
	}

	async settle() {
		this.sending = false;
		clearInterval(this.timer);
		return 0;
	}

	close() {
		this.stopped = true;
		this.ws?.terminate();
		this.r.rec({ t: 'end' });
		this.r.close();
	}
}
