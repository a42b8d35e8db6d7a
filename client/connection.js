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
// The transport is a Room of the client library (lib/stateroom.js,
// docs/client.md): the look-up, the ticket, reconnecting with backoff and
// jitter, resuming with since, the liveness rule, the final closes, and
// sends kept until acked and written again with the same id after every
// reconnect (the server deduplicates by id, so a retry never duplicates).
// This file turns its events into the chat's.

import { Room, newId } from './lib/stateroom.js';

export const STATE = Object.freeze({
  CONNECTING: 'connecting',
  CONNECTED: 'connected',
  RECONNECTING: 'reconnecting',
  OFFLINE: 'offline',
});

export const MAX_TEXT_BYTES = 4000;

const TYPING_INTERVAL_MS = 3000;
// The most a history frame holds: what a restarted room shows at first.
const REFILL_LIMIT = 100;

// The library's stop reasons, as the chat names them, with what it says.
const FATAL = {
  unauthorized: ['unauthorized', 'Your login has expired. Please log in again.'],
  // A DM of others, or an inbox: told apart from no room at all by nobody.
  not_allowed: ['unknown_room', 'This room does not exist (any more).'],
  no_such_room: ['unknown_room', 'This room does not exist (any more).'],
  banned: ['banned', 'You were banned from this room.'],
  removed: ['removed', 'You were removed from this room by a moderator.'],
  deleted: ['deleted', 'This room was deleted by its owner.'],
  room_full: ['full', 'This room is full.'],
  // Retrying would only be refused again while the other tabs stay.
  too_many_connections: ['too_many_tabs', 'You have too many tabs open in this room: close one and reload.'],
  bad_ticket: ['ticket', 'The server refused the join ticket.'],
  forbidden: ['forbidden', 'The server refused this connection.'],
  subprotocol: ['protocol', null],
  lookup_refused: ['lookup', null],
};

// The frames this file turns into events; the others (another
// application's: the inbox's event and resync) come as 'frame'.
const CHAT_FRAMES = new Set([
  'welcome', 'message', 'action', 'edit', 'delete', 'reaction', 'ack', 'presence', 'typing',
  'error', 'history', 'read', 'heartbeat',
]);

export function textBytes(text) {
  return new TextEncoder().encode(text).length;
}

export class RoomConnection extends EventTarget {
  // lookup(roomId, { suspect }) resolves to { host, ticket, epoch } or null
  // (no such room) and rejects with an ApiError. first, if given, is a lookup result the lobby
  // already holds: tickets are single use, so it is used for the first try.
  constructor({ roomId, lookup, first = null }) {
    super();
    this.roomId = roomId;
    this.user = null;
    this.userId = null;
    this.state = STATE.CONNECTING;
    // Our sends not yet confirmed, by id: { id, text, replyTo, ts }.
    this.pending = new Map();
    let next = first;
    this._room = new Room({
      roomId,
      backend: location.origin,
      lookup: (id, opts) => {
        const target = next;
        next = null;
        return target ?? lookup(id, opts);
      },
    });
    this._everConnected = false;
    this._lastTypingAt = 0;
    // A restarted room's messages up to its welcome's seq are still to be
    // fetched (with a history frame): a welcome with since past them holds none.
    this._refill = false;
    this._offs = [];
    this._onOnline = () => {
      if (this.state === STATE.OFFLINE || this.state === STATE.RECONNECTING) this.retry();
    };
  }

  // The highest seq seen: the next connection resumes after it.
  get lastSeq() {
    return this._room.lastSeq;
  }

  start() {
    window.addEventListener('online', this._onOnline);
    const on = (type, fn) => this._offs.push(this._room.on(type, fn.bind(this)));
    on('state', this._onState);
    on('stop', this._onStop);
    on('frame', (frame) => {
      if (!CHAT_FRAMES.has(frame.type)) this._emit('frame', frame);
    });
    on('welcome', this._onWelcome);
    on('message', (m) => this._onMessage(m));
    on('action', (frame) => this._onMessage({ ...frame, kind: 'action' }, true));
    on('edit', this._onChange);
    on('delete', this._onChange);
    on('reaction', this._onChange);
    on('ack', this._onAck);
    on('presence', (frame) => this._emit('presence', {
      joined: frame.joined ?? null, left: frame.left ?? null, userId: idOf(frame.userId),
    }));
    on('typing', (frame) => {
      if (typeof frame.user === 'string') this._emit('typing', { user: frame.user, userId: idOf(frame.userId) });
    });
    on('error', this._onError);
    on('history', this._onHistory);
    this._room.connect();
  }

  // The user left: no reconnection after this.
  close() {
    window.removeEventListener('online', this._onOnline);
    for (const off of this._offs) off();
    this._room.close();
  }

  // Try again now, whatever the backoff said (a click, or the network is
  // back), or after a fatal close: the sends still pending go again.
  retry() {
    const stopped = this._room.state === 'stopped';
    this._room.retry();
    if (stopped) for (const entry of this.pending.values()) this._request(entry);
  }

  // Queues text for sending and returns its entry ({ id, ... }). It goes
  // out now when connected, otherwise with the next connection.
  send(text, replyTo = null) {
    const entry = { id: newId(), text, replyTo, ts: Date.now() };
    this.pending.set(entry.id, entry);
    // Others stop showing us as typing when our message arrives, so the next
    // keystroke must tell them again.
    this._lastTypingAt = 0;
    this._request(entry);
    return entry;
  }

  typing() {
    const now = Date.now();
    if (this.state !== STATE.CONNECTED || now - this._lastTypingAt < TYPING_INTERVAL_MS) return;
    this._lastTypingAt = now;
    this._room.sendFrame({ type: 'typing' });
  }

  // A change of message seq ({ type: 'edit', text } / 'delete' /
  // { type: 'react', emoji, on }) with a new id; false when not connected
  // (nothing is queued: the user sees it did not go and may try again). Its
  // ack and the broadcast change come as for a send; a refusal is a
  // 'servererror'.
  change(frame) {
    return this.state === STATE.CONNECTED && this._room.sendFrame({ ...frame, id: newId() });
  }

  // Writes one frame of the room's own application (the inbox's presence);
  // false when not connected.
  sendFrame(frame) {
    return this.state === STATE.CONNECTED && this._room.sendFrame(frame);
  }

  // Tells the server this user has read the room up to seq; false when not
  // connected (the caller tries again after the next welcome).
  read(seq) {
    return this.state === STATE.CONNECTED && this._room.sendFrame({ type: 'read', seq });
  }

  _request(entry) {
    const frame = { type: 'send', id: entry.id, text: entry.text };
    if (Number.isInteger(entry.replyTo)) frame.replyTo = entry.replyTo;
    // The ack and a refusal come as their frames' events (_onAck,
    // _onError); a stop's rejection leaves the entry for retry().
    this._room.request(frame).catch(() => {});
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _setState(state, { retryAt = null, reason = null, fatal = false } = {}) {
    this.state = state;
    this._emit('state', { state, retryAt, reason, fatal });
  }

  _onState({ state, reason, retryAt }) {
    switch (state) {
      case 'connecting':
      case 'reconnecting':
        if (state === 'reconnecting' && retryAt !== null && !navigator.onLine) {
          this._setState(STATE.OFFLINE, { reason: 'You are offline.' });
        } else {
          // A retry is scheduled (retryAt), or a connection that was up is
          // being made again.
          const again = retryAt !== null || this._everConnected;
          this._setState(again ? STATE.RECONNECTING : STATE.CONNECTING, { retryAt, reason });
        }
        break;
      case 'open':
        // Said after the welcome's messages (_onWelcome).
        break;
      default:
        // stopped: a fatal one is said by _onStop, a close() is not said.
        break;
    }
  }

  _onStop({ reason, message }) {
    const [name, said] = FATAL[reason] ?? [reason, null];
    const text = said ?? message;
    this._setState(STATE.OFFLINE, { reason: text, fatal: true });
    this._emit('fatal', { reason: name, message: text });
  }

  _onWelcome(frame) {
    this._everConnected = true;
    if (frame.restarted) this._refill = true;
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
      room: frame.room, user: this.user, userId: this.userId, members, seq: frame.seq,
      resumed: frame.resumed, restarted: frame.restarted,
      role: typeof frame.role === 'string' ? frame.role : 'member',
      roles,
      mutedUntil: Number.isInteger(frame.mutedUntil) ? frame.mutedUntil : null,
    });
    // The library delivers the welcome's messages and changes right after
    // this event: the room counts as connected once they are shown.
    queueMicrotask(() => {
      if (this._room.state !== 'open') return;
      this._setState(STATE.CONNECTED);
      if (this._refill) this._room.sendFrame({ type: 'history', limit: REFILL_LIMIT });
    });
  }

  _onHistory(frame) {
    if (!this._refill || !Array.isArray(frame.messages)) return;
    this._refill = false;
    for (const message of frame.messages.filter(validMessage).sort((a, b) => a.seq - b.seq)) {
      this._onMessage(message);
    }
  }

  _onMessage(message, live = false) {
    if (!validMessage(message)) return;
    if (message.kind === 'action') {
      if (typeof message.action === 'string') this._emit('action', { ...message, live });
      return;
    }
    if (isOwn(message, this.user, this.userId)) this.pending.delete(message.id);
    this._emit('message', message);
  }

  _onChange(frame) {
    if (!Number.isInteger(frame.seq) || !Number.isInteger(frame.target)) return;
    this._emit('change', frame);
  }

  _onAck(frame) {
    if (typeof frame.id !== 'string' || !Number.isInteger(frame.seq)) return;
    const entry = this.pending.get(frame.id);
    this.pending.delete(frame.id);
    this._emit('ack', { id: frame.id, seq: frame.seq, text: entry ? entry.text : null });
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
