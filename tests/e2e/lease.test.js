// A session server cut off from PostgreSQL but not from its clients (found
// by the failover lab, scripts/chaos, fault partition-pg): its queries hang
// without an error, so its clients, which still hear from it, would wait
// for as long as the cut lasts while the backends take it for dead after
// --dead-after-ms. Past --lease-ms without a heartbeat it must let its
// clients go (1012), so that they look the room up again, resume on a live
// server, and have their unacknowledged sends acked there, once each.
// The cut is played by freezing (SIGSTOP) the PostgreSQL processes that
// serve that one server's connection: the network's silent drop, on loopback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, newRoom, lookup, tokenFor } from './lib/stack.js';
import { Member, until, dbMessages, audit } from './lib/durable.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const h = useStack({ sessions: 2, backends: 1, sessionEnvs: [{ PGAPPNAME: 'lease-s0' }, { PGAPPNAME: 'lease-s1' }] });

test('a session server cut off from PostgreSQL lets its clients go, and they resume on the other one with nothing lost', { timeout: 90000 }, async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const res = await lookup(h.stack.backendUrl, await tokenFor(h.stack, 'alice'), roomId);
	const victim = h.stack.sessions.findIndex((s) => s.address === res.json.host);
	assert.ok(victim >= 0, `room on ${res.json.host}`);
	const members = ['alice', 'bob'].map((u) => new Member(h.stack, u, roomId));
	for (const m of members) await m.connect();
	let n = 0;
	const send = () => {
		n++;
		for (const m of members) m.send(`${m.user}-${n}`);
	};
	for (let i = 0; i < 5; i++) send();
	await until(() => members.every((m) => m.pending.size === 0), 10000, 'acks before the cut');

	const pids = (await h.stack.sql(`SELECT pid FROM pg_stat_activity WHERE application_name = 'lease-s${victim}'`)).map((r) => Number(r[0]));
	assert.ok(pids.length > 0, 'the server\'s PostgreSQL connection');
	for (const pid of pids) process.kill(pid, 'SIGSTOP');
	try {
		const timer = setInterval(send, 100);
		try {
			// Everything sent gets acked: by another server, since this one cannot write.
			await sleep(500);
			await until(() => members.every((m) => m.closes.length > 0), 30000,
				() => `closes ${members.map((m) => `${m.user}: ${m.closes}`).join('; ')}`);
		} finally {
			clearInterval(timer);
		}
		await until(() => members.every((m) => m.pending.size === 0 && m.unavailable.size === 0), 30000,
			() => members.map((m) => `${m.user}: ${m.pending.size} pending`).join('; '));
		for (const m of members) assert.equal(m.closes[0], 1012, `${m.user} was let go with 1012, not ${m.closes[0]}`);
		const now = await lookup(h.stack.backendUrl, await tokenFor(h.stack, 'alice'), roomId);
		assert.notEqual(now.json.host, res.json.host, 'the room moved');
	} finally {
		for (const pid of pids) process.kill(pid, 'SIGCONT');
	}
	// The cut server's write, stuck until now, is fenced: nothing twice.
	await sleep(1000);
	const rows = await dbMessages(h.stack, roomId);
	await until(() => members.every((m) => m.last === rows.length), 5000, 'every member saw the last message');
	for (const m of members) await m.close();
	audit(rows, members, assert);
});
