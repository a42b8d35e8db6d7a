// Frame predicates shared by the ws and raw clients: a function, a type
// name ('ack'), or an object whose every key must equal the frame's.
export function matcher(pred) {
	if (pred === undefined || pred === null) return () => true;
	if (typeof pred === 'function') return pred;
	if (typeof pred === 'string') return (f) => f !== null && typeof f === 'object' && f.type === pred;
	return (f) =>
		f !== null &&
		typeof f === 'object' &&
		Object.entries(pred).every(([k, v]) => JSON.stringify(f[k]) === JSON.stringify(v));
}

export function describe(pred) {
	if (typeof pred === 'function') return pred.name || 'predicate';
	return JSON.stringify(pred ?? 'any frame');
}

// Frames received and not yet taken, and the next() calls waiting for one:
// the part the ws and raw clients share. closed() says why no frame can come
// any more (or null); summary(frames) shows what was queued in an error.
export class FrameQueue {
	constructor({ closed, summary }) {
		this.frames = [];
		this.waiters = [];
		this.closed = closed;
		this.summary = summary;
	}

	// Adds a list of received frames, then hands each waiter its first match.
	push(frames) {
		for (const f of frames) this.frames.push(f);
		for (const w of [...this.waiters]) {
			const i = this.frames.findIndex(w.match);
			if (i >= 0) {
				const [f] = this.frames.splice(i, 1);
				this.waiters.splice(this.waiters.indexOf(w), 1);
				w.done(f);
			}
		}
	}

	// Fails every waiter: the connection is gone.
	fail(why) {
		for (const w of this.waiters.splice(0)) w.fail(why);
	}

	// The first queued or future frame that matches pred, taken off the queue.
	// Frames that do not match stay queued.
	next(pred, timeoutMs, timeoutWhy) {
		const match = matcher(pred);
		const i = this.frames.findIndex(match);
		if (i >= 0) return Promise.resolve(this.frames.splice(i, 1)[0]);
		return new Promise((resolve, reject) => {
			const w = {
				match,
				done: (f) => {
					clearTimeout(timer);
					resolve(f);
				},
				fail: (why) => {
					clearTimeout(timer);
					reject(new Error(`waiting for ${describe(pred)}: ${why}; queued: ${this.summary(this.frames)}`));
				},
			};
			const timer = setTimeout(() => {
				this.waiters.splice(this.waiters.indexOf(w), 1);
				w.fail(timeoutWhy);
			}, timeoutMs);
			const closed = this.closed();
			if (closed) {
				w.fail(closed);
				return;
			}
			this.waiters.push(w);
		});
	}
}
