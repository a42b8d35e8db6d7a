// A PostgreSQL cluster of a test file's own (scripts/pg on a free port, its
// own data folder), so that the file can stop and start it without touching
// the cluster the other test files share.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT, freePort } from './stack.js';

const run = promisify(execFile);
const PG = path.join(ROOT, 'scripts/pg');

function pgBin() {
	const dirs = fs.readdirSync('/usr/lib/postgresql').sort((a, b) => Number(a) - Number(b));
	return `/usr/lib/postgresql/${dirs.at(-1)}/bin`;
}

export class PgCluster {
	constructor(port) {
		this.port = port;
		// scripts/pg does nothing when DATABASE_URL points elsewhere.
		this.env = { ...process.env, STATEROOM_PG_PORT: String(port) };
		delete this.env.DATABASE_URL;
		this.url = `postgresql://postgres@127.0.0.1:${port}/postgres`;
		this.dataDir = null;
	}

	static async create() {
		const c = new PgCluster(await freePort());
		await c.start();
		const { stdout } = await run(PG, ['status'], { env: c.env });
		c.dataDir = /\((.*)\)/.exec(stdout)[1];
		return c;
	}

	async start() {
		await run(PG, ['start'], { env: this.env });
	}

	// mode: fast (sessions are told and rolled back) or immediate (the
	// processes just go; crash recovery on the next start).
	async stop(mode = 'fast') {
		const args = [path.join(pgBin(), 'pg_ctl'), '-D', this.dataDir, '-m', mode, '-w', 'stop'];
		if (process.getuid() === 0) await run('runuser', ['-u', 'postgres', '--', ...args], { cwd: '/' });
		else await run(args[0], args.slice(1));
	}

	// Stops it (if it runs) and deletes its data.
	async destroy() {
		if (!this.dataDir) return;
		await this.stop('immediate').catch(() => {});
		fs.rmSync(this.dataDir, { recursive: true, force: true });
		this.dataDir = null;
	}
}
