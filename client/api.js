// The backend's HTTP API (docs/protocol.md, "HTTP API"). Every failure is
// thrown as an ApiError whose message can be shown to the user as it is.

export const USER_ID_RULE = 'use 1 to 32 letters, digits, “_”, “-” or “.” (no spaces)';
const USER_ID_RE = /^[A-Za-z0-9_.-]{1,32}$/;
const ROOM_ID_RE = /^[a-z0-9]{12}$/;

export class ApiError extends Error {
  constructor(message, { status = 0, code = 'network', retryAfter = null } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    // Seconds, from a 503's or 429's Retry-After; null when the server gave none.
    this.retryAfter = retryAfter;
  }
}

export function validUserId(userId) {
  return USER_ID_RE.test(userId);
}

export function validRoomId(roomId) {
  return ROOM_ID_RE.test(roomId);
}

// Accepts a bare room id or a pasted share link (…/?room=ID) and returns the
// id, or null when neither is recognisable.
export function parseRoomInput(input) {
  const text = input.trim();
  if (validRoomId(text)) return text;
  try {
    const id = new URL(text).searchParams.get('room');
    if (id !== null && validRoomId(id.trim())) return id.trim();
  } catch {
    // Not a URL either: the caller reports it.
  }
  return null;
}

function parseRetryAfter(value) {
  if (value === null) return null;
  const seconds = Number.parseInt(value, 10);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(value);
  if (Number.isFinite(date)) return Math.max(0, Math.ceil((date - Date.now()) / 1000));
  return null;
}

async function request(method, path, { token = null, body = undefined, signal = undefined } = {}) {
  const headers = { Accept: 'application/json' };
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      signal,
    });
  } catch {
    throw new ApiError(signal?.aborted
      ? 'The server did not answer in time.'
      : 'Cannot reach the server. Check your connection and try again.');
  }
  // A 204 (an action done, nothing to tell) has no body to read.
  if (response.status === 204) return {};
  let data = null;
  try {
    data = await response.json();
  } catch {
    // A proxy's HTML error page, an empty body: handled below by status.
  }
  if (response.ok && data !== null && typeof data === 'object') return data;

  const retryAfter = parseRetryAfter(response.headers.get('Retry-After'));
  const error = data !== null && typeof data === 'object' ? data.error : null;
  const code = error && typeof error.code === 'string' ? error.code : `http_${response.status}`;
  let message = error && typeof error.message === 'string' && error.message !== ''
    ? error.message
    : `The server answered ${response.status} ${response.statusText}`.trim();
  if (response.status === 503 && code === 'no_capacity') {
    message = `All servers are full, try again in ${retryAfter ?? 5} s.`;
  } else if ((response.status === 503 || response.status === 429) && retryAfter !== null) {
    message = `${message} (retry in ${retryAfter} s)`;
  } else if (response.ok) {
    message = 'The server sent an answer this page does not understand.';
  }
  throw new ApiError(message, { status: response.status, code, retryAfter });
}

function tokenOf(data) {
  if (typeof data.token !== 'string' || data.token === '') {
    throw new ApiError('The server sent no token.', { status: 200, code: 'bad_answer' });
  }
  return data.token;
}

function badAnswer() {
  return new ApiError('The server sent an answer this page does not understand.',
    { status: 200, code: 'bad_answer' });
}

// The bounds the backend puts on a password, in UTF-8 bytes.
export const PASSWORD_MIN_BYTES = 8;
export const PASSWORD_MAX_BYTES = 1024;
export const ROOM_NAME_MAX_BYTES = 100;

// The token's expiry as a Date.now() time, or null when it names none. The
// signature is the server's business; the page only wants to know when to
// stop offering a saved token.
export function tokenExpiry(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(part.padEnd(Math.ceil(part.length / 4) * 4, '=')));
    return Number.isFinite(claims.exp) ? claims.exp * 1000 : null;
  } catch {
    return null;
  }
}

// POST /api/login → user token for a guest.
export async function login(userId) {
  return tokenOf(await request('POST', '/api/login', { body: { userId } }));
}

// POST /api/auth/register → user token for a new account.
export async function register(userId, password) {
  return tokenOf(await request('POST', '/api/auth/register', { body: { userId, password } }));
}

// POST /api/auth/login → user token for an existing account.
export async function loginWithPassword(userId, password) {
  return tokenOf(await request('POST', '/api/auth/login', { body: { userId, password } }));
}

// POST /api/rooms → room id. options: { name, visibility }, each optional.
export async function createRoom(token, options = {}) {
  const data = await request('POST', '/api/rooms', { token, body: options });
  if (typeof data.roomId !== 'string' || data.roomId === '') {
    throw new ApiError('The server sent no room id.', { status: 200, code: 'bad_answer' });
  }
  return data.roomId;
}

// GET /api/rooms → the public rooms and the caller's own, newest first, each
// { roomId, name, owner, mine, visibility, members, lastSeq, unread }; owner
// is a name, and two guests may share one: mine says whether it is the caller.
// signal, an AbortSignal, gives the request up.
export async function listRooms(token, signal = undefined) {
  const data = await request('GET', '/api/rooms', { token, signal });
  if (!Array.isArray(data.rooms)) throw badAnswer();
  return data.rooms.filter((r) => r !== null && typeof r === 'object' && validRoomId(r.roomId))
    .map((r) => ({
      roomId: r.roomId,
      name: typeof r.name === 'string' ? r.name : '',
      owner: typeof r.owner === 'string' ? r.owner : '',
      mine: r.mine === true,
      visibility: r.visibility === 'public' ? 'public' : 'unlisted',
      members: Number.isInteger(r.members) && r.members > 0 ? r.members : 0,
      lastSeq: Number.isInteger(r.lastSeq) ? r.lastSeq : 0,
      unread: Number.isInteger(r.unread) && r.unread > 0 ? r.unread : 0,
    }));
}

// GET /api/rooms/:id → { host, ticket, name, app, epoch }, or null when no
// such room exists. name is null when the backend does not say. suspect: the
// epoch whose server the page found silent (docs/protocol.md, "Liveness").
export async function lookupRoom(token, roomId, { suspect = null } = {}) {
  const query = Number.isInteger(suspect) && suspect > 0 ? `?suspect=${suspect}` : '';
  const data = await request('GET', `/api/rooms/${encodeURIComponent(roomId)}${query}`, { token });
  if (data.host === null || data.token === null) return null;
  if (typeof data.host !== 'string' || typeof data.token !== 'string') throw badAnswer();
  return { host: data.host, ticket: data.token, name: typeof data.name === 'string' ? data.name : null,
    app: typeof data.app === 'string' ? data.app : 'chat',
    epoch: Number.isInteger(data.epoch) ? data.epoch : null };
}

// GET /api/me/inbox → { host, ticket }: a ticket for the account's inbox
// (its live notifications, see inbox.js).
export async function inboxTicket(token) {
  const data = await request('GET', '/api/me/inbox', { token });
  if (typeof data.host !== 'string' || typeof data.token !== 'string') throw badAnswer();
  return { host: data.host, ticket: data.token };
}

// GET /api/rooms/:id/messages → { messages (oldest first), more }: the page
// of messages just before seq `before`.
export async function olderMessages(token, roomId, before, limit) {
  const query = new URLSearchParams({ before: String(before), limit: String(limit) });
  const data = await request('GET',
    `/api/rooms/${encodeURIComponent(roomId)}/messages?${query}`, { token });
  if (!Array.isArray(data.messages)) throw badAnswer();
  return { messages: data.messages, more: data.more === true };
}

// GET /api/rooms/:id/messages/:seq/versions → [{ text, ts }]: an edited
// message's texts, oldest first.
export async function messageVersions(token, roomId, seq) {
  const data = await request('GET',
    `/api/rooms/${encodeURIComponent(roomId)}/messages/${encodeURIComponent(String(seq))}/versions`, { token });
  if (!Array.isArray(data.versions)) throw badAnswer();
  return data.versions.filter((v) => v !== null && typeof v === 'object' && typeof v.text === 'string');
}

// GET /api/rooms/:id/search?q= → { hits, next }: the room's messages whose
// current text matches q, best first, each { seq, userId, user, text, ts,
// snippet } (snippet: the matched words between U+0002 and U+0003); next is
// the cursor of the next page or null.
export async function searchRoom(token, roomId, q, { cursor = null, limit = 20, signal } = {}) {
  const data = await request('GET',
    `/api/rooms/${encodeURIComponent(roomId)}/search?${queryString({ q, limit, cursor })}`, { token, signal });
  return { next: page(data, 'hits'), hits: data.hits };
}

// ---------------------------------------------------------------- people:
// conversations, users and blocks (registered accounts only; a guest gets
// 403 account_required). Lists are paged: pass the answer's `next` back as
// cursor, null on the last page.

function pageQuery(cursor, limit) {
  const query = new URLSearchParams();
  if (limit !== undefined) query.set('limit', String(limit));
  if (cursor) query.set('cursor', cursor);
  const text = query.toString();
  return text === '' ? '' : `?${text}`;
}

function nextOf(data) {
  return typeof data.next === 'string' && data.next !== '' ? data.next : null;
}

// A user as the people API shows it, checked; null when it is not one.
export function personOf(u) {
  if (u === null || typeof u !== 'object' || !validUserId(u.userId)) return null;
  const avatar = u.avatar !== null && typeof u.avatar === 'object' ? u.avatar : {};
  return {
    userId: u.userId,
    displayName: typeof u.displayName === 'string' && u.displayName !== '' ? u.displayName : u.userId,
    status: typeof u.status === 'string' ? u.status : '',
    avatar: {
      initials: typeof avatar.initials === 'string' ? avatar.initials : '',
      color: typeof avatar.color === 'string' && /^#[0-9A-Fa-f]{6}$/.test(avatar.color) ? avatar.color : null,
    },
  };
}

function lastMessageOf(m) {
  if (m === null || typeof m !== 'object' || !Number.isInteger(m.seq)) return null;
  return {
    seq: m.seq,
    userId: typeof m.userId === 'string' ? m.userId : '',
    userName: typeof m.userName === 'string' ? m.userName : '',
    text: typeof m.text === 'string' ? m.text : '',
    at: typeof m.at === 'string' ? Date.parse(m.at) : NaN,
  };
}

// GET /api/me/rooms → { rooms, next }: the caller's rooms and DMs, newest
// activity first, each { roomId, kind, name, peer, unread, lastMessage,
// activityAt (ms) }.
export async function listMyRooms(token, { cursor = null, limit = undefined, signal = undefined } = {}) {
  const data = await request('GET', `/api/me/rooms${pageQuery(cursor, limit)}`, { token, signal });
  if (!Array.isArray(data.rooms)) throw badAnswer();
  const rooms = data.rooms.filter((r) => r !== null && typeof r === 'object' && validRoomId(r.roomId))
    .map((r) => ({
      roomId: r.roomId,
      kind: r.kind === 'dm' ? 'dm' : 'room',
      name: typeof r.name === 'string' ? r.name : '',
      peer: personOf(r.peer),
      unread: Number.isInteger(r.unread) && r.unread > 0 ? r.unread : 0,
      mentions: Number.isInteger(r.mentions) && r.mentions > 0 ? r.mentions : 0,
      lastMessage: lastMessageOf(r.lastMessage),
      activityAt: typeof r.activityAt === 'string' ? Date.parse(r.activityAt) : NaN,
    }));
  return { rooms, next: nextOf(data) };
}

// DELETE /api/me/rooms/:id: leaves the room for good (it leaves the list).
export async function leaveMyRoom(token, roomId) {
  await request('DELETE', `/api/me/rooms/${encodeURIComponent(roomId)}`, { token });
}

// GET /api/blocks → { blocks (users), next }: one page of the users the
// caller blocks.
export async function listBlocks(token, { cursor = null, limit = undefined } = {}) {
  const data = await request('GET', `/api/blocks${pageQuery(cursor, limit)}`, { token });
  if (!Array.isArray(data.blocks)) throw badAnswer();
  return { blocks: data.blocks.map(personOf).filter((u) => u !== null), next: nextOf(data) };
}

// ---- People (docs/protocol.md, "People"): accounts only; a guest gets 403
// account_required from each. A user is { userId, displayName, status,
// avatar: { initials, color } } (a friend also has presence), as the server
// sends it: people.js checks each one before it shows it.

const path = (template, ...ids) => template.replace(/:id/g, () => encodeURIComponent(ids.shift()));

function page(data, key) {
  if (!Array.isArray(data[key])) throw badAnswer();
  return typeof data.next === 'string' && data.next !== '' ? data.next : null;
}

function queryString(params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== null && value !== undefined) query.set(key, String(value));
  return query.toString();
}

// GET /api/me → { userId, registered, displayName, status, avatar, dmPolicy }.
export function getMe(token) {
  return request('GET', '/api/me', { token });
}

// PATCH /api/me with any of { displayName, status, dmPolicy } → GET /api/me's answer.
export function updateMe(token, fields) {
  return request('PATCH', '/api/me', { token, body: fields });
}

// GET /api/users/:id → a user, or null when there is none (or it blocked the caller).
export async function getUser(token, userId) {
  try {
    return await request('GET', path('/api/users/:id', userId), { token });
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
}

// GET /api/users?q= → { users, next }: next is the cursor of the next page or null.
export async function searchUsers(token, q, { cursor = null, limit = 20, signal } = {}) {
  const data = await request('GET', `/api/users?${queryString({ q, limit, cursor })}`, { token, signal });
  return { next: page(data, 'users'), users: data.users };
}

// GET /api/friends → { friends, incoming, outgoing, next }; requests are { user, at }.
export async function listFriends(token, { cursor = null, limit = 50 } = {}) {
  const data = await request('GET', `/api/friends?${queryString({ limit, cursor })}`, { token });
  const next = page(data, 'friends');
  if (!Array.isArray(data.incoming) || !Array.isArray(data.outgoing)) throw badAnswer();
  return { friends: data.friends, incoming: data.incoming, outgoing: data.outgoing, next };
}

// POST /api/friends/requests → 'pending' or 'friends' (they had asked the caller).
export async function sendFriendRequest(token, userId) {
  const data = await request('POST', '/api/friends/requests', { token, body: { userId } });
  return data.state === 'friends' ? 'friends' : 'pending';
}

export function acceptFriendRequest(token, userId) {
  return request('POST', path('/api/friends/requests/:id/accept', userId), { token });
}

export function declineFriendRequest(token, userId) {
  return request('POST', path('/api/friends/requests/:id/decline', userId), { token });
}

export function cancelFriendRequest(token, userId) {
  return request('DELETE', path('/api/friends/requests/:id', userId), { token });
}

export function removeFriend(token, userId) {
  return request('DELETE', path('/api/friends/:id', userId), { token });
}

export function blockUser(token, userId) {
  return request('POST', '/api/blocks', { token, body: { userId } });
}

export function unblockUser(token, userId) {
  return request('DELETE', path('/api/blocks/:id', userId), { token });
}

// POST /api/dms → the room id of the caller's conversation with userId.
export async function startDm(token, userId) {
  const data = await request('POST', '/api/dms', { token, body: { userId } });
  if (!validRoomId(data.roomId)) throw badAnswer();
  return data.roomId;
}

// Roles and moderation (docs/protocol.md, "Roles and moderation"). A room's
// path part, and a user's (a guest's id holds a ':').
const roomPath = (roomId) => `/api/rooms/${encodeURIComponent(roomId)}`;
const userPart = (userId) => encodeURIComponent(userId);

// GET /api/rooms/:id/members → { owner, moderators, members, room, you }.
export function roomMembers(token, roomId) {
  return request('GET', `${roomPath(roomId)}/members`, { token });
}

// PATCH /api/rooms/:id → the room's settings. fields: any of name,
// visibility, capacity, inviteOnly.
export function updateRoom(token, roomId, fields) {
  return request('PATCH', roomPath(roomId), { token, body: fields });
}

export function deleteRoom(token, roomId) {
  return request('DELETE', roomPath(roomId), { token });
}

// role: 'moderator' (appoint) or 'member' (remove a moderator).
export function setRoomRole(token, roomId, userId, role) {
  return request('PATCH', `${roomPath(roomId)}/members/${userPart(userId)}`, { token, body: { role } });
}

export function handOverRoom(token, roomId, userId) {
  return request('POST', `${roomPath(roomId)}/owner`, { token, body: { userId } });
}

export function listBans(token, roomId) {
  return request('GET', `${roomPath(roomId)}/bans`, { token });
}

export function unbanUser(token, roomId, userId) {
  return request('DELETE', `${roomPath(roomId)}/bans/${userPart(userId)}`, { token });
}

// GET /api/rooms/:id/invites → { invites, links }.
export function listInvites(token, roomId) {
  return request('GET', `${roomPath(roomId)}/invites`, { token });
}

export function inviteUser(token, roomId, userId) {
  return request('POST', `${roomPath(roomId)}/invites`, { token, body: { userId } });
}

export function uninviteUser(token, roomId, userId) {
  return request('DELETE', `${roomPath(roomId)}/invites/${userPart(userId)}`, { token });
}

// → { id, token, url, expiresAt }: the link's token is shown this once.
export function createInviteLink(token, roomId, { expiresInS, maxUses = null } = {}) {
  const body = { link: true, expiresInS };
  if (maxUses !== null) body.maxUses = maxUses;
  return request('POST', `${roomPath(roomId)}/invites`, { token, body });
}

export function revokeInviteLink(token, roomId, linkId) {
  return request('DELETE', `${roomPath(roomId)}/invites/links/${encodeURIComponent(linkId)}`, { token });
}

// POST /api/invites/:token → { roomId, name }: the caller is now invited.
export async function acceptInvite(token, inviteToken) {
  const data = await request('POST', `/api/invites/${encodeURIComponent(inviteToken)}`, { token });
  if (typeof data.roomId !== 'string' || !validRoomId(data.roomId)) throw badAnswer();
  return data;
}

// ---- notifications (docs/protocol.md, "Notifications") ----

// GET /api/me/notify → { dmLevel, roomLevel, push, email, emailDelayS, dnd, tz }.
export function getNotify(token) {
  return request('GET', '/api/me/notify', { token });
}

// PUT /api/me/notify with any of those fields → all of them.
export function updateNotify(token, fields) {
  return request('PUT', '/api/me/notify', { token, body: fields });
}

// GET /api/rooms/:id/notify → { roomId, level, effectiveLevel, muted, mutedUntil }.
export function getRoomNotify(token, roomId) {
  return request('GET', `/api/rooms/${encodeURIComponent(roomId)}/notify`, { token });
}

// PUT /api/rooms/:id/notify with { level } and/or one of { muted, mutedUntil, muteFor }.
export function updateRoomNotify(token, roomId, fields) {
  return request('PUT', `/api/rooms/${encodeURIComponent(roomId)}/notify`, { token, body: fields });
}

// POST /api/reminders → { id, roomId, seq, at, firedAt }.
export function addReminder(token, roomId, seq, at) {
  return request('POST', '/api/reminders', { token, body: { roomId, seq, at } });
}

// GET /api/me/reminders → the list (pending first, then fired).
export async function listReminders(token) {
  const data = await request('GET', '/api/me/reminders', { token });
  if (!Array.isArray(data.reminders)) throw badAnswer();
  return data.reminders.filter((r) => r !== null && typeof r === 'object' && Number.isInteger(r.id)
    && validRoomId(r.roomId) && Number.isInteger(r.seq));
}

export function deleteReminder(token, id) {
  return request('DELETE', `/api/reminders/${encodeURIComponent(id)}`, { token });
}

// Web Push (docs/protocol.md, "Notifications"): the server's VAPID key
// (an ApiError with status 404, code push_disabled, when push is off) and
// this browser's subscription.
export async function pushKey() {
  const data = await request('GET', '/api/push/key');
  if (typeof data.publicKey !== 'string') throw badAnswer();
  return data.publicKey;
}

export function savePushSubscription(token, subscription) {
  return request('POST', '/api/me/push', { token, body: subscription });
}

export function deletePushSubscription(token, endpoint) {
  return request('DELETE', '/api/me/push', { token, body: { endpoint } });
}
