// A client that stops reading in a busy room: once more than
// --max-send-buffer bytes wait for it, the server drops it (close 1008 "too
// slow", logged) while the other members receive every message, and the
// server's memory does not grow with what the slow client did not read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { useStack, newRoom, ticketFor, join, rawConnect, closeAll, request } from './lib/stack.js';

const MAX_SEND = 256 * 1024;
const TEXT = 'x'.repeat(4000);

const TOTAL = 3000;

// A small ring, so that the messages a room keeps do not show in its RSS;
// under ASan, no quarantine, which would keep every freed frame resident.
const sessionEnv = { SESSION_MAX_SEND_BUFFER: String(MAX_SEND), SESSION_RING_SIZE: '50' };
if (process.env.ASAN_OPTIONS !== undefined) {
	sessionEnv.ASAN_OPTIONS = `${process.env.ASAN_OPTIONS}:quarantine_size_mb=0:thread_local_quarantine_size_kb=0`;
}
const h = useStack({ sessionEnv });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function rssKb(pid) {
	const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
	return Number(m[1]);
}

async function closes(stack, code) {
	const res = await request(`http://${stack.sessions[0].address}`, '/metrics');
	const m = new RegExp(`^stateroom_session_closes_total\\{code="${code}"\\} (\\d+)$`, 'm').exec(res.text);
	return m ? Number(m[1]) : 0;
}

test('a member that stops reading is closed with 1008 past the bound; the others get every message', { timeout: 120000 }, async (t) => {
	const roomId = await newRoom(h.stack, 'sender');
	const [sender] = await join(h.stack, 'sender', roomId);
	const [reader] = await join(h.stack, 'reader', roomId);

	// The slow member: a bare socket that reads its welcome, then nothing.
	const { host, token } = await ticketFor(h.stack, 'slow', roomId);
	const r = await rawConnect(host, { ticket: token, protocol: 'stateroom.v1' });
	assert.equal(r.status, 101, r.text);
	const slow = r.client;
	await slow.nextJson('welcome');
	slow.sock.pause();
	let slowEnded = false;
	slow.ended.then(() => {
		slowEnded = true;
	});

	const pid = h.stack.sessions[0].pid;
	const rssBefore = rssKb(pid);
	const logMark = h.stack.sessions[0].lines.length + h.stack.sessions[0].dropped;

	// 4 KB messages, 20 in flight at a time, until the slow member is
	// dropped, then on to TOTAL (12 MB in all).
	let sent = 0;
	let rssMax = rssBefore;
	const send = async (n) => {
		for (let i = 0; i < n; i += 20) {
			const ids = [];
			for (let k = 0; k < 20; k++) {
				const id = `m${++sent}`;
				ids.push(id);
				sender.send({ type: 'send', id, text: TEXT });
			}
			for (const id of ids) await sender.next({ type: 'ack', id }, 10000);
			rssMax = Math.max(rssMax, rssKb(pid));
		}
	};
	const deadline = Date.now() + 60000;
	while ((await closes(h.stack, 1008)) === 0) {
		assert.ok(Date.now() < deadline, `the slow member was not dropped after ${sent} messages`);
		await send(100);
	}
	const droppedAfter = sent;
	await send(Math.max(TOTAL - sent, 100));

	// Every message reached the reader, in order, and the sender too.
	for (const c of [reader, sender]) {
		const seqs = [];
		while (seqs.length < sent) seqs.push((await c.next('message', 10000)).seq);
		assert.deepEqual(seqs, Array.from({ length: sent }, (_, i) => i + 1));
	}
	assert.equal(reader.closeInfo, null);
	assert.equal(sender.closeInfo, null);

	// Logged, and the socket is gone: once read again it ends.
	await sleep(500);
	const log = h.stack.sessions[0].logSince(logMark);
	assert.match(log, /"msg":"slow consumer closed"/);
	slow.sock.resume();
	const deadlineEnd = Date.now() + 10000;
	while (!slowEnded && Date.now() < deadlineEnd) await sleep(50);
	assert.ok(slowEnded, 'the slow member\'s socket was not closed');

	// What the server held for it was bounded by the limit, not by what it
	// was sent (the kernel's socket buffers aside, which RSS does not count):
	// sent x 4 KB, 12 MB, would show here otherwise.
	const grew = (rssMax - rssBefore) * 1024;
	t.diagnostic(`dropped after ${droppedAfter} messages; ${sent} sent; server RSS grew by ${grew} bytes at most`);
	assert.ok(grew < 4 * MAX_SEND + 2 * 1024 * 1024, `RSS grew by ${grew} bytes while ${sent} messages of 4 KB were sent`);
	assert.ok(droppedAfter * 4000 > MAX_SEND, 'dropped before the bound was reached');
	await closeAll([sender, reader]);
});
