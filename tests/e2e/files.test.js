// Files and images in rooms (docs/protocol.md, "Files"): a member uploads
// and another fetches; only members see a room's files; hostile uploads
// (too large, a type not allowed, content that is not what its name or type
// says, a script in the name, image and decompression bombs) are refused,
// the large ones before their body is read; quotas per user and per room.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { useStack, startStack, request, login, createRoom, lookup } from './lib/stack.js';
import { png, pngHeaderOnly, pngBomb, gifHeaderOnly, PDF, webpSize } from './lib/images.js';

const h = useStack({ sessions: 1, backends: 1 });

let n = 0;
const fresh = (prefix) => `${prefix}${process.pid % 10000}_${++n}`;

async function register(prefix, url = h.stack.backendUrl) {
	const userId = fresh(prefix);
	const res = await request(url, '/api/auth/register', {
		method: 'POST', body: { userId, password: 'correct horse battery' },
	});
	assert.equal(res.status, 200, res.text);
	return { userId, token: res.json.token };
}

async function guest(prefix, url = h.stack.backendUrl) {
	return { userId: fresh(prefix), token: await login(url, fresh(prefix)) };
}

async function room(who, url = h.stack.backendUrl) {
	const res = await createRoom(url, who.token);
	assert.equal(res.status, 200, res.text);
	return res.json.roomId;
}

// POST the bytes; name and type as given (type null: no Content-Type).
async function upload(who, roomId, name, bytes, type, url = h.stack.backendUrl) {
	const headers = { authorization: `Bearer ${who.token}` };
	if (type) headers['content-type'] = type;
	const q = name === null ? '' : `?name=${encodeURIComponent(name)}`;
	const res = await fetch(`${url}/api/rooms/${roomId}/files${q}`, { method: 'POST', headers, body: bytes });
	const text = await res.text();
	let json;
	try {
		json = JSON.parse(text);
	} catch {
		json = undefined;
	}
	return { status: res.status, headers: res.headers, text, json };
}

async function download(who, roomId, fileId, suffix = '', url = h.stack.backendUrl) {
	const res = await fetch(`${url}/api/rooms/${roomId}/files/${fileId}${suffix}`, {
		headers: { authorization: `Bearer ${who.token}` },
	});
	return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

function assertError(res, status, code) {
	assert.equal(res.status, status, res.text ?? res.body?.toString());
	const json = res.json ?? JSON.parse(res.body.toString());
	assert.equal(json?.error?.code, code, res.text);
	assert.equal(typeof json.error.message, 'string');
}

function assertSafeHeaders(res) {
	assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
	// Beside the policy every answer carries (docs/protocol.md, "HTTP API"):
	// a browser enforces both, so the file gets at most the sandbox's rights.
	const policies = (res.headers.get('content-security-policy') ?? '').split(/,\s*/);
	assert.ok(policies.includes("default-src 'none'; sandbox"), policies.join(' | '));
}

test('a member uploads an image, a text and a PDF; another member fetches each, the image with its thumbnail', async () => {
	const alice = await register('fa');
	const bob = await guest('fb');
	const roomId = await room(alice);

	const image = png(800, 600);
	const up = await upload(alice, roomId, 'holiday.png', image, 'image/png');
	assert.equal(up.status, 201, up.text);
	assert.match(up.json.fileId, /^[a-z0-9]{24}$/);
	assert.deepEqual({ ...up.json, fileId: undefined }, { fileId: undefined, name: 'holiday.png', type: 'image/png', size: image.length, thumb: true });

	const full = await download(bob, roomId, up.json.fileId);
	assert.equal(full.status, 200);
	assert.ok(full.body.equals(image), 'the same bytes come back');
	assert.equal(full.headers.get('content-type'), 'image/png');
	assert.equal(full.headers.get('content-length'), String(image.length));
	assert.match(full.headers.get('content-disposition'), /^inline; filename="holiday.png"/);
	assertSafeHeaders(full);

	const thumb = await download(bob, roomId, up.json.fileId, '/thumb');
	assert.equal(thumb.status, 200);
	assert.equal(thumb.headers.get('content-type'), 'image/webp');
	assert.match(thumb.headers.get('content-disposition'), /^inline/);
	assertSafeHeaders(thumb);
	assert.deepEqual(webpSize(thumb.body), { width: 320, height: 240 }, 'at most 320 px a side, in proportion');

	const text = Buffer.from('hello, files ✓\n');
	const t = await upload(alice, roomId, 'notes.txt', text, 'text/plain; charset=utf-8');
	assert.equal(t.status, 201, t.text);
	assert.equal(t.json.thumb, false);
	const tget = await download(bob, roomId, t.json.fileId);
	assert.equal(tget.status, 200);
	assert.ok(tget.body.equals(text));
	assert.equal(tget.headers.get('content-type'), 'text/plain; charset=utf-8');
	assert.match(tget.headers.get('content-disposition'), /^attachment; filename="notes.txt"/);
	assertSafeHeaders(tget);
	assertError(await download(bob, roomId, t.json.fileId, '/thumb'), 404, 'not_found');

	// No Content-Type (or application/octet-stream): the server tells.
	const p = await upload(alice, roomId, 'report.pdf', PDF, null);
	assert.equal(p.status, 201, p.text);
	assert.equal(p.json.type, 'application/pdf');
	const pget = await download(bob, roomId, p.json.fileId);
	assert.equal(pget.headers.get('content-type'), 'application/pdf');
	assert.match(pget.headers.get('content-disposition'), /^attachment; filename="report.pdf"/);
	assertSafeHeaders(pget);
});

test('only members fetch or upload: a third user of a DM and a guest of another room get 404, as for no file', async () => {
	const alice = await register('fc');
	const bob = await register('fd');
	const carol = await register('fe');
	const dmRes = await request(h.stack.backendUrl, '/api/dms', { method: 'POST', token: alice.token, body: { userId: bob.userId } });
	assert.equal(dmRes.status, 201, dmRes.text);
	const dm = dmRes.json.roomId;

	const up = await upload(alice, dm, 'a.txt', Buffer.from('for bob only'), 'text/plain');
	assert.equal(up.status, 201, up.text);
	assert.equal((await download(bob, dm, up.json.fileId)).status, 200);
	assertError(await download(carol, dm, up.json.fileId), 404, 'not_found');
	assertError(await download(carol, dm, up.json.fileId, '/thumb'), 404, 'not_found');
	assertError(await upload(carol, dm, 'b.txt', Buffer.from('hi'), 'text/plain'), 404, 'not_found');

	// A guest of another room asks for the file through its own room.
	const stranger = await guest('ff');
	const other = await room(stranger);
	assert.equal((await lookup(h.stack.backendUrl, stranger.token, other)).status, 200);
	assertError(await download(stranger, other, up.json.fileId), 404, 'not_found');
	assertError(await download(stranger, dm, up.json.fileId), 404, 'not_found');
	// A file id that was never made, and one of the wrong shape.
	assertError(await download(bob, dm, 'a'.repeat(24)), 404, 'not_found');
	assertError(await download(bob, dm, '..%2F..%2Fetc'), 404, 'not_found');
	// No token: 401 for both.
	assert.equal((await fetch(`${h.stack.backendUrl}/api/rooms/${dm}/files/${up.json.fileId}`)).status, 401);
	assert.equal((await fetch(`${h.stack.backendUrl}/api/rooms/${dm}/files?name=x.txt`, { method: 'POST', body: 'x' })).status, 401);
});

// Sends head (and then the body bytes) on a raw socket; resolves with the
// status line's code as soon as the server answers.
function rawUpload(head, body = Buffer.alloc(0), { keepSending = false } = {}) {
	const port = new URL(h.stack.backendUrl).port;
	return new Promise((resolve, reject) => {
		const sock = net.connect(Number(port), '127.0.0.1');
		let got = '';
		let sent = 0;
		let answered = false;
		sock.on('data', (d) => {
			got += d.toString('latin1');
			const m = /^HTTP\/1\.1 (\d{3})[^]*?\r\n\r\n([^]*)$/.exec(got);
			if (m && !answered) {
				let json;
				try {
					json = JSON.parse(m[2]);
				} catch {
					return; // the body is not all there yet
				}
				answered = true;
				sock.destroy();
				resolve({ status: Number(m[1]), json, text: got, sent });
			}
		});
		sock.on('error', (e) => (answered ? null : reject(e)));
		sock.on('connect', async () => {
			sock.write(head);
			sock.write(body);
			sent += body.length;
			const piece = Buffer.alloc(64 * 1024, 0x61);
			while (keepSending && !answered && !sock.destroyed) {
				if (!sock.write(piece)) await new Promise((r) => sock.once('drain', r));
				sent += piece.length;
				if (sent > 64 << 20) break;
			}
		});
	});
}

test('a file over --max-upload-bytes is refused with 413 before its body is read, and a chunked one as it crosses the limit', async () => {
	const alice = await register('fg');
	const roomId = await room(alice);
	const head = `POST /api/rooms/${roomId}/files?name=big.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${alice.token}\r\n`
		+ `Content-Type: text/plain\r\nContent-Length: 1000000000\r\n\r\n`;
	// Only a few bytes of the gigabyte are ever sent: the answer comes anyway.
	const res = await rawUpload(head, Buffer.from('aaaa'));
	assertError(res, 413, 'file_too_large');

	const chunkedHead = `POST /api/rooms/${roomId}/files?name=big.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${alice.token}\r\n`
		+ `Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n`;
	const chunk = (b) => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]);
	const port = new URL(h.stack.backendUrl).port;
	const chunked = await new Promise((resolve, reject) => {
		const sock = net.connect(Number(port), '127.0.0.1');
		let got = '';
		let sent = 0;
		let done = false;
		sock.on('data', (d) => {
			got += d.toString('latin1');
			if (!done && /\r\n\r\n\{.*\}\}$/s.test(got)) {
				done = true;
				sock.destroy();
				resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(got)[1]), json: JSON.parse(got.split('\r\n\r\n')[1]), sent });
			}
		});
		sock.on('error', (e) => (done ? null : reject(e)));
		sock.on('connect', async () => {
			sock.write(chunkedHead);
			const piece = chunk(Buffer.alloc(256 * 1024, 0x61));
			while (!done && !sock.destroyed && sent < 64 << 20) {
				if (!sock.write(piece)) await new Promise((r) => sock.once('drain', r));
				sent += 256 * 1024;
			}
		});
	});
	assert.equal(chunked.status, 413);
	assert.equal(chunked.json.error.code, 'file_too_large');
	assert.ok(chunked.sent < 64 << 20, 'refused before the sender gave up');
	// Nothing of it is kept: the room has no file and the spool is empty.
	const rows = await h.stack.sql(`SELECT count(*) FROM files WHERE room_id = '${roomId}'`);
	assert.match(String(rows), /0/);
});

test('types: one not on the allow-list is refused, declared or sniffed', async () => {
	const alice = await register('fh');
	const roomId = await room(alice);
	// Declared: refused before the body is read.
	assertError(await upload(alice, roomId, 'page.html', Buffer.from('<html><script>alert(1)</script></html>'), 'text/html'), 415, 'type_not_allowed');
	// Undeclared bytes that are none of the six (an ELF header, a zip).
	assertError(await upload(alice, roomId, 'tool', Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0]), 'application/octet-stream'), 415, 'type_not_allowed');
	assertError(await upload(alice, roomId, 'a.zip', Buffer.from('PK\x03\x04\x14\x00\x00\x00', 'latin1'), null), 415, 'type_not_allowed');
	// Text that is not UTF-8, or holds control bytes, is no plain text.
	assertError(await upload(alice, roomId, 'bad.txt', Buffer.from([0x68, 0xff, 0x69]), null), 415, 'type_not_allowed');
	assertError(await upload(alice, roomId, 'nul.txt', Buffer.from('a\0b'), 'text/plain'), 415, 'type_not_allowed');
});

test('content that does not match its declared type or its name is refused', async () => {
	const alice = await register('fi');
	const roomId = await room(alice);
	const image = png(10, 10);
	// PNG bytes sent as text, as a PDF, or named .txt / .pdf.
	assertError(await upload(alice, roomId, 'x.txt', image, 'text/plain'), 415, 'type_mismatch');
	assertError(await upload(alice, roomId, 'x.png', image, 'application/pdf'), 415, 'name_mismatch');
	assertError(await upload(alice, roomId, 'x.pdf', image, null), 415, 'name_mismatch');
	assertError(await upload(alice, roomId, 'x.txt', image, 'application/octet-stream'), 415, 'name_mismatch');
	// Text claiming to be an image.
	assertError(await upload(alice, roomId, 'x.png', Buffer.from('not a png'), 'image/png'), 415, 'type_mismatch');
	// A PNG signature in front of garbage is no image either.
	assertError(await upload(alice, roomId, 'x.png', Buffer.concat([image.subarray(0, 8), Buffer.from('garbage here')]), 'image/png'), 422, 'bad_image');
	// Names: required, UTF-8, not empty once cleaned, at most 255 bytes.
	assertError(await upload(alice, roomId, null, Buffer.from('x'), 'text/plain'), 400, 'invalid_name');
	assertError(await upload(alice, roomId, '../..', Buffer.from('x'), 'text/plain'), 400, 'invalid_name');
	assertError(await upload(alice, roomId, `${'a'.repeat(300)}.txt`, Buffer.from('x'), 'text/plain'), 400, 'invalid_name');
	const res = await fetch(`${h.stack.backendUrl}/api/rooms/${roomId}/files?name=%ff.txt`, {
		method: 'POST', headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'text/plain' }, body: 'x',
	});
	assert.equal(res.status, 400);
});

test('a script in a file name is kept as text and served as an attachment with nosniff and a sandboxing CSP', async () => {
	const alice = await register('fj');
	const roomId = await room(alice);
	const name = '<img src=x onerror=alert(1)>"\r\n.txt';
	const body = Buffer.from('<script>alert(document.cookie)</script>');
	const up = await upload(alice, roomId, `C:\\Users\\me/../${name}`, body, 'text/plain');
	assert.equal(up.status, 201, up.text);
	// No path, no control characters; the markup is just characters.
	assert.equal(up.json.name, '<img src=x onerror=alert(1)>".txt');
	const rows = await h.stack.sql(`SELECT name FROM files WHERE id = '${up.json.fileId}'`);
	assert.match(String(rows), /<img src=x onerror=alert\(1\)>"\.txt/);
	const got = await download(alice, roomId, up.json.fileId);
	assert.equal(got.status, 200);
	assert.equal(got.headers.get('content-type'), 'text/plain; charset=utf-8');
	assert.equal(got.headers.get('content-disposition'),
		`attachment; filename="<img src=x onerror=alert(1)>_.txt"; filename*=UTF-8''%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%22.txt`);
	assertSafeHeaders(got);
	assert.ok(got.body.equals(body));
});

test('an image bomb (a header claiming 100000 × 100000) is refused before it is decoded', async () => {
	const alice = await register('fk');
	const roomId = await room(alice);
	const bomb = pngHeaderOnly(100000, 100000);
	assert.ok(bomb.length < 200);
	assertError(await upload(alice, roomId, 'bomb.png', bomb, 'image/png'), 422, 'image_too_large');
	assertError(await upload(alice, roomId, 'bomb.gif', gifHeaderOnly(65535, 65535), 'image/gif'), 422, 'image_too_large');
	const rows = await h.stack.sql(`SELECT count(*) FROM files WHERE room_id = '${roomId}'`);
	assert.match(String(rows), /0/);
});

test('a decompression bomb (a valid PNG of 400 megapixels in a few KB) is refused', async () => {
	const alice = await register('fl');
	const roomId = await room(alice);
	const bomb = await pngBomb(20000);
	assert.ok(bomb.length < 200 * 1024, `${bomb.length} bytes`);
	assertError(await upload(alice, roomId, 'bomb.png', bomb, 'image/png'), 422, 'image_too_large');
	// The server is still there and takes a real image.
	assert.equal((await upload(alice, roomId, 'ok.png', png(64, 64), 'image/png')).status, 201);
});

test('quotas: a user over its bytes a day gets 429 upload_quota, a room over its bytes 413 room_files_full', async () => {
	const stack = await startStack({
		sessions: 1,
		backendEnv: { STATEROOM_UPLOAD_BYTES_PER_DAY: '3000', STATEROOM_ROOM_FILES_BYTES: '5000' },
	});
	try {
		const url = stack.backendUrl;
		const alice = await register('fm', url);
		const bob = await register('fn', url);
		const roomId = await room(alice, url);
		const k = Buffer.alloc(1000, 0x61);
		for (let i = 0; i < 3; i++) assert.equal((await upload(alice, roomId, `a${i}.txt`, k, 'text/plain', url)).status, 201);
		const over = await upload(alice, roomId, 'a3.txt', k, 'text/plain', url);
		assertError(over, 429, 'upload_quota');
		assert.ok(Number(over.headers.get('retry-after')) > 0);
		// Bob has his own day, but the room has room for 2000 bytes more.
		assert.equal((await upload(bob, roomId, 'b0.txt', k, 'text/plain', url)).status, 201);
		assert.equal((await upload(bob, roomId, 'b1.txt', k, 'text/plain', url)).status, 201);
		assertError(await upload(bob, roomId, 'b2.txt', k, 'text/plain', url), 413, 'room_files_full');
		// In another room Bob still may.
		const other = await room(bob, url);
		assert.equal((await upload(bob, other, 'c.txt', k, 'text/plain', url)).status, 201);
	} finally {
		await stack.stop();
	}
});
