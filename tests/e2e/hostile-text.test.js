// Hostile message texts: stored in PostgreSQL and returned byte for byte
// (live, after a restart from the database, and in history), or refused with
// a clear error frame while the connection stays up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, newRoom, join, sendAcked, closeAll } from './lib/stack.js';

const h = useStack({ sessions: 1, backends: 1, sessionEnv: { SESSION_MAX_ROOMS: '50' } });

const EMOJI = '\u{1F600}'; // 4 bytes in UTF-8

const kept = [
	['an SQL fragment', "'); DROP TABLE messages; -- $1 \\x27 %s"],
	['quotes, backslashes and JSON syntax', '"}],{"type":"ack","seq":1} \\" \\\\ \\u0000'],
	['control characters', 'tab\there\nnew line\r\u0001\u0007\b\f\u001f\u007f end'],
	['right-to-left marks and overrides', '\u200Fשלום\u202Eabc\u202C\u2066x\u2069 \u061C'],
	['line and paragraph separators', 'a\u2028b\u2029c'],
	['1000 emoji (exactly 4000 bytes)', EMOJI.repeat(1000)],
	['combining marks and a zero-width joiner', 'e\u0301\u0301\u0301 \u{1F468}\u200D\u{1F469}\u200D\u{1F467}'],
];

function hex(s) {
	return Buffer.from(s, 'utf8').toString('hex');
}

test('hostile texts are stored and returned byte for byte, live, from the database and in history', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const [alice] = await join(h.stack, 'alice', roomId);
	const [bob] = await join(h.stack, 'bob', roomId);
	const ids = [];
	for (const [what, text] of kept) {
		const id = `k${ids.length + 1}`;
		ids.push(id);
		const seq = await sendAcked(alice, id, text);
		const live = await bob.next({ type: 'message', id });
		assert.equal(live.seq, seq);
		assert.equal(live.text, text, `${what}: live`);
	}
	const rows = await h.stack.sql(`SELECT client_id, encode(convert_to(body, 'UTF8'), 'hex') FROM messages WHERE room_id = '${roomId}' ORDER BY seq`);
	assert.deepEqual(rows, kept.map(([, text], i) => [ids[i], hex(text)]), 'the bytes in PostgreSQL');
	await closeAll([alice, bob]);

	// From the database: a restarted server hydrates the room.
	await h.stack.sessions[0].stop('SIGTERM');
	await h.stack.sessions[0].start();
	await h.stack.waitRegistered();
	const [carol, welcome] = await join(h.stack, 'carol', roomId);
	assert.deepEqual(welcome.messages.map((m) => m.text), kept.map(([, t]) => t), 'welcome after a restart');
	carol.send({ type: 'history', before: 1000, limit: 100 });
	assert.deepEqual((await carol.next('history')).messages.map((m) => m.text), kept.map(([, t]) => t), 'history');
	const [dave] = await join(h.stack, 'dave', roomId, { protocol: null });
	const snap = await dave.next((f) => Array.isArray(f?.messages));
	assert.deepEqual(snap.messages.map((m) => m.msg), kept.map(([, t]) => t), 'compat snapshot');
	await closeAll([carol, dave]);
});

const refused = [
	['a NUL character', `before\u0000after`, 'bad_frame'],
	['10 000 emoji (40 000 bytes)', EMOJI.repeat(10000), 'too_long'],
	['1001 emoji (4004 bytes)', EMOJI.repeat(1001), 'too_long'],
];

for (const [what, text, code] of refused) {
	test(`a text with ${what} gets ${code}, nothing is stored, and the connection stays up`, async () => {
		const roomId = await newRoom(h.stack, 'alice');
		const [alice] = await join(h.stack, 'alice', roomId);
		const [bob] = await join(h.stack, 'bob', roomId);
		alice.send({ type: 'send', id: 'bad', text });
		const err = await alice.next('error');
		assert.equal(err.code, code);
		assert.equal(err.id, 'bad');
		assert.equal(typeof err.message, 'string');
		await bob.none('message', 200);
		assert.equal(await sendAcked(alice, 'good', 'still here'), 1);
		const [[n]] = await h.stack.sql(`SELECT count(*) FROM messages WHERE room_id = '${roomId}'`);
		assert.equal(Number(n), 1);
		await closeAll([alice, bob]);
	});
}

test('a lone surrogate escape in JSON gets bad_json and the connection stays up', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const [alice] = await join(h.stack, 'alice', roomId);
	alice.send('{"type":"send","id":"s1","text":"half \\ud800 a pair"}');
	assert.equal((await alice.next('error')).code, 'bad_json');
	assert.equal(await sendAcked(alice, 's2', 'fine'), 1);
	await closeAll([alice]);
});

test('a hostile client id is kept as it is and still recognises a retry', async () => {
	const roomId = await newRoom(h.stack, 'alice');
	const [alice] = await join(h.stack, 'alice', roomId);
	const id = "'; DELETE FROM messages; --\u202E";
	const seq = await sendAcked(alice, id, 'x');
	assert.equal(await sendAcked(alice, id, 'x'), seq);
	const rows = await h.stack.sql(`SELECT encode(convert_to(client_id, 'UTF8'), 'hex') FROM messages WHERE room_id = '${roomId}'`);
	assert.deepEqual(rows, [[hex(id)]]);
	await closeAll([alice]);
});
