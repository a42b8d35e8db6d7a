// A fake push service: the receiving side of RFC 8030 (POST to a
// subscription's endpoint, 201 Created), checking what a real one checks,
// and the browser's side of RFC 8291 (it made the subscription's keys as a
// browser does and decrypts every payload with them).
//
// Every request is checked: the VAPID Authorization (RFC 8292: an ES256 JWT
// whose aud is this origin, exp within 24 hours, sub mailto: or https:,
// signed by the key in k= and that key the server's), Content-Encoding
// aes128gcm, TTL. A request that fails a check is answered 400/401/403 as a
// push service would, and kept in .errors (a test asserts it is empty).
//
// Each subscription has a mode: 'ok' (201), 'gone' (410), 'hang' (never
// answers), 'busy' (429 with Retry-After: 1, then 'ok'), 'fail' (500).
import crypto from 'node:crypto';
import http from 'node:http';

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const unb64u = (s) => Buffer.from(s, 'base64url');

// An ECDSA P-256 key pair in the form the backend takes (--vapid-*-key):
// the uncompressed point and the scalar, base64url.
export function vapidKeys() {
	const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
	const jwk = privateKey.export({ format: 'jwk' });
	const point = Buffer.concat([Buffer.from([4]), unb64u(jwk.x), unb64u(jwk.y)]);
	return { publicKey: b64u(point), privateKey: jwk.d, keyObject: publicKey };
}

function pointToKey(point) {
	if (point.length !== 65 || point[0] !== 4) throw new Error('not an uncompressed P-256 point');
	return crypto.createPublicKey({
		key: { kty: 'EC', crv: 'P-256', x: b64u(point.subarray(1, 33)), y: b64u(point.subarray(33)) },
		format: 'jwk',
	});
}

// RFC 8291 section 3.4, the user agent's side, and RFC 8188's one record.
export function decrypt(body, sub) {
	const salt = body.subarray(0, 16);
	const rs = body.readUInt32BE(16);
	const idlen = body[20];
	const asPublic = body.subarray(21, 21 + idlen);
	const ct = body.subarray(21 + idlen);
	if (idlen !== 65 || rs < 18 || ct.length > rs || ct.length < 17) throw new Error(`bad aes128gcm header (rs ${rs}, idlen ${idlen}, ${ct.length} bytes)`);
	const ecdh = sub.ecdh.computeSecret(asPublic);
	const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), sub.publicKey, asPublic]);
	const ikm = Buffer.from(crypto.hkdfSync('sha256', ecdh, sub.auth, keyInfo, 32));
	const cek = Buffer.from(crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
	const nonce = Buffer.from(crypto.hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
	const d = crypto.createDecipheriv('aes-128-gcm', cek, nonce);
	d.setAuthTag(ct.subarray(ct.length - 16));
	const plain = Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]);
	let end = plain.length - 1;
	while (end >= 0 && plain[end] === 0) end--;
	if (end < 0 || plain[end] !== 2) throw new Error('no last-record delimiter');
	return plain.subarray(0, end).toString('utf8');
}

export class PushService {
	constructor(serverKey) {
		this.serverKey = serverKey; // the backend's VAPID public key, base64url
		this.subs = new Map(); // id → {id, ecdh, publicKey, auth, mode, user}
		this.got = []; // accepted: {sub, user, headers, payload, at}
		this.errors = []; // requests that failed a check
		this.requests = 0; // every request that came
		this.open = 0; // requests not answered yet
		this.maxOpen = 0;
		this.hanging = [];
		this.n = 0;
	}

	async start() {
		this.server = http.createServer((req, res) => this.handle(req, res));
		await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
		this.origin = `http://127.0.0.1:${this.server.address().port}`;
		return this;
	}

	async stop() {
		for (const res of this.hanging) res.destroy();
		this.server.closeAllConnections();
		await new Promise((resolve) => this.server.close(resolve));
	}

	// A browser's PushManager.subscribe(): a new key pair and auth secret;
	// what PushSubscription.toJSON() gives (POST /api/me/push takes it).
	subscribe(user, mode = 'ok') {
		const id = `s${++this.n}`;
		const ecdh = crypto.createECDH('prime256v1');
		ecdh.generateKeys();
		const sub = { id, user, mode, ecdh, publicKey: ecdh.getPublicKey(), auth: crypto.randomBytes(16) };
		this.subs.set(id, sub);
		return { endpoint: `${this.origin}/push/${id}`, expirationTime: null, keys: { p256dh: b64u(sub.publicKey), auth: b64u(sub.auth) } };
	}

	// The decrypted payloads user got, in order of arrival.
	payloads(user) {
		return this.got.filter((g) => g.user === user).map((g) => g.payload);
	}

	fail(res, status, why, req) {
		this.errors.push(`${req.method} ${req.url}: ${why}`);
		res.writeHead(status).end(why);
	}

	checkVapid(req) {
		const m = /^vapid t=([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+), k=([A-Za-z0-9_-]+)$/.exec(req.headers.authorization || '');
		if (!m) return 'no vapid Authorization';
		if (m[4] !== this.serverKey) return 'k= is not the server key';
		const header = JSON.parse(unb64u(m[1]).toString());
		if (header.alg !== 'ES256' || header.typ !== 'JWT') return `JWT header ${JSON.stringify(header)}`;
		const ok = crypto.verify('sha256', Buffer.from(`${m[1]}.${m[2]}`), { key: pointToKey(unb64u(m[4])), dsaEncoding: 'ieee-p1363' }, unb64u(m[3]));
		if (!ok) return 'JWT signature does not verify';
		const claims = JSON.parse(unb64u(m[2]).toString());
		const now = Date.now() / 1000;
		if (claims.aud !== this.origin) return `aud ${claims.aud}`;
		if (!(claims.exp > now && claims.exp <= now + 86400)) return `exp ${claims.exp}`;
		if (!/^(mailto:|https:)/.test(claims.sub || '')) return `sub ${claims.sub}`;
		return null;
	}

	handle(req, res) {
		const chunks = [];
		this.requests++;
		this.open++;
		this.maxOpen = Math.max(this.maxOpen, this.open);
		res.on('close', () => { this.open--; });
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => {
			const m = /^\/push\/(s\d+)$/.exec(req.url);
			const sub = m && this.subs.get(m[1]);
			if (req.method !== 'POST' || !sub) return this.fail(res, 404, 'no such subscription', req);
			const bad = this.checkVapid(req);
			if (bad) return this.fail(res, bad.startsWith('k=') ? 403 : 401, bad, req);
			if (req.headers['content-encoding'] !== 'aes128gcm') return this.fail(res, 415, `Content-Encoding ${req.headers['content-encoding']}`, req);
			if (!/^\d+$/.test(req.headers.ttl || '')) return this.fail(res, 400, 'no TTL', req);
			const body = Buffer.concat(chunks);
			if (body.length > 4096) return this.fail(res, 413, `${body.length} bytes`, req);
			let payload;
			try {
				payload = JSON.parse(decrypt(body, sub));
			} catch (e) {
				return this.fail(res, 400, `cannot decrypt: ${e.message}`, req);
			}
			if (sub.mode === 'hang') {
				this.hanging.push(res);
				return undefined;
			}
			if (sub.mode === 'gone') return res.writeHead(410).end();
			if (sub.mode === 'fail') return res.writeHead(500).end();
			if (sub.mode === 'busy') {
				sub.mode = 'ok';
				return res.writeHead(429, { 'Retry-After': '1' }).end();
			}
			this.got.push({ sub: sub.id, user: sub.user, headers: req.headers, payload, at: Date.now() });
			res.writeHead(201, { Location: `${this.origin}/message/${this.got.length}` }).end();
			return undefined;
		});
	}
}
