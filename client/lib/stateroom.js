// stateroom.js: a client for one Stateroom room, for the browser and for
// Node 20 and later. A plain ES module with no dependencies and no build
// step; docs/client.md is its manual.
//
//   const room = connect({ backend, token, roomId });   // Node: also WebSocket
//   room.on('message', (m) => console.log(m.user, m.text));
//   const seq = await room.send('hello');
//
// It looks the room up through the backend (GET /api/rooms/:id: the session
// server's address and a join ticket), opens the native protocol
// (stateroom.v1) there, and keeps the room open until close(): after any
// drop it looks the room up again (it may have moved) and resumes with
// since=<the last seq it saw>, so nothing is missed and nothing repeats;
// sends not yet acknowledged are written again with their ids, which the
// server deduplicates. It stops for good only on a close that retrying
// cannot mend (banned, removed, deleted, ...), with a 'stop' event saying
// why. The rules it follows are docs/protocol.md's ("native", "Liveness",
// the close codes).

export const SUBPROTOCOL = 'stateroom.v1';

// Closes after which trying again cannot help: the reason the 'stop' event
// gives for each (common/wire.h names the codes).
export const FINAL_CLOSES = Object.freeze({
	4003: 'forbidden',
	4006: 'subprotocol',
	4008: 'too_many_connections',
	4009: 'room_full',
	4010: 'banned',
	4011: 'removed',
	4012: 'deleted',
});

// Frames that carry a seq which is not a record of the room's log: every
// other frame with an integer seq is one (a chat message, an edit, another
// application's operation), and the room resumes after the highest seen.
const NOT_RECORDS = new Set(['welcome', 'ack', 'read', 'history', 'error']);

const DEFAULTS = {
	backoffBaseMs: 500,       // first retry after 0.25 to 0.5 s, then doubling
	backoffMaxMs: 10000,
	stableMs: 5000,           // a connection this old starts the backoff over
	welcomeTimeoutMs: 10000,  // a socket that brings no welcome by then is left
	lookupTimeoutMs: 10000,
	silenceGraceMs: 2000,     // left after 2 x heartbeat_ms + this of silence
	ackTimeoutMs: 15000,      // and after a send unanswered this long with nothing heard:
	ackTimeoutMinMs: 1000,    // once acks have been timed, their smoothed time + 4 deviations, at least this
	suspectWaitMs: 4000,      // a server found silent: while the backend still sends us back to it, wait
	suspectRetryMs: 250,      // this long between look-ups, for so long at most (docs/protocol.md, "Liveness")
	busyRetryMs: 5000,        // 4029: the server is taking too many joins
};
const HEARTBEAT_MAX_MS = 3600000;
const LIVENESS_CHECK_MS = 500;

export class StateroomError extends Error {
	constructor(code, message, extra = {}) {
		super(message);
		this.name = 'StateroomError';
		this.code = code;
		Object.assign(this, extra);
	}
}

// A new client message id: 16 random bytes, hex.
export function newId() {
	const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
	return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// Asks the backend where room roomId lives: { host, ticket, name }, or null
// for no such room. Rejects with a StateroomError whose status is the HTTP
// status (0: no answer) and retryAfter the seconds of a Retry-After.
// suspect: the epoch of a connection that found the server silent, or null.
export async function lookup({ backend, token, roomId, fetch = globalThis.fetch, timeoutMs = DEFAULTS.lookupTimeoutMs, suspect = null }) {
	let url = `${String(backend).replace(/\/+$/, '')}/api/rooms/${encodeURIComponent(roomId)}`;
	if (Number.isInteger(suspect) && suspect > 0) url += `?suspect=${suspect}`;
	const bearer = typeof token === 'function' ? await token() : token;
	let res;
	let body = null;
	try {
		const signal = typeof AbortSignal.timeout === 'function' ? AbortSignal.timeout(timeoutMs) : undefined;
		res = await fetch(url, { headers: { Authorization: `Bearer ${bearer}` }, signal });
		body = await res.json().catch(() => null);
	} catch (e) {
		throw new StateroomError('network', `the backend did not answer: ${e.message}`, { status: 0 });
	}
	if (res.status !== 200) {
		const err = body?.error ?? {};
		const retry = Number.parseInt(res.headers.get('retry-after') ?? '', 10);
		throw new StateroomError(typeof err.code === 'string' ? err.code : `http_${res.status}`,
			typeof err.message === 'string' ? err.message : `the backend answered ${res.status}`,
			{ status: res.status, retryAfter: Number.isInteger(retry) ? retry : null });
	}
	if (body === null || typeof body !== 'object' || body.host === null || body.token === null) return null;
	if (typeof body.host !== 'string' || typeof body.token !== 'string') {
		throw new StateroomError('bad_answer', 'the backend answered no host and ticket', { status: 200 });
	}
	return {
		host: body.host, ticket: body.token, name: typeof body.name === 'string' ? body.name : null,
		epoch: Number.isInteger(body.epoch) ? body.epoch : null,
	};
}

// One room, kept open until close(). Options:
//   backend     the backend's base URL ("https://chat.example.org")
//   token       the user's token, or a function returning it (or a promise)
//   roomId
//   WebSocket   the WebSocket constructor (default: the global one; in Node
//               before 22, pass the ws package's)
//   fetch       (default: the global one)
//   since       resume after this seq from the first connection on
//   lookup(roomId, { suspect }) instead of GET /api/rooms/:id: a promise
//               of { host, ticket, epoch? } or null (no such room), rejected with an error
//               whose status is the HTTP status (0: no answer) and
//               retryAfter seconds, as lookup() below (an inbox's own
//               look-up, a ticket the page already holds)
//   wsUrl(host) the WebSocket base URL of a session server (default:
//               ws://host, wss:// when the backend is https)
//   and the timings of DEFAULTS above.
// Events (on(type, fn)): 'state' {state, reason, retryAt}, 'welcome' (the frame,
// plus resumed and restarted), 'message' (each chat message once, in seq
// order, those of a welcome included), 'ack', 'error', 'presence', ...:
// every frame by its type; 'frame' every frame, before its own event;
// 'stop' {reason, code, message} once, when it gives up for good.
export class Room {
	constructor(opts) {
		if (!opts || !opts.roomId || (typeof opts.lookup !== 'function' && (!opts.backend || opts.token == null))) {
			throw new TypeError('Room needs roomId, and backend and token or lookup');
		}
		this.opts = { ...DEFAULTS, ...opts };
		this.WebSocket = opts.WebSocket ?? globalThis.WebSocket;
		if (typeof this.WebSocket !== 'function') throw new TypeError('no WebSocket: pass the WebSocket option');
		this.fetch = opts.fetch ?? globalThis.fetch;
		this.roomId = opts.roomId;
		this.state = 'idle';      // connecting, open, reconnecting, stopped
		this.lastSeq = Number.isInteger(opts.since) ? opts.since : null;
		this.welcome = null;      // the last welcome, as its event had it
		this.pending = new Map(); // id -> { frame, resolve, reject, writtenOn, writtenAt }
		this._handlers = new Map();
		this._ws = null;
		this._socket = 0;         // counts sockets: a write remembers on which it went
		this._attempt = 0;
		this._retryTimer = null;
		this._welcomeTimer = null;
		this._liveTimer = null;
		this._heardAt = 0;
		this._welcomedAt = 0;
		this._heartbeatMs = null;
		this._ticketRetried = false;
		this._epoch = null;       // the room's epoch as the look-up of this socket gave it
		this._suspect = null;     // { epoch, since }: that epoch's server went silent on us
		this._srtt = null;        // acks' smoothed round trip and its deviation (RFC 6298)
		this._rttvar = 0;
	}

	on(type, fn) {
		if (!this._handlers.has(type)) this._handlers.set(type, new Set());
		this._handlers.get(type).add(fn);
		return () => this.off(type, fn);
	}

	off(type, fn) {
		this._handlers.get(type)?.delete(fn);
	}

	// The next event of type for which match(detail) holds, as a promise.
	once(type, match = () => true) {
		return new Promise((resolve) => {
			const off = this.on(type, (detail) => {
				if (!match(detail)) return;
				off();
				resolve(detail);
			});
		});
	}

	// The welcome: at once when the room has had one (it may well have come
	// before the caller asks, and once('welcome') would then wait for the
	// next), else the first to come; rejected with a StateroomError (the
	// stop's reason) when the room stops first.
	ready() {
		if (this.welcome !== null) return Promise.resolve(this.welcome);
		if (this.state === 'stopped') {
			return Promise.reject(new StateroomError(this._stopReason ?? 'closed', 'the room is closed'));
		}
		return new Promise((resolve, reject) => {
			const offs = [
				this.on('welcome', (w) => {
					for (const off of offs) off();
					resolve(w);
				}),
				this.on('state', ({ state, reason }) => {
					if (state !== 'stopped') return;
					for (const off of offs) off();
					reject(new StateroomError(reason ?? 'closed', 'the room stopped before its welcome'));
				}),
			];
		});
	}

	connect() {
		if (this.state === 'idle') this._connect();
		return this;
	}

	// Leaves the room: no reconnection after this; unacknowledged sends are
	// rejected with code 'closed'.
	close() {
		this._stop('closed', 1000, 'closed by the client', false);
	}

	// Sends chat text; resolves with its seq once the server acknowledged it
	// (committed), rejects with a StateroomError when the server refused it
	// (an error frame for its id) or the room stopped. extra is merged into
	// the frame ({ replyTo }).
	send(text, extra = {}) {
		return this.request({ ...extra, type: 'send', text });
	}

	// Try again now: while reconnecting, without waiting for the rest of the
	// backoff (the network is back, a user's click); after a stop (not after
	// close()), start over, as connect() would (what was pending was
	// rejected at the stop: request it again).
	retry() {
		if (this.state === 'stopped' && this._stopReason !== 'closed') {
			this._stopReason = null;
			this._attempt = 0;
			this._ticketRetried = false;
			this._connect();
		} else if (this.state === 'reconnecting' && this._ws === null) {
			this._ticketRetried = false;
			this._connect();
		}
	}

	// Sends frame with its id, or a new one when it has none (any frame the room's application answers
	// with an ack for that id: a chat edit, another application's
	// operation); resolves with the ack's seq. Kept and written again after
	// every reconnect until acknowledged.
	request(frame) {
		if (this.state === 'stopped') {
			return Promise.reject(new StateroomError(this._stopReason ?? 'closed', 'the room is closed'));
		}
		const id = typeof frame.id === 'string' && frame.id !== '' ? frame.id : newId();
		return new Promise((resolve, reject) => {
			const entry = { frame: { ...frame, id }, resolve, reject, writtenOn: 0, writtenAt: 0 };
			this.pending.set(id, entry);
			this._writeEntry(entry);
		});
	}

	// Writes frame as it is if a socket is open (frames written before the
	// welcome are held by the server until it has sent it); false otherwise.
	// Nothing is kept or retried: for frames whose loss does not matter
	// (typing, cursors) or that the application retries itself.
	sendFrame(frame) {
		return this._write(frame);
	}

	_emit(type, detail) {
		for (const fn of [...(this._handlers.get(type) ?? [])]) {
			try {
				fn(detail);
			} catch (e) {
				// A handler's bug must not break the connection.
				queueMicrotask(() => { throw e; });
			}
		}
	}

	_setState(state, reason = null, retryAt = null) {
		this.state = state;
		this._emit('state', { state, reason, retryAt });
	}

	_write(frame) {
		const ws = this._ws;
		if (ws === null || ws.readyState !== 1) return false;
		ws.send(JSON.stringify(frame));
		return true;
	}

	_writeEntry(entry) {
		if (entry.writtenOn === this._socket) return;
		if (this._write(entry.frame)) {
			entry.writtenOn = this._socket;
			entry.writtenAt = Date.now();
		}
	}

	_wsUrl(host) {
		if (this.opts.wsUrl) return this.opts.wsUrl(host);
		const base = this.opts.backend ?? globalThis.location?.href ?? '';
		return `${String(base).startsWith('https:') ? 'wss' : 'ws'}://${host}`;
	}

	async _connect() {
		clearTimeout(this._retryTimer);
		const socket = ++this._socket;
		this._setState(this._welcomedAt ? 'reconnecting' : 'connecting');
		let target;
		try {
			const suspect = this._suspect?.epoch ?? null;
			target = this.opts.lookup ? await this.opts.lookup(this.roomId, { suspect }) : await lookup({
				backend: this.opts.backend, token: this.opts.token, roomId: this.roomId,
				fetch: this.fetch, timeoutMs: this.opts.lookupTimeoutMs, suspect,
			});
		} catch (e) {
			if (socket !== this._socket || this.state === 'stopped') return;
			const s = e.status ?? 0;
			if (s === 401) this._stop('unauthorized', null, e.message);
			else if (s === 403 || s === 404) this._stop('not_allowed', null, e.message);
			else if (s >= 400 && s < 500 && s !== 408 && s !== 429) this._stop('lookup_refused', null, e.message);
			else this._retry(e.message, e.retryAfter != null ? e.retryAfter * 1000 : 0);
			return;
		}
		if (socket !== this._socket || this.state === 'stopped') return;
		if (target === null) {
			this._stop('no_such_room', null, 'no such room');
			return;
		}
		const epoch = Number.isInteger(target.epoch) ? target.epoch : null;
		if (this._suspect !== null) {
			// Sent back to the server we found silent: the backends still
			// think it alive (its heartbeat is recent, and too few users
			// said so to outvote it). A paused server would take the socket
			// and never answer, so ask again shortly, for a while; then try
			// it after all (it may be only our path to it that broke).
			if (epoch === this._suspect.epoch && Date.now() - this._suspect.since < this.opts.suspectWaitMs) {
				this._setState('reconnecting', 'waiting for the room to move', Date.now() + this.opts.suspectRetryMs);
				this._retryTimer = setTimeout(() => this._connect(), this.opts.suspectRetryMs);
				return;
			}
			this._suspect = null;
		}
		this._epoch = epoch;
		this.host = target.host;
		let url = `${this._wsUrl(target.host)}/?token=${encodeURIComponent(target.ticket)}`;
		if (this.lastSeq !== null) url += `&since=${this.lastSeq}`;
		let ws;
		try {
			ws = new this.WebSocket(url, SUBPROTOCOL);
		} catch (e) {
			this._retry(`cannot open ${target.host}: ${e.message}`);
			return;
		}
		this._ws = ws;
		this._heardAt = Date.now();
		let welcomed = false;
		ws.onopen = () => {
			if (ws !== this._ws) return;
			if (ws.protocol !== SUBPROTOCOL) {
				// Without the subprotocol the server would take frames for chat text.
				this._drop(ws);
				this._stop('subprotocol', null, `${target.host} does not speak ${SUBPROTOCOL}`);
				return;
			}
			// The server holds what arrives before it has sent the welcome.
			for (const entry of this.pending.values()) this._writeEntry(entry);
		};
		ws.onmessage = (event) => {
			if (ws !== this._ws) return;
			this._heardAt = Date.now();
			let frame;
			try {
				frame = JSON.parse(typeof event.data === 'string' ? event.data : String(event.data));
			} catch {
				return;
			}
			if (frame === null || typeof frame !== 'object' || typeof frame.type !== 'string') return;
			if (frame.type === 'welcome') welcomed = true;
			this._onFrame(frame);
		};
		ws.onerror = () => {};
		ws.onclose = (event) => {
			if (ws !== this._ws) return;
			this._ws = null;
			this._clearTimers();
			this._onClose(event.code, event.reason, welcomed);
		};
		this._welcomeTimer = setTimeout(() => {
			if (ws === this._ws && !welcomed) {
				this._suspectServer();
				this._drop(ws);
				this._retry('no welcome from the server');
			}
		}, this.opts.welcomeTimeoutMs);
		this._liveTimer = setInterval(() => this._checkLiveness(ws), LIVENESS_CHECK_MS);
	}

	// Lets go of a socket that may never close by itself: its events are
	// ignored from now on.
	_drop(ws) {
		if (this._ws === ws) this._ws = null;
		this._clearTimers();
		try {
			if (typeof ws.terminate === 'function') ws.terminate(); // ws: no closing handshake
			else ws.close();
		} catch {
			// already closed
		}
	}

	_clearTimers() {
		clearTimeout(this._welcomeTimer);
		clearInterval(this._liveTimer);
	}

	// docs/protocol.md, "Liveness": a live server sends something at least
	// every heartbeat_ms, so silence past twice that means it is gone (frozen,
	// or cut off without a close). Without heartbeat_ms (an older server), a
	// send unanswered, with nothing heard for as long, means the same.
	_checkLiveness(ws) {
		if (ws !== this._ws || !this._welcomedAt) return;
		const now = Date.now();
		let why = null;
		const ackTimeout = this._ackTimeout();
		if (this._heartbeatMs !== null && now - this._heardAt > 2 * this._heartbeatMs + this.opts.silenceGraceMs) {
			why = 'the server went silent';
		} else {
			for (const e of this.pending.values()) {
				if (e.writtenOn === this._socket && now - e.writtenAt > ackTimeout && now - this._heardAt > ackTimeout) {
					why = 'the server did not acknowledge a send';
					break;
				}
			}
		}
		if (why === null) return;
		this._suspectServer();
		this._drop(ws);
		this._emit('silent', { reason: why });
		if (now - this._welcomedAt >= this.opts.stableMs) this._attempt = 0;
		this._retry(why);
	}

	// How long a send may go unanswered while nothing else is heard: RFC
	// 6298's retransmission timeout over the acks timed so far, so that a
	// frozen server is noticed in about a second where acks take
	// milliseconds, and a slow link is not taken for a dead server.
	_ackTimeout() {
		if (this._srtt === null) return this.opts.ackTimeoutMs;
		const rto = this._srtt + 4 * this._rttvar;
		return Math.min(this.opts.ackTimeoutMs, Math.max(this.opts.ackTimeoutMinMs, rto));
	}

	_timeAck(e) {
		if (e.writtenOn !== this._socket) return;
		const r = Date.now() - e.writtenAt;
		if (this._srtt === null) {
			this._srtt = r;
			this._rttvar = r / 2;
		} else {
			this._rttvar = 0.75 * this._rttvar + 0.25 * Math.abs(this._srtt - r);
			this._srtt = 0.875 * this._srtt + 0.125 * r;
		}
	}

	// The next look-up tells the backend that this epoch's server went
	// silent on us (GET /api/rooms/:id?suspect=EPOCH), so the room may move
	// before the backends would judge the server dead by themselves.
	_suspectServer() {
		if (this._epoch !== null && this._suspect === null) this._suspect = { epoch: this._epoch, since: Date.now() };
	}

	_onClose(code, reason, welcomed) {
		if (this.state === 'stopped') return;
		if (welcomed && Date.now() - this._welcomedAt >= this.opts.stableMs) this._attempt = 0;
		if (FINAL_CLOSES[code]) {
			this._stop(FINAL_CLOSES[code], code, reason || FINAL_CLOSES[code]);
		} else if (code === 4001) {
			// Used, expired, or signed for a process that restarted: one
			// fresh ticket mends it; a second refusal will not.
			if (this._ticketRetried) {
				this._stop('bad_ticket', code, reason || 'the server refused the join ticket');
			} else {
				this._ticketRetried = true;
				this._connect();
			}
		} else if (code === 4004 || code === 1012) {
			// The room moves (a drain, a re-pin): look it up again.
			this._retry(`the room is moving (${code})`);
		} else if (code === 4029) {
			this._retry('the server is busy', this.opts.busyRetryMs);
		} else {
			// Cut off without a close frame, or no connection at all: the
			// server may be dead. A close it sent says it is not.
			if (code === 1006 || !welcomed) this._suspectServer();
			this._retry(welcomed ? `connection lost (${code})` : `could not connect (${code})`);
		}
	}

	_retry(reason, minDelayMs = 0) {
		if (this.state === 'stopped') return;
		const base = Math.min(this.opts.backoffMaxMs, this.opts.backoffBaseMs * 2 ** this._attempt);
		this._attempt = Math.min(this._attempt + 1, 20);
		// Half fixed, half random: a crowd dropped at once (a server draining)
		// comes back spread out, never all in the same instant.
		const delay = Math.max(minDelayMs, base / 2 + Math.random() * (base / 2));
		this._setState('reconnecting', reason, Date.now() + delay);
		clearTimeout(this._retryTimer);
		this._retryTimer = setTimeout(() => this._connect(), delay);
	}

	_stop(reason, code, message, emit = true) {
		if (this.state === 'stopped') return;
		this._stopReason = reason;
		this._socket++;
		clearTimeout(this._retryTimer);
		const ws = this._ws;
		if (ws !== null) {
			this._ws = null;
			this._clearTimers();
			try {
				ws.close(1000, 'leaving');
			} catch {
				// not open yet
			}
		}
		this._setState('stopped', reason);
		for (const [id, e] of this.pending) {
			this.pending.delete(id);
			e.reject(new StateroomError(reason, message, { closeCode: code }));
		}
		if (emit) this._emit('stop', { reason, code, message });
	}

	_onFrame(frame) {
		if (frame.type === 'welcome') {
			this._onWelcome(frame);
			return;
		}
		const record = !NOT_RECORDS.has(frame.type) && Number.isInteger(frame.seq);
		// A record seen already (the server resends nothing, but an
		// application may): shown once.
		if (record && this.lastSeq !== null && frame.seq <= this.lastSeq) return;
		if (record) this.lastSeq = frame.seq;
		this._emit('frame', frame);
		if (frame.type === 'ack' && typeof frame.id === 'string') {
			const e = this.pending.get(frame.id);
			if (e) {
				this.pending.delete(frame.id);
				this._timeAck(e);
				e.resolve(frame.seq);
			}
		} else if (frame.type === 'error' && typeof frame.id === 'string') {
			const e = this.pending.get(frame.id);
			if (e) {
				this.pending.delete(frame.id);
				e.reject(new StateroomError(String(frame.code ?? 'error'), String(frame.message ?? frame.code ?? 'refused')));
			}
		}
		this._emit(frame.type, frame);
	}

	_onWelcome(frame) {
		clearTimeout(this._welcomeTimer);
		const resumed = this.lastSeq !== null;
		// An ephemeral room loaded again starts over at seq 1
		// (docs/protocol.md, "Ephemeral rooms"): its seqs mean new records.
		const restarted = resumed && Number.isInteger(frame.seq) && frame.seq < this.lastSeq;
		if (restarted) this.lastSeq = null;
		this._welcomedAt = Date.now();
		this._ticketRetried = false;
		const hb = frame.heartbeat_ms;
		this._heartbeatMs = Number.isInteger(hb) && hb > 0 && hb <= HEARTBEAT_MAX_MS ? hb : null;
		this.welcome = { ...frame, resumed, restarted };
		this._emit('frame', frame);
		this._setState('open');
		this._emit('welcome', this.welcome);
		// The records the welcome holds, then its changes of earlier ones,
		// as if each had come live.
		const records = Array.isArray(frame.messages) ? frame.messages.filter((m) => m && Number.isInteger(m.seq)) : [];
		records.sort((a, b) => a.seq - b.seq);
		for (const m of records) {
			if (this.lastSeq !== null && m.seq <= this.lastSeq) continue;
			this.lastSeq = m.seq;
			this._emit('message', { type: 'message', ...m });
		}
		if (Array.isArray(frame.changes)) {
			for (const c of frame.changes) if (c && typeof c.type === 'string') this._emit(c.type, c);
		}
		if (Number.isInteger(frame.seq) && (this.lastSeq === null || frame.seq > this.lastSeq)) this.lastSeq = frame.seq;
		for (const entry of this.pending.values()) this._writeEntry(entry);
	}
}

// A Room, connecting.
export function connect(opts) {
	return new Room(opts).connect();
}
