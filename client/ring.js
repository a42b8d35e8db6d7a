// The incoming-call banner (docs/protocol.md, "Calls", "Ringing in a DM"):
// the inbox (inbox.js) hands us its call_ring and call_ring_end events, on
// whatever view the page shows. Accept opens the DM and joins its call
// (with video when the caller's ring had it); Decline sends the DM's room
// {"type":"call","op":"decline"}, through the room's connection when its
// view is shown, otherwise through a connection opened for that alone (the
// callee need not join the call to decline it). A ring_end (answered on
// another tab, declined, missed, cancelled) takes the banner away; so does
// the ring's own timeout, should that event be lost.

import { lookupRoom } from './api.js';
import { acceptCall, shownConnection } from './call.js';
import { RoomConnection, STATE } from './connection.js';

// A connection opened to decline gives up after this long.
const DECLINE_GIVE_UP_MS = 15000;
// The banner outlives the ring's announced timeout by this much at most.
const GRACE_MS = 5000;

let app = null;
const banners = new Map(); // roomId → { node, timer }

function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== null) node.textContent = text;
  return node;
}

function remove(roomId) {
  const b = banners.get(roomId);
  if (!b) return;
  banners.delete(roomId);
  clearTimeout(b.timer);
  b.node.remove();
}

function decline(roomId) {
  const shown = shownConnection(roomId);
  if (shown !== null && shown.sendFrame({ type: 'call', op: 'decline' })) return;
  const token = app.liveToken();
  if (token === null) return;
  const conn = new RoomConnection({ roomId, lookup: (id, opts) => lookupRoom(token, id, opts) });
  const done = () => {
    clearTimeout(giveUp);
    conn.close();
  };
  const giveUp = setTimeout(done, DECLINE_GIVE_UP_MS);
  conn.addEventListener('state', (e) => {
    if (e.detail.state !== STATE.CONNECTED) return;
    // The frame is queued before the close, so it goes first.
    conn.sendFrame({ type: 'call', op: 'decline' });
    done();
  });
  conn.addEventListener('fatal', done);
  conn.start();
}

function show(event) {
  const { roomId } = event;
  const from = event.from !== null && typeof event.from === 'object' ? event.from : {};
  const name = typeof from.name === 'string' && from.name ? from.name
    : typeof from.userId === 'string' ? from.userId : 'Someone';
  const video = event.video === true;
  remove(roomId);
  const node = el('section', {
    class: 'incoming-call', 'data-testid': 'incoming-call', 'data-room': roomId, role: 'alertdialog',
    'aria-label': 'Incoming call',
  });
  const text = el('p', { class: 'incoming-call-text', 'data-testid': 'incoming-call-text' },
    `${name} is calling you${video ? ' (video)' : ''}`);
  const accept = el('button', { type: 'button', 'data-testid': 'incoming-accept' }, 'Accept');
  const refuse = el('button', { type: 'button', 'data-testid': 'incoming-decline', class: 'danger' }, 'Decline');
  accept.addEventListener('click', () => {
    remove(roomId);
    acceptCall(roomId, video);
    // In its view already: acceptCall joined; else open it.
    if (shownConnection(roomId) === null) app.openRoom(roomId, { push: true, name, kind: 'dm' });
  });
  refuse.addEventListener('click', () => {
    remove(roomId);
    decline(roomId);
  });
  node.append(text, accept, refuse);
  document.body.append(node);
  const timeoutS = Number.isInteger(event.timeoutS) && event.timeoutS > 0 ? event.timeoutS : 60;
  banners.set(roomId, { node, timer: setTimeout(() => remove(roomId), timeoutS * 1000 + GRACE_MS) });
}

// An inbox event of ours (call_ring, call_ring_end); others are ignored.
export function onRingEvent(event) {
  if (typeof event.roomId !== 'string') return;
  if (event.type === 'call_ring') show(event);
  else if (event.type === 'call_ring_end') remove(event.roomId);
}

// Every banner goes when the user signs out.
export function clearRings() {
  for (const roomId of [...banners.keys()]) remove(roomId);
}

// shared: the app (app.js): liveToken and openRoom.
export function initRing(shared) {
  app = shared;
}
