// A fake Kubernetes API server with the two Agones calls the `agones`
// scheduler makes, answering in the shapes Agones v1 publishes:
//   POST /apis/allocation.agones.dev/v1/namespaces/{ns}/gameserverallocations
//   GET  /apis/agones.dev/v1/namespaces/{ns}/gameservers/{name}
// Every request is recorded (method, path, headers, raw body and parsed
// JSON). Allocation answers come from a script (a queue); when it is empty,
// from `fallback`. Errors are Kubernetes Status objects.
import http from 'node:http';
import { readCall, sendJson } from './http.js';

// A Kubernetes Status object (metav1.Status).
export function statusObject(code, reason, message, details) {
	return {
		kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
		message, reason, ...(details ? { details } : {}), code,
	};
}

// Script steps for allocations:
//   allocated({ name, address, port, count, capacity })   201, state Allocated
//   unallocated()                                           201, state UnAllocated
//   contention()                                            201, state Contention
//   failure(code, reason, message)                          a Status object
export const allocated = (gs) => ({ kind: 'Allocated', ...gs });
export const unallocated = () => ({ kind: 'UnAllocated' });
export const contention = () => ({ kind: 'Contention' });
export const failure = (code, reason, message = reason) => ({ kind: 'Status', code, reason, message });

const ALLOC_PATH = /^\/apis\/allocation\.agones\.dev\/v1\/namespaces\/([a-z0-9.-]+)\/gameserverallocations$/;
const GS_PATH = /^\/apis\/agones\.dev\/v1\/namespaces\/([a-z0-9.-]+)\/gameservers\/([^/]+)$/;

export class FakeKubeApi {
	constructor({ token = null } = {}) {
		this.token = token;         // when set, calls without "Bearer <token>" get 401
		this.calls = [];
		this.script = [];
		this.fallback = unallocated();
		this.gameServers = new Map(); // name → { state, address, port, rooms: Set, capacity }
		this.allocations = 0;
		this.server = http.createServer((req, res) => this.handle(req, res));
	}

	async start() {
		await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
		this.url = `http://127.0.0.1:${this.server.address().port}`;
		return this;
	}

	stop() {
		this.server.closeAllConnections?.();
		return new Promise((resolve) => this.server.close(resolve));
	}

	// Queues answers for the next allocations, in order.
	answer(...steps) {
		this.script.push(...steps);
	}

	reset() {
		this.calls = [];
		this.script = [];
		this.fallback = unallocated();
	}

	// Forgets a GameServer: GET answers 404 from now on.
	deleteGameServer(name) {
		this.gameServers.delete(name);
	}

	callsTo(re) {
		return this.calls.filter((c) => re.test(c.path));
	}

	handle(req, res) {
		readCall(req, (call) => {
			this.calls.push(call);
			if (this.token && call.headers.authorization !== `Bearer ${this.token}`) {
				sendJson(res, 401, statusObject(401, 'Unauthorized', 'Unauthorized'));
				return;
			}
			let m;
			if ((m = ALLOC_PATH.exec(call.path))) {
				if (call.method !== 'POST') {
					sendJson(res, 405, statusObject(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`));
					return;
				}
				this.allocate(m[1], call, res);
				return;
			}
			if ((m = GS_PATH.exec(call.path)) && call.method === 'GET') {
				this.getGameServer(m[1], decodeURIComponent(m[2]), res);
				return;
			}
			sendJson(res, 404, statusObject(404, 'NotFound', 'the server could not find the requested resource'));
		});
	}

	allocate(ns, call, res) {
		const ct = call.headers['content-type'] ?? '';
		if (!/^application\/json\b/.test(ct)) {
			sendJson(res, 415, statusObject(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json`));
			return;
		}
		const body = call.body;
		if (!body || body.apiVersion !== 'allocation.agones.dev/v1' || body.kind !== 'GameServerAllocation' || typeof body.spec !== 'object') {
			sendJson(res, 400, statusObject(400, 'BadRequest', 'not a GameServerAllocation'));
			return;
		}
		const step = this.script.length ? this.script.shift() : this.fallback;
		if (step.kind === 'Status') {
			sendJson(res, step.code, statusObject(step.code, step.reason, step.message));
			return;
		}
		const out = {
			kind: 'GameServerAllocation',
			apiVersion: 'allocation.agones.dev/v1',
			metadata: { name: `alloc-${++this.allocations}`, namespace: ns, creationTimestamp: new Date().toISOString() },
			spec: body.spec,
			status: { state: step.kind, gameServerName: '', ports: null, address: '', addresses: null, nodeName: '', source: '' },
		};
		if (step.kind === 'Allocated') {
			let gs = this.gameServers.get(step.name);
			if (!gs) {
				gs = { state: 'Allocated', address: step.address, port: step.port, rooms: new Set(), capacity: step.capacity ?? 10, count: 0 };
				this.gameServers.set(step.name, gs);
			}
			gs.state = 'Allocated';
			const add = body.spec.lists?.rooms?.addValues ?? [];
			for (const v of add) gs.rooms.add(v);
			if (body.spec.counters?.rooms?.action === 'Increment') gs.count += body.spec.counters.rooms.amount ?? 1;
			Object.assign(out.status, {
				gameServerName: step.name,
				ports: [{ name: 'default', port: step.port }],
				address: step.address,
				addresses: [{ type: 'InternalIP', address: step.address }],
				nodeName: 'node-1',
				source: 'local',
				metadata: { labels: { 'agones.dev/fleet': body.spec.selectors?.[0]?.matchLabels?.['agones.dev/fleet'] ?? '' }, annotations: {} },
				counters: { rooms: { count: step.count ?? gs.count, capacity: gs.capacity } },
				lists: { rooms: { capacity: 1000, values: [...gs.rooms] } },
			});
		}
		sendJson(res, 201, out);
	}

	getGameServer(ns, name, res) {
		const gs = this.gameServers.get(name);
		if (!gs) {
			sendJson(res, 404, statusObject(404, 'NotFound', `gameservers.agones.dev "${name}" not found`,
				{ name, group: 'agones.dev', kind: 'gameservers' }));
			return;
		}
		sendJson(res, 200, {
			apiVersion: 'agones.dev/v1',
			kind: 'GameServer',
			metadata: { name, namespace: ns, labels: { 'agones.dev/fleet': 'fleet' } },
			spec: { ports: [{ name: 'default', portPolicy: 'Dynamic', containerPort: 9001, protocol: 'TCP' }] },
			status: {
				state: gs.state, address: gs.address, ports: [{ name: 'default', port: gs.port }], nodeName: 'node-1',
				counters: { rooms: { count: gs.count, capacity: gs.capacity } },
				lists: { rooms: { capacity: 1000, values: [...gs.rooms] } },
			},
		});
	}
}

export async function startFakeKubeApi(opts) {
	return new FakeKubeApi(opts).start();
}
