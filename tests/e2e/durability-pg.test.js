// PostgreSQL stops while clients are sending (fast shutdown, then an
// immediate one): the servers stay up, sends get `unavailable` and no ack,
// a room that is not loaded yet cannot be joined (1011), and once PostgreSQL
// is back everything works again with no restart; the table then holds
// exactly the acked messages, gapless, and every client saw each once.
// The file runs a PostgreSQL of its own so that stopping it disturbs no
// other test file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, newRoom, ticketFor, connect } from './lib/stack.js';
import { PgCluster } from './lib/pgcluster.js';
import { Member, until, dbMessages, audit } from './lib/durable.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let pg;
let stack;

before(async () => {
	pg = await PgCluster.create();
	stack = await startStack({ databaseUrl: pg.url, sessions: 1, backends: 1 });
});

after(async () => {
	try {
		await stack?.stop();
	} finally {
		await pg?.destroy();
	}
});

// Every member sends a new message every `everyMs` until stopped; returns
// a handle whose sent() lists [member, id, time] of every send.
let sends = 0; // ids stay unique across phases: a reused id would be a retry
function traffic(members, everyMs = 10) {
	const sent = [];
	const timer = setInterval(() => {
		const n = ++sends;
		for (const m of members) {
			const id = `${m.user}-${n}`;
			sent.push([m, id, Date.now()]);
			m.send(id);
		}
	}, everyMs);
	return { sent, stop: () => clearInterval(timer) };
}

async function healthz() {
	const res = await fetch(`http://${stack.sessions[0].address}/healthz`);
	return res.status;
}

async function outage(members, mode, spareTicket) {
	const t = traffic(members);
	await sleep(500);
	const acksBefore = members.reduce((n, m) => n + m.acked.size, 0);
	assert.ok(acksBefore > 0, 'messages were acked before the outage');

	await pg.stop(mode);
	const down = Date.now();
	// A room this server has not loaded cannot be loaded now.
	const other = await connect(spareTicket.host, spareTicket.token, { protocol: 'stateroom.v1' });
	await sleep(1500);
	const during = t.sent.filter(([, , at]) => at > down + 100);
	t.stop();
	assert.ok(during.length > 100, `sent during the outage: ${during.length}`);
	await until(() => during.every(([m, id]) => m.unavailable.has(id) || m.acked.has(id)), 5000,
		() => `answers to ${during.filter(([m, id]) => !m.unavailable.has(id)).length} sends`);
	const ackedDuring = during.filter(([m, id]) => m.acked.has(id));
	assert.deepEqual(ackedDuring.map(([m, id, at]) => `${m.user} ${id} seq ${m.acked.get(id)} sent ${at - down} ms after the stop`), [], `${mode}: acked while PostgreSQL was down`);
	assert.equal((await other.closed).code, 1011, 'joining an unloaded room while the database is down');
	assert.equal(stack.sessions[0].running, true, 'the session server is up');
	assert.equal(await healthz(), 200);
	for (const m of members) assert.deepEqual(m.closes, [], `${m.user} stayed connected`);

	// Back: new sends are acked again, with nothing restarted.
	await pg.start();
	const up = Date.now();
	let firstAck = 0;
	for (const m of members) m.onAck = () => { firstAck ||= Date.now(); };
	const probe = traffic(members, 50);
	await until(() => firstAck > 0, 30000, 'an ack after PostgreSQL came back');
	probe.stop();
	const recoveryMs = firstAck - up;
	// Every send that got `unavailable` is sent again (same id) until acked.
	await until(() => {
		for (const m of members) m.retryUnavailable();
		return members.every((m) => m.unavailable.size === 0 && m.pending.size === 0);
	}, 30000, () => members.map((m) => `${m.user}: ${m.unavailable.size} unavailable, ${m.pending.size} pending`).join('; '));
	return { recoveryMs, unavailable: during.length };
}

test('PostgreSQL stopping and coming back loses nothing that was acked and duplicates nothing', async (t) => {
	const roomId = await newRoom(stack, 'alice');
	const spare1 = await newRoom(stack, 'alice');
	const spare2 = await newRoom(stack, 'alice');
	const members = ['alice', 'bob', 'carol'].map((u) => new Member(stack, u, roomId));
	for (const m of members) await m.connect();

	const fast = await outage(members, 'fast', await ticketFor(stack, 'dave', spare1));
	const immediate = await outage(members, 'immediate', await ticketFor(stack, 'dave', spare2));
	t.diagnostic(`recovery after a fast stop: first ack ${fast.recoveryMs} ms after PostgreSQL started (${fast.unavailable} sends refused)`);
	t.diagnostic(`recovery after an immediate stop: first ack ${immediate.recoveryMs} ms after PostgreSQL started (${immediate.unavailable} sends refused)`);

	const rows = await dbMessages(stack, roomId);
	await until(() => members.every((m) => m.last === rows.length), 5000, 'every member saw the last message');
	for (const m of members) await m.close();
	audit(rows, members, assert);
	t.diagnostic(`${rows.length} messages in the table`);
});
