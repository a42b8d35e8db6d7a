// The room view: one room's conversation over a RoomConnection: messages
// (pending, confirmed, failed; replies, edits, deletions, reactions, links),
// scrollback, members, typing, read marks, the composer and the share link.

import { ApiError, listMyRooms, lookupRoom, messageVersions, olderMessages } from './api.js';
import {
  MAX_TEXT_BYTES, RoomConnection, STATE, isOwn, textBytes, validMessage,
} from './connection.js';
import { attachButton, parseFileText, renderFile } from './files.js';
import { $, avatarFor, copyText, linkButton, setError, setVisible } from './dom.js';
import { NameClashes, foldName, idLabel } from './names.js';
import { attachUserMenu, ensurePeople, isBlocked, onPeopleChange } from './people.js';
import {
  applyChange, linkify, openPicker, renderReactions, renderVersions,
} from './message-actions.js';
import { remindAbout } from './remind.js';
import { attachSearch } from './search.js';
import { attachCall } from './call.js';
import { attachCompletion, drawMentions, mentions } from './mentions.js';
import { E2EE_MAX_TEXT_BYTES, E2eeView, isEnvelope } from './e2ee-view.js';

// The subject of messages the app's backend publishes (docs/protocol.md,
// "Server API"): no user can have it.
const SERVER_USER_ID = 'server:';

let app = null;
let current = null; // the RoomView shown, or null

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

function roomTitle(name, roomId) {
  return name ? name : `Room ${roomId}`;
}

const TYPING_SHOW_MS = 4000;
const COUNTER_FROM_BYTES = MAX_TEXT_BYTES - 500;
const COMPOSER_PLACEHOLDER = $('composer-input').placeholder;
const PAGE_SIZE = 50;
// Older messages are fetched once the reader is this close to the top.
const LOAD_OLDER_PX = 400;
// Read marks go out at most this often.
const READ_INTERVAL_MS = 1000;

class RoomView {
  constructor(roomId, first, name, kind) {
    this.roomId = roomId;
    this.name = name;
    this.me = app.session.user;
    this.meId = null; // from the welcome
    this.list = $('message-list');
    this.scroller = $('messages-scroll');
    this.bySeq = new Map();
    this.order = [];
    this.byId = new Map();
    this.members = []; // { user, userId }
    // Moderation (docs/protocol.md, "Roles and moderation"): our role, the
    // owner's and moderators' by id, and until when we are muted (ms).
    this.role = 'member';
    this.roles = {};
    this.mutedUntil = null;
    this.muteTimer = null;
    this.clashes = new NameClashes();
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
    // An encrypted DM's view (e2ee-view.js), once findDmName knows the
    // peer; envelopes drawn before wait in e2eeWaiting. Outside DMs text
    // that looks like an envelope is text.
    this.e2ee = null;
    this.e2eeOff = !app.session.registered;
    this.e2eeWaiting = new Set();
    // Whether the reader is at the newest message; kept there when new
    // messages arrive or the pane shrinks (a banner, a growing composer).
    this.stuck = true;
    this.resizer = new ResizeObserver(() => {
      if (this.stuck) this.scroller.scrollTop = this.scroller.scrollHeight;
    });
    this.resizer.observe(this.scroller);

    this.list.replaceChildren();
    this.setName(name);
    $('room-id').textContent = roomId;
    $('share-link').value = roomUrl(roomId);
    // Only a DM's two members can open it: no link to share. A guest is
    // never in one; an account learns the kind in findDmName when the
    // opener did not know it, and the box waits hidden till then.
    this.showShare(kind === 'room' || (kind === null && !app.session.registered));
    $('copy-link').textContent = 'Copy';
    $('composer-input').value = '';
    setError($('room-error'), null);
    delete $('room-error').dataset.reason;
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
      lookup: (id, opts) => lookupRoom(app.session.token, id, opts),
    });
    const on = (type, handler) => this.conn.addEventListener(type, (e) => handler.call(this, e.detail));
    on('state', this.onState);
    on('welcome', this.onWelcome);
    on('message', this.onMessage);
    on('change', this.onChange);
    on('ack', this.onAck);
    on('action', this.onAction);
    on('sendfail', this.onSendFail);
    on('presence', this.onPresence);
    on('typing', this.onTyping);
    on('servererror', this.onServerError);
    on('fatal', this.onFatal);

    this.removeAttach = attachButton($('composer'), {
      roomId, token: () => app.liveToken(), send: (text) => this.queue(text),
      status: (text) => { $('typing').textContent = text; },
    });
    this.listen($('composer'), 'submit', (e) => {
      e.preventDefault();
      this.submit();
    });
    this.replyTo = null; // the seq the next message answers
    this.listen($('composer-input'), 'keydown', (e) => {
      if (e.key === 'Escape' && this.replyTo !== null) this.setReply(null);
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.submit();
      }
    });
    this.removeCompletion = attachCompletion($('composer-input'), () => this.mentionCandidates());
    this.listen($('composer-input'), 'input', () => {
      this.renderCounter();
      if ($('composer-input').value !== '') this.conn.typing();
    });
    this.listen($('copy-link'), 'click', () => this.copyLink());
    this.listen($('leave-room'), 'click', () => {
      history.pushState(null, '', '/');
      app.showLobby();
    });
    this.listen($('status-retry'), 'click', () => this.conn.retry());
    this.search = attachSearch(this, app);
    this.call = attachCall({
      conn: this.conn, token: () => app.liveToken(), mount: document.querySelector('#room-view .room-body'),
    });
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
    this.listeners.push(onPeopleChange(() => this.applyBlocks()));
    ensurePeople();
    if ((!name || kind !== 'room') && app.session.registered) this.findDmName();

    this.conn.start();
  }

  // A DM has no name of its own: its title is the other person's display
  // name, from the account's conversations (opened from a link, the lobby
  // had none to give), which also tell whether the room is a DM at all.
  async findDmName() {
    const token = app.liveToken();
    let cursor = null;
    let kind = 'room';
    try {
      for (let i = 0; i < 5 && token !== null; i++) {
        const page = await listMyRooms(token, { cursor, limit: 50 });
        const c = page.rooms.find((r) => r.roomId === this.roomId);
        if (c !== undefined) {
          kind = c.kind;
          if (c.kind === 'dm' && c.peer !== null && !this.destroyed) {
            this.setName(c.peer.displayName);
            this.startE2ee(c.peer);
          }
          break;
        }
        cursor = page.next;
        if (cursor === null) break;
      }
    } catch {
      // The title stays "Room", and the share box shows: a DM's link
      // admits nobody else anyway.
    }
    if (!this.destroyed) this.showShare(kind !== 'dm');
    if (!this.destroyed && this.e2ee === null) {
      this.e2eeOff = true;
      for (const li of this.e2eeWaiting) this.renderState(li);
      this.e2eeWaiting.clear();
    }
  }

  startE2ee(peer) {
    if (this.e2ee !== null) return;
    this.e2ee = new E2eeView(this, {
      roomId: this.roomId, meId: app.session.user, peer, token: () => app.liveToken(),
    });
    for (const li of this.e2eeWaiting) this.renderState(li);
    this.e2eeWaiting.clear();
  }

  // The text li shows: an envelope's plain text (null: it could not be
  // decrypted; undefined: not known yet, li is drawn again), else its text.
  shownText(li) {
    const m = li.msg;
    if (!isEnvelope(m.text) || this.e2eeOff) return m.text;
    if (this.e2ee === null) {
      this.e2eeWaiting.add(li);
      return undefined;
    }
    return this.e2ee.plain(li, m.userId ?? this.me);
  }

  showShare(shown) {
    setVisible(document.querySelector('#room-view .share'), shown);
  }

  setName(name) {
    this.name = name;
    $('room-name').textContent = name || 'Room';
    $('room-name').classList.toggle('untitled', !name);
    this.updateTitle();
  }

  listen(target, type, handler) {
    target.addEventListener(type, handler);
    this.listeners.push(() => target.removeEventListener(type, handler));
  }

  destroy() {
    this.destroyed = true;
    this.removeAttach();
    this.removeCompletion();
    // What the reader saw last counts, even inside the last second.
    clearTimeout(this.readTimer);
    const seen = this.lastVisibleSeq();
    if (seen !== null && seen > this.readSent && this.conn.read(seen)) app.readUpTo.set(this.roomId, seen);
    this.call.destroy();
    this.conn.close();
    this.resizer.disconnect();
    clearInterval(this.countdown);
    clearTimeout(this.muteTimer);
    for (const timer of this.typers.values()) clearTimeout(timer);
    this.search.destroy();
    this.e2ee?.destroy();
    for (const remove of this.listeners) remove();
    this.setReply(null);
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
        this.applyMute();
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
    setVisible(retry, state === STATE.OFFLINE || (state === STATE.RECONNECTING && retryAt !== null));
  }

  onFatal({ reason, message }) {
    if (reason === 'unauthorized') {
      app.expireSession(message);
    } else if (reason === 'unknown_room') {
      history.replaceState(null, '', '/');
      app.showLobby(`Room “${this.roomId}” does not exist any more.`);
    } else if (reason === 'banned' || reason === 'removed' || reason === 'deleted') {
      // Final: the connection does not come back, and neither does the composer.
      clearTimeout(this.muteTimer);
      setError($('room-error'), message);
      $('room-error').dataset.reason = reason;
      this.lockComposer(message);
      setVisible($('status-retry'), false);
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

  onWelcome({ user, userId, members, restarted, role, roles, mutedUntil }) {
    if (typeof user === 'string') this.me = user;
    this.meId = userId;
    this.role = role;
    this.roles = roles;
    this.mutedUntil = mutedUntil;
    this.members = [];
    for (const m of members) this.addMember(m);
    this.renderMembers();
    if (restarted) this.startOver();
  }

  onPresence({ joined, left, userId }) {
    if (typeof joined === 'string') this.addMember({ user: joined, userId });
    if (typeof left === 'string') {
      const gone = (m) => (userId === null ? m.user === left : m.userId === userId);
      this.members = this.members.filter((m) => !gone(m));
      this.stopTyping(left);
    }
    this.renderMembers();
  }

  // A user is listed once: by id (two users may show one name), or by name
  // from a server that gives no ids.
  addMember(m) {
    const same = (o) => (m.userId === null ? o.user === m.user : o.userId === m.userId);
    if (this.members.some(same)) return;
    this.members.push(m);
    this.noteName(m.user, m.userId);
  }

  // Where two ids show one name, every place that name shows gets its @id.
  noteName(name, userId) {
    if (!this.clashes.add(name, userId)) return;
    const key = foldName(name);
    for (const li of this.list.querySelectorAll(':scope > li.message')) {
      if (foldName(li.dataset.user) === key) this.fillName(li.querySelector('.author'), li.dataset.user, li.dataset.userId);
    }
    this.renderMembers();
  }

  // name, and where another user shows it too, this one's @id.
  fillName(element, name, userId) {
    element.textContent = name;
    if (typeof userId !== 'string' || !this.clashes.shared(name)) return;
    const id = document.createElement('span');
    id.className = 'user-id';
    id.dataset.testid = 'user-id';
    id.textContent = idLabel(userId);
    id.title = userId;
    element.append(' ', id);
  }

  renderMembers() {
    const items = this.members.map(({ user: name, userId }) => {
      const li = document.createElement('li');
      li.dataset.testid = 'member';
      li.dataset.user = name;
      if (userId !== null) li.dataset.userId = userId;
      const avatar = avatarFor(name);
      const label = document.createElement('span');
      label.className = 'member-name';
      this.fillName(label, name, userId ?? undefined);
      if (userId !== null && userId !== this.meId) {
        attachUserMenu(label, userId, { name, extra: () => this.moderationTools(userId, name) });
      }
      li.append(avatar, label);
      const role = userId === null ? undefined : this.roles[userId];
      if (role !== undefined) {
        const badge = document.createElement('span');
        badge.className = `role-badge role-${role}`;
        badge.dataset.testid = 'role-badge';
        badge.textContent = role === 'owner' ? 'owner' : 'mod';
        li.append(badge);
      }
      if (isOwn({ user: name, userId }, this.me, this.meId)) {
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

  // -------------------------------------------------------------- moderation

  rank(userId) {
    const role = userId === this.meId ? this.role : this.roles[userId];
    return role === 'owner' ? 2 : role === 'moderator' ? 1 : 0;
  }

  // The user card's moderation part for userId (a function the card calls
  // each time it draws): kick, ban (reason, duration), mute (duration), when
  // we outrank them; the server decides in the end.
  moderationTools(userId, name) {
    if (this.meId === null || this.rank(this.meId) === 0 || this.rank(this.meId) <= this.rank(userId)) return [];
    const box = document.createElement('div');
    box.className = 'moderation';
    box.dataset.testid = 'moderation';
    const title = document.createElement('h3');
    title.textContent = `Moderate ${name}`;
    const reason = document.createElement('input');
    reason.type = 'text';
    reason.maxLength = 200;
    reason.placeholder = 'Reason (optional)';
    reason.dataset.testid = 'mod-reason';
    reason.setAttribute('aria-label', 'Reason');
    const duration = document.createElement('select');
    duration.dataset.testid = 'mod-duration';
    duration.setAttribute('aria-label', 'For how long');
    for (const [value, label] of [['600', '10 minutes'], ['3600', '1 hour'], ['86400', '1 day'],
      ['604800', '1 week'], ['', 'Until lifted (ban)']]) {
      duration.append(new Option(label, value));
    }
    duration.value = '3600';
    const act = (type) => {
      const frame = { type, userId };
      const why = reason.value.trim();
      if (why !== '' && (type === 'kick' || type === 'ban')) frame.reason = why;
      const seconds = Number(duration.value);
      if (type === 'mute') frame.durationS = seconds > 0 ? seconds : 86400;
      if (type === 'ban' && seconds > 0) frame.durationS = seconds;
      if (!this.conn.change(frame)) {
        setError($('user-card-error'), 'Not connected: try again once the room is back.');
        return;
      }
      $('user-card').close();
    };
    const buttons = document.createElement('div');
    buttons.className = 'row-actions';
    for (const [type, label] of [['kick', 'Remove'], ['ban', 'Ban'], ['mute', 'Mute']]) {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = label;
      b.dataset.testid = `mod-${type}`;
      if (type === 'ban') b.className = 'danger';
      b.addEventListener('click', () => act(type));
      buttons.append(b);
    }
    box.append(title, reason, duration, buttons);
    return [box];
  }

  // The composer while we are muted says until when, and comes back at its end.
  applyMute() {
    clearTimeout(this.muteTimer);
    this.muteTimer = null;
    const left = this.mutedUntil === null ? 0 : this.mutedUntil - Date.now();
    if (left <= 0) {
      this.mutedUntil = null;
      this.lockComposer(null);
      return;
    }
    const until = new Date(this.mutedUntil);
    this.lockComposer(`You are muted until ${until.toLocaleTimeString()}.`);
    // setTimeout's bound (about 24.8 days): past it, look again then.
    this.muteTimer = setTimeout(() => this.applyMute(), Math.min(left + 100, 2 ** 31 - 1));
  }

  // An action record: a system line, and what it changes here. Only a live
  // one changes roles and mutes (a welcome says how they are now); a rename
  // applies from any, in seq order.
  onAction(a) {
    this.addSystemLine(a);
    const detail = a.detail !== null && typeof a.detail === 'object' ? a.detail : {};
    if (a.action === 'settings' && typeof detail.name === 'string') this.setName(detail.name);
    if (!a.live || typeof a.target !== 'string') return;
    if (a.action === 'promote') this.roles[a.target] = 'moderator';
    else if (a.action === 'demote') delete this.roles[a.target];
    else if (a.action === 'transfer') {
      this.roles[a.userId] = 'moderator';
      this.roles[a.target] = 'owner';
    }
    if (a.action === 'promote' || a.action === 'demote' || a.action === 'transfer') {
      if (a.target === this.meId || a.userId === this.meId) this.role = this.roles[this.meId] ?? 'member';
      this.renderMembers();
    }
    if (a.target === this.meId && a.action === 'mute' && Number.isInteger(detail.until)) {
      this.mutedUntil = detail.until;
      this.applyMute();
    } else if (a.target === this.meId && a.action === 'unmute') {
      this.mutedUntil = null;
      this.applyMute();
    }
  }

  // historic: placed inside a page's own scroll keeping (addHistoric).
  addSystemLine(a, { historic = false } = {}) {
    if (this.bySeq.has(a.seq)) return;
    const li = document.createElement('li');
    li.className = 'system';
    li.dataset.testid = 'system-line';
    li.dataset.seq = String(a.seq);
    li.dataset.action = a.action;
    const text = document.createElement('span');
    text.textContent = a.text;
    const time = document.createElement('time');
    li.append(text, ' ', time);
    this.setTime(li, a.ts);
    if (historic) this.placeConfirmed(li, a.seq);
    else this.withScroll(() => this.placeConfirmed(li, a.seq));
  }

  // -------------------------------------------------------------- typing

  onTyping({ user, userId }) {
    if (isOwn({ user, userId }, this.me, this.meId) || (userId !== null && isBlocked(userId))) return;
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

  buildItem({ user, userId, text, replyTo, edited, deleted, reactions }) {
    const li = document.createElement('li');
    li.msg = {
      user, userId, text,
      replyTo: Number.isInteger(replyTo) ? replyTo : null,
      edited: edited === true,
      deleted: deleted === true,
      reactions: Array.isArray(reactions) ? reactions.filter(validReaction) : [],
    };
    li.className = 'message';
    li.dataset.testid = 'message';
    li.dataset.user = user;
    if (typeof userId === 'string') {
      li.dataset.userId = userId;
      this.noteName(user, userId);
    }
    if (isOwn({ user, userId }, this.me, this.meId)) li.classList.add('mine');
    const avatar = avatarFor(user);
    const bubble = document.createElement('div');
    bubble.className = 'bubble';
    const meta = document.createElement('div');
    meta.className = 'meta';
    const author = document.createElement('span');
    author.className = 'author';
    author.dataset.testid = 'message-user';
    this.fillName(author, user, userId);
    // The app's backend (server API): no user, so no card; a badge says so.
    const fromServer = userId === SERVER_USER_ID;
    if (fromServer) {
      li.classList.add('from-server');
      li.dataset.fromServer = 'true';
      const badge = document.createElement('span');
      badge.className = 'server-badge';
      badge.dataset.testid = 'server-badge';
      badge.textContent = 'server';
      author.append(' ', badge);
    } else if (typeof userId === 'string' && userId !== this.meId) {
      attachUserMenu(author, userId, { name: user });
    }
    const time = document.createElement('time');
    time.dataset.testid = 'message-time';
    const state = document.createElement('span');
    state.className = 'delivery';
    state.dataset.testid = 'message-state';
    meta.append(author, time, state);
    const body = document.createElement('p');
    body.className = 'text';
    body.dataset.testid = 'message-text';
    const reacts = document.createElement('div');
    reacts.className = 'reactions';
    reacts.dataset.testid = 'reactions';
    const actions = document.createElement('div');
    actions.className = 'actions';
    bubble.append(meta);
    if (li.msg.replyTo !== null) {
      const quote = document.createElement('button');
      quote.type = 'button';
      quote.className = 'quote';
      quote.dataset.testid = 'reply-quote';
      li.dataset.replyTo = String(li.msg.replyTo);
      quote.addEventListener('click', () => this.jumpTo(li.msg.replyTo));
      bubble.append(quote);
    }
    bubble.append(body, reacts, actions);
    li.append(avatar, bubble);
    this.renderState(li);
    this.applyBlock(li);
    return li;
  }

  // ------------------------------------------------- replies, edits, reactions

  // Draws li's message as it is now: its text (links made), the edited mark,
  // a tombstone, its reactions, its quote, the actions it allows.
  renderState(li) {
    const m = li.msg;
    const body = li.querySelector('.text');
    li.classList.toggle('deleted', m.deleted);
    const shown = m.deleted ? '' : this.shownText(li);
    const mentioned = typeof shown === 'string' && !isEnvelope(m.text) && !isOwn(m, this.me, this.meId)
      && this.mentionsMe(shown);
    li.classList.toggle('mentions-me', mentioned);
    if (mentioned) li.dataset.mentionsMe = 'true';
    else delete li.dataset.mentionsMe;
    if (m.deleted) {
      // Nothing of its text stays on screen: not its versions, not an edit.
      li.querySelector('.versions-box')?.remove();
      li.querySelector('.editor')?.remove();
      body.hidden = false;
      body.textContent = 'message deleted';
      body.dataset.testid = 'message-tombstone';
    } else {
      const file = typeof shown === 'string' ? parseFileText(shown) : null;
      body.dataset.testid = 'message-text';
      if (shown === null) {
        // Whatever failed (a changed ciphertext, a key this device lacks):
        // never some other text.
        body.textContent = 'This message could not be decrypted.';
        body.dataset.testid = 'message-undecryptable';
      } else if (shown === undefined) {
        body.textContent = 'Decrypting…';
        body.dataset.testid = 'message-decrypting';
      } else if (file) renderFile(body, file, { roomId: this.roomId, token: () => app.liveToken() });
      else body.replaceChildren(drawMentions(linkify(shown), { person: (id) => this.person(id), meId: this.meId }));
      if (m.edited) {
        const mark = document.createElement('button');
        mark.type = 'button';
        mark.className = 'edited link-button';
        mark.dataset.testid = 'message-edited';
        mark.textContent = '(edited)';
        mark.title = 'Show earlier versions';
        mark.addEventListener('click', () => this.showVersions(li, mark));
        body.append(' ', mark);
      }
    }
    renderReactions(li.querySelector('.reactions'), m.deleted ? [] : m.reactions, this.meId,
      (id) => this.nameOf(id), (emoji, on) => this.react(li, emoji, on));
    this.renderQuote(li);
    this.renderActions(li);
  }

  renderQuote(li) {
    const quote = li.querySelector(':scope .quote');
    if (quote === null) return;
    const original = this.bySeq.get(li.msg.replyTo);
    const om = original?.msg;
    quote.textContent = om === undefined ? '↪ an earlier message'
      : `↪ ${om.user}: ${om.deleted ? 'message deleted' : (this.shownText(original) ?? 'an encrypted message').split('\n')[0]}`;
    quote.title = 'Show the message this answers';
  }

  renderActions(li) {
    const box = li.querySelector('.actions');
    const m = li.msg;
    const seq = Number(li.dataset.seq);
    if (!Number.isInteger(seq) || li.dataset.seq === undefined || m.deleted) {
      box.replaceChildren();
      return;
    }
    const mine = isOwn({ user: m.user, userId: m.userId }, this.me, this.meId);
    const buttons = [];
    const add = (label, testid, fn) => {
      const b = linkButton(label, fn);
      b.dataset.testid = testid;
      buttons.push(b);
      return b;
    };
    add('Reply', 'action-reply', () => this.setReply(seq));
    const reactButton = add('React', 'action-react', () => openPicker(reactButton, (emoji) => {
      const r = li.msg.reactions.find((x) => x.emoji === emoji);
      this.react(li, emoji, !(r !== undefined && r.userIds.includes(this.meId)));
    }));
    if (app.session?.registered) add('Remind me', 'action-remind', () => remindAbout(this.roomId, seq));
    if (mine) {
      add('Edit', 'action-edit', () => this.startEdit(li));
      const del = add('Delete', 'action-delete', () => {
        // A second click confirms: no dialog to block the page.
        if (del.dataset.armed !== 'true') {
          del.dataset.armed = 'true';
          del.textContent = 'Delete for everyone?';
          return;
        }
        this.change({ type: 'delete', seq });
      });
    }
    box.replaceChildren(...buttons);
  }

  // -------------------------------------------------------------- mentions

  // { userId, name } of a member or an author on screen whose id is id in
  // any case, or null.
  person(id) {
    const key = id.toLowerCase();
    const member = this.members.find((m) => m.userId?.toLowerCase() === key);
    if (member !== undefined) return { userId: member.userId, name: member.user };
    for (const li of this.bySeq.values()) {
      if (li.msg?.userId?.toLowerCase() === key) return { userId: li.msg.userId, name: li.msg.user };
    }
    return null;
  }

  mentionsMe(text) {
    return this.meId !== null && mentions(text, this.meId, (id) => this.person(id) !== null);
  }

  // Whom "@" completes to: the members, then the authors on screen; not me.
  mentionCandidates() {
    const seen = new Set([this.meId]);
    const out = [];
    const add = (userId, name) => {
      if (typeof userId !== 'string' || seen.has(userId)) return;
      seen.add(userId);
      out.push({ userId, name });
    };
    for (const m of this.members) add(m.userId, m.user);
    for (const seq of [...this.order].reverse()) add(this.bySeq.get(seq).msg?.userId, this.bySeq.get(seq).msg?.user);
    return out;
  }

  nameOf(userId) {
    const member = this.members.find((m) => m.userId === userId);
    if (member !== undefined) return member.user;
    for (const li of this.bySeq.values()) if (li.msg?.userId === userId) return li.msg.user;
    return userId;
  }

  change(frame) {
    if (!this.conn.change(frame)) setError($('room-error'), 'Not connected: try again once the room is back.');
  }

  react(li, emoji, on) {
    this.change({ type: 'react', seq: Number(li.dataset.seq), emoji, on });
  }

  onChange(f) {
    const li = this.bySeq.get(f.target);
    if (li === undefined || li.msg === undefined) return;
    this.withScroll(() => {
      applyChange(li.msg, f);
      this.renderState(li);
      for (const reply of this.list.querySelectorAll(`:scope > li[data-reply-to="${f.target}"]`)) this.renderQuote(reply);
    });
  }

  // Takes a message's state as the server shows it now (a resume, a page).
  refreshFrom(li, m) {
    if (li.msg === undefined || typeof m.text !== 'string') return;
    li.msg.text = m.text;
    li.msg.edited = m.edited === true;
    li.msg.deleted = m.deleted === true;
    li.msg.reactions = Array.isArray(m.reactions) ? m.reactions.filter(validReaction) : [];
    this.renderState(li);
  }

  setReply(seq) {
    this.replyTo = seq;
    let bar = document.getElementById('reply-bar');
    if (seq === null) {
      bar?.remove();
      return;
    }
    if (bar === null) {
      bar = document.createElement('div');
      bar.id = 'reply-bar';
      bar.className = 'reply-bar';
      bar.dataset.testid = 'reply-bar';
      $('composer').before(bar);
    }
    const om = this.bySeq.get(seq)?.msg;
    const label = document.createElement('span');
    label.textContent = `Replying to ${om ? `${om.user}: ${om.text.split('\n')[0]}` : 'a message'}`;
    const cancel = linkButton('Cancel', () => this.setReply(null));
    cancel.dataset.testid = 'reply-cancel';
    bar.replaceChildren(label, ' ', cancel);
    $('composer-input').focus();
  }

  startEdit(li) {
    const body = li.querySelector('.text');
    if (li.querySelector('.editor') !== null) return;
    const form = document.createElement('form');
    form.className = 'editor';
    const input = document.createElement('textarea');
    input.dataset.testid = 'edit-input';
    input.value = this.shownText(li) ?? '';
    input.rows = 2;
    const save = document.createElement('button');
    save.type = 'submit';
    save.textContent = 'Save';
    save.dataset.testid = 'edit-save';
    const close = () => {
      form.remove();
      body.hidden = false;
    };
    const cancel = linkButton('Cancel', close);
    form.append(input, save, cancel);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const text = input.value.trim();
      if (text === '' || textBytes(text) > this.maxTextBytes()) return;
      if (text === this.shownText(li)) {
        close();
        return;
      }
      const seq = Number(li.dataset.seq);
      if (!isEnvelope(li.msg.text)) {
        this.change({ type: 'edit', seq, text });
        close();
        return;
      }
      this.e2ee.seal(text).then((sealed) => {
        this.change({ type: 'edit', seq, text: sealed });
        close();
      }, (error) => { $('typing').textContent = `Not saved: ${error.message}`; });
    });
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') close();
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        form.requestSubmit();
      }
    });
    body.hidden = true;
    body.after(form);
    input.focus();
  }

  async showVersions(li, mark) {
    const open = li.querySelector('.versions-box');
    if (open !== null) {
      open.remove();
      return;
    }
    const box = document.createElement('div');
    box.className = 'versions-box';
    box.textContent = 'Loading…';
    mark.closest('.text').after(box);
    const token = app.liveToken();
    try {
      if (token === null) throw new Error('Signed out.');
      renderVersions(box, await messageVersions(token, this.roomId, Number(li.dataset.seq)));
    } catch (error) {
      box.textContent = `Earlier versions cannot be shown: ${error.message}`;
    }
  }

  // Shows the message seq, loading older pages until it is on screen.
  async jumpTo(seq) {
    while (!this.bySeq.has(seq) && !this.destroyed) {
      if (this.older === 'done' || this.older === 'error') return;
      if (this.older !== 'loading') this.loadOlder({ asked: true });
      await new Promise((r) => setTimeout(r, 50));
    }
    const li = this.bySeq.get(seq);
    if (li === undefined) return;
    this.stuck = false;
    li.scrollIntoView({ block: 'center' });
    li.classList.add('flash');
    li.dataset.flash = 'true';
    setTimeout(() => {
      li.classList.remove('flash');
      delete li.dataset.flash;
    }, 2000);
  }

  // -------------------------------------------------------------- blocks
  // A blocked user's message shows only a note, with a toggle that reveals
  // that one message.

  applyBlock(li) {
    // By id: a blocked user's name may be anyone's, and may have been another.
    const blocked = li.dataset.userId !== undefined && li.dataset.userId !== this.meId
      && isBlocked(li.dataset.userId);
    if (blocked === li.classList.contains('blocked')) return;
    li.classList.toggle('blocked', blocked);
    li.classList.remove('revealed');
    li.querySelector('.blocked-note')?.remove();
    if (!blocked) {
      delete li.dataset.blocked;
      return;
    }
    li.dataset.blocked = 'true';
    const note = document.createElement('p');
    note.className = 'blocked-note';
    note.dataset.testid = 'blocked-note';
    const toggle = linkButton('show', () => {
      const shown = li.classList.toggle('revealed');
      toggle.textContent = shown ? 'hide' : 'show';
      toggle.setAttribute('aria-expanded', String(shown));
    });
    toggle.dataset.testid = 'blocked-toggle';
    toggle.setAttribute('aria-expanded', 'false');
    note.append('Message from a blocked user — ', toggle);
    li.querySelector('.bubble').append(note);
  }

  applyBlocks() {
    this.withScroll(() => {
      for (const li of this.list.querySelectorAll(':scope > li.message')) this.applyBlock(li);
    });
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
    this.renderActions(li);
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
      // Seen already (a resume, a resend, or the ack came first): keep one,
      // as the server shows it now.
      if (Number.isFinite(m.ts)) this.setTime(existing, m.ts);
      if (typeof m.id === 'string') existing.dataset.id = m.id;
      this.refreshFrom(existing, m);
      return false;
    }
    const pending = isOwn(m, this.me, this.meId) && typeof m.id === 'string' ? this.byId.get(m.id) : undefined;
    if (pending !== undefined) {
      this.withScroll(() => this.confirm(pending, m), options);
      return true;
    }
    const li = this.buildItem(m);
    if (typeof m.id === 'string') li.dataset.id = m.id;
    li.dataset.seq = String(m.seq);
    this.setTime(li, m.ts);
    this.withScroll(() => this.placeConfirmed(li, m.seq), options);
    this.renderActions(li);
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
      if (document.hidden && !isOwn(m, this.me, this.meId)) {
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
      this.queue(li.msg.text, li.msg.replyTo);
    });
    const remove = linkButton('Remove', () => {
      this.byId.delete(id);
      li.remove();
      this.renderEmpty();
    });
    this.setDelivery(li, `Not sent: ${message} `, [retry, ' · ', remove]);
  }

  queue(text, replyTo = this.replyTo) {
    const entry = this.conn.send(text, replyTo);
    this.setReply(null);
    const li = this.buildItem({ user: this.me, userId: this.meId ?? undefined, text, replyTo });
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
    if (textBytes(text) > this.maxTextBytes()) return;
    input.value = '';
    this.renderCounter();
    input.focus();
    if (this.e2ee === null) {
      this.queue(text);
      return;
    }
    // In order: each message waits for the one before it to be sealed.
    const replyTo = this.replyTo;
    this.setReply(null);
    this.sealing = (this.sealing ?? Promise.resolve()).then(() => this.e2ee.seal(text)).then((sealed) => {
      if (!this.destroyed) this.queue(sealed, replyTo);
    }, (error) => {
      if (this.destroyed) return;
      if (input.value === '') input.value = text;
      this.renderCounter();
      $('typing').textContent = `Not sent: ${error.message}`;
    });
  }

  // An encrypted DM's envelope must fit the text limit (e2ee.js).
  maxTextBytes() {
    return this.e2ee === null ? MAX_TEXT_BYTES : E2EE_MAX_TEXT_BYTES;
  }

  renderCounter() {
    const input = $('composer-input');
    const bytes = textBytes(input.value);
    const max = this.maxTextBytes();
    const counter = $('composer-counter');
    setVisible(counter, bytes >= Math.min(COUNTER_FROM_BYTES, max / 2));
    counter.textContent = `${bytes} / ${max}`;
    counter.title = bytes > max
      ? `Too long: a message holds at most ${max} bytes${max < MAX_TEXT_BYTES ? ' when encrypted' : ''}.` : '';
    counter.classList.toggle('over', bytes > max);
    $('send-button').disabled = this.locked || bytes > max;
    // Grow with the text up to a few lines, then scroll.
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  }

  renderEmpty() {
    setVisible($('messages-empty'), this.list.childElementCount === 0);
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
    const token = app.liveToken();
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
        app.expireSession();
        return;
      }
      this.olderError = error.message;
      this.setOlder('error');
    });
  }

  addHistoric(m) {
    // An older page's actions are lines only: what they changed is how the
    // welcome found the room.
    if (m.kind === 'action') {
      if (typeof m.action === 'string') this.addSystemLine(m, { historic: true });
      return;
    }
    if (this.bySeq.has(m.seq)) {
      this.refreshFrom(this.bySeq.get(m.seq), m);
      return;
    }
    const li = this.buildItem(m);
    if (typeof m.id === 'string') li.dataset.id = m.id;
    li.dataset.seq = String(m.seq);
    this.setTime(li, m.ts);
    this.placeConfirmed(li, m.seq);
    this.renderActions(li);
    for (const reply of this.list.querySelectorAll(`:scope > li[data-reply-to="${m.seq}"]`)) this.renderQuote(reply);
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
    setVisible(button, (this.older === 'idle' && !empty) || this.older === 'error');
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
    app.readUpTo.set(this.roomId, Math.max(seq, app.readUpTo.get(this.roomId) ?? 0));
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

// shared: the app (app.js): the session, its read marks, expireSession and
// showLobby.
export function init(shared) {
  app = shared;
  // Unsent messages live only in this tab: ask before they are thrown away.
  window.addEventListener('beforeunload', (event) => {
    if (current !== null && current.conn.pending.size > 0) event.preventDefault();
  });
}

// Leaves the room shown, if any.
function close() {
  if (current !== null) {
    current.destroy();
    current = null;
  }
  document.title = 'Stateroom';
}

// first: the room's lookup (api.js lookupRoom); name: its name as known;
// kind: 'dm' or 'room', or null when not known.
export function show(roomId, first, name, kind = null) {
  close();
  current = new RoomView(roomId, first, name, kind);
  setVisible($('room-view'), true);
  $('composer-input').focus();
}

// Leaves the room while it is still on screen, so that what the reader saw
// last counts as read.
export function hide() {
  close();
  setVisible($('room-view'), false);
}

export function showing(roomId) {
  return current !== null && current.roomId === roomId;
}

// Once roomId is on screen and connected (its latest messages shown), shows
// message seq there, loading older pages as needed (a reminder's "Open").
export async function jumpToMessage(roomId, seq) {
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    if (current === null || current.roomId !== roomId) return;
    if ($('status').dataset.state === STATE.CONNECTED) {
      await current.jumpTo(seq);
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function validReaction(r) {
  return r !== null && typeof r === 'object' && typeof r.emoji === 'string' && Number.isInteger(r.count)
    && Array.isArray(r.userIds);
}
