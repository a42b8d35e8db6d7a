// Shortcuts the chat tests share: log in once per user, create rooms, get
// tickets and join.
import assert from 'node:assert/strict';
import { login, createRoom, lookup } from './http.js';
import { connect } from './ws.js';

const tokens = new Map(); // `${backendUrl} ${user}` → promise of the user token

// Every login is a new guest, with a subject of its own, that only shares
// the name: callers asking at the same moment must share one login, or the
// same "user" would be several users (and a client resuming under another
// subject would resend its unacked messages as someone else's).
export function tokenFor(stack, user) {
	const key = `${stack.backendUrl} ${user}`;
	if (!tokens.has(key)) {
		const token = login(stack.backendUrl, user);
		tokens.set(key, token);
		token.catch(() => tokens.delete(key));
	}
	return tokens.get(key);
}

// Creates a room as user and returns its id.
export async function newRoom(stack, user = 'owner', body) {
	const res = await createRoom(stack.backendUrl, await tokenFor(stack, user), body);
	assert.equal(res.status, 200, `create room: ${res.status} ${res.text}`);
	return res.json.roomId;
}

// A fresh join ticket: { host, token }.
export async function ticketFor(stack, user, roomId, backendUrl = stack.backendUrl) {
	const res = await lookup(backendUrl, await tokenFor(stack, user), roomId);
	assert.equal(res.status, 200, `lookup: ${res.status} ${res.text}`);
	assert.ok(res.json.host && res.json.token, `lookup gave no host: ${res.text}`);
	return res.json;
}

// Joins roomId as user. Native (stateroom.v1) unless opts.protocol is null;
// waits for the welcome in native mode and returns [client, welcome].
export async function join(stack, user, roomId, opts = {}) {
	const { host, token } = await ticketFor(stack, user, roomId);
	const protocol = opts.protocol === undefined ? 'stateroom.v1' : opts.protocol;
	const c = await connect(host, token, { ...opts, protocol: protocol ?? undefined });
	if (!protocol) return [c, null];
	const welcome = await c.next('welcome');
	return [c, welcome];
}

// Sends text with id and waits for the ack; returns its seq.
export async function sendAcked(c, id, text) {
	c.send({ type: 'send', id, text });
	const ack = await c.next({ type: 'ack', id });
	return ack.seq;
}

export function closeAll(clients) {
	return Promise.all(clients.map((c) => (c.closeInfo ? c.closed : c.terminate())));
}
