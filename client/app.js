// The page: login, lobby and room views over api.js and connection.js.
// Everything that came from the network is put into the page as text
// (textContent), never as HTML.

import {
  ApiError, USER_ID_RULE, createRoom, login, lookupRoom, parseRoomInput, validUserId,
} from './api.js';
import { MAX_TEXT_BYTES, RoomConnection, STATE, textBytes } from './connection.js';

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- session
// sessionStorage, not localStorage: each tab is its own user, so two tabs
// can chat with each other.

const SESSION_KEY = 'stateroom.session';

function loadSession() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY));
    if (saved && typeof saved.token === 'string' && typeof saved.user === 'string') return saved;
  } catch {
    // Corrupt entry: start over.
  }
  return null;
}

let session = loadSession();

function saveSession(value) {
  session = value;
  if (value === null) sessionStorage.removeItem(SESSION_KEY);
  else sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
  renderWhoami();
}

// ---------------------------------------------------------------- helpers

function show(element, visible) {
  element.hidden = !visible;
}

function setError(element, message) {
  element.textContent = message ?? '';
  show(element, Boolean(message));
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
}

function renderWhoami() {
  show($('whoami'), session !== null);
  if (session !== null) {
    $('whoami-name').textContent = session.user;
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

function showLogin(message = null, lede = null) {
  closeRoom();
  showView('login');
  $('login-lede').textContent = lede ?? 'Pick a name to chat as a guest.';
  setError($('login-error'), message);
  $('login-user').focus();
}

function showLobby(message = null) {
  closeRoom();
  showView('lobby');
  setError($('lobby-error'), message);
}

function expireSession(message = 'Your login has expired. Please log in again.') {
  saveSession(null);
  showLogin(message);
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
async function openRoom(roomId, { push }) {
  const buttons = [$('create-room'), $('join-button')];
  for (const b of buttons) b.disabled = true;
  try {
    const target = await lookupRoom(session.token, roomId);
    if (target === null) {
      if (roomParam() !== null) history.replaceState(null, '', '/');
      showLobby(`There is no room with the ID “${roomId}”. Check the ID, or create a new room.`);
      return;
    }
    if (push) history.pushState(null, '', `/?room=${encodeURIComponent(roomId)}`);
    closeRoom();
    room = new RoomView(roomId, target);
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
    showLogin(null, param !== null ? `Pick a name to join room ${param} as a guest.` : null);
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


$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const userId = $('login-user').value.trim();
  if (!validUserId(userId)) {
    setError($('login-error'), userId === ''
      ? 'Please enter a name.'
      : `“${userId}” is not a valid name: ${USER_ID_RULE}.`);
    $('login-user').focus();
    return;
  }
  const submit = $('login-submit');
  submit.disabled = true;
  setError($('login-error'), null);
  try {
    const token = await login(userId);
    saveSession({ token, user: userId });
    await route();
  } catch (error) {
    setError($('login-error'), error.message);
  } finally {
    submit.disabled = false;
  }
});

$('logout').addEventListener('click', () => {
  closeRoom();
  saveSession(null);
  history.pushState(null, '', '/');
  showLogin();
});

// ---------------------------------------------------------------- lobby

$('create-room').addEventListener('click', async () => {
  const button = $('create-room');
  button.disabled = true;
  setError($('lobby-error'), null);
  let roomId;
  try {
    roomId = await createRoom(session.token);
  } catch (error) {
    button.disabled = false;
    lobbyFailed(error);
    return;
  }
  button.disabled = false;
  await openRoom(roomId, { push: true });
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

class RoomView {
  constructor(roomId, first) {
    this.roomId = roomId;
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
    this.historyAsked = false;
    this.historyDone = false;
    this.listeners = [];
    // Whether the reader is at the newest message; kept there when new
    // messages arrive or the pane shrinks (a banner, a growing composer).
    this.stuck = true;
    this.resizer = new ResizeObserver(() => {
      if (this.stuck) this.scroller.scrollTop = this.scroller.scrollHeight;
    });
    this.resizer.observe(this.scroller);

    this.list.replaceChildren();
    $('room-id').textContent = roomId;
    $('share-link').value = roomUrl(roomId);
    $('copy-link').textContent = 'Copy';
    $('composer-input').value = '';
    setError($('room-error'), null);
    show($('load-earlier'), false);
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
    on('history', this.onHistory);
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
    this.listen($('load-earlier'), 'click', () => this.loadEarlier());
    this.listen(this.scroller, 'scroll', () => {
      const s = this.scroller;
      this.stuck = s.scrollHeight - s.scrollTop - s.clientHeight < 48;
    });
    this.listen(document, 'visibilitychange', () => {
      if (!document.hidden) {
        this.unread = 0;
        this.updateTitle();
      }
    });

    this.conn.start();
  }

  listen(target, type, handler) {
    target.addEventListener(type, handler);
    this.listeners.push(() => target.removeEventListener(type, handler));
  }

  destroy() {
    this.conn.close();
    this.resizer.disconnect();
    clearInterval(this.countdown);
    for (const timer of this.typers.values()) clearTimeout(timer);
    for (const remove of this.listeners) remove();
    this.list.replaceChildren();
  }

  // -------------------------------------------------------------- status

  onState({ state, retryAt, reason }) {
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
        text.textContent = reason ? `Offline: ${reason}` : 'Offline';
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
    } else {
      setError($('room-error'), message);
    }
  }

  onServerError({ code, message }) {
    setError($('room-error'), `The server said: ${message} (${code})`);
  }

  // -------------------------------------------------------------- members

  onWelcome({ user, members }) {
    if (typeof user === 'string') this.me = user;
    this.members = [...new Set(members)];
    this.renderMembers();
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

  onMessage(m) {
    if (this.addMessage(m)) {
      this.stopTyping(m.user);
      if (document.hidden && m.user !== this.me) {
        this.unread++;
        this.updateTitle();
      }
    }
    this.updateLoadEarlier();
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
  }

  onSendFail({ id, message }) {
    const li = this.byId.get(id);
    if (li === undefined) return;
    li.classList.remove('pending');
    li.classList.add('failed');
    delete li.dataset.pending;
    li.dataset.failed = 'true';
    const retry = document.createElement('button');
    retry.type = 'button';
    retry.className = 'link-button';
    retry.textContent = 'Retry';
    retry.addEventListener('click', () => {
      this.byId.delete(id);
      li.remove();
      this.queue(li.querySelector('.text').textContent);
    });
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'link-button';
    remove.textContent = 'Remove';
    remove.addEventListener('click', () => {
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
    if (text === '') return;
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
    $('send-button').disabled = bytes > MAX_TEXT_BYTES;
    // Grow with the text up to a few lines, then scroll.
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  }

  renderEmpty() {
    show($('messages-empty'), this.list.childElementCount === 0);
  }

  // -------------------------------------------------------------- history

  updateLoadEarlier() {
    const oldest = this.order[0];
    show($('load-earlier'), oldest !== undefined && oldest > 1 && !this.historyDone);
  }

  loadEarlier() {
    const oldest = this.order[0];
    if (oldest === undefined || this.historyAsked) return;
    if (this.conn.history(oldest, 50)) {
      this.historyAsked = true;
      $('load-earlier').disabled = true;
    }
  }

  onHistory({ messages, more }) {
    this.historyAsked = false;
    $('load-earlier').disabled = false;
    this.withScroll(() => {
      for (const m of messages) {
        if (this.bySeq.has(m.seq)) continue;
        const li = this.buildItem(m);
        if (typeof m.id === 'string') li.dataset.id = m.id;
        li.dataset.seq = String(m.seq);
        this.setTime(li, m.ts);
        this.placeConfirmed(li, m.seq);
      }
    }, { prepend: true });
    this.historyDone = !more;
    this.updateLoadEarlier();
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
    document.title = `${prefix}Room ${this.roomId} · Stateroom`;
  }
}

route();
