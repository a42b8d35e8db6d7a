#!/usr/bin/env node
// Writes scripts/bench's results as one self-contained HTML page of inline
// SVG charts comparing the servers at each load point (no third-party code,
// nothing fetched). Usage:
//   node chart.js RESULTS.json OUT.html
//   node chart.js --height RESULTS.json   prints the page's height in pixels
import fs from 'node:fs';

const COLORS = {
	stateroom: '#1b6ac9',
	'stateroom-ephemeral': '#59a5f5',
	'stateroom-nodelay': '#8e6cd8',
	'node-ws': '#3c8f3c',
	bun: '#d9822b',
};
const PANEL_W = 440, PANEL_H = 260, GAP = 20;
const M = { top: 34, right: 10, bottom: 44, left: 58 };

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const num = (v) => typeof v === 'number' && Number.isFinite(v);

function fmt(v) {
	if (!num(v)) return '–';
	const a = Math.abs(v);
	if (a >= 1e6) return `${+(v / 1e6).toFixed(2)}M`;
	if (a >= 1e5) return `${+(v / 1e3).toFixed(0)}k`;
	if (a >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
	if (a >= 10) return `${+v.toFixed(0)}`;
	if (a >= 1) return `${+v.toFixed(1)}`;
	return `${+v.toFixed(2)}`;
}

function niceMax(v) {
	if (!(v > 0)) return 1;
	const p = 10 ** Math.floor(Math.log10(v));
	for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
	return 10 * p;
}

// Bars grouped by load point, one per server. values[g][s] is a number or
// null (no figure: drawn as a cross). With log, the axis is logarithmic.
// marks[g][s], when given, is a short note drawn above the bar.
function barChart({ title, groups, series, values, unit, log = false, marks, hline }) {
	const w = PANEL_W - M.left - M.right, h = PANEL_H - M.top - M.bottom;
	const all = values.flat().filter((v) => num(v) && v > 0);
	let y;
	let ticks;
	if (log) {
		const lo = 10 ** Math.floor(Math.log10(Math.min(...all, hline ?? Infinity) || 0.01));
		const hi = 10 ** Math.ceil(Math.log10(Math.max(...all, hline ?? 0) || 1));
		const span = Math.log10(hi) - Math.log10(lo) || 1;
		y = (v) => h - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / span) * h;
		ticks = [];
		for (let t = lo; t <= hi * 1.0001; t *= 10) ticks.push(t);
	} else {
		const hi = niceMax(Math.max(...all, hline ?? 0, 0));
		y = (v) => h - (Math.max(v, 0) / hi) * h;
		ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * hi);
	}
	const gw = w / Math.max(groups.length, 1);
	const bw = Math.min(22, (gw * 0.8) / Math.max(series.length, 1));
	let out = `<svg width="${PANEL_W}" height="${PANEL_H}" viewBox="0 0 ${PANEL_W} ${PANEL_H}">`;
	out += `<text x="${M.left}" y="18" class="t">${esc(title)}</text>`;
	out += `<g transform="translate(${M.left},${M.top})">`;
	for (const t of ticks) {
		out += `<line x1="0" x2="${w}" y1="${y(t)}" y2="${y(t)}" class="grid"/>`;
		out += `<text x="-6" y="${y(t) + 4}" class="ax" text-anchor="end">${fmt(t)}</text>`;
	}
	if (num(hline)) {
		out += `<line x1="0" x2="${w}" y1="${y(hline)}" y2="${y(hline)}" class="hl"/>`;
		out += `<text x="${w}" y="${y(hline) - 3}" class="ax" text-anchor="end">${fmt(hline)} ${esc(unit)}</text>`;
	}
	groups.forEach((g, gi) => {
		const x0 = gi * gw + (gw - bw * series.length) / 2;
		series.forEach((s, si) => {
			const v = values[gi][si];
			const x = x0 + si * bw;
			if (!num(v)) {
				out += `<text x="${x + bw / 2}" y="${h - 3}" class="na" text-anchor="middle">×</text>`;
				return;
			}
			const top = y(v);
			out += `<rect x="${x}" y="${top}" width="${bw - 2}" height="${Math.max(h - top, 0.5)}" fill="${COLORS[s.id] ?? '#888'}">`
				+ `<title>${esc(s.label)} at ${esc(g)}: ${fmt(v)} ${esc(unit)}</title></rect>`;
			const mark = marks?.[gi]?.[si];
			if (mark) out += `<text x="${x + bw / 2 - 1}" y="${top - 3}" class="mk" text-anchor="middle">${esc(mark)}</text>`;
		});
		out += `<text x="${gi * gw + gw / 2}" y="${h + 16}" class="ax" text-anchor="middle">${esc(g)}</text>`;
	});
	out += `<line x1="0" x2="${w}" y1="${h}" y2="${h}" class="axis"/>`;
	out += `<text x="${w / 2}" y="${h + 34}" class="ax" text-anchor="middle">${esc(unit)}</text>`;
	return `${out}</g></svg>`;
}

function legend(series) {
	return `<div class="legend">${series.map((s) => `<span><i style="background:${COLORS[s.id] ?? '#888'}"></i>${esc(s.label)}</span>`).join('')}</div>`;
}

// The page, as an array of rows of panels, so its height is known.
function build(r) {
	const series = r.servers ?? [];
	const rows = [];
	const shapes = [...new Set((r.matrix ?? []).map((p) => p.shape))];
	for (const shape of shapes) {
		const pts = r.matrix.filter((p) => p.shape === shape);
		const groups = pts.map((p) => `${p.rate}/s`);
		const val = (f) => pts.map((p) => series.map((s) => (p.servers[s.id] ? f(p.servers[s.id]) : null)));
		const missed = pts.map((p) => series.map((s) => (p.servers[s.id] && !p.servers[s.id].keeps_up ? '!' : '')));
		const [rooms, members] = shape.split('x');
		rows.push({
			heading: `${rooms} room${rooms === '1' ? '' : 's'} × ${members} members, messages in per second `
				+ `(deliveries per second = rate × ${members}); ! marks a point where the server fell behind`,
			panels: [
				barChart({ title: 'Server CPU per delivered message', groups, series, unit: 'µs', values: val((v) => v.server_cpu_us_per_delivery), marks: missed }),
				barChart({ title: 'End-to-end latency p99 (log)', groups, series, unit: 'ms', log: true, values: val((v) => v.e2e_ms?.p99), hline: r.meta?.keep_p99_ms }),
				barChart({ title: 'Delivered messages per second', groups, series, unit: 'deliveries/s', values: val((v) => v.deliveries_per_sec) }),
			],
		});
	}
	const others = [];
	const idle = r.idle_by_server ?? {};
	const hs = r.handshakes ?? {};
	const ids = series.filter((s) => idle[s.id] || hs[s.id]);
	if (ids.length) {
		others.push(barChart({ title: `Memory per idle connection (${fmt(Object.values(idle)[0]?.conns)} connections)`, groups: ['RSS delta'], series: ids, unit: 'bytes', values: [ids.map((s) => idle[s.id]?.rss_per_conn_bytes ?? null)] }));
		others.push(barChart({ title: 'Handshakes per second (to welcome, then close)', groups: ['handshakes'], series: ids, unit: 'per second', values: [ids.map((s) => hs[s.id]?.handshakes_per_sec ?? null)] }));
	}
	if (r.bad_input) {
		const v = r.bad_input.variants;
		const names = Object.keys(v);
		const own = series.filter((s) => s.id === 'stateroom');
		others.push(barChart({ title: 'Bad input: normal clients\' e2e p99 (Stateroom)', groups: names, series: own.length ? own : [{ id: 'stateroom', label: 'Stateroom' }], unit: 'ms', values: names.map((n) => [v[n].e2e_ms?.p99 ?? null]), hline: num(r.bad_input.baseline_e2e_p99_ms) ? 2 * r.bad_input.baseline_e2e_p99_ms : undefined }));
	}
	if (others.length) rows.push({ heading: 'Idle memory, handshakes and bad input (the dashed line: 2 × the baseline)', panels: others });
	return rows;
}

const HEAD_H = 120, ROW_HEAD_H = 34;
const pageHeight = (rows) => HEAD_H + rows.length * (ROW_HEAD_H + PANEL_H + GAP) + 40;

function page(r, rows) {
	const m = r.meta ?? {};
	const died = (m.session_server_crashes ?? []).map((c) => c.run).join(', ');
	const left = Object.entries(m.left_out ?? {}).map(([k, v]) => `${k}: ${v}`).join('; ');
	const load = m.other_cpu_pct ? `the machine's other load during the steps: mean ${fmt(m.other_cpu_pct.mean)} %, max ${fmt(m.other_cpu_pct.max)} % of one CPU` : '';
	return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Stateroom bench</title>
<style>
body { font: 13px/1.4 system-ui, sans-serif; margin: 16px 20px; color: #222; background: #fff; width: ${3 * PANEL_W + 2 * GAP}px; }
h1 { font-size: 18px; margin: 0 0 4px; } h2 { font-size: 14px; margin: 12px 0 4px; height: ${ROW_HEAD_H - 16}px; }
.meta { color: #555; } .died { color: #c00; font-weight: 600; } .row { display: flex; gap: ${GAP}px; }
.legend span { margin-right: 16px; } .legend i { display: inline-block; width: 12px; height: 12px; margin-right: 5px; vertical-align: -1px; }
svg .t { font-weight: 600; font-size: 13px; } svg .ax { font-size: 11px; fill: #555; } svg .mk { font-size: 12px; font-weight: 700; fill: #c00; }
svg .na { font-size: 12px; fill: #999; } svg .grid { stroke: #e4e4e4; } svg .axis { stroke: #888; } svg .hl { stroke: #c00; stroke-dasharray: 4 3; }
</style></head><body>
<h1>Stateroom beside Node ws and Bun</h1>
<div class="meta">${esc(m.command ?? '')} · commit ${esc(m.commit ?? '?')} · ${esc(m.build_dir ?? '')} (${esc(m.buildtype ?? '')}) · ${esc(m.date ?? '')} · ${m.cpus ?? '?'} CPUs${m.pinned ? ', servers on CPU 0, generator on CPU 1' : ''} · ${esc(m.cpu_model ?? '')}</div>
<div class="meta">${esc(load)}${left ? ` · left out: ${esc(left)}` : ''}</div>
${died ? `<div class="died">The session server died during: ${esc(died)} (started again each time; see raw/crashes.jsonl)</div>` : ''}
${legend(r.servers ?? [])}
${rows.map((row) => `<h2>${esc(row.heading)}</h2><div class="row">${row.panels.join('')}</div>`).join('\n')}
</body></html>
`;
}

const args = process.argv.slice(2);
if (args[0] === '--height' && args.length === 2) {
	const r = JSON.parse(fs.readFileSync(args[1], 'utf8'));
	console.log(pageHeight(build(r)));
} else if (args.length === 2) {
	const r = JSON.parse(fs.readFileSync(args[0], 'utf8'));
	fs.writeFileSync(args[1], page(r, build(r)));
} else {
	console.error('usage: chart.js RESULTS.json OUT.html | chart.js --height RESULTS.json');
	process.exit(2);
}
