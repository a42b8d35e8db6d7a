// LISTEN on a PostgreSQL channel from a test, through psql (the tests have
// no PostgreSQL driver of their own): psql prints a notification after the
// next query it runs, so next() polls with a trivial query until one that
// matches arrives.
import { spawn } from 'node:child_process';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const LINE = /^Asynchronous notification "([^"]+)" with payload "(.*)" received from server process with PID \d+\.$/;

export class Listener {
	// Resolves once psql listens on channel in the database at url.
	static async open(url, channel) {
		const l = new Listener(url);
		await l.query(`LISTEN ${channel}`);
		return l;
	}

	constructor(url) {
		this.proc = spawn('psql', ['-X', '-q', '-tA', '-v', 'ON_ERROR_STOP=1', '-d', url],
			{ stdio: ['pipe', 'pipe', 'pipe'] });
		this.out = '';
		this.err = '';
		this.seen = []; // {channel, payload}, in arrival order
		this.taken = 0;
		this.marks = 0;
		this.sent = 0;
		this.proc.stdout.on('data', (d) => {
			this.out += d.toString();
			const lines = this.out.split('\n');
			this.out = lines.pop();
			for (const l of lines) {
				const m = LINE.exec(l);
				if (m) this.seen.push({ channel: m[1], payload: m[2] });
				else if (/^mark\d+$/.test(l)) this.marks = Number(l.slice(4));
			}
		});
		this.proc.stderr.on('data', (d) => {
			this.err += d.toString();
		});
	}

	// Runs sql and waits until psql has answered it.
	async query(sql, timeoutMs = 5000) {
		const n = ++this.sent;
		this.proc.stdin.write(`${sql};\nSELECT 'mark${n}';\n`);
		const deadline = Date.now() + timeoutMs;
		while (this.marks < n) {
			if (this.proc.exitCode !== null || Date.now() > deadline) {
				throw new Error(`psql listener: ${this.err.trim() || 'no answer'}`);
			}
			await sleep(20);
		}
	}

	// The next notification (after those already returned) whose parsed
	// payload pred accepts; the ones before it are skipped. Throws after
	// timeoutMs.
	async next(pred = () => true, timeoutMs = 5000) {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			while (this.taken < this.seen.length) {
				const payload = JSON.parse(this.seen[this.taken++].payload);
				if (pred(payload)) return payload;
			}
			if (Date.now() > deadline) throw new Error('no matching notification arrived');
			await this.query('SELECT 1');
			await sleep(20);
		}
	}

	// Everything received so far, parsed, polling once first.
	async all() {
		await this.query('SELECT 1');
		return this.seen.map((s) => JSON.parse(s.payload));
	}

	close() {
		this.proc.stdin.end();
		return new Promise((r) => (this.proc.exitCode !== null ? r() : this.proc.on('exit', r)));
	}
}
