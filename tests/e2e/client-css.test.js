// The web client's style sheet is written flat (no CSS nesting): a rule left
// unclosed would make every rule after it a nested one, which browsers
// accept without a word and which matches nothing, so the views below it
// lose their styles silently. This reads the sheet as a browser would
// group it and finds such a rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';

const sheet = new URL('../../client/style.css', import.meta.url);

test('every rule of client/style.css is closed, and only at-rules hold rules', async () => {
	const css = (await readFile(sheet, 'utf8')).replace(/\/\*[\s\S]*?\*\//g, '');
	const open = []; // the preludes of the blocks we are in
	let prelude = '';
	let line = 1;
	for (const ch of css) {
		if (ch === '\n') line++;
		if (ch === '{') {
			const head = prelude.trim();
			const outer = open.at(-1);
			assert.ok(outer === undefined || outer.startsWith('@'),
				`line ${line}: "${head}" opens inside "${outer}", which is not closed`);
			open.push(head);
			prelude = '';
		} else if (ch === '}') {
			assert.ok(open.length > 0, `line ${line}: a } that closes nothing`);
			open.pop();
			prelude = '';
		} else if (ch === ';' && (open.length === 0 || open.at(-1).startsWith('@'))) {
			prelude = ''; // @import and the like
		} else {
			prelude += ch;
		}
	}
	assert.deepEqual(open, [], 'blocks left open at the end');
});
