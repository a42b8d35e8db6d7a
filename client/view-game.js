// The arena game's view (docs/protocol.md, "Game"): a canvas of the arena,
// steered with the arrow keys or WASD, or by holding a finger (or the mouse)
// where the player should head; Sit and Stand buttons; the players and
// their scores. Built on the client library (lib/stateroom.js): it looks the
// room up, reconnects, and hands over the game's frames by type.
//
// mount(root, { backend, token, roomId, onLeave? }) fills root (an empty
// element) and returns { close() }; show()/hide() are the page's view of it
// (app.js opens a room whose app is `game` there).
import { connect } from './lib/stateroom.js';

const COLOURS = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#46a0a0', '#f032e6', '#9a9a20',
  '#800000', '#008080', '#000075', '#808000', '#aa6e28', '#ff7f7f', '#5a5a5a', '#2f4f4f'];
const KEYS = {
  ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1],
  a: [-1, 0], d: [1, 0], w: [0, -1], s: [0, 1], A: [-1, 0], D: [1, 0], W: [0, -1], S: [0, 1],
};

function el(tag, attrs = {}, text = '') {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
}

export function mount(root, { backend = location.origin, token, roomId, onLeave = null }) {
  const status = el('p', { class: 'hint', 'data-testid': 'game-status', role: 'status' }, 'Connecting…');
  const sitBtn = el('button', { type: 'button', 'data-testid': 'game-sit' }, 'Sit');
  const standBtn = el('button', { type: 'button', 'data-testid': 'game-stand', hidden: '' }, 'Stand up');
  const leaveBtn = el('button', { type: 'button', class: 'link-button', 'data-testid': 'game-leave' }, 'Leave');
  const canvas = el('canvas', { 'data-testid': 'game-canvas', tabindex: '0', 'aria-label': 'The arena' });
  const scores = el('ol', { class: 'game-scores', 'data-testid': 'game-scores' });
  const bar = el('div', { class: 'game-bar' });
  bar.append(sitBtn, standBtn, leaveBtn, status);
  canvas.style.width = '100%';
  canvas.style.touchAction = 'none';
  canvas.style.background = '#f4f4f0';
  canvas.style.border = '1px solid #888';
  root.append(bar, canvas, scores);

  const game = { arena: null, players: new Map(), coin: null, seat: null, userId: null, seats: 0, tick: 0 };
  // Exposed for tests and debugging: the game as this client sees it.
  root.game = game;
  const held = new Set();
  let pointer = null;
  let sentDir = [0, 0];
  let frame = 0;

  const room = connect({ backend, token, roomId });

  function setStatus(text) {
    status.textContent = text;
  }

  function seatedText() {
    if (game.seat === null) return `Watching (${game.players.size} of ${game.seats} seats taken)`;
    return `Seat ${game.seat + 1}: arrow keys or WASD, or hold where to go`;
  }

  function showSeat() {
    sitBtn.hidden = game.seat !== null;
    standBtn.hidden = game.seat === null;
    setStatus(seatedText());
  }

  function take(p) {
    if (p.userId === null) game.players.delete(p.seat);
    else game.players.set(p.seat, p);
    if (p.userId === game.userId) game.seat = p.seat;
    else if (game.seat === p.seat && p.userId !== game.userId) game.seat = null;
  }

  function renderScores() {
    scores.replaceChildren(...[...game.players.values()].sort((a, b) => b.score - a.score || a.seat - b.seat)
      .map((p) => {
        const li = el('li', { 'data-testid': 'game-player', 'data-seat': String(p.seat) },
          `${p.name}: ${p.score}${p.away ? ' (away)' : ''}${p.userId === game.userId ? ' (you)' : ''}`);
        li.style.color = COLOURS[p.seat % COLOURS.length];
        return li;
      }));
  }

  function draw() {
    frame = 0;
    const a = game.arena;
    if (!a) return;
    const w = canvas.clientWidth || 640;
    const scale = w / a.width;
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(a.height * scale * dpr);
    canvas.style.height = `${Math.round(a.height * scale)}px`;
    const g = canvas.getContext('2d');
    g.setTransform(scale * dpr, 0, 0, scale * dpr, 0, 0);
    g.clearRect(0, 0, a.width, a.height);
    if (game.coin) {
      g.fillStyle = '#d4a017';
      g.beginPath();
      g.arc(game.coin[0], game.coin[1], a.coinRadius, 0, 2 * Math.PI);
      g.fill();
    }
    g.font = `${a.radius}px sans-serif`;
    g.textAlign = 'center';
    for (const p of game.players.values()) {
      g.globalAlpha = p.away ? 0.4 : 1;
      g.fillStyle = COLOURS[p.seat % COLOURS.length];
      g.beginPath();
      g.arc(p.x, p.y, a.radius, 0, 2 * Math.PI);
      g.fill();
      if (p.userId === game.userId) {
        g.lineWidth = a.radius / 5;
        g.strokeStyle = '#000';
        g.stroke();
      }
      g.fillStyle = '#222';
      g.fillText(p.name, p.x, p.y - a.radius * 1.3);
    }
    g.globalAlpha = 1;
  }

  function redraw() {
    if (!frame) frame = requestAnimationFrame(draw);
  }

  // The direction the keys or the pointer ask for, in [-1, 1].
  function wanted() {
    if (pointer && game.seat !== null && game.players.has(game.seat)) {
      const me = game.players.get(game.seat);
      const dx = pointer[0] - me.x;
      const dy = pointer[1] - me.y;
      const len = Math.hypot(dx, dy);
      if (len < game.arena.radius) return [0, 0];
      return [Math.round((dx / len) * 1000) / 1000, Math.round((dy / len) * 1000) / 1000];
    }
    let dx = 0;
    let dy = 0;
    for (const k of held) {
      dx += KEYS[k][0];
      dy += KEYS[k][1];
    }
    dx = Math.sign(dx);
    dy = Math.sign(dy);
    const len = Math.hypot(dx, dy) || 1;
    return [dx / len, dy / len];
  }

  function steer(force = false) {
    if (game.seat === null) return;
    const dir = wanted();
    if (!force && dir[0] === sentDir[0] && dir[1] === sentDir[1]) return;
    // Not kept for a resend: the next key or the next welcome says it again.
    if (room.sendFrame({ type: 'input', dir, tick: game.tick })) sentDir = dir;
  }

  room.on('welcome', (w) => {
    game.arena = w.arena;
    game.userId = w.userId;
    game.seats = w.seats;
    game.tick = w.tick;
    game.coin = w.coin;
    game.players = new Map(w.players.map((p) => [p.seat, p]));
    game.seat = w.seat;
    sentDir = [0, 0];
    showSeat();
    renderScores();
    redraw();
    steer(true);
  });
  // The game's deltas come through `frame`: the library's own `state`
  // event is the connection's.
  room.on('frame', (s) => {
    if (s.type !== 'state' || typeof s.tick !== 'number' || !Array.isArray(s.players)) return;
    game.tick = s.tick;
    for (const p of s.players) take(p);
    if (s.coin) game.coin = s.coin;
    if (s.players.length) {
      showSeat();
      renderScores();
    }
    redraw();
  });
  room.on('error', (e) => setStatus(e.message || e.code));
  room.on('stop', (s) => setStatus(`Disconnected: ${s.message || s.reason}`));

  sitBtn.addEventListener('click', async () => {
    try {
      await room.request({ type: 'sit' });
      canvas.focus();
    } catch (e) {
      setStatus(e.code === 'no_seat' ? 'Every seat is taken: you are watching.' : e.message);
    }
  });
  standBtn.addEventListener('click', () => room.request({ type: 'stand' }).catch((e) => setStatus(e.message)));
  // The page's onLeave hides the view, which closes it.
  leaveBtn.addEventListener('click', () => (onLeave ? onLeave() : close()));

  function onKey(ev) {
    if (!(ev.key in KEYS) || ev.target instanceof HTMLInputElement) return;
    ev.preventDefault();
    if (ev.type === 'keydown') held.add(ev.key);
    else held.delete(ev.key);
    steer();
  }
  function toArena(ev) {
    const r = canvas.getBoundingClientRect();
    return [((ev.clientX - r.left) / r.width) * game.arena.width, ((ev.clientY - r.top) / r.height) * game.arena.height];
  }
  canvas.addEventListener('pointerdown', (ev) => {
    if (!game.arena) return;
    canvas.setPointerCapture(ev.pointerId);
    pointer = toArena(ev);
    steer();
  });
  canvas.addEventListener('pointermove', (ev) => {
    if (pointer === null) return;
    pointer = toArena(ev);
    steer();
  });
  const release = () => {
    pointer = null;
    steer();
  };
  canvas.addEventListener('pointerup', release);
  canvas.addEventListener('pointercancel', release);
  window.addEventListener('keydown', onKey);
  window.addEventListener('keyup', onKey);
  window.addEventListener('resize', redraw);
  // Following the player as it moves needs a new direction now and then.
  const follow = setInterval(() => {
    if (pointer) steer();
  }, 100);

  function close() {
    clearInterval(follow);
    window.removeEventListener('keydown', onKey);
    window.removeEventListener('keyup', onKey);
    window.removeEventListener('resize', redraw);
    room.close();
    root.replaceChildren();
  }
  return { close, room };
}

let shown = null;
let app = null;

// As every view (app.js): the page's shared state and actions.
export function init(shared) {
  app = shared;
}

// The page's game view: a section of its own, made on first use.
export function show(roomId) {
  hide();
  const token = app.liveToken();
  if (token === null) return;
  let section = document.getElementById('game-view');
  if (section === null) {
    section = el('section', { id: 'game-view', class: 'view', 'data-testid': 'game-view' });
    (document.querySelector('main') ?? document.body).append(section);
  }
  section.hidden = false;
  const root = el('div', { id: 'game-root' });
  section.replaceChildren(root);
  shown = mount(root, {
    token,
    roomId,
    onLeave: () => {
      history.pushState(null, '', '/');
      app.showLobby();
    },
  });
}

export function hide() {
  shown?.close();
  shown = null;
  const section = document.getElementById('game-view');
  if (section !== null) section.hidden = true;
}
