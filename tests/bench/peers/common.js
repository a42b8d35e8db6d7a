// What both peer servers share: the room and user a connection joins, taken
// from its URL (?room=ID&user=NAME) or from the join ticket's claims. The
// ticket is decoded without checking its signature: the peers stand beside
// Stateroom only to measure fan-out, never to guard anything.
export function joinOf(url) {
	const q = new URL(url, 'http://x').searchParams;
	let room = q.get('room');
	let user = q.get('user');
	const token = q.get('token');
	if (token && (!room || !user)) {
		try {
			const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString());
			room ??= typeof claims.room === 'string' ? claims.room : null;
			user ??= typeof claims.sub === 'string' ? claims.sub : null;
		} catch {
			// not a ticket: the checks below refuse it
		}
	}
	if (!room || !/^[a-z0-9]{1,32}$/.test(room)) return null;
	return { room, user: user && user.length <= 64 ? user : 'guest' };
}

// The native protocol's core, as the load generator uses it: a `send` is
// numbered in its room and answered with `ack`; every member, the sender
// included, gets the `message`. Anything else gets an `error`.
export function onFrame(text, room, user) {
	let f;
	try {
		f = JSON.parse(text);
	} catch {
		return { reply: err('bad_json') };
	}
	if (f === null || typeof f !== 'object' || f.type !== 'send') return { reply: err('unknown_type') };
	if (typeof f.id !== 'string' || f.id.length < 1 || f.id.length > 64 || typeof f.text !== 'string'
		|| f.text.length < 1 || f.text.length > 4000) return { reply: err('bad_frame', f.id) };
	const seq = ++room.seq;
	return {
		reply: JSON.stringify({ type: 'ack', id: f.id, seq }),
		broadcast: JSON.stringify({ type: 'message', seq, id: f.id, user, text: f.text, ts: Date.now() }),
	};
}

export function welcome(roomId, user, room) {
	return JSON.stringify({ type: 'welcome', room: roomId, user, members: [], seq: room.seq, messages: [] });
}

function err(code, id) {
	return JSON.stringify({ type: 'error', code, message: code, ...(typeof id === 'string' ? { id } : {}) });
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
