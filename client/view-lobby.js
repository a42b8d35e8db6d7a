// The lobby view: an account's conversations (its rooms and DMs), create a
// room, join one by ID or share link, and the list of rooms (public ones and
// the user's own) with their unread counts.

import { isEnvelope } from './e2ee.js';
import { APPS } from './apps.js';
import {
  ApiError, ROOM_NAME_MAX_BYTES, createRoom, leaveMyRoom, listMyRooms, listRooms, parseRoomInput,
} from './api.js';
import { textBytes } from './connection.js';
import { $, fillAvatar, setError, setVisible } from './dom.js';
import { ensurePeople, isBlocked, onPeopleChange } from './people.js';

let app = null;

// Member counts change all the time (the session server writes a room's at
// most once a second), so the list is fetched again whenever the lobby is
// shown, whenever the page comes back into view or gets the focus (the user
// looks at it again), and every ROOMS_REFRESH_MS while it is visible. A
// request that hangs is given up after ROOMS_TIMEOUT_MS, and one started by
// the user looking again replaces any in flight, so that one slow answer
// never holds the list at what it was. The read marks this page sent
// (app.readUpTo) count as well, so that a room just left shows no unread
// messages even before its server has stored the mark.

const ROOMS_REFRESH_MS = 3000;
const ROOMS_TIMEOUT_MS = 8000;
const ROOMS_FRESH_MS = 1000;
const listedRooms = new Map(); // roomId → the room as last listed
let roomsTimer = null;
let roomsFetch = null; // { controller, startedAt } of the request in flight

function startRoomList() {
  clearInterval(roomsTimer);
  roomsTimer = setInterval(() => {
    if (!document.hidden) refreshRooms();
  }, ROOMS_REFRESH_MS);
  refreshRooms({ fresh: true });
}

function stopRoomList() {
  clearInterval(roomsTimer);
  roomsTimer = null;
  roomsFetch?.controller.abort();
  roomsFetch = null;
}

// fresh: the user looks at the list now, so an answer to an older request
// will not do.
async function refreshRooms({ fresh = false } = {}) {
  const token = app.liveToken();
  if (token === null || roomsTimer === null) return;
  if (roomsFetch !== null) {
    // The timeout ends a request that hangs. One asked for within the last
    // second is as fresh as a new one would be: counts change at most that
    // often.
    if (!fresh || Date.now() - roomsFetch.startedAt < ROOMS_FRESH_MS) return;
    roomsFetch.controller.abort();
  }
  const call = { controller: new AbortController(), startedAt: Date.now() };
  roomsFetch = call;
  const timer = setTimeout(() => call.controller.abort(), ROOMS_TIMEOUT_MS);
  const status = $('rooms-status');
  if (listedRooms.size === 0) status.textContent = 'Loading rooms…';
  try {
    const rooms = await listRooms(token, call.controller.signal);
    if (roomsFetch !== call || token !== app.session?.token) return;
    renderRooms(rooms);
  } catch (error) {
    if (roomsFetch !== call || token !== app.session?.token) return;
    if (error instanceof ApiError && error.status === 401) {
      app.expireSession();
      return;
    }
    status.textContent = `Could not load the rooms: ${error.message}`;
  } finally {
    clearTimeout(timer);
    if (roomsFetch === call) roomsFetch = null;
  }
}

function unreadOf(r) {
  const read = app.readUpTo.get(r.roomId);
  return read === undefined ? r.unread : Math.min(r.unread, Math.max(0, r.lastSeq - read));
}

function buildRoomItem(roomId) {
  const li = document.createElement('li');
  const link = document.createElement('a');
  link.className = 'room-item';
  link.href = `/?room=${encodeURIComponent(roomId)}`;
  link.dataset.testid = 'room-item';
  link.dataset.room = roomId;
  link.addEventListener('click', (event) => {
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    app.openRoom(roomId, { push: true, name: listedRooms.get(roomId)?.name ?? null, kind: 'room' });
  });
  const icon = document.createElement('span');
  icon.className = 'avatar room-icon';
  icon.setAttribute('aria-hidden', 'true');
  const main = document.createElement('span');
  main.className = 'room-main';
  const name = document.createElement('span');
  name.className = 'room-name';
  name.dataset.testid = 'room-item-name';
  const meta = document.createElement('span');
  meta.className = 'room-meta';
  main.append(name, meta);
  const mention = mentionBadge('room-mentions');
  const badge = document.createElement('span');
  badge.className = 'badge';
  badge.dataset.testid = 'room-unread';
  badge.setAttribute('aria-hidden', 'true');
  const spoken = document.createElement('span');
  spoken.className = 'visually-hidden';
  link.append(icon, main, mention, badge, spoken);
  li.append(link);
  return li;
}

function fillRoomItem(li, r) {
  const link = li.firstElementChild;
  const [icon, main, mentionEl, badge, spoken] = link.children;
  const [name, meta] = main.children;
  fillAvatar(icon, r.name || '#');
  icon.title = '';
  name.textContent = r.name || 'Untitled room';
  name.classList.toggle('untitled', r.name === '');
  const id = document.createElement('code');
  id.textContent = r.roomId;
  const here = r.members === 0 ? 'nobody here' : `${r.members} here`;
  const whose = r.mine ? 'yours' : `by ${r.owner}`;
  meta.replaceChildren(id, ` · ${here} · ${r.visibility} · ${whose}`);
  const unread = unreadOf(r);
  link.dataset.unread = String(unread);
  link.dataset.members = String(r.members);
  badge.textContent = unread > 99 ? '99+' : String(unread);
  setVisible(badge, unread > 0);
  // The rooms list says nothing of mentions: the conversations (GET
  // /api/me/rooms) do, for the rooms the account belongs to.
  const c = conversations.get(r.roomId);
  const mentioned = c === undefined ? 0 : mentionsOf(c);
  fillMentionBadge(mentionEl, link, mentioned);
  spoken.textContent = (unread > 0 ? `, ${unread} unread` : '') + mentionSpoken(mentioned);
}

// ------------------------------------------------------------- mentions
// An "@N" badge beside the unread count: the account's unread mentions in
// that room (docs/protocol.md, "Mentions").

function mentionBadge(testid) {
  const at = document.createElement('span');
  at.className = 'badge mention-badge';
  at.dataset.testid = testid;
  at.setAttribute('aria-hidden', 'true');
  at.hidden = true;
  return at;
}

function fillMentionBadge(at, link, n) {
  link.dataset.mentions = String(n);
  at.textContent = `@${n > 99 ? '99+' : n}`;
  setVisible(at, n > 0);
}

function mentionSpoken(n) {
  if (n === 0) return '';
  return n === 1 ? ', 1 mention of you' : `, ${n} mentions of you`;
}

// As the conversation was listed, unless this page read past its latest
// message since.
function mentionsOf(c) {
  const read = app.readUpTo.get(c.roomId);
  if (read !== undefined && c.lastMessage !== null && read >= c.lastMessage.seq) return 0;
  return c.mentions;
}

function renderRooms(rooms) {
  listedRooms.clear();
  for (const r of rooms) listedRooms.set(r.roomId, r);
  const status = $('rooms-status');
  status.textContent = rooms.length === 0
    ? 'No rooms yet. Public rooms, and the rooms you create, show up here.'
    : '';
  const list = $('room-list');
  const items = new Map();
  for (const li of list.children) items.set(li.firstElementChild.dataset.room, li);
  const wanted = rooms.map((r) => {
    const li = items.get(r.roomId) ?? buildRoomItem(r.roomId);
    fillRoomItem(li, r);
    return li;
  });
  // Only reorder when the order changed: moving the focused item would
  // take the focus away from a keyboard user.
  const same = wanted.length === list.children.length
    && wanted.every((li, i) => list.children[i] === li);
  if (!same) {
    const focused = document.activeElement?.closest?.('.room-item')?.dataset.room ?? null;
    list.replaceChildren(...wanted);
    if (focused !== null) list.querySelector(`[data-room="${focused}"]`)?.focus();
  }
}

// -------------------------------------------------------------- conversations
// An account's rooms and DMs (GET /api/me/rooms), newest activity first. The
// list is fetched when the lobby is shown, and again through
// refreshConversations() whenever the inbox (inbox.js) says it changed: a
// new DM or a reconnect. The poll every CONVERSATIONS_REFRESH_MS while the
// page is visible is only a safety net for what the inbox cannot tell: a
// notification lost with a session server that died between a commit and
// its notify, or a new message in a room that is no DM (no event yet).
// "More" adds a page, and a refresh fetches as many pages as are shown.

const CONVERSATIONS_REFRESH_MS = 60000;
const CONVERSATIONS_SETTLE_MS = 2000;
let settleTimer = null;
const conversations = new Map(); // roomId → the conversation as last listed
let conversationsTimer = null;
let conversationPages = 1;
let conversationsCall = 0; // the latest refresh: an older answer is dropped

function conversationTitle(c) {
  if (c.kind === 'dm') return c.peer?.displayName ?? 'Direct message';
  return c.name || 'Untitled room';
}

// "now", "5 min", "3 h", "2 d", then the date.
export function relativeTime(ms, now = Date.now()) {
  const minutes = Math.floor((now - ms) / 60000);
  if (minutes < 1) return 'now';
  if (minutes < 60) return `${minutes} min`;
  if (minutes < 24 * 60) return `${Math.floor(minutes / 60)} h`;
  if (minutes < 7 * 24 * 60) return `${Math.floor(minutes / (24 * 60))} d`;
  return new Date(ms).toLocaleDateString([], { month: 'short', day: 'numeric' });
}

function startConversations() {
  const on = app.session?.registered === true;
  setVisible($('conversations'), on);
  clearInterval(conversationsTimer);
  conversationsTimer = null;
  if (!on) {
    conversations.clear();
    $('conversation-list').replaceChildren();
    return;
  }
  ensurePeople();
  conversationsTimer = setInterval(() => {
    if (!document.hidden) refreshConversations();
  }, CONVERSATIONS_REFRESH_MS);
  refreshConversations();
  // The room just left stores its last read mark (and the page's last
  // message) a moment later: fetched once more then, as no event tells.
  clearTimeout(settleTimer);
  settleTimer = setTimeout(() => refreshConversations(), CONVERSATIONS_SETTLE_MS);
}

function stopConversations() {
  clearTimeout(settleTimer);
  clearInterval(conversationsTimer);
  conversationsTimer = null;
  conversationsCall++;
}

// Fetches the conversations again while the lobby shows them (else nothing).
export async function refreshConversations() {
  if (app === null || conversationsTimer === null || app.session?.registered !== true) return;
  const token = app.liveToken();
  if (token === null) return;
  const call = ++conversationsCall;
  const status = $('conversations-status');
  if (conversations.size === 0) status.textContent = 'Loading your conversations…';
  try {
    const rooms = [];
    let cursor = null;
    for (let i = 0; i < conversationPages; i++) {
      const page = await listMyRooms(token, { cursor });
      rooms.push(...page.rooms);
      cursor = page.next;
      if (cursor === null) break;
    }
    if (call !== conversationsCall || token !== app.session?.token) return;
    renderConversations(rooms, cursor !== null);
  } catch (error) {
    if (call !== conversationsCall || token !== app.session?.token) return;
    if (error instanceof ApiError && error.status === 401) {
      app.expireSession();
      return;
    }
    status.textContent = `Could not load your conversations: ${error.message}`;
  }
}

function conversationUnread(c) {
  const read = app.readUpTo.get(c.roomId);
  if (read === undefined || c.lastMessage === null) return c.unread;
  return Math.min(c.unread, Math.max(0, c.lastMessage.seq - read));
}

function buildConversation(roomId) {
  const li = document.createElement('li');
  li.className = 'conversation-row';
  const link = document.createElement('a');
  link.className = 'room-item conversation-item';
  link.href = `/?room=${encodeURIComponent(roomId)}`;
  link.dataset.testid = 'conversation-item';
  link.dataset.room = roomId;
  link.addEventListener('click', (event) => {
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    const c = conversations.get(roomId);
    app.openRoom(roomId, { push: true, name: c ? conversationTitle(c) : null, kind: c?.kind ?? null });
  });
  const icon = document.createElement('span');
  icon.className = 'avatar';
  icon.setAttribute('aria-hidden', 'true');
  const main = document.createElement('span');
  main.className = 'room-main';
  const top = document.createElement('span');
  top.className = 'conversation-top';
  const name = document.createElement('span');
  name.className = 'room-name';
  name.dataset.testid = 'conversation-name';
  const time = document.createElement('time');
  time.className = 'conversation-time';
  time.dataset.testid = 'conversation-time';
  top.append(name, time);
  const last = document.createElement('span');
  last.className = 'room-meta';
  last.dataset.testid = 'conversation-last';
  main.append(top, last);
  const mention = mentionBadge('conversation-mentions');
  const badge = document.createElement('span');
  badge.className = 'badge';
  badge.dataset.testid = 'conversation-unread';
  badge.setAttribute('aria-hidden', 'true');
  const spoken = document.createElement('span');
  spoken.className = 'visually-hidden';
  link.append(icon, main, mention, badge, spoken);
  const leave = document.createElement('button');
  leave.type = 'button';
  leave.className = 'link-button conversation-leave';
  leave.dataset.testid = 'conversation-leave';
  leave.textContent = 'Leave';
  leave.addEventListener('click', () => leaveForGood(roomId));
  li.append(link, leave);
  return li;
}

function fillConversation(li, c) {
  const [link, leave] = li.children;
  const [icon, main, mentionEl, badge, spoken] = link.children;
  const [top, last] = main.children;
  const [name, time] = top.children;
  const title = conversationTitle(c);
  link.dataset.kind = c.kind;
  if (c.kind === 'dm' && c.peer !== null) {
    icon.className = 'avatar person';
    icon.textContent = c.peer.avatar.initials || (Array.from(c.peer.displayName)[0] ?? '?').toUpperCase();
    icon.style.background = c.peer.avatar.color ?? '';
    if (c.peer.avatar.color === null) icon.style.setProperty('--hue', 220);
  } else {
    icon.className = 'avatar room-icon';
    icon.style.background = '';
    fillAvatar(icon, c.name || '#');
  }
  icon.title = '';
  name.textContent = title;
  name.classList.toggle('untitled', c.kind === 'room' && c.name === '');
  const at = c.lastMessage !== null && Number.isFinite(c.lastMessage.at) ? c.lastMessage.at : c.activityAt;
  if (Number.isFinite(at)) {
    time.dateTime = new Date(at).toISOString();
    time.textContent = relativeTime(at);
    time.title = new Date(at).toLocaleString();
  } else {
    time.textContent = '';
  }
  const m = c.lastMessage;
  if (m === null) {
    last.textContent = 'No messages yet';
  } else if (isBlocked(m.userId)) {
    last.textContent = 'Message from a blocked user';
  } else {
    const mine = m.userId === app.session?.user;
    const who = mine ? 'You' : m.userName || m.userId;
    // An encrypted DM's text is for the room view to decrypt.
    const text = isEnvelope(m.text) ? '🔒 Encrypted message' : m.text;
    last.textContent = c.kind === 'dm' && !mine ? text : `${who}: ${text}`;
  }
  const unread = conversationUnread(c);
  link.dataset.unread = String(unread);
  badge.textContent = unread > 99 ? '99+' : String(unread);
  setVisible(badge, unread > 0);
  const mentioned = mentionsOf(c);
  fillMentionBadge(mentionEl, link, mentioned);
  spoken.textContent = (unread > 0 ? `, ${unread} unread` : '') + mentionSpoken(mentioned);
  leave.setAttribute('aria-label', `Leave “${title}” for good`);
}

function renderConversations(rooms, more) {
  conversations.clear();
  for (const c of rooms) if (!conversations.has(c.roomId)) conversations.set(c.roomId, c);
  $('conversations-status').textContent = rooms.length === 0
    ? 'No conversations yet. Rooms you join and people you message show up here.'
    : '';
  setVisible($('conversations-more'), more);
  const list = $('conversation-list');
  const items = new Map();
  for (const li of list.children) items.set(li.firstElementChild.dataset.room, li);
  const wanted = [...conversations.values()].map((c) => {
    const li = items.get(c.roomId) ?? buildConversation(c.roomId);
    fillConversation(li, c);
    return li;
  });
  const same = wanted.length === list.children.length
    && wanted.every((li, i) => list.children[i] === li);
  if (!same) {
    const focused = document.activeElement?.closest?.('.conversation-item')?.dataset.room ?? null;
    list.replaceChildren(...wanted);
    if (focused !== null) list.querySelector(`[data-room="${focused}"]`)?.focus();
  }
  // The rooms list's @N badges come from these.
  for (const li of $('room-list').children) {
    const r = listedRooms.get(li.firstElementChild.dataset.room);
    if (r !== undefined) fillRoomItem(li, r);
  }
}

async function leaveForGood(roomId) {
  const c = conversations.get(roomId);
  const title = c ? conversationTitle(c) : roomId;
  const what = c?.kind === 'dm'
    ? 'It leaves your conversations until a new message arrives in it.'
    : 'It leaves your conversations; with its link you can still join it again.';
  if (!window.confirm(`Leave “${title}” for good? ${what}`)) return;
  const token = app.liveToken();
  if (token === null) return;
  setError($('lobby-error'), null);
  try {
    await leaveMyRoom(token, roomId);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) app.expireSession();
    else setError($('lobby-error'), `Could not leave “${title}”: ${error.message}`);
    return;
  }
  $('conversation-list').querySelector(`[data-room="${roomId}"]`)?.closest('li')?.remove();
  conversations.delete(roomId);
  refreshConversations();
}

// shared: the app (app.js): the session, its read marks, and openRoom.
export function init(shared) {
  app = shared;

  $('conversations-refresh').addEventListener('click', () => refreshConversations());
  $('conversations-more').addEventListener('click', () => {
    conversationPages++;
    refreshConversations();
  });
  onPeopleChange(() => {
    for (const li of $('conversation-list').children) {
      const c = conversations.get(li.firstElementChild.dataset.room);
      if (c !== undefined) fillConversation(li, c);
    }
  });

  for (const { app: value, label } of APPS) {
    const option = document.createElement('option');
    option.value = value;
    option.textContent = label;
    $('room-app-input').append(option);
  }
  $('create-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const name = $('room-name-input').value.trim();
    if (textBytes(name) > ROOM_NAME_MAX_BYTES) {
      setError($('lobby-error'), `That name is too long: a room name holds at most ${ROOM_NAME_MAX_BYTES} bytes.`);
      $('room-name-input').focus();
      return;
    }
    const token = app.liveToken();
    if (token === null) return;
    const visibility = document.querySelector('#create-form input[name="visibility"]:checked').value;
    const button = $('create-room');
    button.disabled = true;
    setError($('lobby-error'), null);
    let roomId;
    try {
      const kind = $('room-app-input').value;
      const body = name === '' ? { visibility } : { name, visibility };
      roomId = await createRoom(token, kind === 'chat' ? body : { ...body, app: kind });
    } catch (error) {
      button.disabled = false;
      app.lobbyFailed(error);
      return;
    }
    button.disabled = false;
    $('room-name-input').value = '';
    await app.openRoom(roomId, { push: true, name, kind: 'room' });
  });

  $('join-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = $('join-input');
    const roomId = parseRoomInput(input.value);
    if (roomId === null) {
      setError($('lobby-error'), input.value.trim() === ''
        ? 'Enter a room ID to join.'
        : `“${input.value.trim()}” is not a room ID: room IDs are 12 lower-case letters and digits.`);
      input.focus();
      return;
    }
    setError($('lobby-error'), null);
    await app.openRoom(roomId, { push: true });
  });

  $('rooms-refresh').addEventListener('click', () => refreshRooms({ fresh: true }));

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) {
      refreshRooms({ fresh: true });
      refreshConversations();
    }
  });
  window.addEventListener('focus', () => refreshRooms({ fresh: true }));
  // Back from the browser's page cache: the list on screen is as old as the visit.
  window.addEventListener('pageshow', (event) => {
    if (event.persisted) refreshRooms({ fresh: true });
  });
}

export function show(message = null) {
  setVisible($('lobby-view'), true);
  setError($('lobby-error'), message);
  startRoomList();
  startConversations();
}

export function hide() {
  setVisible($('lobby-view'), false);
  stopRoomList();
  stopConversations();
}

// While a room is being opened, no second one can be asked for.
export function setBusy(busy) {
  for (const id of ['create-room', 'join-button']) $(id).disabled = busy;
}

// 'dm' or 'room' as the conversations last listed it, or undefined.
export function listedKind(roomId) {
  return conversations.get(roomId)?.kind;
}

// The room's name as last listed (a DM's: the other person's), or undefined.
export function listedName(roomId) {
  const c = conversations.get(roomId);
  return listedRooms.get(roomId)?.name ?? (c ? conversationTitle(c) : undefined);
}
