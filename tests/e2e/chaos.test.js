// The failover lab (scripts/chaos, issue 14): its short deterministic run
// (a session server killed, then one paused past the heartbeat timeout,
// under a workload of native and compat clients) must end with no checker
// violation and leave nothing behind; and the checker itself must see each
// kind of violation it is there to see.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './lib/stack.js';
import { check } from '../../tools/chaos/check.js';

const isRoot = process.getuid?.() === 0;

// A run's folder with these client records and commit-log lines.
function fakeRun(clients, commits) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaos-check-'));
	fs.mkdirSync(path.join(dir, 'clients'));
	for (const [name, recs] of Object.entries(clients)) {
		fs.writeFileSync(path.join(dir, 'clients', `${name}.jsonl`), recs.map((r) => JSON.stringify(r)).join('\n'));
	}
	fs.writeFileSync(path.join(dir, 'commit-ss1.jsonl'), commits.map((c) => JSON.stringify(c)).join('\n'));
	return dir;
}

const row = (seq, id, text = `t${id}`) => ({ room: 'r', seq, clientId: id, user: 'u', text });
const start = { t: 'start', kind: 'native', room: 'r', ms: 1 };
const open = (sock, since, epoch = 1, server = 'ss1') => ({ t: 'open', sock, since, server, epoch, ms: 2 });
const welcome = (sock, seq, msgs = []) => ({ t: 'welcome', sock, me: 'u', seq, msgs, ms: 3 });
const send = (id) => ({ t: 'send', id, text: `t${id}`, ms: 4 });
const rx = (sock, seq, id) => ({ t: 'rx', sock, seq, user: 'u', id, text: `t${id}`, ms: 5 });
const ack = (sock, id, seq) => ({ t: 'ack', sock, id, seq, ms: 6 });
const kinds = (res) => res.violations.map((v) => v.kind).sort();

test('the checker passes a clean run and reports lost acks, gaps, duplicates, strangers and stale epochs', () => {
	const clean = fakeRun({
		a: [start, open(1, null), welcome(1, 0), send('a1'), ack(1, 'a1', 1), rx(1, 1, 'a1'), send('a2'), ack(1, 'a2', 2), rx(1, 2, 'a2')],
	}, [{ room: 'r', server: 'ss1', epoch: 1, from: 1, to: 2 }]);
	assert.deepEqual(check({ dir: clean, rows: [row(1, 'a1'), row(2, 'a2')], faults: [], endMs: 10 }).violations, []);

	// a2 acked but missing from the history; the client saw 1 then 3, then 3 again.
	const lossy = fakeRun({
		a: [start, open(1, null), welcome(1, 0), send('a1'), send('a2'), send('a3'), ack(1, 'a1', 1), ack(1, 'a2', 2),
			rx(1, 1, 'a1'), rx(1, 3, 'a3'), rx(1, 3, 'a3')],
	}, [{ room: 'r', server: 'ss1', epoch: 1, from: 1, to: 1 }, { room: 'r', server: 'ss1', epoch: 1, from: 3, to: 3 }]);
	assert.deepEqual(kinds(check({ dir: lossy, rows: [row(1, 'a1'), row(3, 'a3')], faults: [], endMs: 10 })),
		['ack without a commit', 'acked message lost', 'duplicate delivery', 'gap', 'history gap or repeat']);

	// A message nobody sent, one stored twice, and a write at epoch 1 after epoch 2's.
	const stale = fakeRun({
		a: [start, open(1, null), welcome(1, 0), send('a1'), ack(1, 'a1', 1), { t: 'pin', server: 'ss2', epoch: 2, ms: 7 }],
	}, [
		{ room: 'r', server: 'ss1', epoch: 1, from: 1, to: 1 },
		{ room: 'r', server: 'ss2', epoch: 2, from: 2, to: 2 },
		{ room: 'r', server: 'ss1', epoch: 1, from: 3, to: 3 },
		{ room: 'r', server: 'ss3', epoch: 3, from: 4, to: 4 },
	]);
	assert.deepEqual(kinds(check({ dir: stale, rows: [row(1, 'a1'), row(2, 'zz'), row(3, 'a1'), row(4, 'a1')], faults: [], endMs: 10 })),
		['duplicate in history', 'duplicate in history', 'message nobody sent', 'write at a stale epoch', 'write in an epoch never granted']);
	for (const d of [clean, lossy, stale]) fs.rmSync(d, { recursive: true });
});

test('scripts/chaos --short: a killed and a paused session server lose, repeat and reorder nothing, and the lab leaves nothing behind', {
	skip: !isRoot && 'scripts/chaos makes network namespaces: run the tests as root',
	timeout: 15 * 60 * 1000,
}, async (t) => {
	const before = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
	const child = spawn(path.join(ROOT, 'scripts/chaos'), ['--short'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
	let out = '';
	let err = '';
	child.stdout.on('data', (d) => { out += d; });
	child.stderr.on('data', (d) => { err += d; });
	const code = await new Promise((r) => child.on('exit', (c) => r(c)));
	const lines = out.trim().split('\n');
	const last = lines.at(-1) ?? '';
	t.diagnostic(out);
	assert.equal(code, 0, `scripts/chaos --short exited ${code}\n${out}\n${err.slice(-4000)}`);
	assert.match(last, /^violations 0, worst recovery \d+\.\d\d s$/);
	assert.match(out, /^kill-session\s+ss\d\s+\d+\s+[1-9]\d*\s+0\s+0\s+0/m, 'messages were acked during the kill');
	assert.match(out, /^pause-session\s+ss\d\s+\d+\s+[1-9]\d*\s+0\s+0\s+0/m, 'messages were acked during the pause');
	// Nothing left: no namespace, no process of the lab, no folder.
	assert.equal(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }), before);
	const folder = err.match(/folder (\/tmp\/stateroom-chaos\.\w+)/)?.[1];
	assert.ok(folder, 'the lab said where its folder was');
	assert.ok(!fs.existsSync(folder), `${folder} was removed`);
});
