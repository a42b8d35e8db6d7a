// An SMTP sink for the email tests: scripts/mail-sink (Debian's
// python3-aiosmtpd) on a free port, writing every message it accepts to a
// folder of its own as JSON (envelope, decoded subject and text, headers).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './stack.js';

export async function startMailSink() {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stateroom-mail-'));
	const proc = spawn('/usr/bin/python3', [path.join(ROOT, 'scripts/mail-sink'), '--port', '0', '--dir', dir],
		{ stdio: ['ignore', 'pipe', 'inherit'] });
	const port = await new Promise((resolve, reject) => {
		let out = '';
		proc.stdout.on('data', (c) => {
			out += c;
			const m = /ready (\d+)/.exec(out);
			if (m) resolve(Number(m[1]));
		});
		proc.once('exit', (code) => reject(new Error(`mail sink exited with ${code} (is python3-aiosmtpd installed? scripts/setup)`)));
	});
	return {
		url: `smtp://127.0.0.1:${port}`,
		dir,
		// 'accept', 'refuse' (451) or 'hang' (never answers the data).
		setMode(mode) { fs.writeFileSync(path.join(dir, '.mode'), mode); },
		messages() {
			return fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort()
				.map((n) => JSON.parse(fs.readFileSync(path.join(dir, n), 'utf8')));
		},
		to(address) { return this.messages().filter((m) => m.rcptTos.includes(address)); },
		async stop() {
			if (proc.exitCode === null) {
				const exited = new Promise((r) => proc.once('exit', r));
				proc.kill('SIGTERM');
				await exited;
			}
			fs.rmSync(dir, { recursive: true, force: true });
		},
	};
}

// The header's value (first of that name, any case), or undefined.
export function header(msg, name) {
	return msg.headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
}
