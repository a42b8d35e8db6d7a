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
