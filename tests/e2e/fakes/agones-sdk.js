// A fake Agones SDK sidecar (the REST side of the SDK server, Agones v1):
// POST /ready /health /shutdown, GET /gameserver, PUT /metadata/label, and
// the beta Counters and Lists API for one counter and one list. It records
// every call (method, path, headers, raw body, parsed JSON, time) and keeps
// the counter and list the way the real sidecar does (int64 travel as
// strings; adding a value already there is 409, removing one that is not is
// 404, as grpc-gateway maps AlreadyExists and NotFound).
//
// late: the sidecar starts late, when open() is called; until then every
// connection to its port is closed unanswered (the port is held meanwhile, so that no other
// process on the machine can take it and answer in the sidecar's place).
import http from 'node:http';
import net from 'node:net';
import { readCall, sendJson } from './http.js';

const COUNTER = /^\/v1beta1\/counters\/([A-Za-z0-9_-]+)$/;
const LIST = /^\/v1beta1\/lists\/([A-Za-z0-9_-]+)(?::(addValue|removeValue))?$/;

export class FakeSdk {
	constructor({ port, late = false, capacity = 10, name = 'gs-1' } = {}) {
		this.port = port;
		this.lateStart = late;
		this.name = name;
		this.calls = [];
		this.counters = new Map([['rooms', { count: 0, capacity }]]);
		this.lists = new Map([['rooms', { capacity: 1000, values: [] }]]);
		this.state = 'Scheduled';
		this.listening = false;
		this.server = http.createServer((req, res) => this.handle(req, res));
	}

	// Listens, or with late only holds the port until open().
	async start() {
		this.startedAt = Date.now();
		if (this.lateStart) {
			this.holder = net.createServer((socket) => socket.destroy());
			await new Promise((resolve, reject) => {
				this.holder.once('error', reject);
				this.holder.listen(this.port, '127.0.0.1', resolve);
			});
		} else {
			await this._listen();
		}
		return this;
	}

	// The late sidecar starts listening.
	open() {
		const holder = this.holder;
		this.holder = null;
		this.opening = new Promise((resolve) => holder.close(resolve)).then(() => this._listen());
		return this.opening;
	}

	_listen() {
		return new Promise((resolve) => this.server.listen(this.port, '127.0.0.1', () => {
			this.listening = true;
			this.listenedAt = Date.now();
			resolve();
		}));
	}

	async stop() {
		if (this.holder) await new Promise((resolve) => this.holder.close(resolve));
		await this.opening;
		this.server.closeAllConnections?.();
		await new Promise((resolve) => this.server.close(resolve));
	}

	callsTo(method, p) {
		return this.calls.filter((c) => c.method === method && c.path === p);
	}

	// Resolves once pred(calls) holds (polling), or rejects after timeoutMs.
	async waitFor(pred, what, timeoutMs = 10000) {
		const deadline = Date.now() + timeoutMs;
		while (Date.now() < deadline) {
			if (pred(this.calls)) return;
			await new Promise((r) => setTimeout(r, 25));
		}
		throw new Error(`fake SDK: ${what} did not happen within ${timeoutMs} ms; calls: ${this.calls.map((c) => `${c.method} ${c.path} ${c.raw}`).join(', ')}`);
	}

	handle(req, res) {
		readCall(req, (call) => {
			this.calls.push(call);
			if (call.method !== 'GET' && call.body === undefined) {
				sendJson(res, 400, { code: 3, message: 'invalid JSON body', details: [] });
				return;
			}
			this.route(call.method, call.path, call.body, res);
		});
	}

	route(method, p, body, res) {
		if (method === 'POST' && p === '/ready') {
			this.state = 'Ready';
			return sendJson(res, 200, {});
		}
		if (method === 'POST' && p === '/health') return sendJson(res, 200, {});
		if (method === 'POST' && p === '/shutdown') {
			this.state = 'Shutdown';
			return sendJson(res, 200, {});
		}
		if (method === 'PUT' && p === '/metadata/label') return sendJson(res, 200, {});
		if (method === 'GET' && p === '/gameserver') {
			return sendJson(res, 200, {
				object_meta: { name: this.name, namespace: 'default' },
				status: { state: this.state, address: '127.0.0.1', ports: [{ name: 'default', port: 7000 }] },
			});
		}
		let m;
		if ((m = COUNTER.exec(p))) {
			const c = this.counters.get(m[1]);
			if (!c) return sendJson(res, 404, { code: 5, message: `counter not found: ${m[1]}`, details: [] });
			if (method === 'PATCH') {
				if (body.countDiff !== undefined) {
					const next = c.count + Number(body.countDiff);
					if (!Number.isInteger(next) || next < 0 || next > c.capacity) {
						return sendJson(res, 400, { code: 11, message: 'count out of range', details: [] });
					}
					c.count = next;
				}
				if (body.capacity !== undefined) c.capacity = Number(body.capacity);
				if (body.count !== undefined) c.count = Number(body.count);
			} else if (method !== 'GET') {
				return sendJson(res, 405, { code: 12, message: 'method not allowed', details: [] });
			}
			return sendJson(res, 200, { name: m[1], count: String(c.count), capacity: String(c.capacity) });
		}
		if ((m = LIST.exec(p))) {
			const l = this.lists.get(m[1]);
			if (!l) return sendJson(res, 404, { code: 5, message: `list not found: ${m[1]}`, details: [] });
			if (method === 'POST' && m[2] === 'addValue') {
				if (l.values.includes(body.value)) return sendJson(res, 409, { code: 6, message: 'already exists', details: [] });
				if (l.values.length >= l.capacity) return sendJson(res, 400, { code: 11, message: 'list at capacity', details: [] });
				l.values.push(body.value);
			} else if (method === 'POST' && m[2] === 'removeValue') {
				const i = l.values.indexOf(body.value);
				if (i < 0) return sendJson(res, 404, { code: 5, message: 'not found', details: [] });
				l.values.splice(i, 1);
			} else if (method !== 'GET') {
				return sendJson(res, 405, { code: 12, message: 'method not allowed', details: [] });
			}
			return sendJson(res, 200, { name: m[1], capacity: String(l.capacity), values: l.values });
		}
		return sendJson(res, 404, { code: 5, message: 'Not Found', details: [] });
	}
}
