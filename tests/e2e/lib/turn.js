// A local TURN server for the calls' tests: Debian's coturn (turnserver,
// installed by scripts/setup) on 127.0.0.1 and a free port, with a secret of
// its own, configured as scripts/run configures it. env is what the
// backend needs to give its credentials (GET /api/ice).
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './stack.js';

export async function startTurn() {
	const port = await freePort();
	const secret = crypto.randomBytes(24).toString('hex');
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stateroom-turn-'));
	const conf = path.join(dir, 'turnserver.conf');
	fs.writeFileSync(conf, [
		'listening-ip=127.0.0.1', 'relay-ip=127.0.0.1', `listening-port=${port}`,
		'use-auth-secret', `static-auth-secret=${secret}`, 'realm=stateroom', 'fingerprint',
		'no-tls', 'no-dtls', 'no-cli', 'allow-loopback-peers', 'no-multicast-peers',
		`userdb=${dir}/turndb`, `pidfile=${dir}/turnserver.pid`, 'log-file=stdout', 'simple-log', '',
	].join('\n'), { mode: 0o600 });
	const proc = spawn('turnserver', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
	const lines = [];
	for (const s of [proc.stdout, proc.stderr]) s.on('data', (d) => lines.push(...d.toString().split('\n')));
	const exited = new Promise((resolve) => proc.on('exit', resolve));
	proc.on('error', (e) => lines.push(`spawn: ${e.message}`));
	// Ready once its TCP listener answers.
	for (let i = 0; ; i++) {
		const ok = await new Promise((resolve) => {
			const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
			s.on('error', () => resolve(false));
		});
		if (ok) break;
		if (i >= 100 || proc.exitCode !== null) {
			proc.kill('SIGKILL');
			throw new Error(`turnserver did not start:\n${lines.slice(-20).join('\n')}`);
		}
		await new Promise((r) => setTimeout(r, 100));
	}
	return {
		port, secret, lines,
		env: {
			STATEROOM_TURN_URLS: `turn:127.0.0.1:${port}?transport=udp,turn:127.0.0.1:${port}?transport=tcp`,
			STATEROOM_TURN_SECRET: secret,
		},
		async stop() {
			if (proc.exitCode === null) proc.kill('SIGTERM');
			const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
			await exited;
			clearTimeout(timer);
			fs.rmSync(dir, { recursive: true, force: true });
		},
	};
}
