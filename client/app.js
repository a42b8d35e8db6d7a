// The page: login, lobby and room views over api.js and connection.js.
// Everything that came from the network is put into the page as text
// (textContent), never as HTML.

import {
  ApiError, PASSWORD_MAX_BYTES, PASSWORD_MIN_BYTES, ROOM_NAME_MAX_BYTES, USER_ID_RULE,
  createRoom, listRooms, login, loginWithPassword, lookupRoom, olderMessages, parseRoomInput,
  register, tokenExpiry, validUserId,
} from './api.js';
import {
  MAX_TEXT_BYTES, RoomConnection, STATE, textBytes, validMessage,
} from './connection.js';

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- session
// A guest's session lives in sessionStorage: each tab is its own guest, so
// two tabs can chat with each other, and the name is gone with the tab. An
// account's session lives in localStorage, so that it survives a reload and
// is shared by the browser's tabs until it expires or the user logs out.
// session is { token, user, registered, expiresAt } or null.

const GUEST_KEY = 'stateroom.session';
const ACCOUNT_KEY = 'stateroom.account';
const MODE_KEY = 'stateroom.login-mode';

// storage is 'localStorage' or 'sessionStorage': merely reading those
// properties throws where the browser blocks storage.
function storageGet(storage, key) {
  try {
    return window[storage].getItem(key);
  } catch {
    // Storage disabled (some private modes): nothing is remembered.
    return null;
  }
}

function storageSet(storage, key, value) {
  try {
    if (value === null) window[storage].removeItem(key);
    else window[storage].setItem(key, value);
  } catch {
    // As above: the session then lasts as long as the page.
  }
}

function readSession(storage, key, registered) {
  const raw = storageGet(storage, key);
  if (raw === null) return null;
  try {
    const saved = JSON.parse(raw);
    if (saved && typeof saved.token === 'string' && typeof saved.user === 'string') {
      const expiresAt = tokenExpiry(saved.token);
      if (expiresAt === null || expiresAt > Date.now()) {
        return { token: saved.token, user: saved.user, registered, expiresAt };
      }
    }
  } catch {
    // Corrupt entry: dropped below.
  }
  storageSet(storage, key, null);
  return null;
}

// A guest in this tab wins over the browser's account: the tab chose it.
function loadSession() {
  return readSession('sessionStorage', GUEST_KEY, false)
    ?? readSession('localStorage', ACCOUNT_KEY, true);
}

let session = loadSession();

function saveSession(value) {
  session = value;
  if (value === null) {
    storageSet('sessionStorage', GUEST_KEY, null);
    storageSet('localStorage', ACCOUNT_KEY, null);
  } else {
    const saved = JSON.stringify({ token: value.token, user: value.user });
    storageSet('sessionStorage', GUEST_KEY, value.registered ? null : saved);
    if (value.registered) storageSet('localStorage', ACCOUNT_KEY, saved);
  }
  renderWhoami();
}

// The account's token, or null (and back to the login) once it has expired.
function liveToken() {
  if (session !== null && session.expiresAt !== null && session.expiresAt <= Date.now()) {
    expireSession();
    return null;
  }
  return session?.token ?? null;
}

// ---------------------------------------------------------------- helpers

function show(element, visible) {
  element.hidden = !visible;
}

function setError(element, message) {
  element.textContent = message ?? '';
  show(element, Boolean(message));
}

function linkButton(label, onClick) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'link-button';
  button.textContent = label;
  button.addEventListener('click', onClick);
  return button;
}

function hue(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

function fillAvatar(element, name) {
  element.textContent = (Array.from(name)[0] ?? '?').toUpperCase();
  element.style.setProperty('--hue', hue(name));
  element.title = name;
}

function formatTime(date) {
  const now = new Date();
  if (date.toDateString() === now.toDateString()) {
    return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }
  return date.toLocaleString([], {
    month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
  });
}

function roomUrl(roomId) {
  return `${location.origin}/?room=${encodeURIComponent(roomId)}`;
}

function roomParam() {
  return new URLSearchParams(location.search).get('room');
}

function roomTitle(name, roomId) {
  return name ? name : `Room ${roomId}`;
}

async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // The clipboard API needs a secure context; plain http on a LAN is not.
    input.focus();
    input.select();
    return document.execCommand('copy');
  }
}

// ---------------------------------------------------------------- views

const views = {
  login: $('login-view'),
  lobby: $('lobby-view'),
  room: $('room-view'),
};

function showView(name) {
  for (const [key, element] of Object.entries(views)) show(element, key === name);
  document.body.dataset.view = name;
  if (name !== 'lobby') stopRoomList();
}

function renderWhoami() {
  show($('whoami'), session !== null);
  if (session !== null) {
    $('whoami-name').textContent = session.user;
    $('whoami-name').dataset.registered = String(session.registered);
    $('whoami').title = session.registered ? '' : 'Guest: the name is gone when you close this tab';
    fillAvatar($('whoami-avatar'), session.user);
  }
}

let room = null;

function closeRoom() {
  if (room !== null) {
    room.destroy();
    room = null;
  }
  document.title = 'Stateroom';
}

function showLogin(message = null, { lede = null, user = null, mode = null } = {}) {
  closeRoom();
  showView('login');
  if (lede !== null) $('login-lede').textContent = lede;
  if (user !== null) $('login-user').value = user;
  if (mode !== null) setLoginMode(mode);
  setError($('login-error'), message);
  (user !== null && loginMode !== 'guest' ? $('login-password') : $('login-user')).focus();
}

function showLobby(message = null) {
  closeRoom();
  showView('lobby');
  setError($('lobby-error'), message);
  startRoomList();
}

function expireSession(message = 'Your login has expired. Please log in again.') {
  const previous = session;
  saveSession(null);
  showLogin(message, previous?.registered ? { user: previous.user, mode: 'login' } : {});
}

// An ApiError from a lobby action: 401 means the token is no longer good.
function lobbyFailed(error) {
  if (error instanceof ApiError && error.status === 401) {
    expireSession();
  } else {
    showLobby(error.message);
  }
}

// Looks the room up and shows it, or explains in the lobby why not.
async function openRoom(roomId, { push, name = null }) {
  const token = liveToken();
  if (token === null) return;
  const buttons = [$('create-room'), $('join-button')];
  for (const b of buttons) b.disabled = true;
  try {
    const target = await lookupRoom(token, roomId);
    if (target === null) {
      if (roomParam() !== null) history.replaceState(null, '', '/');
      showLobby(`There is no room with the ID “${roomId}”. Check the ID, or create a new room.`);
      return;
    }
    if (push) history.pushState(null, '', `/?room=${encodeURIComponent(roomId)}`);
    closeRoom();
    const known = name ?? target.name ?? listedRooms.get(roomId)?.name ?? '';
    room = new RoomView(roomId, target, known);
    showView('room');
    $('composer-input').focus();
  } catch (error) {
    if (roomParam() !== null) history.replaceState(null, '', '/');
    lobbyFailed(error);
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

async function route() {
  renderWhoami();
  const param = roomParam();
  if (session === null) {
    showLogin(null, {
      lede: param !== null
        ? `Log in, or pick a guest name, to join room ${param}.`
        : 'Chat as a guest, or with an account that keeps your name.',
    });
    return;
  }
  if (param === null) {
    showLobby();
    return;
  }
  const roomId = parseRoomInput(param);
  if (roomId === null) {
    history.replaceState(null, '', '/');
    showLobby(`“${param}” is not a room ID: room IDs are 12 lower-case letters and digits.`);
    return;
  }
  if (room !== null && room.roomId === roomId) return;
  await openRoom(roomId, { push: false });
}

// ---------------------------------------------------------------- login

const LOGIN_MODES = {
  guest: {
    submit: 'Continue as guest',
    footnote: 'A guest name lasts as long as this tab. Names that belong to an account are taken.',
  },
  login: {
    submit: 'Log in',
    footnote: 'You stay logged in on this browser until you log out or your login expires.',
  },
  register: {
    submit: 'Create account',
    footnote: 'You stay logged in on this browser until you log out or your login expires.',
  },
};

let loginMode = 'guest';

function setLoginMode(mode) {
  loginMode = Object.hasOwn(LOGIN_MODES, mode) ? mode : 'guest';
  $(`mode-${loginMode}`).checked = true;
  const { submit, footnote } = LOGIN_MODES[loginMode];
  $('login-submit').textContent = submit;
  $('login-footnote').textContent = footnote;
  show($('password-block'), loginMode !== 'guest');
  const password = $('login-password');
  password.autocomplete = loginMode === 'register' ? 'new-password' : 'current-password';
  password.required = loginMode !== 'guest';
  const rule = $('password-rule');
  rule.textContent = loginMode === 'register'
    ? `At least ${PASSWORD_MIN_BYTES} characters. Longer is better: a few unrelated words make a good one.`
    : '';
  show(rule, loginMode === 'register');
  storageSet('localStorage', MODE_KEY, loginMode);
}

setLoginMode(storageGet('localStorage', MODE_KEY) ?? 'guest');

for (const radio of document.querySelectorAll('#login-form input[name="mode"]')) {
  radio.addEventListener('change', () => {
    if (!radio.checked) return;
    setLoginMode(radio.value);
    setError($('login-error'), null);
  });
}

$('show-password').addEventListener('click', () => {
  const input = $('login-password');
  const showing = input.type === 'text';
  input.type = showing ? 'password' : 'text';
  $('show-password').setAttribute('aria-pressed', String(!showing));
  $('show-password').textContent = showing ? 'Show' : 'Hide';
});

// What to tell the user when a way in was refused, and which field to fix.
function loginRefusal(error, mode, userId) {
  if (!(error instanceof ApiError)) return { message: String(error), field: 'login-user' };
  switch (error.code) {
    case 'name_taken':
      return mode === 'guest'
        ? { message: `“${userId}” belongs to an account. Log in with its password, or pick another name.`, field: 'login-user' }
        : { message: `The name “${userId}” is taken. Pick another one, or log in if it is yours.`, field: 'login-user' };
    case 'invalid_credentials':
      return { message: 'Wrong name or password.', field: 'login-password' };
    case 'invalid_password':
    case 'too_long':
      return { message: `A password needs ${PASSWORD_MIN_BYTES} to ${PASSWORD_MAX_BYTES} bytes.`, field: 'login-password' };
    case 'invalid_user_id':
      return { message: `“${userId}” is not a valid name: ${USER_ID_RULE}.`, field: 'login-user' };
    default:
      return { message: error.message, field: 'login-user' };
  }
}

// The problem with what was typed, before asking the server, or null.
function loginProblem(mode, userId, password) {
  if (userId === '') return { message: 'Please enter a name.', field: 'login-user' };
  if (!validUserId(userId)) {
    return { message: `“${userId}” is not a valid name: ${USER_ID_RULE}.`, field: 'login-user' };
  }
  if (mode === 'guest') return null;
  if (password === '') return { message: 'Please enter your password.', field: 'login-password' };
  if (mode === 'register' && textBytes(password) < PASSWORD_MIN_BYTES) {
    return { message: `Use a password of at least ${PASSWORD_MIN_BYTES} characters.`, field: 'login-password' };
  }
  if (textBytes(password) > PASSWORD_MAX_BYTES) {
    return { message: `A password can be at most ${PASSWORD_MAX_BYTES} bytes long.`, field: 'login-password' };
  }
  return null;
}

const SIGN_IN = {
  guest: (userId) => login(userId),
  login: (userId, password) => loginWithPassword(userId, password),
  register: (userId, password) => register(userId, password),
};

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const mode = loginMode;
  const userId = $('login-user').value.trim();
  const password = $('login-password').value;
  const problem = loginProblem(mode, userId, password);
  if (problem !== null) {
    setError($('login-error'), problem.message);
    $(problem.field).focus();
    return;
  }
  const submit = $('login-submit');
  submit.disabled = true;
  setError($('login-error'), null);
  try {
    const token = await SIGN_IN[mode](userId, password);
    $('login-password').value = '';
    saveSession({
      token, user: userId, registered: mode !== 'guest', expiresAt: tokenExpiry(token),
    });
    await route();
  } catch (error) {
    const refusal = loginRefusal(error, mode, userId);
    setError($('login-error'), refusal.message);
    $(refusal.field).focus();
  } finally {
    submit.disabled = false;
  }
});

$('logout').addEventListener('click', () => {
  closeRoom();
  const previous = session;
  saveSession(null);
  history.pushState(null, '', '/');
  showLogin(null, previous?.registered ? { user: previous.user, mode: 'login' } : {});
});

// Another tab logged the account out, or in.
window.addEventListener('storage', (event) => {
  if (event.key !== ACCOUNT_KEY && event.key !== null) return;
  if (session?.registered && storageGet('localStorage', ACCOUNT_KEY) === null) {
    const previous = session;
    session = null;
    renderWhoami();
    history.replaceState(null, '', '/');
    showLogin('You logged out in another tab.', { user: previous.user, mode: 'login' });
  } else if (session === null) {
    session = loadSession();
    if (session !== null) route();
  }
});

// ---------------------------------------------------------------- lobby

$('create-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const name = $('room-name-input').value.trim();
  if (textBytes(name) > ROOM_NAME_MAX_BYTES) {
    setError($('lobby-error'), `That name is too long: a room name holds at most ${ROOM_NAME_MAX_BYTES} bytes.`);
    $('room-name-input').focus();
    return;
  }
  const token = liveToken();
  if (token === null) return;
  const visibility = document.querySelector('#create-form input[name="visibility"]:checked').value;
  const button = $('create-room');
  button.disabled = true;
  setError($('lobby-error'), null);
  let roomId;
  try {
    roomId = await createRoom(token, name === '' ? { visibility } : { name, visibility });
  } catch (error) {
    button.disabled = false;
    lobbyFailed(error);
    return;
  }
  button.disabled = false;
  $('room-name-input').value = '';
  await openRoom(roomId, { push: true, name });
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
  await openRoom(roomId, { push: true });
});

// ---------------------------------------------------------------- room list
// Member counts change all the time (the session server writes a room's at
// most once a second), so the list is fetched again whenever the lobby is
// shown, whenever the page comes back into view or gets the focus (the user
// looks at it again), and every ROOMS_REFRESH_MS while it is visible. A
// request that hangs is given up after ROOMS_TIMEOUT_MS, and one started by
// the user looking again replaces any in flight, so that one slow answer
// never holds the list at what it was. The read marks this page sent are
// remembered, so that a room just left shows no unread messages even before
// its server has stored the mark.

const ROOMS_REFRESH_MS = 3000;
const ROOMS_TIMEOUT_MS = 8000;
const ROOMS_FRESH_MS = 1000;
const listedRooms = new Map(); // roomId → the room as last listed
const readUpTo = new Map(); // roomId → the highest read mark this page sent
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
  const token = liveToken();
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
    if (roomsFetch !== call || token !== session?.token) return;
    renderRooms(rooms);
  } catch (error) {
    if (roomsFetch !== call || token !== session?.token) return;
    if (error instanceof ApiError && error.status === 401) {
      expireSession();
      return;
    }
    status.textContent = `Could not load the rooms: ${error.message}`;
  } finally {
    clearTimeout(timer);
    if (roomsFetch === call) roomsFetch = null;
  }
}

$('rooms-refresh').addEventListener('click', () => refreshRooms({ fresh: true }));

document.addEventListener('visibilitychange', () => {
  if (!document.hidden) refreshRooms({ fresh: true });
});
window.addEventListener('focus', () => refreshRooms({ fresh: true }));
// Back from the browser's page cache: the list on screen is as old as the visit.
window.addEventListener('pageshow', (event) => {
  if (event.persisted) refreshRooms({ fresh: true });
});

function unreadOf(r) {
  const read = readUpTo.get(r.roomId);
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
    openRoom(roomId, { push: true, name: listedRooms.get(roomId)?.name ?? null });
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
  const badge = document.createElement('span');
  badge.className = 'badge';
  badge.dataset.testid = 'room-unread';
  badge.setAttribute('aria-hidden', 'true');
  const spoken = document.createElement('span');
  spoken.className = 'visually-hidden';
  link.append(icon, main, badge, spoken);
  li.append(link);
  return li;
}

function fillRoomItem(li, r) {
  const link = li.firstElementChild;
  const [icon, main, badge, spoken] = link.children;
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
  show(badge, unread > 0);
  spoken.textContent = unread > 0 ? `, ${unread} unread` : '';
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

window.addEventListener('popstate', () => {
  route();
});

// Unsent messages live only in this tab: ask before they are thrown away.
window.addEventListener('beforeunload', (event) => {
  if (room !== null && room.conn.pending.size > 0) event.preventDefault();
});

// ---------------------------------------------------------------- room

const TYPING_SHOW_MS = 4000;
const COUNTER_FROM_BYTES = MAX_TEXT_BYTES - 500;
const COMPOSER_PLACEHOLDER = $('composer-input').placeholder;
const PAGE_SIZE = 50;
// Older messages are fetched once the reader is this close to the top.
const LOAD_OLDER_PX = 400;
// Read marks go out at most this often.
const READ_INTERVAL_MS = 1000;

class RoomView {
  constructor(roomId, first, name) {
    this.roomId = roomId;
    this.name = name;
    this.me = session.user;
    this.list = $('message-list');
    this.scroller = $('messages-scroll');
    this.bySeq = new Map();
    this.order = [];
    this.byId = new Map();
    this.members = [];
    this.typers = new Map();
    this.unread = 0;
    this.countdown = null;
    this.locked = false;
    // Scrollback: 'idle' (more may exist), 'loading', 'done', 'error'.
    this.older = 'idle';
    this.olderError = '';
    this.destroyed = false;
    this.readSent = 0;
    this.readAt = 0;
    this.readTimer = null;
    this.listeners = [];
    // Whether the reader is at the newest message; kept there when new
    // messages arrive or the pane shrinks (a banner, a growing composer).
    this.stuck = true;
    this.resizer = new ResizeObserver(() => {
      if (this.stuck) this.scroller.scrollTop = this.scroller.scrollHeight;
    });
    this.resizer.observe(this.scroller);

    this.list.replaceChildren();
    $('room-name').textContent = name || 'Room';
    $('room-name').classList.toggle('untitled', !name);
    $('room-id').textContent = roomId;
    $('share-link').value = roomUrl(roomId);
    $('copy-link').textContent = 'Copy';
    $('composer-input').value = '';
    setError($('room-error'), null);
    this.lockComposer(null);
    this.renderHistoryStatus();
    this.renderMembers();
    this.renderTyping();
    this.renderEmpty();
    this.renderCounter();
    this.updateTitle();

    this.conn = new RoomConnection({
      roomId,
      first,
      lookup: (id) => lookupRoom(session.token, id),
    });
    const on = (type, handler) => this.conn.addEventListener(type, (e) => handler.call(this, e.detail));
    on('state', this.onState);
    on('welcome', this.onWelcome);
    on('message', this.onMessage);
    on('ack', this.onAck);
    on('sendfail', this.onSendFail);
    on('presence', this.onPresence);
    on('typing', this.onTyping);
    on('servererror', this.onServerError);
    on('fatal', this.onFatal);

    this.listen($('composer'), 'submit', (e) => {
      e.preventDefault();
      this.submit();
    });
    this.listen($('composer-input'), 'keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.submit();
      }
    });
    this.listen($('composer-input'), 'input', () => {
      this.renderCounter();
      if ($('composer-input').value !== '') this.conn.typing();
    });
    this.listen($('copy-link'), 'click', () => this.copyLink());
    this.listen($('leave-room'), 'click', () => {
      history.pushState(null, '', '/');
      showLobby();
    });
    this.listen($('status-retry'), 'click', () => this.conn.retry());
    this.listen($('load-earlier'), 'click', () => this.loadOlder({ asked: true }));
    this.listen(this.scroller, 'scroll', () => {
      const s = this.scroller;
      this.stuck = s.scrollHeight - s.scrollTop - s.clientHeight < 48;
      this.loadOlder();
      this.noteRead();
    });
    this.listen(document, 'visibilitychange', () => {
      if (!document.hidden) {
        this.unread = 0;
        this.updateTitle();
        this.noteRead();
      }
    });
    this.listen(window, 'focus', () => this.noteRead());

    this.conn.start();
  }

  listen(target, type, handler) {
    target.addEventListener(type, handler);
    this.listeners.push(() => target.removeEventListener(type, handler));
  }

  destroy() {
    this.destroyed = true;
    // What the reader saw last counts, even inside the last second.
    clearTimeout(this.readTimer);
    const seen = this.lastVisibleSeq();
    if (seen !== null && seen > this.readSent && this.conn.read(seen)) readUpTo.set(this.roomId, seen);
    this.conn.close();
    this.resizer.disconnect();
    clearInterval(this.countdown);
    for (const timer of this.typers.values()) clearTimeout(timer);
    for (const remove of this.listeners) remove();
    this.list.replaceChildren();
  }

  // -------------------------------------------------------------- status

  onState({ state, retryAt, reason, fatal }) {
    const status = $('status');
    status.dataset.state = state;
    status.title = reason ?? '';
    clearInterval(this.countdown);
    this.countdown = null;
    const text = $('status-text');
    switch (state) {
      case STATE.CONNECTING:
        text.textContent = 'Connecting…';
        break;
      case STATE.CONNECTED:
        text.textContent = 'Connected';
        setError($('room-error'), null);
        this.lockComposer(null);
        // The welcome's messages are on screen now.
        this.loadOlder();
        this.noteRead();
        break;
      case STATE.RECONNECTING:
        if (retryAt === null) {
          text.textContent = 'Reconnecting…';
        } else {
          const tick = () => {
            const seconds = Math.max(1, Math.ceil((retryAt - Date.now()) / 1000));
            text.textContent = `Reconnecting in ${seconds} s`;
          };
          tick();
          this.countdown = setInterval(tick, 250);
        }
        break;
      default:
        // A fatal reason is the banner's (onFatal): said once, not twice.
        text.textContent = reason && !fatal ? `Offline: ${reason}` : 'Offline';
        break;
    }
    const retry = $('status-retry');
    retry.textContent = state === STATE.OFFLINE ? 'Try again' : 'Retry now';
    show(retry, state === STATE.OFFLINE || (state === STATE.RECONNECTING && retryAt !== null));
  }

  onFatal({ reason, message }) {
    if (reason === 'unauthorized') {
      expireSession(message);
    } else if (reason === 'unknown_room') {
      history.replaceState(null, '', '/');
      showLobby(`Room “${this.roomId}” does not exist any more.`);
    } else if (reason === 'full') {
      setError($('room-error'), 'This room is full. Try again later.');
      this.lockComposer('The room is full: you cannot write here.');
    } else {
      setError($('room-error'), message);
    }
  }

  // Disables the composer with why as its placeholder, or enables it again
  // (why null).
  lockComposer(why) {
    this.locked = why !== null;
    const input = $('composer-input');
    input.disabled = this.locked;
    input.placeholder = why ?? COMPOSER_PLACEHOLDER;
    this.renderCounter();
  }

  onServerError({ code, message }) {
    setError($('room-error'), `The server said: ${message} (${code})`);
  }

  // -------------------------------------------------------------- members

  onWelcome({ user, members, restarted }) {
    if (typeof user === 'string') this.me = user;
    this.members = [...new Set(members)];
    this.renderMembers();
    if (restarted) this.startOver();
  }

  onPresence({ joined, left }) {
    if (typeof joined === 'string' && !this.members.includes(joined)) this.members.push(joined);
    if (typeof left === 'string') {
      this.members = this.members.filter((m) => m !== left);
      this.stopTyping(left);
    }
    this.renderMembers();
  }

  renderMembers() {
    const items = this.members.map((name) => {
      const li = document.createElement('li');
      li.dataset.testid = 'member';
      li.dataset.user = name;
      const avatar = document.createElement('span');
      avatar.className = 'avatar';
      avatar.setAttribute('aria-hidden', 'true');
      fillAvatar(avatar, name);
      const label = document.createElement('span');
      label.className = 'member-name';
      label.textContent = name;
      li.append(avatar, label);
      if (name === this.me) {
        const you = document.createElement('span');
        you.className = 'you';
        you.textContent = 'you';
        li.append(you);
      }
      return li;
    });
    $('member-list').replaceChildren(...items);
    $('member-count').textContent = String(this.members.length);
  }

  // -------------------------------------------------------------- typing

  onTyping({ user }) {
    if (user === this.me) return;
    clearTimeout(this.typers.get(user));
    this.typers.set(user, setTimeout(() => this.stopTyping(user), TYPING_SHOW_MS));
    this.renderTyping();
  }

  stopTyping(user) {
    if (!this.typers.has(user)) return;
    clearTimeout(this.typers.get(user));
    this.typers.delete(user);
    this.renderTyping();
  }

  renderTyping() {
    const names = [...this.typers.keys()];
    let text = '';
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = 'Several people are typing…';
    $('typing').textContent = text;
  }

  // -------------------------------------------------------------- messages

  buildItem({ user, text }) {
    const li = document.createElement('li');
    li.className = 'message';
    li.dataset.testid = 'message';
    li.dataset.user = user;
    if (user === this.me) li.classList.add('mine');
    const avatar = document.createElement('span');
    avatar.className = 'avatar';
    avatar.setAttribute('aria-hidden', 'true');
    fillAvatar(avatar, user);
    const bubble = document.createElement('div');
    bubble.className = 'bubble';
    const meta = document.createElement('div');
    meta.className = 'meta';
    const author = document.createElement('span');
    author.className = 'author';
    author.dataset.testid = 'message-user';
    author.textContent = user;
    const time = document.createElement('time');
    time.dataset.testid = 'message-time';
    const state = document.createElement('span');
    state.className = 'delivery';
    state.dataset.testid = 'message-state';
    meta.append(author, time, state);
    const body = document.createElement('p');
    body.className = 'text';
    body.dataset.testid = 'message-text';
    body.textContent = text;
    bubble.append(meta, body);
    li.append(avatar, bubble);
    return li;
  }

  setTime(li, ts) {
    const date = new Date(Number.isFinite(ts) ? ts : Date.now());
    const time = li.querySelector('time');
    time.dateTime = date.toISOString();
    time.textContent = formatTime(date);
    time.title = date.toLocaleString();
  }

  setDelivery(li, text, actions = []) {
    li.querySelector('.delivery').replaceChildren(text, ...actions);
  }

  // Puts li at its place among the confirmed messages, which all come before
  // the pending ones.
  placeConfirmed(li, seq) {
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.order[mid] < seq) lo = mid + 1;
      else hi = mid;
    }
    this.order.splice(lo, 0, seq);
    this.bySeq.set(seq, li);
    const next = lo + 1 < this.order.length
      ? this.bySeq.get(this.order[lo + 1])
      : this.list.querySelector(':scope > li.unconfirmed');
    this.list.insertBefore(li, next ?? null);
  }

  confirm(li, { seq, id, ts }) {
    li.classList.remove('pending', 'unconfirmed');
    li.dataset.seq = String(seq);
    delete li.dataset.pending;
    if (typeof id === 'string') {
      li.dataset.id = id;
      this.byId.delete(id);
    }
    this.setTime(li, ts);
    this.setDelivery(li, '');
    this.placeConfirmed(li, seq);
  }

  // Runs a DOM change and keeps the view pinned to the bottom if it was
  // there (or if force), or keeps what the reader sees still if not.
  withScroll(change, { force = false, prepend = false } = {}) {
    const s = this.scroller;
    const fromBottom = s.scrollHeight - s.scrollTop;
    change();
    this.renderEmpty();
    this.renderHistoryStatus();
    if (force || (this.stuck && !prepend)) {
      s.scrollTop = s.scrollHeight;
      this.stuck = true;
    } else if (prepend) {
      s.scrollTop = s.scrollHeight - fromBottom;
    }
  }

  addMessage(m, options = {}) {
    const existing = this.bySeq.get(m.seq);
    if (existing !== undefined) {
      // Seen already (a resume, a resend, or the ack came first): keep one.
      if (Number.isFinite(m.ts)) this.setTime(existing, m.ts);
      if (typeof m.id === 'string') existing.dataset.id = m.id;
      return false;
    }
    const pending = m.user === this.me && typeof m.id === 'string' ? this.byId.get(m.id) : undefined;
    if (pending !== undefined) {
      this.withScroll(() => this.confirm(pending, m), options);
      return true;
    }
    const li = this.buildItem(m);
    if (typeof m.id === 'string') li.dataset.id = m.id;
    li.dataset.seq = String(m.seq);
    this.setTime(li, m.ts);
    this.withScroll(() => this.placeConfirmed(li, m.seq), options);
    return true;
  }

  // The room started over at seq 1 (an ephemeral room loaded again): what is
  // on screen is gone from it and its seqs will be reused. Our own unsent
  // messages stay; they are resent and placed by their new seqs.
  startOver() {
    this.withScroll(() => {
      for (const li of [...this.list.children]) {
        if (!li.classList.contains('unconfirmed')) li.remove();
      }
      this.bySeq.clear();
      this.order = [];
      const notice = document.createElement('li');
      notice.className = 'notice';
      notice.dataset.testid = 'room-restarted';
      notice.textContent = 'This room was restarted; earlier messages were not kept.';
      this.list.prepend(notice);
    });
    this.readSent = 0;
    this.setOlder('idle');
  }

  onMessage(m) {
    if (this.addMessage(m)) {
      this.stopTyping(m.user);
      if (document.hidden && m.user !== this.me) {
        this.unread++;
        this.updateTitle();
      }
      this.noteRead();
    }
  }

  onAck({ id, seq }) {
    const li = this.byId.get(id);
    if (li === undefined) return;
    if (this.bySeq.has(seq)) {
      this.byId.delete(id);
      li.remove();
      this.renderEmpty();
      return;
    }
    this.withScroll(() => this.confirm(li, { seq, id, ts: Number(li.dataset.sentAt) }));
    this.noteRead();
  }

  onSendFail({ id, message }) {
    const li = this.byId.get(id);
    if (li === undefined) return;
    li.classList.remove('pending');
    li.classList.add('failed');
    delete li.dataset.pending;
    li.dataset.failed = 'true';
    const retry = linkButton('Retry', () => {
      this.byId.delete(id);
      li.remove();
      this.queue(li.querySelector('.text').textContent);
    });
    const remove = linkButton('Remove', () => {
      this.byId.delete(id);
      li.remove();
      this.renderEmpty();
    });
    this.setDelivery(li, `Not sent: ${message} `, [retry, ' · ', remove]);
  }

  queue(text) {
    const entry = this.conn.send(text);
    const li = this.buildItem({ user: this.me, text });
    li.classList.add('pending', 'unconfirmed');
    li.dataset.pending = 'true';
    li.dataset.id = entry.id;
    li.dataset.sentAt = String(entry.ts);
    this.setTime(li, entry.ts);
    this.setDelivery(li, 'sending…');
    this.byId.set(entry.id, li);
    this.withScroll(() => this.list.append(li), { force: true });
  }

  submit() {
    const input = $('composer-input');
    const text = input.value.trim();
    if (text === '' || this.locked) return;
    // The counter already shows it in red and the send button is disabled.
    if (textBytes(text) > MAX_TEXT_BYTES) return;
    this.queue(text);
    input.value = '';
    this.renderCounter();
    input.focus();
  }

  renderCounter() {
    const input = $('composer-input');
    const bytes = textBytes(input.value);
    const counter = $('composer-counter');
    show(counter, bytes >= COUNTER_FROM_BYTES);
    counter.textContent = `${bytes} / ${MAX_TEXT_BYTES}`;
    counter.title = bytes > MAX_TEXT_BYTES
      ? `Too long: a message holds at most ${MAX_TEXT_BYTES} bytes.` : '';
    counter.classList.toggle('over', bytes > MAX_TEXT_BYTES);
    $('send-button').disabled = this.locked || bytes > MAX_TEXT_BYTES;
    // Grow with the text up to a few lines, then scroll.
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  }

  renderEmpty() {
    show($('messages-empty'), this.list.childElementCount === 0);
  }

  // -------------------------------------------------------------- scrollback
  // Older pages come from GET /api/rooms/:id/messages, which reads the whole
  // history, whatever the session server holds, and works while the socket
  // is reconnecting. Pages are placed by seq like everything else, so one
  // that overlaps what is on screen adds nothing twice.

  oldestKnown() {
    if (this.order.length > 0) return this.order[0];
    return this.conn.lastSeq === null ? null : this.conn.lastSeq + 1;
  }

  // Fetches the page before the oldest message shown when the reader is near
  // the top (or the messages do not fill the pane yet).
  loadOlder({ asked = false } = {}) {
    if (this.destroyed || this.older === 'loading' || this.older === 'done') return;
    if (this.older === 'error' && !asked) return;
    if (!asked && this.scroller.scrollTop >= LOAD_OLDER_PX) return;
    const before = this.oldestKnown();
    if (before === null) return;
    if (before <= 1) {
      this.setOlder('done');
      return;
    }
    const token = liveToken();
    if (token === null) return;
    this.setOlder('loading');
    olderMessages(token, this.roomId, before, PAGE_SIZE).then(({ messages, more }) => {
      if (this.destroyed) return;
      const page = messages.filter((m) => validMessage(m) && m.seq < before);
      this.withScroll(() => {
        for (const m of page) this.addHistoric(m);
      }, { prepend: true });
      const finished = !more || page.length === 0 || this.order[0] <= 1;
      this.setOlder(finished ? 'done' : 'idle');
      // The page may not have filled the pane: keep going until it does.
      if (!finished) requestAnimationFrame(() => this.loadOlder());
    }, (error) => {
      if (this.destroyed) return;
      if (error instanceof ApiError && error.status === 401) {
        expireSession();
        return;
      }
      this.olderError = error.message;
      this.setOlder('error');
    });
  }

  addHistoric(m) {
    if (this.bySeq.has(m.seq)) return;
    const li = this.buildItem(m);
    if (typeof m.id === 'string') li.dataset.id = m.id;
    li.dataset.seq = String(m.seq);
    this.setTime(li, m.ts);
    this.placeConfirmed(li, m.seq);
  }

  setOlder(state) {
    this.older = state;
    this.renderHistoryStatus();
  }

  renderHistoryStatus() {
    const status = $('history-status');
    const button = $('load-earlier');
    const text = $('history-text');
    status.dataset.state = this.older;
    const empty = this.order.length === 0;
    if (this.older === 'loading') {
      text.textContent = 'Loading earlier messages…';
    } else if (this.older === 'done') {
      text.textContent = empty ? '' : 'This is the beginning of the room.';
    } else if (this.older === 'error') {
      text.textContent = `Could not load earlier messages: ${this.olderError} `;
    } else {
      text.textContent = '';
    }
    button.textContent = this.older === 'error' ? 'Try again' : 'Load earlier messages';
    show(button, (this.older === 'idle' && !empty) || this.older === 'error');
  }

  // -------------------------------------------------------------- read marks
  // A message counts as read once it has been on screen in a visible,
  // focused tab. The mark is the highest such seq, sent at most once a
  // second; the server keeps it and the room list's unread counts follow.

  // The seq of the last confirmed message on screen, or null.
  lastVisibleSeq() {
    if (this.order.length === 0 || this.scroller.clientHeight === 0) return null;
    const view = this.scroller.getBoundingClientRect();
    const top = (i) => this.bySeq.get(this.order[i]).getBoundingClientRect().top;
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (top(mid) < view.bottom) lo = mid + 1;
      else hi = mid;
    }
    if (lo === 0) return null;
    const seq = this.order[lo - 1];
    return this.bySeq.get(seq).getBoundingClientRect().bottom > view.top ? seq : null;
  }

  noteRead() {
    if (this.destroyed || this.readTimer !== null) return;
    if (document.visibilityState !== 'visible' || !document.hasFocus()) return;
    const seq = this.lastVisibleSeq();
    if (seq === null || seq <= this.readSent) return;
    const wait = this.readAt + READ_INTERVAL_MS - Date.now();
    if (wait > 0) {
      this.readTimer = setTimeout(() => {
        this.readTimer = null;
        this.noteRead();
      }, wait);
      return;
    }
    // Not connected: the next welcome calls this again.
    if (!this.conn.read(seq)) return;
    this.readSent = seq;
    this.readAt = Date.now();
    readUpTo.set(this.roomId, Math.max(seq, readUpTo.get(this.roomId) ?? 0));
  }

  // -------------------------------------------------------------- misc

  async copyLink() {
    const button = $('copy-link');
    const ok = await copyText($('share-link').value, $('share-link'));
    button.textContent = ok ? 'Copied!' : 'Press Ctrl+C';
    setTimeout(() => {
      if (button.isConnected) button.textContent = 'Copy';
    }, 2000);
  }

  updateTitle() {
    const prefix = this.unread > 0 ? `(${this.unread}) ` : '';
    document.title = `${prefix}${roomTitle(this.name, this.roomId)} · Stateroom`;
  }
}

route();
