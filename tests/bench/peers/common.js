// What both peer servers share: who a connection is (from its URL or its
// join ticket) and a room that does the work our session server does for an
// ephemeral room in the native protocol (docs/protocol.md, "native"), frame
// for frame, so that scripts/bench compares like with like:
// - the welcome: the joiner's name and id, the connected users' names and
//   ids (each user once, in the order they joined), the room's seq, the
//   heartbeat period, the latest 50 messages;
// - presence: `joined` to the room's other users on a user's first
//   connection, `left` after its last;
// - a `send`: checked as ours checks it, numbered in its room, answered with
//   `ack` (id, seq) and delivered as `message` (seq, id, user, userId, text,
//   ts) to every member, the sender included; the room keeps its last 1000
//   messages (our --ring-size) and a retried id among them is acked again
//   with its seq and not delivered twice;
// - anything else gets the `error` ours sends.
// Not mirrored: the ticket's signature (the peers stand beside Stateroom only
// to measure fan-out, never to guard anything), roles (no owner here: every
// user is a member), typing, read marks, history, heartbeats.
export const PROTOCOL = 'stateroom.v1';
const RING = 1000;
const WELCOME_MESSAGES = 50;
const HEARTBEAT_MS = 10000;

// { room, user, userId } from the URL (?room=ID&user=NAME) or from the join
// ticket's claims (room, name, sub), decoded without checking the signature;
// null when it names no valid room.
export function joinOf(url) {
	const q = new URL(url, 'http://x').searchParams;
	let room = q.get('room');
	let user = q.get('user');
	let userId = user;
	const token = q.get('token');
	if (token && (!room || !user)) {
		try {
			const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString());
			room ??= typeof claims.room === 'string' ? claims.room : null;
			userId = typeof claims.sub === 'string' ? claims.sub : null;
			user = typeof claims.name === 'string' ? claims.name : userId;
		} catch {
			// not a ticket: the checks below refuse it
		}
	}
	if (!room || !/^[a-z0-9]{1,32}$/.test(room)) return null;
	if (!user || user.length > 64 || !userId || userId.length > 128) user = userId = 'guest';
	return { room, user, userId };
}

export class Room {
	constructor(id) {
		this.id = id;
		this.seq = 0;
		this.users = new Map(); // userId -> { name, conns }, in the order they joined
		this.ring = new Array(RING); // the last RING messages, by seq % RING
		this.sent = new Map(); // `${userId}\n${id}` -> seq, for the messages in the ring
	}

	get empty() {
		return this.users.size === 0;
	}

	// A connection of who joins: its welcome, and the presence frame for the
	// room's other users (null when who was already connected).
	join(who) {
		const u = this.users.get(who.userId);
		let presence = null;
		if (u) {
			u.conns++;
		} else {
			presence = JSON.stringify({ type: 'presence', joined: who.user, userId: who.userId });
			this.users.set(who.userId, { name: who.user, conns: 1 });
		}
		const members = [];
		const memberIds = [];
		for (const [id, v] of this.users) {
			members.push(v.name);
			memberIds.push(id);
		}
		const messages = [];
		for (let s = Math.max(1, this.seq - WELCOME_MESSAGES + 1); s <= this.seq; s++) {
			messages.push(this.ring[s % RING].msg);
		}
		const welcome = JSON.stringify({
			type: 'welcome', room: this.id, user: who.user, userId: who.userId, members, memberIds,
			role: 'member', roles: {}, seq: this.seq, heartbeat_ms: HEARTBEAT_MS, messages,
		});
		return { welcome, presence };
	}

	// A connection of who left: the presence frame for the others, or null
	// while who has other connections.
	leave(who) {
		const u = this.users.get(who.userId);
		if (!u || --u.conns > 0) return null;
		this.users.delete(who.userId);
		return JSON.stringify({ type: 'presence', left: who.user, userId: who.userId });
	}

	// A text frame from who: { reply } for the sender, and { broadcast } for
	// every member when it is a new message.
	onFrame(text, who) {
		let f;
		try {
			f = JSON.parse(text);
		} catch {
			f = null;
		}
		if (f === null || typeof f !== 'object' || Array.isArray(f)) {
			return { reply: err('bad_json', 'a frame is one JSON object, with each key once') };
		}
		if (typeof f.type !== 'string') return { reply: err('bad_frame', 'type must be a string') };
		if (f.type !== 'send') return { reply: err('unknown_type', 'unknown frame type') };
		const id = f.id;
		if (typeof id !== 'string' || id.length < 1 || Buffer.byteLength(id) > 64 || id.includes('\0')) {
			return { reply: err('bad_frame', 'send needs an id of 1 to 64 bytes') };
		}
		const t = f.text;
		if (typeof t !== 'string' || t.length < 1 || t.includes('\0')) {
			return { reply: err('bad_frame', 'a non-empty text without NUL is needed', id) };
		}
		if (t.length > 1333 && Buffer.byteLength(t) > 4000) return { reply: err('too_long', 'text is over 4000 bytes', id) };
		const key = `${who.userId}\n${id}`;
		const old = this.sent.get(key);
		if (old !== undefined) return { reply: ack(id, old) };

		const seq = ++this.seq;
		const slot = seq % RING;
		const gone = this.ring[slot];
		if (gone && this.sent.get(gone.key) === gone.msg.seq) this.sent.delete(gone.key);
		const msg = { seq, id, user: who.user, userId: who.userId, text: t, ts: Date.now() };
		this.ring[slot] = { key, msg };
		this.sent.set(key, seq);
		return {
			reply: ack(id, seq),
			broadcast: JSON.stringify({ type: 'message', seq, id, user: msg.user, userId: msg.userId, text: t, ts: msg.ts }),
		};
	}
}

function ack(id, seq) {
	return JSON.stringify({ type: 'ack', id, seq });
}

function err(code, message, id) {
	return JSON.stringify({ type: 'error', code, message, ...(id === undefined ? {} : { id }) });
}

export function portArg() {
	const i = process.argv.indexOf('--port');
	const port = Number(i > 0 ? process.argv[i + 1] : process.env.PORT);
	if (!Number.isInteger(port) || port < 1 || port > 65535) {
		console.error('usage: server.js --port PORT');
		process.exit(2);
	}
	return port;
}
