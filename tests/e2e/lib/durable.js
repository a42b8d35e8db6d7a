// A resuming native client for the durability tests: it keeps the last seq
// it saw, reconnects by itself (a new look-up, then since=<last seq>) when
// its connection drops, sends again every send that has had no answer (same
// id), and records every violation of "no gap, no duplicate" it notices.
import WebSocket from 'ws';
import { lookup } from './http.js';
import { tokenFor } from './chat.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class Member {
	constructor(stack, user, roomId) {
		this.stack = stack;
		this.user = user;
		this.roomId = roomId;
		this.last = -1;        // last seq seen; -1 before the first welcome
		this.seen = [];        // seqs of every message seen, in order (welcome and live)
		this.bodies = new Map(); // seq → {user, id, text}
		this.problems = [];    // gaps, duplicates, frames out of place
		this.pending = new Map(); // id → text: sent, no answer yet
		this.acked = new Map(); // id → seq
		this.unavailable = new Set(); // ids answered with error unavailable (and not acked since)
		this.errors = [];      // every error frame
		this.closes = [];      // close codes, in order
		this.welcomes = [];
		this.ws = null;
		this.wanted = true;    // reconnect when dropped
		this.reconnecting = null;
		this.onAck = null;
	}

	// Looks the room up (retrying while the backend cannot answer) and
	// connects with since=<last seq seen>; resolves once welcomed.
	async connect(deadlineMs = 30000) {
		const deadline = Date.now() + deadlineMs;
		let lastErr = '';
		while (Date.now() < deadline) {
			try {
				const token = await tokenFor(this.stack, this.user);
				const res = await lookup(this.stack.backendUrl, token, this.roomId);
				if (res.status !== 200 || !res.json?.host) throw new Error(`lookup ${res.status} ${res.text}`);
				await this.open(res.json.host, res.json.token);
				return;
			} catch (e) {
				lastErr = e.message;
				await sleep(100);
			}
		}
		throw new Error(`${this.user} could not connect: ${lastErr}`);
	}

	open(host, ticket) {
		const since = this.last >= 0 ? `&since=${this.last}` : '';
		const ws = new WebSocket(`ws://${host}/?token=${encodeURIComponent(ticket)}${since}`, ['stateroom.v1'],
			{ maxPayload: 64 * 1024 * 1024 });
		this.ws = ws;
		return new Promise((resolve, reject) => {
			let welcomed = false;
			ws.on('message', (data) => {
				const f = JSON.parse(data.toString());
				if (!welcomed) {
					if (f.type !== 'welcome') {
						this.problems.push(`first frame ${data.toString().slice(0, 200)}`);
						return;
					}
					welcomed = true;
					this.welcomes.push(f);
					if (f.more) this.problems.push(`welcome with more after since=${this.last}`);
					for (const m of f.messages) this.onMessage(m);
					if (f.seq !== this.last && this.last >= 0 && f.messages.length) {
						this.problems.push(`welcome seq ${f.seq} but messages end at ${this.last}`);
					}
					if (this.last < 0) this.last = f.seq;
					// Every send without an answer goes again, same id.
					for (const [id, text] of this.pending) this.rawSend(id, text);
					resolve();
					return;
				}
				this.onFrame(f);
			});
			ws.on('close', (code) => {
				this.closes.push(code);
				if (this.ws === ws) this.ws = null;
				if (!welcomed) reject(new Error(`closed ${code} before the welcome`));
				else if (this.wanted) this.reconnect();
			});
			ws.on('error', () => {});
		});
	}

	reconnect() {
		if (this.reconnecting) return;
		this.reconnecting = (async () => {
			try {
				await this.connect(60000);
			} catch (e) {
				this.problems.push(e.message);
			} finally {
				this.reconnecting = null;
			}
		})();
	}

	onMessage(m) {
		if (m.seq <= this.last) this.problems.push(`duplicate seq ${m.seq} (last ${this.last})`);
		else if (this.last >= 0 && m.seq !== this.last + 1) this.problems.push(`gap: ${this.last} then ${m.seq}`);
		if (m.seq > this.last) {
			this.last = m.seq;
			this.seen.push(m.seq);
			this.bodies.set(m.seq, { user: m.user, id: m.id, text: m.text });
		}
	}

	onFrame(f) {
		if (f.type === 'message') {
			this.onMessage(f);
		} else if (f.type === 'ack') {
			if (this.acked.has(f.id) && this.acked.get(f.id) !== f.seq) {
				this.problems.push(`id ${f.id} acked with ${this.acked.get(f.id)} and ${f.seq}`);
			}
			this.acked.set(f.id, f.seq);
			this.pending.delete(f.id);
			this.unavailable.delete(f.id);
			this.onAck?.(f);
		} else if (f.type === 'error') {
			this.errors.push(f);
			if (f.code === 'unavailable' && f.id !== undefined) {
				this.pending.delete(f.id);
				if (!this.acked.has(f.id)) this.unavailable.add(f.id);
			} else {
				this.problems.push(`error ${JSON.stringify(f)}`);
			}
		}
	}

	rawSend(id, text) {
		if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'send', id, text }));
	}

	send(id, text = `${this.user} ${id}`) {
		this.pending.set(id, text);
		this.rawSend(id, text);
	}

	// Sends every id that got `unavailable` again.
	retryUnavailable() {
		for (const id of [...this.unavailable]) {
			this.unavailable.delete(id);
			this.send(id);
		}
	}

	async close() {
		this.wanted = false;
		await this.reconnecting;
		if (!this.ws) return;
		const ws = this.ws;
		await new Promise((r) => {
			ws.once('close', r);
			ws.terminate();
		});
	}
}

// Waits until pred() is true (polling), or throws with what().
export async function until(pred, timeoutMs, what) {
	const deadline = Date.now() + timeoutMs;
	while (!pred()) {
		if (Date.now() > deadline) throw new Error(`timed out: ${typeof what === 'function' ? what() : what}`);
		await sleep(20);
	}
}

// The room's messages table as [{seq, user, id}], in seq order.
export async function dbMessages(stack, roomId) {
	const rows = await stack.sql(`SELECT seq, coalesce(user_name, user_id), coalesce(client_id, '') FROM messages WHERE room_id = '${roomId}' ORDER BY seq`);
	return rows.map(([seq, user, id]) => ({ seq: Number(seq), user, id }));
}

// The audit every durability test ends with: the table holds seqs 1..N with
// no gap; each acked id is in it exactly once, at its acked seq; every row
// was acked to its sender; every member saw 1..N exactly once, in order.
export function audit(rows, members, assert) {
	assert.deepEqual(rows.map((r) => r.seq), Array.from({ length: rows.length }, (_, i) => i + 1), 'seqs 1..N with no gap');
	const byKey = new Map();
	for (const r of rows) {
		const key = `${r.user} ${r.id}`;
		assert.ok(!byKey.has(key), `${key} is in the table twice (seqs ${byKey.get(key)} and ${r.seq})`);
		byKey.set(key, r.seq);
	}
	const ackedKeys = new Set();
	for (const m of members) {
		for (const [id, seq] of m.acked) {
			const key = `${m.user} ${id}`;
			ackedKeys.add(key);
			assert.equal(byKey.get(key), seq, `${key} acked with seq ${seq}, in the table at ${byKey.get(key)}`);
		}
	}
	for (const key of byKey.keys()) assert.ok(ackedKeys.has(key), `${key} is in the table but was never acked`);
	for (const m of members) {
		assert.deepEqual(m.problems, [], `${m.user} noticed problems`);
		assert.deepEqual(m.seen, rows.map((r) => r.seq), `${m.user} saw every message once, in order`);
		for (const r of rows) {
			const b = m.bodies.get(r.seq);
			assert.equal(`${b.user} ${b.id}`, `${r.user} ${r.id}`, `${m.user} saw seq ${r.seq} as the table has it`);
		}
	}
}
