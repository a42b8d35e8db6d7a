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
};

// The plan: every fault kind once (default), two (short), or a random
// sequence (long). Each step's draw picks its target.
export function schedule(mode, rnd) {
	const kinds = Object.keys(FAULTS);
	if (mode === 'short') return ['kill-session', 'pause-session'].map((kind) => ({ kind, draw: rnd() }));
	if (mode === 'long') {
		const steps = [];
		for (let i = 0; i < 24; i++) {
			steps.push({ kind: kinds[Math.floor(rnd() * kinds.length)], draw: rnd(), hold: 4000 + Math.floor(rnd() * 6000), after: 6000 + Math.floor(rnd() * 6000) });
		}
		return steps;
	}
	return kinds.map((kind) => ({ kind, draw: rnd() }));
}
