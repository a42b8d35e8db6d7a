// The lab's checker: from every client's record (tools/chaos/workload.js),
// the session servers' --commit-log lines and the database's records, what
// held. Every acknowledged message is in its room's history exactly once, at
// its acked seq; a room's seqs are 1..N with no gap; every native client saw
// its room's messages in seq order with no gap and no duplicate (across its
// resumes), each as the history has it; nothing is in the history that no
// client sent; every acked seq was committed by a server the room was pinned
// to (commit log), in epochs that never go back along the room's seqs, one
// server per epoch, each epoch one the database granted (a look-up's ticket).
// Also per fault: sent, acked, and the time from the fault to the first
// message delivered again in each affected room.
import fs from 'node:fs';
import path from 'node:path';

// Deliveries further apart than this in a room are an outage.
const OUTAGE_MS = 1000;

function readJsonl(file) {
	const out = [];
	for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
		if (!line) continue;
		try {
			out.push(JSON.parse(line));
		} catch {
			// a line cut by a kill (commit log): not a record
		}
	}
	return out;
}

// dir: the run's folder (clients/*.jsonl, commit-*.jsonl); rows: the
// database's records [{room, seq, clientId, user, text}]; faults: [{kind,
// target, at, end, rooms}] in order; endMs: when the workload stopped.
export function check({ dir, rows, faults, endMs }) {
	const violations = [];
	const bad = (kind, detail, ms = null) => violations.push({ kind, detail, ms });

	// --- the database -------------------------------------------------
	const byRoom = new Map(); // room -> rows in seq order
	for (const r of rows) {
		if (!byRoom.has(r.room)) byRoom.set(r.room, []);
		byRoom.get(r.room).push(r);
	}
	const rowAt = new Map(); // `${room} ${seq}` -> row
	const rowById = new Map(); // client id -> row
	const compatSeen = new Map(); // `${room} ${text}` -> count
	for (const [room, list] of byRoom) {
		list.sort((a, b) => a.seq - b.seq);
		list.forEach((r, i) => {
			if (r.seq !== i + 1) bad('history gap or repeat', `room ${room}: position ${i + 1} holds seq ${r.seq}`);
			rowAt.set(`${room} ${r.seq}`, r);
			if (r.clientId) {
				if (rowById.has(r.clientId)) bad('duplicate in history', `id ${r.clientId} at seqs ${rowById.get(r.clientId).seq} and ${r.seq} of ${room}`);
				else rowById.set(r.clientId, r);
			} else {
				const k = `${room} ${r.text}`;
				compatSeen.set(k, (compatSeen.get(k) ?? 0) + 1);
			}
		});
	}

	// --- the clients ----------------------------------------------------
	const files = fs.readdirSync(path.join(dir, 'clients')).filter((f) => f.endsWith('.jsonl')).sort();
	const sentById = new Map(); // id -> {client, text, ms}
	const compatSent = new Set(); // `${room} ${text}`
	const acks = []; // {client, room, id, seq, ms, server, epoch}
	const pins = new Set(); // `${room} ${epoch} ${server}` granted by a look-up
	const delivered = new Map(); // room -> Map(seq -> first ms)
	const sends = []; // {ms, room}
	const clientUser = new Map();
	const deliver = (room, seq, ms) => {
		if (!delivered.has(room)) delivered.set(room, new Map());
		const m = delivered.get(room);
		if (!m.has(seq) || m.get(seq) > ms) m.set(seq, ms);
	};
	let natives = 0;
	let paged = 0;
	for (const f of files) {
		const recs = readJsonl(path.join(dir, 'clients', f));
		const start = recs[0];
		if (!start || start.t !== 'start') continue;
		const name = f.replace(/\.jsonl$/, '');
		const room = start.room;
		if (start.kind === 'compat') {
			for (const r of recs) {
				if (r.t === 'send') {
					compatSent.add(`${room} ${r.text}`);
					sends.push({ ms: r.ms, room });
				}
				if (r.t === 'pin') pins.add(`${room} ${r.epoch} ${r.server}`);
			}
			continue;
		}
		natives++;
		let last = null; // the last seq this client saw, null before its first welcome
		const socks = new Map(); // sock -> {server, epoch}
		const ackedSeq = new Map();
		const firstSock = new Map(); // id -> the socket it was first written on
		let me = null;
		const see = (seq, user, id, text, ms, how) => {
			const row = rowAt.get(`${room} ${seq}`);
			if (!row) bad('delivered but not in history', `${name} got seq ${seq} of ${room} (${how}) that the history lacks`, ms);
			else if ((row.clientId ?? null) !== (id ?? null) || row.user !== user || row.text !== text) {
				bad('delivered differs from history', `${name} got seq ${seq} of ${room} as ${JSON.stringify([user, id, text])}, history has ${JSON.stringify([row.user, row.clientId, row.text])}`, ms);
			}
			deliver(room, seq, ms);
		};
		for (const r of recs) {
			switch (r.t) {
			case 'pin':
				pins.add(`${room} ${r.epoch} ${r.server}`);
				break;
			case 'stop':
				// The library gave up for good: its user is locked out.
				bad('client gave up', `${name} stopped (${r.reason}, close ${r.code}) in ${room}`, r.ms);
				break;
			case 'open':
				socks.set(r.sock, { server: r.server, epoch: r.epoch });
				if (last !== null && r.since !== last) bad('resumed from the wrong place', `${name} resumed with since=${r.since} after seeing ${last}`, r.ms);
				break;
			case 'send':
				if (!firstSock.has(r.id)) firstSock.set(r.id, r.sock);
				if (!sentById.has(r.id)) {
					sentById.set(r.id, { client: name, text: r.text, ms: r.ms });
					sends.push({ ms: r.ms, room });
				}
				break;
			case 'welcome': {
				me ??= r.me;
				const seqs = r.msgs.map((m) => m[0]);
				if (last === null) {
					// The first welcome: the latest messages, ending at its seq.
					seqs.forEach((s, i) => {
						if (s !== r.seq - seqs.length + 1 + i) bad('welcome out of order', `${name}: first welcome seqs ${seqs.join(',')} at seq ${r.seq}`, r.ms);
					});
					for (const m of r.msgs) see(m[0], m[1], m[2], m[3], r.ms, 'welcome');
					last = r.seq;
					break;
				}
				if (r.seq < last) bad('welcome went back', `${name}: welcome seq ${r.seq} after it had seen ${last} in ${room}`, r.ms);
				if (r.more) paged++;
				let want = r.more ? (seqs[0] ?? last + 1) : last + 1;
				for (const m of r.msgs) {
					if (m[0] < want) bad('duplicate delivery', `${name}: welcome resent seq ${m[0]} of ${room} (had ${want - 1})`, r.ms);
					else if (m[0] > want) bad('gap', `${name}: welcome jumped from ${want - 1} to ${m[0]} in ${room}`, r.ms);
					see(m[0], m[1], m[2], m[3], r.ms, 'welcome');
					want = Math.max(want, m[0] + 1);
				}
				if (want - 1 < r.seq) bad('gap', `${name}: welcome at seq ${r.seq} held only up to ${want - 1} in ${room}`, r.ms);
				last = Math.max(last, r.seq, want - 1);
				break;
			}
			case 'rx':
				if (last === null) {
					bad('message before welcome', `${name}: seq ${r.seq}`, r.ms);
				} else if (r.seq <= last) {
					bad('duplicate delivery', `${name}: seq ${r.seq} of ${room} after ${last}`, r.ms);
				} else if (r.seq > last + 1) {
					bad('gap', `${name}: ${last} then ${r.seq} in ${room}`, r.ms);
				}
				see(r.seq, r.user, r.id, r.text, r.ms, 'live');
				if (last === null || r.seq > last) last = r.seq;
				break;
			case 'ack': {
				const s = socks.get(r.sock) ?? {};
				if (ackedSeq.has(r.id) && ackedSeq.get(r.id) !== r.seq) {
					bad('acked twice differently', `${name}: ${r.id} acked with ${ackedSeq.get(r.id)} and ${r.seq}`, r.ms);
				}
				if (!ackedSeq.has(r.id)) {
					// Sent on an earlier socket: maybe a retry, acked from the
					// history by a server that did not commit it (its writer
					// was killed between the commit and its answer).
					const retried = firstSock.get(r.id) !== undefined && firstSock.get(r.id) < r.sock;
					acks.push({ client: name, room, id: r.id, seq: r.seq, ms: r.ms, server: s.server, epoch: s.epoch, retried });
				}
				ackedSeq.set(r.id, r.seq);
				break;
			}
			default:
				break;
			}
		}
		clientUser.set(name, me);
	}

	// Every acked message is in the history exactly once, at its seq.
	let lost = 0;
	for (const a of acks) {
		const row = rowById.get(a.id);
		if (!row) {
			lost++;
			bad('acked message lost', `${a.client}: ${a.id} acked with seq ${a.seq} in ${a.room}, not in the history`, a.ms);
		} else if (row.seq !== a.seq || row.room !== a.room) {
			bad('acked at another seq', `${a.client}: ${a.id} acked with seq ${a.seq}, history has it at ${row.room} ${row.seq}`, a.ms);
		}
	}
	// Nothing in the history that no client sent.
	for (const r of rows) {
		if (r.clientId) {
			const s = sentById.get(r.clientId);
			if (!s) bad('message nobody sent', `${r.room} seq ${r.seq}: id ${r.clientId}`);
			else if (s.text !== r.text || (clientUser.get(s.client) && clientUser.get(s.client) !== r.user)) {
				bad('message altered', `${r.room} seq ${r.seq}: ${JSON.stringify(r)} but ${s.client} sent ${JSON.stringify(s.text)}`);
			}
		} else if (!compatSent.has(`${r.room} ${r.text}`)) {
			bad('message nobody sent', `${r.room} seq ${r.seq}: compat text ${JSON.stringify(r.text)}`);
		}
	}
	for (const [k, n] of compatSeen) if (n > 1) bad('duplicate in history', `compat message ${k} ${n} times`);

	// --- the commit logs --------------------------------------------------
	const committed = new Map(); // `${room} ${seq}` -> {server, epoch}
	const epochServer = new Map(); // `${room} ${epoch}` -> server
	const commitFiles = fs.readdirSync(dir).filter((f) => /^commit-.*\.jsonl$/.test(f));
	let commitLines = 0;
	for (const f of commitFiles) {
		for (const c of readJsonl(path.join(dir, f))) {
			commitLines++;
			const ek = `${c.room} ${c.epoch}`;
			if (epochServer.has(ek) && epochServer.get(ek) !== c.server) {
				bad('two servers in one epoch', `${c.room} epoch ${c.epoch}: ${epochServer.get(ek)} and ${c.server}`);
			}
			epochServer.set(ek, c.server);
			if (c.epoch > 1 && !pins.has(`${c.room} ${c.epoch} ${c.server}`)) {
				bad('write in an epoch never granted', `${c.server} committed ${c.room} ${c.from}..${c.to} at epoch ${c.epoch}, which no look-up gave it`);
			}
			for (let s = c.from; s <= c.to; s++) {
				const k = `${c.room} ${s}`;
				if (committed.has(k)) bad('committed twice', `${k}: by ${committed.get(k).server} and ${c.server}`);
				committed.set(k, { server: c.server, epoch: c.epoch });
				if (!rowAt.has(k)) bad('committed but not in history', `${c.server} committed ${k} at epoch ${c.epoch}`);
			}
		}
	}
	for (const [room, list] of byRoom) {
		let epoch = 0;
		let at = 0;
		for (const r of list) {
			const c = committed.get(`${room} ${r.seq}`);
			if (!c) continue;
			if (c.epoch < epoch) bad('write at a stale epoch', `${room}: seq ${r.seq} committed by ${c.server} at epoch ${c.epoch}, after seq ${at} at epoch ${epoch}`);
			if (c.epoch > epoch) [epoch, at] = [c.epoch, r.seq];
		}
	}
	for (const a of acks) {
		if (!a.retried && !committed.has(`${a.room} ${a.seq}`)) bad('ack without a commit', `${a.client}: ${a.id} acked with ${a.room} ${a.seq} by ${a.server}, which no server logged committing`, a.ms);
	}

	// --- per fault --------------------------------------------------------
	const perFault = faults.map((f, i) => {
		const end = i + 1 < faults.length ? faults[i + 1].at : endMs;
		const inWin = (ms) => ms !== null && ms >= f.at && ms < end;
		const recovery = {};
		let unavailable = 0;
		// An outage: deliveries in the room more than OUTAGE_MS apart (the
		// workload delivers about a dozen a second in every room). The room
		// is back at the end of the last outage that began between the
		// fault and shortly after it was healed; with none, at its first
		// delivery after the fault.
		const healed = f.healed ?? f.at;
		for (const room of f.rooms) {
			const times = [...(delivered.get(room)?.values() ?? [])].sort((a, b) => a - b);
			let prev = null;
			for (const t of times) if (t <= f.at) prev = t;
			let back = null;
			for (const t of times) {
				if (t <= f.at || t >= end) continue;
				const from = prev ?? f.at;
				back ??= t;
				if (t - from > OUTAGE_MS) {
					unavailable += (t - Math.max(from, f.at)) / 1000;
					if (from <= healed + 2000) back = t;
				}
				prev = t;
			}
			if (back === null) {
				recovery[room] = null;
				bad('room never came back', `${room} had no message delivered between ${f.kind} at ${new Date(f.at).toISOString()} and the next fault`, f.at);
				unavailable += (end - (prev ?? f.at)) / 1000;
			} else {
				recovery[room] = (back - f.at) / 1000;
			}
		}
		const mine = violations.filter((v) => inWin(v.ms));
		return {
			...f, end, recovery,
			worst: Object.values(recovery).reduce((m, v) => (v === null || m === null ? null : Math.max(m, v)), 0),
			sent: sends.filter((s) => inWin(s.ms)).length,
			acked: acks.filter((a) => inWin(a.ms)).length,
			lost: mine.filter((v) => v.kind === 'acked message lost').length,
			duplicated: mine.filter((v) => /duplicate/.test(v.kind)).length,
			outOfOrder: mine.filter((v) => /gap|out of order|went back/.test(v.kind)).length,
			unavailable,
			violations: mine.length,
		};
	});
	return {
		violations, perFault, lost,
		totals: {
			rows: rows.length, rooms: byRoom.size, acked: acks.length, sent: sentById.size + compatSent.size,
			natives, compat: files.length - natives, commitLines, paged,
		},
	};
}
