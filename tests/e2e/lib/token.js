// JWT HS256 with node's crypto, independent of our C code, so tests can
// forge, expire and misdirect tokens.
import crypto from 'node:crypto';

export function b64url(data) {
	return Buffer.from(data).toString('base64url');
}

// Signs claims with secret (the STATEROOM_SECRET string's bytes are the key).
// header can be replaced to try other algorithms.
export function mintToken(secret, claims, { header = { alg: 'HS256', typ: 'JWT' } } = {}) {
	const head = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
	const sig = crypto.createHmac('sha256', secret).update(head).digest('base64url');
	return `${head}.${sig}`;
}

// Signs a payload given as JSON text, for claims JSON.stringify cannot
// write (a key given twice).
export function mintRawToken(secret, payload) {
	const head = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(payload)}`;
	const sig = crypto.createHmac('sha256', secret).update(head).digest('base64url');
	return `${head}.${sig}`;
}

// The header and claims of a token, without checking anything.
export function decodeToken(token) {
	const [h, c] = token.split('.');
	return {
		header: JSON.parse(Buffer.from(h, 'base64url').toString()),
		claims: JSON.parse(Buffer.from(c, 'base64url').toString()),
	};
}

export function nowSeconds() {
	return Math.floor(Date.now() / 1000);
}

// A fresh random jti like the backend's: 16 bytes base64url.
export function newJti() {
	return crypto.randomBytes(16).toString('base64url');
}
