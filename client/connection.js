// One room's live connection: looks the room up, opens the native
// (stateroom.v1) WebSocket to the session server that hosts it, and keeps it
// open until close() is called. No DOM here; the page listens for events:
//
//   state     { state, retryAt, reason, fatal }
//                                           see STATE; retryAt is a Date.now()
//                                           time while a retry is scheduled;
//                                           fatal: a fatal event follows
//   welcome   { room, user, userId, members, seq, resumed, restarted,
//               role, roles, mutedUntil }
//                                           role: ours (owner, moderator,
//                                           member); roles: { userId: role }
//                                           of the owner and moderators;
//                                           mutedUntil: ms, null when not muted
//                                           members: [{ user, userId }];
//                                           userId null from a server that
//                                           sends none; restarted: an
//                                           ephemeral room started over (seqs
//                                           from 1 again): forget the
//                                           messages seen so far
//   message   { seq, id, user, userId, text, ts }
//                                           may repeat a seq already seen
//                                           (resume, resend): dedupe by seq
//   action    { seq, action, userId, user, target, targetName, detail, text,
//               ts, live }                  a moderation action record (live:
//                                           just taken, not from a welcome or
//                                           history); may repeat a seq
//   ack       { id, seq, text }            one of our sends is committed
//   sendfail  { id, code, message }        the server refused one of our sends
//   presence  { joined, userId } | { left, userId }
//   typing    { user, userId }
//   servererror { code, message }
//   fatal     { reason, message }          gave up; retry() starts over
//                                           (banned, removed, deleted: the
//                                           server said never to come back)
//   frame     the frame itself             any other frame type (the inbox's
//                                           event and resync: inbox.js)
//
// Sends are kept until acked and resent with the same id after every
// reconnect: the server deduplicates by id, so a retry never duplicates.
//
// A connection can die without a close (the server frozen, or cut off with
// no FIN): the socket then looks open for minutes. The liveness rule of
// docs/protocol.md says when to give up on one: the server's welcome
// advertises heartbeat_ms, and it sends some frame at least that often, so
// silence past twice that (plus SILENCE_GRACE_MS) means it is gone; and
// whatever the server advertised, a send left unacknowledged for
// ACK_TIMEOUT_MS with nothing at all heard since it went out means the same.
// The socket is then dropped and the room looked up and resumed as after a
// 1012: the room has most likely moved to another server.

export const STATE = Object.freeze({
  CONNECTING: 'connecting',
  CONNECTED: 'connected',
  RECONNECTING: 'reconnecting',
  OFFLINE: 'offline',
});

export const SUBPROTOCOL = 'stateroom.v1';
export const MAX_TEXT_BYTES = 4000;

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 10000;
// A connection that lived this long counts as healthy: the next failure
// starts the backoff over instead of continuing it.
const STABLE_MS = 5000;
// A socket that has not produced a welcome by then is given up on, so a
// silently dropped SYN cannot leave the page "connecting" for minutes.
const WELCOME_TIMEOUT_MS = 10000;
const TYPING_INTERVAL_MS = 3000;
const TOO_MANY_REQUESTS_MIN_MS = 5000;
// The liveness rule's margins (see above), and how often it is checked.
const SILENCE_GRACE_MS = 2000;
const ACK_TIMEOUT_MS = 15000;
const LIVENESS_CHECK_MS = 1000;
// heartbeat_ms values taken from a welcome; others are ignored.
const HEARTBEAT_MAX_MS = 3600000;
// The most a history frame holds: what a restarted room shows at first.
const REFILL_LIMIT = 100;

export function newMessageId() {
  // getRandomValues works on plain http pages too, unlike randomUUID.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function textBytes(text) {
  return new TextEncoder().encode(text).length;
}

export class RoomConnection extends EventTarget {
  // lookup(roomId) resolves to { host, ticket } or null (no such room) and
  // rejects with an ApiError. first, if given, is a lookup result the lobby
  // already holds: tickets are single use, so it is used for the first try.
  constructor({ roomId, lookup, first = null }) {
    super();
    this.roomId = roomId;
    this.user = null;
    this.userId = null;
    this.state = STATE.CONNECTING;
    this.lastSeq = null;
    this.pending = new Map();
    this._lookup = lookup;
    this._next = first;
    this._ws = null;
    this._generation = 0;
    this._attempt = 0;
    this._retryTimer = null;
    this._welcomeTimer = null;
    this._welcomedAt = 0;
    // Liveness: the welcome's heartbeat_ms (null: none advertised), when
    // the current socket last delivered a frame, and the check's timer.
    this._heartbeatMs = null;
    this._heardAt = 0;
    this._liveTimer = null;
    this._ticketRetried = false;
    this._lastTypingAt = 0;
    // A restarted room's messages up to its welcome's seq are still to be
    // fetched (with a history frame): a welcome with since past them holds none.
    this._refill = false;
    this._closed = false;
    this._onOnline = () => {
      if (this.state === STATE.OFFLINE || this.state === STATE.RECONNECTING) this.retry();
    };
  }

  start() {
    window.addEventListener('online', this._onOnline);
    this._connect();
  }

  // The user left: no reconnection after this.
  close() {
    this._closed = true;
    this._generation++;
    window.removeEventListener('online', this._onOnline);
    clearTimeout(this._retryTimer);
    clearTimeout(this._welcomeTimer);
    clearInterval(this._liveTimer);
    if (this._ws !== null) {
      const ws = this._ws;
      this._ws = null;
      ws.close(1000, 'leaving');
    }
  }

  // Try again now, whatever the backoff said (a click, or the network is back).
  retry() {
    if (this._closed || this.state === STATE.CONNECTED) return;
    clearTimeout(this._retryTimer);
    if (this._ws !== null) {
      const ws = this._ws;
      this._ws = null;
      ws.close();
    }
    this._ticketRetried = false;
    this._connect();
  }

  // Queues text for sending and returns its client id. It goes out now when
  // connected, otherwise after the next welcome.
  send(text, replyTo = null) {
    const id = newMessageId();
    // writtenAt: when it last went out on the current socket (null: not yet).
    const entry = { id, text, replyTo, ts: Date.now(), writtenAt: null };
    this.pending.set(id, entry);
    // Others stop showing us as typing when our message arrives, so the next
    // keystroke must tell them again.
    this._lastTypingAt = 0;
    if (this.state === STATE.CONNECTED) this._writeSend(entry);
    return entry;
  }

  // Drops a send the server refused, so that it is not resent.
  discard(id) {
    this.pending.delete(id);
  }

  typing() {
    const now = Date.now();
    if (this.state !== STATE.CONNECTED || now - this._lastTypingAt < TYPING_INTERVAL_MS) return;
    this._lastTypingAt = now;
    this._write({ type: 'typing' });
  }

  // A change of message seq ({ type: 'edit', text } / 'delete' /
  // { type: 'react', emoji, on }) with a new id; false when not connected
  // (nothing is queued: the user sees it did not go and may try again). Its
  // ack and the broadcast change come as for a send; a refusal is a
  // 'servererror'.
  change(frame) {
    return this.state === STATE.CONNECTED && this._write({ ...frame, id: newMessageId() });
  }

  // Writes one frame of the room's own application (the inbox's presence);
  // false when not connected.
  sendFrame(frame) {
    return this.state === STATE.CONNECTED && this._write(frame);
  }

  // Tells the server this user has read the room up to seq; false when not
  // connected (the caller tries again after the next welcome).
  read(seq) {
    if (this.state !== STATE.CONNECTED) return false;
    return this._write({ type: 'read', seq });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _setState(state, { retryAt = null, reason = null, fatal = false } = {}) {
    this.state = state;
    this._emit('state', { state, retryAt, reason, fatal });
  }

  _write(frame) {
    if (this._ws === null || this._ws.readyState !== WebSocket.OPEN) return false;
    this._ws.send(JSON.stringify(frame));
    return true;
  }

  _writeSend(entry) {
    const frame = { type: 'send', id: entry.id, text: entry.text };
    if (Number.isInteger(entry.replyTo)) frame.replyTo = entry.replyTo;
    if (this._write(frame)) entry.writtenAt = Date.now();
  }

  _everConnected() {
    return this._welcomedAt !== 0;
  }

  async _connect() {
    const generation = ++this._generation;
    this._setState(this._everConnected() ? STATE.RECONNECTING : STATE.CONNECTING);
    let target = this._next;
    this._next = null;
    if (target === null) {
      try {
        target = await this._lookup(this.roomId);
      } catch (error) {
        if (generation !== this._generation) return;
        this._lookupFailed(error);
        return;
      }
      if (generation !== this._generation) return;
      if (target === null) {
        this._fail('unknown_room', 'This room does not exist (any more).');
        return;
      }
    }
    this._open(target, generation);
  }

  _lookupFailed(error) {
    const status = error.status ?? 0;
    if (status === 401) {
      this._fail('unauthorized', 'Your login has expired. Please log in again.');
    } else if (status === 404) {
      // A DM of others, or an inbox: told apart from no room at all by nobody.
      this._fail('unknown_room', 'This room does not exist (any more).');
    } else if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
      this._fail('lookup', error.message);
    } else {
      const minDelay = error.retryAfter != null ? error.retryAfter * 1000 : null;
      this._scheduleRetry(error.message, minDelay);
    }
  }

  _open(target, generation) {
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    let url = `${scheme}${target.host}/?token=${encodeURIComponent(target.ticket)}`;
    if (this.lastSeq !== null) url += `&since=${this.lastSeq}`;
    let ws;
    try {
      ws = new WebSocket(url, SUBPROTOCOL);
    } catch {
      this._scheduleRetry(`The server address "${target.host}" is not usable.`);
      return;
    }
    this._ws = ws;
    let welcomed = false;
    ws.onopen = () => {
      if (ws !== this._ws || ws.protocol === SUBPROTOCOL) return;
      // Without the subprotocol the server would take our JSON for chat text.
      this._ws = null;
      ws.close(1000);
      this._fail('protocol', `The server at ${target.host} does not speak ${SUBPROTOCOL}.`);
    };
    ws.onmessage = (event) => {
      if (ws !== this._ws) return;
      this._heardAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame === null || typeof frame !== 'object') return;
      if (frame.type === 'welcome') welcomed = true;
      this._onFrame(frame);
    };
    ws.onclose = (event) => {
      if (ws !== this._ws || generation !== this._generation) return;
      this._ws = null;
      clearTimeout(this._welcomeTimer);
      clearInterval(this._liveTimer);
      this._onClose(event, welcomed);
    };
    clearTimeout(this._welcomeTimer);
    this._welcomeTimer = setTimeout(() => {
      if (ws === this._ws && !welcomed) ws.close();
    }, WELCOME_TIMEOUT_MS);
  }

  // The liveness rule (see the top of this file), checked while connected.
  _checkLiveness() {
    if (this.state !== STATE.CONNECTED || this._ws === null) return;
    const now = Date.now();
    if (this._heartbeatMs !== null
      && now - this._heardAt > 2 * this._heartbeatMs + SILENCE_GRACE_MS) {
      this._abandon('The server stopped answering.');
      return;
    }
    for (const entry of this.pending.values()) {
      if (entry.writtenAt !== null && now - entry.writtenAt > ACK_TIMEOUT_MS
        && this._heardAt < entry.writtenAt) {
        this._abandon('The server did not confirm a message.');
        return;
      }
    }
  }

  // Gives up on a socket that may never close by itself: it is let go (its
  // events ignored from now on) and the room looked up again.
  _abandon(reason) {
    const ws = this._ws;
    this._ws = null;
    clearInterval(this._liveTimer);
    clearTimeout(this._welcomeTimer);
    ws.close();
    if (Date.now() - this._welcomedAt >= STABLE_MS) this._attempt = 0;
    this._scheduleRetry(reason);
  }

  _onClose(event, welcomed) {
    if (this._closed) return;
    if (welcomed && Date.now() - this._welcomedAt >= STABLE_MS) this._attempt = 0;
    switch (event.code) {
      // Moderation: coming back would only be refused, or is not wanted.
      case 4010:
        this._fail('banned', 'You were banned from this room.');
        return;
      case 4011:
        this._fail('removed', 'You were removed from this room by a moderator.');
        return;
      case 4012:
        this._fail('deleted', 'This room was deleted by its owner.');
        return;
      case 4009:
        this._fail('full', 'This room is full.');
        return;
      case 4008:
        // Retrying would only be refused again while the other tabs stay.
        this._fail('too_many_tabs', 'You have too many tabs open in this room: close one and reload.');
        return;
      case 4001:
        // Expired or already used: one fresh ticket may fix it, a second
        // refusal will not.
        if (!this._ticketRetried) {
          this._ticketRetried = true;
          this._connect();
        } else {
          this._fail('ticket', 'The server refused the join ticket.');
        }
        return;
      case 4004:
      case 1012:
        this._scheduleRetry('The room is moving to another server.');
        return;
      case 4029:
        this._scheduleRetry('Too many requests.', TOO_MANY_REQUESTS_MIN_MS);
        return;
      default:
        this._scheduleRetry(welcomed ? 'Connection lost.' : 'Could not connect.');
    }
  }

  _scheduleRetry(reason, minDelayMs = null) {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this._attempt);
    this._attempt = Math.min(this._attempt + 1, 16);
    // Half fixed, half random: spreads a crowd of clients dropped at the same
    // moment (a server draining) without ever retrying at once.
    let delay = base / 2 + Math.random() * (base / 2);
    if (minDelayMs !== null) delay = Math.max(delay, minDelayMs);
    if (!navigator.onLine) {
      this._setState(STATE.OFFLINE, { reason: 'You are offline.' });
      return;
    }
    const retryAt = Date.now() + delay;
    this._setState(STATE.RECONNECTING, { retryAt, reason });
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => this._connect(), delay);
  }

  _fail(reason, message) {
    this._setState(STATE.OFFLINE, { reason: message, fatal: true });
    this._emit('fatal', { reason, message });
  }

  _onFrame(frame) {
    switch (frame.type) {
      case 'welcome':
        this._onWelcome(frame);
        break;
      case 'message':
        this._onMessage(frame);
        break;
      case 'action':
        this._onMessage({ ...frame, kind: 'action' }, true);
        break;
      case 'edit':
      case 'delete':
      case 'reaction':
        this._onChange(frame);
        break;
      case 'ack':
        if (typeof frame.id === 'string' && Number.isInteger(frame.seq)) {
          const entry = this.pending.get(frame.id);
          this.pending.delete(frame.id);
          this._emit('ack', { id: frame.id, seq: frame.seq, text: entry ? entry.text : null });
        }
        break;
      case 'presence':
        this._emit('presence', {
          joined: frame.joined ?? null, left: frame.left ?? null, userId: idOf(frame.userId),
        });
        break;
      case 'typing':
        if (typeof frame.user === 'string') this._emit('typing', { user: frame.user, userId: idOf(frame.userId) });
        break;
      case 'error':
        this._onError(frame);
        break;
      case 'history':
        if (this._refill && Array.isArray(frame.messages)) {
          this._refill = false;
          for (const message of frame.messages.filter(validMessage).sort((a, b) => a.seq - b.seq)) {
            this._onMessage(message);
          }
        }
        break;
      case 'read':
      case 'heartbeat':
        // Others' read marks and heartbeats: nothing to show.
        break;
      default:
        // Another application's frames (the inbox's), and future types.
        this._emit('frame', frame);
        break;
    }
  }

  _onWelcome(frame) {
    clearTimeout(this._welcomeTimer);
    const resumed = this.lastSeq !== null;
    // Only an ephemeral room that was loaded again goes back in seq
    // (docs/protocol.md, "Ephemeral rooms"): its new messages reuse the old
    // seqs, so the old ones must not hide them.
    const restarted = resumed && Number.isInteger(frame.seq) && frame.seq < this.lastSeq;
    if (restarted) {
      this.lastSeq = null;
      this._refill = true;
    }
    this._welcomedAt = Date.now();
    this._ticketRetried = false;
    const hb = frame.heartbeat_ms;
    this._heartbeatMs = Number.isInteger(hb) && hb > 0 && hb <= HEARTBEAT_MAX_MS ? hb : null;
    clearInterval(this._liveTimer);
    this._liveTimer = setInterval(() => this._checkLiveness(), LIVENESS_CHECK_MS);
    this.user = typeof frame.user === 'string' ? frame.user : this.user;
    this.userId = idOf(frame.userId);
    const names = Array.isArray(frame.members) ? frame.members : [];
    // memberIds[i] is the id of members[i].
    const ids = Array.isArray(frame.memberIds) && frame.memberIds.length === names.length ? frame.memberIds : [];
    const members = names.map((m, i) => ({ user: memberName(m), userId: idOf(ids[i]) }))
      .filter((m) => typeof m.user === 'string');
    const roles = {};
    if (frame.roles !== null && typeof frame.roles === 'object') {
      for (const [id, role] of Object.entries(frame.roles)) {
        if (role === 'owner' || role === 'moderator') roles[id] = role;
      }
    }
    this._emit('welcome', {
      room: frame.room, user: this.user, userId: this.userId, members, seq: frame.seq, resumed, restarted,
      role: typeof frame.role === 'string' ? frame.role : 'member',
      roles,
      mutedUntil: Number.isInteger(frame.mutedUntil) ? frame.mutedUntil : null,
    });
    const messages = Array.isArray(frame.messages) ? frame.messages.filter(validMessage) : [];
    messages.sort((a, b) => a.seq - b.seq);
    for (const message of messages) this._onMessage(message);
    // Changes of messages shown before (a resume): each once, oldest first.
    if (Array.isArray(frame.changes)) for (const change of frame.changes) this._onChange(change);
    if (Number.isInteger(frame.seq) && (this.lastSeq === null || frame.seq > this.lastSeq)) {
      this.lastSeq = frame.seq;
    }
    this._setState(STATE.CONNECTED);
    if (this._refill) this._write({ type: 'history', limit: REFILL_LIMIT });
    for (const entry of this.pending.values()) this._writeSend(entry);
  }

  _onMessage(message, live = false) {
    if (!validMessage(message)) return;
    if (this.lastSeq === null || message.seq > this.lastSeq) this.lastSeq = message.seq;
    if (message.kind === 'action') {
      if (typeof message.action === 'string') this._emit('action', { ...message, live });
      return;
    }
    if (isOwn(message, this.user, this.userId)) this.pending.delete(message.id);
    this._emit('message', message);
  }

  _onChange(frame) {
    if (frame === null || typeof frame !== 'object' || !Number.isInteger(frame.seq) || !Number.isInteger(frame.target)) return;
    if (this.lastSeq === null || frame.seq > this.lastSeq) this.lastSeq = frame.seq;
    this._emit('change', frame);
  }

  _onError(frame) {
    const code = typeof frame.code === 'string' ? frame.code : 'error';
    const message = typeof frame.message === 'string' && frame.message !== '' ? frame.message : code;
    if (typeof frame.id === 'string' && this.pending.has(frame.id)) {
      this.pending.delete(frame.id);
      this._emit('sendfail', { id: frame.id, code, message });
    } else {
      this._emit('servererror', { code, message });
    }
  }
}

export function validMessage(m) {
  return m !== null && typeof m === 'object' && Number.isInteger(m.seq)
    && typeof m.user === 'string' && typeof m.text === 'string';
}

// Whether message m is from this user: by id where the server gives ids
// (two users may show one name), else by name.
export function isOwn(m, user, userId) {
  return userId !== null && typeof m.userId === 'string' ? m.userId === userId : m.user === user;
}

function idOf(v) {
  return typeof v === 'string' && v !== '' ? v : null;
}

function memberName(m) {
  if (typeof m === 'string') return m;
  if (m !== null && typeof m === 'object') return m.user ?? m.userId ?? m.name ?? null;
  return null;
}
