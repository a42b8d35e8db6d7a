// The account's live notifications (docs/protocol.md, "The inbox"): while a
// registered user is signed in (the lobby or a room shown), the page keeps
// one WebSocket to the account's inbox room, through a RoomConnection (the
// same lookup, backoff, fresh ticket per try and liveness rule as a room's;
// the lookup is GET /api/me/inbox). Events are hints, the HTTP API is the
// truth: on every welcome and resync the page refetches its conversations
// and people; friend_request and friends refetch the people (the People
// button's count), dm, room and mention the conversations (their unread
// and @N badges), unless that room is the one on screen, which shows its
// messages itself; presence updates that friend in place; call_ring and
// call_ring_end show and take away the incoming-call banner (ring.js);
// reminder (one fired) refetches the reminders (view-notify-settings.js).
// Guests have no inbox.
//
// Presence: the page is "away" after IDLE_MS (5 minutes) without pointer,
// key, wheel or touch input in it. A hidden tab gets no input, so a tab in
// the background turns away after the same 5 minutes; showing it again, or
// any input, makes it "online". The state goes out on the inbox socket only
// when it changes (and again after a reconnect, where the server starts the
// new connection as online). For tests and demos, `?idle_ms=N` on the URL
// the page is loaded with (1000 ≤ N ≤ 3600000) sets the idle time instead.
//
// The page's <body> carries data-inbox (the connection's state, see STATE
// in connection.js) and data-presence ('online' or 'away').

import { inboxTicket } from './api.js';
import { RoomConnection, STATE } from './connection.js';
import { refreshPeople, setPresence } from './people.js';
import { clearRings, initRing, onRingEvent } from './ring.js';
import { refreshConversations } from './view-lobby.js';
import { showing } from './view-room.js';
import { reminderFired } from './view-notify-settings.js';

const IDLE_MS_DEFAULT = 5 * 60 * 1000;
// After a fatal refusal (say the ticket refused twice) the inbox starts over
// this much later: the page keeps working without it meanwhile.
const FATAL_RETRY_MS = 30000;
const INPUT_EVENTS = ['pointerdown', 'pointermove', 'keydown', 'wheel', 'touchstart'];

let app = null;
let conn = null;
let connToken = null;
let fatalTimer = null;

const idleMs = idleSetting();
let lastInput = Date.now();
let idleTimer = null;
let away = false;
// What the current socket was last told (a new one starts online).
let sentAway = false;

function idleSetting() {
  const raw = new URLSearchParams(location.search).get('idle_ms');
  const n = raw === null ? NaN : Number(raw);
  return Number.isInteger(n) && n >= 1000 && n <= 3600000 ? n : IDLE_MS_DEFAULT;
}

// fn() at most once at a time; a call while it runs makes it run once more
// after, so that an event is never answered by a fetch that started before it.
function coalesced(fn) {
  let running = false;
  let again = false;
  const run = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await fn();
    } catch {
      // The views show their own errors; the next event or poll tries again.
    } finally {
      running = false;
      if (again) {
        again = false;
        run();
      }
    }
  };
  return run;
}

const conversations = coalesced(() => refreshConversations());
const peopleLists = coalesced(() => refreshPeople());

function refetch() {
  conversations();
  peopleLists();
}

function onFrame(frame) {
  if (frame.type === 'resync') {
    refetch();
    return;
  }
  if (frame.type !== 'event' || frame.event === null || typeof frame.event !== 'object') return;
  const event = frame.event;
  switch (event.type) {
    case 'friend_request':
    case 'friends':
      peopleLists();
      break;
    case 'dm':
    case 'room':
    case 'mention':
      if (typeof event.roomId === 'string' && showing(event.roomId)) break;
      conversations();
      break;
    case 'call_ring':
    case 'call_ring_end':
      onRingEvent(event);
      break;
    case 'reminder':
      reminderFired();
      break;
    case 'presence':
      if (typeof event.userId === 'string') setPresence(event.userId, event.state, event.lastSeen);
      break;
    default:
      break;
  }
}

// ---- presence ------------------------------------------------------------

function tellPresence() {
  if (conn === null || sentAway === away) return;
  if (conn.sendFrame({ type: 'presence', state: away ? 'away' : 'online' })) sentAway = away;
}

function setAway(value) {
  away = value;
  document.body.dataset.presence = away ? 'away' : 'online';
  tellPresence();
}

function checkIdle() {
  const left = lastInput + idleMs - Date.now();
  if (left > 0) {
    idleTimer = setTimeout(checkIdle, left);
    return;
  }
  idleTimer = null;
  setAway(true);
}

// Called for every input: kept cheap (no timer unless coming back).
function onInput() {
  lastInput = Date.now();
  if (away && conn !== null) {
    setAway(false);
    clearTimeout(idleTimer);
    idleTimer = setTimeout(checkIdle, idleMs);
  }
}

// ---- the connection --------------------------------------------------------

function stop() {
  clearTimeout(fatalTimer);
  clearTimeout(idleTimer);
  idleTimer = null;
  conn?.close();
  conn = null;
  connToken = null;
  clearRings();
  delete document.body.dataset.inbox;
}

function start(token) {
  connToken = token;
  conn = new RoomConnection({ roomId: 'inbox', lookup: () => inboxTicket(token) });
  conn.addEventListener('state', (e) => {
    document.body.dataset.inbox = e.detail.state;
  });
  conn.addEventListener('welcome', () => {
    sentAway = false;
    tellPresence();
    refetch();
  });
  conn.addEventListener('frame', (e) => onFrame(e.detail));
  conn.addEventListener('fatal', (e) => {
    if (e.detail.reason === 'unauthorized') {
      app.expireSession();
      return;
    }
    clearTimeout(fatalTimer);
    fatalTimer = setTimeout(() => conn?.retry(), FATAL_RETRY_MS);
  });
  lastInput = Date.now();
  setAway(false);
  idleTimer = setTimeout(checkIdle, idleMs);
  conn.start();
}

// Starts, keeps or stops the inbox to match app.session: call it whenever
// the session may have changed.
export function syncInbox() {
  const session = app.session;
  const token = session !== null && session.registered ? session.token : null;
  if (token === connToken) return;
  stop();
  if (token !== null) start(token);
}

// shared: the app (app.js): the session and expireSession.
export function initInbox(shared) {
  app = shared;
  initRing(shared);
  for (const type of INPUT_EVENTS) {
    window.addEventListener(type, onInput, { capture: true, passive: true });
  }
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) onInput();
  });
}
