// The whiteboard view (docs/protocol.md, "Whiteboard"): a canvas everyone in
// the room draws on, through the client library (lib/stateroom.js). Pointer
// events, so a finger draws as a mouse does; tools, colours, undo and redo
// of one's own ops, clear, and the others' cursors with their names.
// The board itself (wb-board.js) is what the server's records make it: a
// stroke shows as a preview while it is on its way, then as the op the
// server committed.

import { connect } from './lib/stateroom.js';
import { $, setVisible } from './dom.js';
import { Board } from './wb-board.js';

const CANVAS = 4096;
const COLORS = ['#1f2937', '#dc2626', '#2563eb', '#16a34a', '#f59e0b', '#9333ea', '#ffffff'];
const TOOLS = [['stroke', 'Pen'], ['line', 'Line'], ['rect', 'Rectangle'], ['ellipse', 'Ellipse'],
  ['text', 'Text'], ['erase', 'Eraser']];
const MAX_POINTS = 1000;
const CURSOR_MS = 100; // the server passes on at most one per 50 ms

let app = null;
let current = null;

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k in e) e[k] = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

// One op drawn on ctx, in canvas units (ctx is scaled).
function drawOp(ctx, op) {
  ctx.strokeStyle = op.color;
  ctx.fillStyle = op.color;
  ctx.lineWidth = op.width ?? 1;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  const p = op.points;
  ctx.beginPath();
  switch (op.kind) {
  case 'stroke':
    ctx.moveTo(p[0], p[1]);
    if (p.length === 2) ctx.lineTo(p[0] + 0.1, p[1]);
    for (let i = 2; i < p.length; i += 2) ctx.lineTo(p[i], p[i + 1]);
    ctx.stroke();
    break;
  case 'line':
    ctx.moveTo(p[0], p[1]);
    ctx.lineTo(p[2], p[3]);
    ctx.stroke();
    break;
  case 'rect':
    ctx.strokeRect(Math.min(p[0], p[2]), Math.min(p[1], p[3]), Math.abs(p[2] - p[0]), Math.abs(p[3] - p[1]));
    break;
  case 'ellipse':
    ctx.ellipse((p[0] + p[2]) / 2, (p[1] + p[3]) / 2, Math.abs(p[2] - p[0]) / 2, Math.abs(p[3] - p[1]) / 2, 0, 0, 2 * Math.PI);
    ctx.stroke();
    break;
  case 'text':
    ctx.font = `${op.size}px sans-serif`;
    ctx.textBaseline = 'top';
    ctx.fillText(op.text, p[0], p[1]);
    break;
  default:
    break;
  }
}

// Whether (x, y) is within slack of op's outline (the eraser's hit test).
function hits(op, x, y, slack) {
  const p = op.points;
  if (op.kind === 'text') {
    const w = op.text.length * op.size * 0.6;
    return x >= p[0] - slack && x <= p[0] + w + slack && y >= p[1] - slack && y <= p[1] + op.size + slack;
  }
  const near = (x1, y1, x2, y2) => {
    const dx = x2 - x1, dy = y2 - y1;
    const t = dx || dy ? Math.max(0, Math.min(1, ((x - x1) * dx + (y - y1) * dy) / (dx * dx + dy * dy))) : 0;
    return Math.hypot(x - (x1 + t * dx), y - (y1 + t * dy)) <= slack + (op.width ?? 1) / 2;
  };
  if (op.kind === 'stroke') {
    if (p.length === 2) return near(p[0], p[1], p[0], p[1]);
    for (let i = 2; i < p.length; i += 2) if (near(p[i - 2], p[i - 1], p[i], p[i + 1])) return true;
    return false;
  }
  if (op.kind === 'line') return near(p[0], p[1], p[2], p[3]);
  const [x1, x2] = [Math.min(p[0], p[2]), Math.max(p[0], p[2])];
  const [y1, y2] = [Math.min(p[1], p[3]), Math.max(p[1], p[3])];
  return x >= x1 - slack && x <= x2 + slack && y >= y1 - slack && y <= y2 + slack;
}

class WhiteboardView {
  constructor(roomId, name) {
    this.roomId = roomId;
    this.board = new Board();
    this.tool = 'stroke';
    this.color = COLORS[0];
    this.width = 16; // canvas units: about 3 pixels on a 700-pixel board
    this.draft = null;       // the op being drawn
    this.previews = new Map(); // request id → op on its way
    this.cursors = new Map(); // userId → label element
    this.cursorAt = 0;
    this.userId = null;
    this.build(name);
    this.room = connect({
      backend: location.origin, token: () => app.liveToken(), roomId,
    });
    this.room.on('welcome', (w) => {
      this.userId = w.userId;
      this.board.welcome(w);
      this.setStatus(`${w.members?.length ?? 1} here`);
      this.render();
    });
    for (const t of ['op', 'undo', 'redo', 'clear']) {
      this.room.on(t, (f) => {
        if (this.board.apply(f)) this.render();
      });
    }
    this.room.on('cursor', (c) => this.showCursor(c));
    this.room.on('presence', (p) => {
      if (p.left !== undefined) this.dropCursor(p.userId);
    });
    this.room.on('state', (s) => {
      if (s.state === 'reconnecting') this.setStatus('Reconnecting…');
    });
    this.room.on('stop', (s) => this.setStatus(`Disconnected: ${s.message ?? s.reason}`, true));
    this.resize = () => this.render();
    window.addEventListener('resize', this.resize);
  }

  build(name) {
    const root = $('wb-view');
    root.replaceChildren();
    const back = el('a', { href: '/', className: 'link-button', textContent: '← Rooms' });
    back.addEventListener('click', (e) => {
      e.preventDefault();
      history.pushState(null, '', '/');
      app.showLobby();
    });
    this.statusEl = el('span', { className: 'wb-status', dataset: { testid: 'wb-status' } });
    const head = el('header', { className: 'wb-head' }, back,
      el('h1', { textContent: name || 'Whiteboard' }), this.statusEl);

    const tools = el('div', { className: 'wb-tools', role: 'toolbar', 'aria-label': 'Drawing tools' });
    for (const [tool, label] of TOOLS) {
      const b = el('button', { type: 'button', textContent: label, dataset: { testid: `wb-tool-${tool}`, tool } });
      b.setAttribute('aria-pressed', String(tool === this.tool));
      b.addEventListener('click', () => {
        this.tool = tool;
        for (const x of tools.querySelectorAll('[data-tool]')) x.setAttribute('aria-pressed', String(x.dataset.tool === tool));
      });
      tools.append(b);
    }
    const colors = el('div', { className: 'wb-colors', role: 'group', 'aria-label': 'Colour' });
    for (const c of COLORS) {
      const b = el('button', { type: 'button', className: 'wb-swatch', title: c, 'aria-label': `Colour ${c}`, dataset: { color: c } });
      b.style.background = c;
      b.addEventListener('click', () => {
        this.color = c;
        picker.value = c;
      });
      colors.append(b);
    }
    const picker = el('input', { type: 'color', value: this.color, 'aria-label': 'Any colour', dataset: { testid: 'wb-color' } });
    picker.addEventListener('input', () => { this.color = picker.value; });
    colors.append(picker);
    const width = el('input', { type: 'range', min: '1', max: '64', value: String(this.width), 'aria-label': 'Line width' });
    width.addEventListener('input', () => { this.width = Number(width.value); });

    const undo = el('button', { type: 'button', textContent: 'Undo', dataset: { testid: 'wb-undo' } });
    undo.addEventListener('click', () => this.undoRedo(false));
    const redo = el('button', { type: 'button', textContent: 'Redo', dataset: { testid: 'wb-redo' } });
    redo.addEventListener('click', () => this.undoRedo(true));
    const clear = el('button', { type: 'button', textContent: 'Clear', dataset: { testid: 'wb-clear' } });
    clear.addEventListener('click', () => {
      if (confirm('Clear the board for everyone? This cannot be undone.')) this.request({ type: 'clear' });
    });
    const actions = el('div', { className: 'wb-actions' }, width, undo, redo, clear);

    this.canvas = el('canvas', { className: 'wb-canvas', dataset: { testid: 'wb-canvas' }, 'aria-label': 'Whiteboard' });
    this.layer = el('div', { className: 'wb-stage' }, this.canvas);
    this.errorEl = el('p', { className: 'error', role: 'alert', hidden: true });
    root.append(head, el('div', { className: 'wb-bar' }, tools, colors, actions), this.errorEl, this.layer);
    this.listen();
  }

  setStatus(text, bad = false) {
    this.statusEl.textContent = text;
    this.statusEl.classList.toggle('bad', bad);
  }

  showError(text) {
    this.errorEl.textContent = text;
    this.errorEl.hidden = text === null;
  }

  // A pointer event in canvas units, clamped to the canvas.
  at(e) {
    const r = this.canvas.getBoundingClientRect();
    const clamp = (v) => Math.max(0, Math.min(CANVAS, Math.round(v)));
    return [clamp(((e.clientX - r.left) / r.width) * CANVAS), clamp(((e.clientY - r.top) / r.height) * CANVAS)];
  }

  listen() {
    const c = this.canvas;
    c.addEventListener('pointerdown', (e) => {
      if (e.button !== 0) return;
      const [x, y] = this.at(e);
      if (this.tool === 'erase') {
        const slack = (CANVAS / c.getBoundingClientRect().width) * 6;
        const hit = this.board.visible().reverse().find((o) => hits(o.op, x, y, slack));
        if (hit) this.request({ type: 'op', op: { kind: 'erase', targets: [hit.seq] } });
        return;
      }
      if (this.tool === 'text') {
        const text = prompt('Text');
        if (text) this.request({ type: 'op', op: { kind: 'text', color: this.color, size: Math.max(8, Math.min(200, this.width * 6)), points: [x, y], text: text.slice(0, 500) } });
        return;
      }
      c.setPointerCapture(e.pointerId);
      this.draft = this.tool === 'stroke'
        ? { kind: 'stroke', color: this.color, width: this.width, points: [x, y] }
        : { kind: this.tool, color: this.color, width: this.width, points: [x, y, x, y] };
      this.render();
    });
    c.addEventListener('pointermove', (e) => {
      const [x, y] = this.at(e);
      const now = Date.now();
      if (now - this.cursorAt >= CURSOR_MS) {
        this.cursorAt = now;
        this.room.sendFrame({ type: 'cursor', x, y });
      }
      if (this.draft === null) return;
      const p = this.draft.points;
      if (this.draft.kind === 'stroke') {
        if (p.length / 2 >= MAX_POINTS) {
          this.finish(); // a long stroke goes as several ops
          this.draft = { ...this.draft, points: [x, y] };
        } else if (p[p.length - 2] !== x || p[p.length - 1] !== y) {
          p.push(x, y);
        }
      } else {
        p[2] = x;
        p[3] = y;
      }
      this.render();
    });
    const end = () => {
      if (this.draft !== null) this.finish();
    };
    c.addEventListener('pointerup', end);
    c.addEventListener('pointercancel', end);
    c.style.touchAction = 'none';
  }

  finish() {
    const op = this.draft;
    this.draft = null;
    this.request({ type: 'op', op }, op);
  }

  // Sends frame; op, if given, shows until the server's op replaces it.
  request(frame, op = null) {
    const token = {};
    if (op) this.previews.set(token, op);
    this.showError(null);
    this.room.request(frame).catch((e) => {
      this.showError(`Not saved: ${e.message}`);
    }).finally(() => {
      this.previews.delete(token);
      this.render();
    });
    this.render();
  }

  undoRedo(redo) {
    if (this.userId === null) return;
    const target = redo ? this.board.redoTarget(this.userId) : this.board.undoTarget(this.userId);
    if (target === null) {
      this.showError(redo ? 'Nothing of yours to redo.' : 'Nothing of yours to undo.');
      return;
    }
    this.request({ type: redo ? 'redo' : 'undo', target });
  }

  showCursor(c) {
    if (typeof c.userId !== 'string' || !Number.isFinite(c.x) || !Number.isFinite(c.y)) return;
    let label = this.cursors.get(c.userId);
    if (!label) {
      label = el('span', { className: 'wb-cursor', dataset: { testid: 'wb-cursor' } });
      this.cursors.set(c.userId, label);
      this.layer.append(label);
    }
    label.textContent = String(c.user ?? '');
    label.style.left = `${(c.x / CANVAS) * 100}%`;
    label.style.top = `${(c.y / CANVAS) * 100}%`;
  }

  dropCursor(userId) {
    this.cursors.get(userId)?.remove();
    this.cursors.delete(userId);
  }

  render() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.paint();
    });
  }

  paint() {
    const c = this.canvas;
    const size = Math.round(c.getBoundingClientRect().width * (window.devicePixelRatio || 1));
    if (size > 0 && c.width !== size) {
      c.width = size;
      c.height = size;
    }
    const ctx = c.getContext('2d');
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, c.width, c.height);
    ctx.setTransform(c.width / CANVAS, 0, 0, c.height / CANVAS, 0, 0);
    const shown = this.board.visible();
    for (const o of shown) drawOp(ctx, o.op);
    for (const op of this.previews.values()) drawOp(ctx, op);
    if (this.draft) drawOp(ctx, this.draft);
    // What is on the board, for tests and assistive tools alike.
    c.dataset.ops = String(shown.length);
    c.setAttribute('aria-label', `Whiteboard: ${shown.length} item${shown.length === 1 ? '' : 's'}`);
  }

  destroy() {
    window.removeEventListener('resize', this.resize);
    if (this.frame) cancelAnimationFrame(this.frame);
    this.room.close();
  }
}

export function init(shared) {
  app = shared;
}

export function show(roomId, _lookup, name) {
  hide();
  current = new WhiteboardView(roomId, name);
  setVisible($('wb-view'), true);
  document.title = `${name || 'Whiteboard'} · Stateroom`;
}

export function hide() {
  if (current !== null) {
    current.destroy();
    current = null;
    document.title = 'Stateroom';
  }
  setVisible($('wb-view'), false);
}

export function showing(roomId) {
  return current !== null && current.roomId === roomId;
}
