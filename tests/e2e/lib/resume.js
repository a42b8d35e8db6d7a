// A native client that keeps talking in a room across drains and failovers,
// as a well-behaved client would: on close it looks the room up again,
// reconnects with since=<last seq it saw>, and sends again (same ids) what
// was never acknowledged. It records everything needed to prove that nothing
// was lost, skipped or seen twice; auditRoom() checks it against the database.
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { lookup } from './http.js';
import { tokenFor } from './chat.js';
import { wsUrl } from './ws.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class Resumer {
	constructor(stack, user, roomId, { backendUrl = stack.backendUrl, resumeMs = 20000 } = {}) {
		this.stack = stack;
		this.user = user;
		this.roomId = roomId;
		this.backendUrl = backendUrl;
		this.resumeMs = resumeMs;
		this.lastSeq = null; // the latest seq seen, null before the first welcome
		this.firstSeq = null;
		this.received = new Map(); // seq → {id, user}
		this.acked = new Map(); // id → seq
		this.outbox = new Map(); // id → text, not yet acked
		this.closes = []; // {code, host}
		this.hosts = []; // every host connected to, in order
		this.epochs = [];
		this.sub = undefined; // the user's subject, from the first ticket
		this.errors = []; // protocol violations seen (gaps, duplicates, bad frames)
		this.n = 0;
		this.ws = null;
		this.stopped = false;
		this.connected = null; // resolves when (re)connected
	}

	async start() {
		await this.connect();
	}

	// Looks the room up and connects, retrying until resumeMs has passed.
	async connect() {
		const deadline = Date.now() + this.resumeMs;
		let last = '';
		while (!this.stopped) {
			if (Date.now() > deadline) throw new Error(`${this.user}: no reconnect within ${this.resumeMs} ms: ${last}`);
			try {
				const res = await lookup(this.backendUrl, await tokenFor(this.stack, this.user), this.roomId);
				if (res.status !== 200 || !res.json?.host) {
					last = `lookup ${res.status} ${res.text}`;
					await sleep(50);
					continue;
				}
				await this.open(res.json.host, res.json.token);
				return;
			} catch (e) {
				last = e.message;
				await sleep(50);
			}
		}
	}

	// One connection: resolves after the welcome, rejects if it closes first.
	open(host, ticket) {
		const since = this.lastSeq ?? undefined;
		const ws = new WebSocket(wsUrl(host, ticket, { since }), ['stateroom.v1']);
		return new Promise((resolve, reject) => {
			let welcomed = false;
			ws.on('error', () => {});
			ws.on('message', (data) => {
				let f;
				try {
					f = JSON.parse(data.toString());
				} catch {
					this.errors.push(`not JSON: ${data.toString().slice(0, 100)}`);
					return;
				}
				if (f.type === 'welcome') {
					welcomed = true;
					this.ws = ws;
					this.hosts.push(host);
					const claims = JSON.parse(Buffer.from(ticket.split('.')[1], 'base64url'));
					this.epochs.push(claims.epoch);
					// Idempotency is per user: resuming as another one would
					// make the retries someone else's messages.
					if (this.sub === undefined) this.sub = claims.sub;
					else if (claims.sub !== this.sub) this.errors.push(`resumed as ${claims.sub}, not ${this.sub}`);
					if (this.lastSeq === null) {
						this.lastSeq = this.firstSeq = f.seq;
					} else {
						for (const m of f.messages) this.take(m, 'welcome');
						if (f.seq !== this.lastSeq) this.errors.push(`welcome seq ${f.seq} after messages up to ${this.lastSeq}`);
					}
					for (const [id, text] of this.outbox) ws.send(JSON.stringify({ type: 'send', id, text }));
					resolve();
				} else if (f.type === 'message') {
					this.take(f, 'live');
				} else if (f.type === 'ack') {
					const prev = this.acked.get(f.id);
					if (prev !== undefined && prev !== f.seq) this.errors.push(`id ${f.id} acked as ${prev} then ${f.seq}`);
					this.acked.set(f.id, f.seq);
					this.outbox.delete(f.id);
				} else if (f.type === 'error') {
					this.errors.push(`error frame ${JSON.stringify(f)}`);
				}
			});
			ws.on('close', (code) => {
				this.closes.push({ code, host });
				if (this.ws === ws) this.ws = null;
				if (!welcomed) {
					reject(new Error(`closed ${code} before the welcome`));
					return;
				}
				if (!this.stopped) this.connected = this.connect().catch((e) => this.errors.push(e.message));
			});
		});
	}

	take(m, how) {
		if (m.seq !== this.lastSeq + 1) {
			this.errors.push(`${how} message seq ${m.seq} after ${this.lastSeq}`);
			if (m.seq <= this.lastSeq) return;
		}
		this.received.set(m.seq, { id: m.id, user: m.user });
		this.lastSeq = m.seq;
	}

	send() {
		const id = `${this.user}-${++this.n}`;
		const text = `${this.user} says ${this.n}`;
		this.outbox.set(id, text);
		if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'send', id, text }));
		return id;
	}

	// Waits until every message sent has been acknowledged.
	async settle(timeoutMs = 20000) {
		const deadline = Date.now() + timeoutMs;
		while (this.outbox.size > 0 || !this.ws) {
			if (Date.now() > deadline) {
				throw new Error(`${this.user}: ${this.outbox.size} messages never acked (connected: ${!!this.ws})`);
			}
			await sleep(20);
		}
	}

	async stop() {
		this.stopped = true;
		await this.connected;
		const ws = this.ws;
		if (!ws) return;
		await new Promise((resolve) => {
			ws.once('close', resolve);
			ws.close(1000);
		});
	}
}

// Sends from every client every periodMs until the returned stop() is called.
export function chatter(clients, periodMs = 25) {
	const timer = setInterval(() => {
		for (const c of clients) c.send();
	}, periodMs);
	return () => clearInterval(timer);
}

// Checks the room's log in PostgreSQL against what its clients saw: seqs
// 1..n with no gap; every acked id stored once at its acked seq; every
// client received, from where it joined to the end, exactly the stored
// messages, in order, whatever servers it went through.
export async function auditRoom(stack, roomId, clients) {
	for (const c of clients) assert.deepEqual(c.errors, [], `${c.user} in ${roomId}`);
	const rows = await stack.sql(`SELECT seq, client_id, coalesce(user_name, user_id) FROM messages WHERE room_id = '${roomId}' ORDER BY seq`);
	rows.forEach(([seq], i) => assert.equal(Number(seq), i + 1, `room ${roomId}: seq ${seq} at position ${i + 1}`));
	const byId = new Map();
	for (const [seq, id, user] of rows) {
		const key = `${user}/${id}`;
		assert.ok(!byId.has(key), `room ${roomId}: ${key} stored twice`);
		byId.set(key, Number(seq));
	}
	for (const c of clients) {
		for (const [id, seq] of c.acked) {
			assert.equal(byId.get(`${c.user}/${id}`), seq, `${c.user}: ack ${id} → ${seq} not stored so`);
		}
		assert.equal(c.lastSeq, rows.length, `${c.user} saw up to ${c.lastSeq} of ${rows.length}`);
		for (let s = c.firstSeq + 1; s <= rows.length; s++) {
			const got = c.received.get(s);
			const [, id, user] = rows[s - 1];
			assert.ok(got, `${c.user} never received seq ${s}`);
			assert.equal(`${got.user}/${got.id}`, `${user}/${id}`, `${c.user}: seq ${s}`);
		}
	}
	return rows.length;
}
