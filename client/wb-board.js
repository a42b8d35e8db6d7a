// The whiteboard's board as a client holds it (docs/protocol.md,
// "Whiteboard"): the ops since the latest clear, in seq order, each with its
// author and whether it is undone. The same rules as the server's model
// (session-server/wb_model.c), so that every client folds the same records
// into the same board. No DOM: the view draws it, tests compare it.

export class Board {
	constructor() {
		this.ops = new Map(); // seq → { seq, userId, user, op, undone }
	}

	reset() {
		this.ops.clear();
	}

	// A welcome: its records, after a reset unless it resumes.
	welcome(w) {
		if (w.reset) this.reset();
		for (const r of w.records ?? []) this.apply(r);
	}

	// One record frame (op, undo, redo, clear, snapshot); others are ignored.
	apply(r) {
		switch (r.type) {
		case 'snapshot':
			this.reset();
			for (const e of r.ops ?? []) this.ops.set(e.seq, { seq: e.seq, userId: e.userId, user: e.user, op: e.op, undone: !!e.undone });
			break;
		case 'op':
			this.ops.set(r.seq, { seq: r.seq, userId: r.userId, user: r.user, op: r.op, undone: false });
			break;
		case 'undo':
		case 'redo': {
			// Only its author's, and only if it changes something: as the server.
			const o = this.ops.get(r.target);
			if (o && o.userId === r.userId) o.undone = r.type === 'undo';
			break;
		}
		case 'clear':
			this.reset();
			break;
		default:
			return false;
		}
		return true;
	}

	// What is drawn, bottom first: ops not undone, not erasers, not erased
	// by a live eraser.
	visible() {
		const erased = new Set();
		for (const o of this.ops.values()) {
			if (!o.undone && o.op.kind === 'erase') for (const t of o.op.targets) erased.add(t);
		}
		return [...this.ops.values()]
			.filter((o) => !o.undone && o.op.kind !== 'erase' && !erased.has(o.seq))
			.sort((a, b) => a.seq - b.seq);
	}

	// The latest op of userId that undo (or redo) would take: its seq, or null.
	// Redo takes the latest undone op after the user's latest live one.
	undoTarget(userId) {
		const mine = [...this.ops.values()].filter((o) => o.userId === userId).sort((a, b) => b.seq - a.seq);
		return mine.find((o) => !o.undone)?.seq ?? null;
	}

	redoTarget(userId) {
		const mine = [...this.ops.values()].filter((o) => o.userId === userId).sort((a, b) => a.seq - b.seq);
		let target = null;
		for (const o of mine) target = o.undone ? (target ?? o.seq) : null;
		return target;
	}
}
