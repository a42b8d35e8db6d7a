// What both fakes do with HTTP: record a request whole (method, path, headers,
// raw body and its JSON, or undefined when it is not JSON), and answer JSON.

export function readCall(req, cb) {
	const chunks = [];
	req.on('data', (d) => chunks.push(d));
	req.on('end', () => {
		const raw = Buffer.concat(chunks).toString('utf8');
		let body;
		try {
			body = raw ? JSON.parse(raw) : undefined;
		} catch {
			body = undefined;
		}
		const path = new URL(req.url, 'http://x').pathname;
		cb({ method: req.method, path, headers: req.headers, raw, body, at: Date.now() });
	});
}

export function sendJson(res, code, body) {
	const text = JSON.stringify(body);
	res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
	res.end(text);
}
