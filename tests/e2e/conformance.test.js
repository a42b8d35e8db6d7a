// WebSocket conformance (RFC 6455) of the session server, by the RFC's case
// groups, with a client on a bare socket that can send any bytes. Every
// connection speaks stateroom.v1, so an accepted text message shows as an ack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useStack, newRoom, ticketFor, rawConnect, buildFrame, closePayload, OP } from './lib/stack.js';

const h = useStack({ sessions: 1, backends: 1, sessionEnv: { SESSION_MAX_ROOMS: '100' } });

let roomId;
let counter = 0;
const open = new Set();

// A fresh connection to the shared room, past its welcome.
async function conn() {
	roomId ??= await newRoom(h.stack, 'conf');
	const { host, token } = await ticketFor(h.stack, 'conf', roomId);
	const r = await rawConnect(host, { ticket: token, protocol: 'stateroom.v1' });
	assert.equal(r.status, 101, r.text);
	assert.ok(r.client.acceptOk, 'Sec-WebSocket-Accept is wrong');
	assert.equal(r.headers['sec-websocket-protocol'], 'stateroom.v1');
	open.add(r.client);
	await r.client.nextJson('welcome');
	return r.client;
}

async function done(c) {
	open.delete(c);
	assert.equal(c.protocolError, null, c.protocolError);
	c.destroy();
}

// A native send of exactly len bytes: JSON padded with whitespace.
function sendOfLength(len, id) {
	const head = `{"type":"send","id":"${id}","text":"x"`;
	assert.ok(len >= head.length + 1);
	return `${head}${' '.repeat(len - head.length - 1)}}`;
}

async function expectAck(c, id) {
	const ack = await c.nextJson({ type: 'ack', id });
	assert.equal(typeof ack.seq, 'number');
}

// The server closes with code, then closes the TCP connection once our
// close answers its.
async function expectClose(c, code) {
	const got = await c.nextClose();
	assert.equal(got.code, code, `closed with ${got.code} "${got.reason}"`);
	await c.write(buildFrame({ opcode: OP.CLOSE, payload: closePayload(code) })).catch(() => {});
	const ended = await Promise.race([c.ended.then(() => true), new Promise((r) => setTimeout(() => r(false), 3000))]);
	assert.ok(ended, 'the server kept the TCP connection open after the close handshake');
	await done(c);
}

function newId(tag) {
	counter += 1;
	return `${tag}-${counter}`;
}

// --- 1: framing, payload lengths, data in small chops --------------------

for (const chop of [undefined, 1, 7]) {
	const how = chop ? ` in ${chop}-byte chops` : '';
	for (const len of [125, 126, 127, 65535, 65536]) {
		test(`a ${len}-byte text message${how} is accepted`, { timeout: 60000 }, async () => {
			const c = await conn();
			const id = newId(`len${len}`);
			await c.sendText(sendOfLength(len, id), { chop });
			await expectAck(c, id);
			await done(c);
		});
	}
	test(`an empty text message${how} gets an error frame and the connection stays up`, async () => {
		const c = await conn();
		await c.sendText('', { chop });
		assert.equal((await c.nextJson('error')).code, 'bad_json');
		const id = newId('after-empty');
		await c.sendText(sendOfLength(60, id));
		await expectAck(c, id);
		await done(c);
	});
}

test('a 65537-byte text message closes with 1009', async () => {
	const c = await conn();
	await c.sendText(sendOfLength(65537, newId('big')));
	await expectClose(c, 1009);
});

test('a fragmented message over 65536 bytes in total closes with 1009', async () => {
	const c = await conn();
	const text = Buffer.from(sendOfLength(65537, newId('bigfrag')));
	await c.sendFrame({ fin: false, opcode: OP.TEXT, payload: text.subarray(0, 40000) });
	await c.sendFrame({ fin: true, opcode: OP.CONT, payload: text.subarray(40000) });
	await expectClose(c, 1009);
});

test('several messages in one write are each accepted', async () => {
	const c = await conn();
	const ids = [newId('batch'), newId('batch'), newId('batch')];
	await c.write(Buffer.concat(ids.map((id) => buildFrame({ opcode: OP.TEXT, payload: sendOfLength(80, id) }))));
	for (const id of ids) await expectAck(c, id);
	await done(c);
});

// --- 2: pings and pongs ---------------------------------------------------

test('a ping is answered with a pong carrying the same payload', async () => {
	const c = await conn();
	await c.sendFrame({ opcode: OP.PING, payload: 'are you there?' });
	const pong = await c.next({ opcode: OP.PONG });
	assert.equal(pong.payload.toString(), 'are you there?');
	await done(c);
});

test('a ping with a 125-byte payload is echoed whole, in chops too', async () => {
	const c = await conn();
	const payload = Buffer.alloc(125, 0xab);
	await c.sendFrame({ opcode: OP.PING, payload }, { chop: 1 });
	assert.deepEqual((await c.next({ opcode: OP.PONG })).payload, payload);
	await done(c);
});

test('an unsolicited pong is ignored', async () => {
	const c = await conn();
	await c.sendFrame({ opcode: OP.PONG, payload: 'hi' });
	const id = newId('after-pong');
	await c.sendText(sendOfLength(60, id));
	await expectAck(c, id);
	await done(c);
});

test('a ping with a payload over 125 bytes closes with 1002', async () => {
	const c = await conn();
	await c.sendFrame({ opcode: OP.PING, payload: Buffer.alloc(126, 0x61) });
	await expectClose(c, 1002);
});

// --- 3: reserved bits -----------------------------------------------------

for (const [name, rsv] of [['RSV1', 4], ['RSV2', 2], ['RSV3', 1], ['all three reserved bits', 7]]) {
	test(`a frame with ${name} set closes with 1002`, async () => {
		const c = await conn();
		await c.sendFrame({ rsv, opcode: OP.TEXT, payload: sendOfLength(60, newId('rsv')) });
		await expectClose(c, 1002);
	});
}

// --- 4: opcodes ----------------------------------------------------------

for (const opcode of [0x3, 0xb]) {
	test(`a frame with reserved opcode 0x${opcode.toString(16)} closes with 1002`, async () => {
		const c = await conn();
		await c.sendFrame({ opcode, payload: 'x' });
		await expectClose(c, 1002);
	});
}

test('a client frame without a mask closes with 1002', async () => {
	const c = await conn();
	await c.sendFrame({ opcode: OP.TEXT, payload: sendOfLength(60, newId('unmasked')), mask: false });
	await expectClose(c, 1002);
});

// --- 5: fragmentation -----------------------------------------------------

test('a message in three fragments is accepted', async () => {
	const c = await conn();
	const id = newId('frag');
	const text = Buffer.from(sendOfLength(90, id));
	await c.sendFrame({ fin: false, opcode: OP.TEXT, payload: text.subarray(0, 30) });
	await c.sendFrame({ fin: false, opcode: OP.CONT, payload: text.subarray(30, 60) });
	await c.sendFrame({ fin: true, opcode: OP.CONT, payload: text.subarray(60) });
	await expectAck(c, id);
	await done(c);
});

test('a ping between fragments is answered and the message still completes', async () => {
	const c = await conn();
	const id = newId('frag-ping');
	const text = Buffer.from(sendOfLength(90, id));
	await c.sendFrame({ fin: false, opcode: OP.TEXT, payload: text.subarray(0, 45) });
	await c.sendFrame({ opcode: OP.PING, payload: 'mid' });
	assert.equal((await c.next({ opcode: OP.PONG })).payload.toString(), 'mid');
	await c.sendFrame({ fin: true, opcode: OP.CONT, payload: text.subarray(45) });
	await expectAck(c, id);
	await done(c);
});

test('a control frame with FIN clear closes with 1002', async () => {
	const c = await conn();
	await c.sendFrame({ fin: false, opcode: OP.PING, payload: 'frag' });
	await expectClose(c, 1002);
});

test('a continuation frame with no message started closes with 1002', async () => {
	const c = await conn();
	await c.sendFrame({ fin: true, opcode: OP.CONT, payload: sendOfLength(60, newId('cont')) });
	await expectClose(c, 1002);
});

test('a new text frame inside an unfinished fragmented message closes with 1002', async () => {
	const c = await conn();
	const text = Buffer.from(sendOfLength(90, newId('interleave')));
	await c.sendFrame({ fin: false, opcode: OP.TEXT, payload: text.subarray(0, 40) });
	await c.sendFrame({ fin: true, opcode: OP.TEXT, payload: sendOfLength(60, newId('inner')) });
	await expectClose(c, 1002);
});

// --- 6: UTF-8 -------------------------------------------------------------

function sendWithBytes(id, bytes) {
	return Buffer.concat([Buffer.from(`{"type":"send","id":"${id}","text":"a`), Buffer.from(bytes), Buffer.from('b"}')]);
}

for (const [what, bytes] of [
	['a lone continuation byte', [0x80]],
	['an overlong encoding', [0xc0, 0xaf]],
	['a UTF-16 surrogate', [0xed, 0xa0, 0x80]],
	['a code point over U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
	['a truncated sequence', [0xe2, 0x82]],
]) {
	test(`a text message with ${what} closes with 1007`, async () => {
		const c = await conn();
		await c.sendFrame({ opcode: OP.TEXT, payload: sendWithBytes(newId('utf8'), bytes) });
		await expectClose(c, 1007);
	});
}

test('invalid UTF-8 split across fragments closes with 1007', async () => {
	const c = await conn();
	// F0 9F starts a valid 4-byte sequence; the next fragment breaks it.
	const msg = sendWithBytes(newId('utf8split'), [0xf0, 0x9f, 0x28, 0x41]);
	const cut = msg.indexOf(0x9f) + 1;
	await c.sendFrame({ fin: false, opcode: OP.TEXT, payload: msg.subarray(0, cut) });
	await c.sendFrame({ fin: true, opcode: OP.CONT, payload: msg.subarray(cut) });
	await expectClose(c, 1007);
});

test('a valid multi-byte character split across fragments is accepted', async () => {
	const c = await conn();
	const id = newId('utf8ok');
	const msg = sendWithBytes(id, Buffer.from('\u{1F600}κ'));
	const cut = msg.indexOf(0xf0) + 2;
	await c.sendFrame({ fin: false, opcode: OP.TEXT, payload: msg.subarray(0, cut) });
	await c.sendFrame({ fin: true, opcode: OP.CONT, payload: msg.subarray(cut) });
	await expectAck(c, id);
	assert.equal((await c.nextJson({ type: 'message', id })).text, 'a\u{1F600}κb');
	await done(c);
});

// --- 7: closing -----------------------------------------------------------

test('a close 1000 with a reason is answered with close 1000', async () => {
	const c = await conn();
	await c.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1000, 'bye now') });
	assert.equal((await c.nextClose()).code, 1000);
	const ended = await Promise.race([c.ended.then(() => true), new Promise((r) => setTimeout(() => r(false), 3000))]);
	assert.ok(ended, 'the TCP connection stayed open');
	await done(c);
});

test('an empty close is answered with a close', async () => {
	const c = await conn();
	await c.sendFrame({ opcode: OP.CLOSE });
	const got = await c.nextClose();
	assert.ok(got.code === null || got.code === 1000, `closed with ${got.code}`);
	await done(c);
});

test('a close with an application code (4000) is answered with a close', async () => {
	const c = await conn();
	await c.sendFrame({ opcode: OP.CLOSE, payload: closePayload(4000, 'app') });
	const got = await c.nextClose();
	assert.ok(got.code === 4000 || got.code === 1000, `closed with ${got.code}`);
	await done(c);
});

for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000]) {
	test(`a close with invalid code ${code} closes with 1002`, async () => {
		const c = await conn();
		await c.sendFrame({ opcode: OP.CLOSE, payload: closePayload(code) });
		await expectClose(c, 1002);
	});
}

test('a close with a 1-byte payload closes with 1002', async () => {
	const c = await conn();
	await c.sendFrame({ opcode: OP.CLOSE, payload: Buffer.from([0x03]) });
	await expectClose(c, 1002);
});

test('a close reason over 123 bytes closes with 1002', async () => {
	const c = await conn();
	await c.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1000, 'r'.repeat(124)) });
	await expectClose(c, 1002);
});

test('a close reason that is not UTF-8 closes with 1007', async () => {
	const c = await conn();
	await c.sendFrame({ opcode: OP.CLOSE, payload: closePayload(1000, Buffer.from([0x61, 0xff, 0x62])) });
	await expectClose(c, 1007);
});

test('after all of the above the server still serves the room', async () => {
	for (const c of open) c.destroy();
	const c = await conn();
	const id = newId('final');
	await c.sendText(sendOfLength(100, id));
	await expectAck(c, id);
	await done(c);
});
