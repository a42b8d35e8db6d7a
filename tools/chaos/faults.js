// The lab's faults. Each has target(ctx, step) (which component, chosen by
// the seeded generator), rooms(pinned, target) (the rooms it affects, from
// the rooms table just before it) and inject(ctx, target, step), which
// returns once the fault is over (healed).
const SS = ['ss1', 'ss2', 'ss3'];

// A session server that holds rooms, picked by the step's draw.
async function busyServer(ctx, step) {
	const rows = await ctx.psql('SELECT server_id, count(*) FROM rooms WHERE server_id IS NOT NULL GROUP BY 1 ORDER BY 1');
	const busy = rows.map((r) => r[0]).filter((s) => SS.includes(s));
	const from = busy.length ? busy : SS;
	return from[Math.floor(step.draw * from.length)];
}
const roomsOn = (pinned, target) => pinned.filter((r) => r[1] === target).map((r) => r[0]);
const allRooms = (pinned) => pinned.map((r) => r[0]);

async function restart(ctx, name) {
	const s = ctx.sessions.find((x) => x.name === name);
	s.start();
	await ctx.waitFor(`${name} again`, () => ctx.httpOk(`${s.url}/readyz`));
}

// Partitions without a firewall or a tc classifier (neither is in every
// kernel: this one has no netem, no gact, no nf_tables): a host's neighbour
// entry for an address is replaced by a permanent one with a MAC nobody has,
// so what it sends there leaves and is dropped, silently, as a cut cable
// drops it (the bridge floods the frame; no host takes it). Both hosts
// poisoned: both directions cut; one host: one direction. Healed by deleting
// the entry (ARP finds the real one again).
const NOWHERE = '02:00:00:00:de:ad';
const inNs = (ctx, host, ...argv) => ctx.run('ip', ['netns', 'exec', `${ctx.lab}-${host}`, ...argv]);
async function cut(ctx, host, peers) {
	for (const p of peers) await inNs(ctx, host, 'ip', 'neigh', 'replace', ctx.ip(p), 'lladdr', NOWHERE, 'dev', 'eth0', 'nud', 'permanent');
}
async function mend(ctx, host, peers) {
	for (const p of peers) await inNs(ctx, host, 'ip', 'neigh', 'del', ctx.ip(p), 'dev', 'eth0').catch(() => {});
}
async function partition(ctx, pairs, hold) {
	try {
		for (const [from, to] of pairs) await cut(ctx, from, [to]);
		await ctx.sleep(hold);
	} finally {
		for (const [from, to] of pairs) await mend(ctx, from, [to]);
	}
}

// Loss and delay: netem where the kernel has it; else (no sch_netem) an htb
// class of 200 kbit/s with a short queue on the server's egress, which
// delays what queues and drops what overflows.
const tc = (ctx, host, ...argv) => inNs(ctx, host, 'tc', ...argv);
async function degrade(ctx, host) {
	try {
		await tc(ctx, host, 'qdisc', 'add', 'dev', 'eth0', 'root', 'netem', 'delay', '100ms', '50ms', 'loss', '20%');
		return 'netem delay 100ms 50ms loss 20%';
	} catch {
		await tc(ctx, host, 'qdisc', 'add', 'dev', 'eth0', 'root', 'handle', '1:', 'htb', 'default', '10');
		await tc(ctx, host, 'class', 'add', 'dev', 'eth0', 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '200kbit', 'ceil', '200kbit');
		await tc(ctx, host, 'qdisc', 'add', 'dev', 'eth0', 'parent', '1:10', 'handle', '10:', 'pfifo', 'limit', '20');
		return 'htb 200kbit, 20-packet queue (no netem in this kernel)';
	}
}
const heal = (ctx, host) => tc(ctx, host, 'qdisc', 'del', 'dev', 'eth0', 'root').catch(() => {});

export const FAULTS = {
	// SIGKILL, then started again (a new process: new boot, new tickets).
	'kill-session': {
		target: busyServer,
		rooms: roomsOn,
		async inject(ctx, target) {
			const s = ctx.sessions.find((x) => x.name === target);
			await s.stop('SIGKILL');
			await ctx.sleep(2000);
			await restart(ctx, target);
		},
	},
	// Frozen for longer than --dead-after-ms (3 s), then thawed: its rooms
	// have moved and what it still holds must be fenced.
	'pause-session': {
		target: busyServer,
		rooms: roomsOn,
		async inject(ctx, target, step) {
			const s = ctx.sessions.find((x) => x.name === target);
			s.signal('SIGSTOP');
			await ctx.sleep(step.hold ?? 6000);
			s.signal('SIGCONT');
		},
	},
	// Cut off from PostgreSQL (both ways) but not from its clients, for
	// longer than the web client waits for an ack (15 s): the clients move
	// while the server's write is still in flight, which must then be
	// fenced when the network heals.
	'partition-pg': {
		target: busyServer,
		rooms: roomsOn,
		inject: (ctx, target, step) => partition(ctx, [[target, 'pg'], ['pg', target]], step.hold ?? 18000),
	},
	// Cut off from its clients (both ways), not from PostgreSQL.
	'partition-clients': {
		target: busyServer,
		rooms: roomsOn,
		inject: (ctx, target, step) => partition(ctx, [[target, 'cl'], ['cl', target]], step.hold ?? 8000),
	},
	// One way: the clients' frames reach the server, nothing comes back.
	'one-way': {
		target: busyServer,
		rooms: roomsOn,
		inject: (ctx, target, step) => partition(ctx, [[target, 'cl']], step.hold ?? 8000),
	},
	// The server's packets lost and late (degrade() says how).
	'loss-delay': {
		target: busyServer,
		rooms: roomsOn,
		async inject(ctx, target, step) {
			ctx.say(`  ${target}: ${await degrade(ctx, target)}`);
			try {
				await ctx.sleep(step.hold ?? 8000);
			} finally {
				await heal(ctx, target);
			}
		},
	},
	// The server's wall clock steps 90 s ahead, then back (libfaketime,
	// loaded into every session server; the monotonic clock, which the
	// server's timers run on, is left alone as a real step would).
	'clock-step': {
		target: busyServer,
		rooms: roomsOn,
		async inject(ctx, target, step) {
			const file = ctx.fakeTimeFile(target);
			if (!ctx.fs.existsSync(file)) throw new Error('clock-step needs libfaketime (apt-get install libfaketime) and a build without sanitizers');
			ctx.fs.writeFileSync(file, '+90\n');
			try {
				// Someone arrives meanwhile: a join ticket, judged by the
				// stepped clock. (Not at once: the server measures its offset
				// from PostgreSQL's clock with each heartbeat, and libfaketime
				// reads the step within a second.)
				await ctx.sleep(3000);
				const rooms = roomsOn(await ctx.psql('SELECT id, coalesce(server_id, \'\') FROM rooms'), target);
				if (rooms.length) await ctx.addClient(rooms[0]);
				await ctx.sleep((step.hold ?? 8000) - 3000);
			} finally {
				ctx.fs.writeFileSync(file, '+0\n');
			}
		},
	},
	// A backend SIGKILLed and started again: look-ups go to the other.
	'kill-backend': {
		target: async (ctx, step) => (step.draw < 0.5 ? 'be1' : 'be2'),
		rooms: allRooms,
		async inject(ctx, target) {
			const b = ctx.backends.find((x) => x.name === target);
			await b.stop('SIGKILL');
			await ctx.sleep(3000);
			b.start();
			await ctx.waitFor(`${target} again`, () => ctx.httpOk(`${b.url}/readyz`));
		},
	},
	// The PostgreSQL primary lost (--ha): every process of its host killed
	// (pg_autoctl and PostgreSQL), as a host dies; pg_auto_failover's monitor
	// promotes the synchronous standby. The servers reach it through their
	// multi-host URL (target_session_attrs=read-write).
	'pg-failover': {
		target: async (ctx) => {
			if (!ctx.HA) throw new Error('pg-failover needs the pg_auto_failover formation (--ha)');
			return ctx.haPrimary();
		},
		rooms: allRooms,
		async inject(ctx, target) {
			const t0 = Date.now();
			const pids = (await ctx.run('ip', ['netns', 'pids', `${ctx.lab}-${target}`])).split('\n').filter(Boolean);
			await ctx.run('kill', ['-KILL', ...pids]);
			let primary;
			await ctx.waitFor('a new primary', async () => {
				primary = await ctx.haPrimary();
				return primary && primary !== target;
			}, 120000);
			ctx.say(`  ${primary} promoted ${((Date.now() - t0) / 1000).toFixed(1)} s after ${target} was killed`);
		},
	},
	// PostgreSQL stopped (fast shutdown: every connection cut) and started
	// again after 3 s.
	'restart-pg': {
		target: async (ctx) => {
			if (ctx.HA) throw new Error('restart-pg needs the single PostgreSQL (not --ha)');
			return 'pg';
		},
		rooms: allRooms,
		async inject(ctx) {
			await ctx.pg.stop('SIGINT');
			await ctx.sleep(3000);
			await ctx.startPg();
		},
	},
};

// The plan: every fault kind once (default), two (short), or a random
// sequence (long). Each step's draw picks its target.
export function schedule(mode, rnd, only) {
	const kinds = Object.keys(FAULTS);
	if (only) return only.split(',').map((kind) => ({ kind, draw: rnd() }));
	if (mode === 'ha') return [{ kind: 'pg-failover', draw: rnd() }];
	if (mode === 'short') return ['kill-session', 'pause-session'].map((kind) => ({ kind, draw: rnd() }));
	const single = kinds.filter((k) => k !== 'pg-failover');
	if (mode === 'long') {
		const steps = [];
		for (let i = 0; i < 24; i++) {
			steps.push({ kind: single[Math.floor(rnd() * single.length)], draw: rnd(), hold: 4000 + Math.floor(rnd() * 6000), after: 6000 + Math.floor(rnd() * 6000) });
		}
		return steps;
	}
	return kinds.filter((k) => k !== 'pg-failover').map((kind) => ({ kind, draw: rnd() }));
}
