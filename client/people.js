// People, shared by every view: how a person is drawn (avatar, display
// name, the login name beside it where two shown names collide), what the
// page knows of the account's friends, requests and blocks, the actions on a
// person, and the user card: click a name anywhere (attachUserMenu) to see
// the profile and message, befriend, block or unblock.

import {
  ApiError, acceptFriendRequest, blockUser, cancelFriendRequest, declineFriendRequest, getUser,
  listBlocks, listFriends, removeFriend, sendFriendRequest, startDm, unblockUser, validUserId,
} from './api.js';
import { $, setError, setVisible } from './dom.js';

let app = null;

export const GUEST_TEXT = 'Create an account to add friends, message people and block them: '
  + 'log out and choose “Register”.';

// ---- what the server sends, checked -------------------------------------

const COLOR_RE = /^#[0-9a-fA-F]{6}$/;
const PRESENCE = new Set(['online', 'away', 'offline']);

// A user from the API as { userId, displayName, status, initials, color,
// presence } (presence null unless the API gave one), or null when it is
// not one.
export function cleanUser(u) {
  if (u === null || typeof u !== 'object' || typeof u.userId !== 'string' || !validUserId(u.userId)) {
    return null;
  }
  const displayName = typeof u.displayName === 'string' && u.displayName !== '' ? u.displayName : u.userId;
  const avatar = u.avatar !== null && typeof u.avatar === 'object' ? u.avatar : {};
  let presence = null;
  if (u.presence !== null && typeof u.presence === 'object' && PRESENCE.has(u.presence.state)) {
    const seen = typeof u.presence.lastSeen === 'string' ? Date.parse(u.presence.lastSeen) : NaN;
    presence = { state: u.presence.state, lastSeen: Number.isFinite(seen) ? new Date(seen) : null };
  }
  return {
    userId: u.userId,
    displayName,
    status: typeof u.status === 'string' ? u.status : '',
    initials: typeof u.avatar?.initials === 'string' && u.avatar.initials !== ''
      ? u.avatar.initials : (Array.from(displayName)[0] ?? '?').toUpperCase(),
    color: COLOR_RE.test(avatar.color) ? avatar.color : '#667085',
    presence,
  };
}

// ---- errors -------------------------------------------------------------

function sentence(text) {
  const t = text.trim();
  if (t === '') return 'Something went wrong.';
  return t[0].toUpperCase() + t.slice(1) + (/[.!?]$/.test(t) ? '' : '.');
}

// What to tell the user about a failed people call.
export function errorText(error) {
  if (!(error instanceof ApiError)) return sentence(String(error?.message ?? error));
  if (error.status === 429) return `Slow down: try again in ${error.retryAfter ?? 5} s.`;
  if (error.code === 'account_required') return GUEST_TEXT;
  // not_allowed is the server's one generic refusal (a block, or who may
  // message whom): shown as it is, so that it never says more than it does.
  return sentence(error.message);
}

// Shows error in element; a 401 (the login expired) goes back to the login.
export function showFailure(element, error) {
  if (error instanceof ApiError && error.status === 401) {
    closePeopleDialogs();
    app.expireSession();
    return;
  }
  setError(element, errorText(error));
}

// ---- drawing a person ---------------------------------------------------

const fold = (text) => text.normalize('NFC').toLowerCase();

// The ids of the users whose shown name another user of the same list could
// be taken for: the same display name, or another's login name, in any case.
export function collisions(users) {
  const byName = new Map();
  const add = (key, id) => {
    if (!byName.has(key)) byName.set(key, new Set());
    byName.get(key).add(id);
  };
  for (const u of users) {
    add(fold(u.displayName), u.userId);
    add(fold(u.userId), u.userId);
  }
  const out = new Set();
  for (const u of users) if (byName.get(fold(u.displayName)).size > 1) out.add(u.userId);
  return out;
}

function ago(date) {
  const s = Math.max(0, (Date.now() - date.getTime()) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return date.toLocaleDateString([], { month: 'short', day: 'numeric' });
}

export function presenceText(presence) {
  if (presence === null) return '';
  if (presence.state !== 'offline') return presence.state;
  return presence.lastSeen === null ? 'offline' : `offline · last seen ${ago(presence.lastSeen)}`;
}

export function avatarOf(user, className = 'avatar') {
  const avatar = document.createElement('span');
  avatar.className = className;
  avatar.setAttribute('aria-hidden', 'true');
  avatar.textContent = user.initials;
  avatar.style.background = user.color;
  return avatar;
}

// A person as avatar, display name (with @login when showLogin) and a
// second line: the presence when known, else the status.
export function personElement(user, { showLogin = false, line = null } = {}) {
  const person = document.createElement('span');
  person.className = 'person';
  const text = document.createElement('span');
  text.className = 'person-text';
  const first = document.createElement('span');
  first.className = 'person-first';
  const name = document.createElement('span');
  name.className = 'person-name';
  name.dataset.testid = 'person-name';
  name.textContent = user.displayName;
  first.append(name);
  if (showLogin) {
    const login = document.createElement('span');
    login.className = 'person-login';
    login.dataset.testid = 'person-login';
    login.textContent = `@${user.userId}`;
    first.append(login);
  }
  text.append(first);
  const second = line ?? (user.presence !== null ? presenceText(user.presence) : user.status);
  if (second) {
    const sub = document.createElement('span');
    sub.className = 'person-sub';
    sub.dataset.testid = 'person-sub';
    if (user.presence !== null && line === null) {
      const dot = document.createElement('span');
      dot.className = 'presence-dot';
      dot.dataset.state = user.presence.state;
      dot.setAttribute('aria-hidden', 'true');
      sub.append(dot);
    }
    sub.append(second);
    text.append(sub);
  }
  person.append(avatarOf(user), text);
  return person;
}

// ---- what the page knows: friends, requests, blocks ----------------------

const events = new EventTarget();
const known = {
  token: null,
  friends: [], incoming: [], outgoing: [], blocks: [],
  ids: { friends: new Set(), incoming: new Set(), outgoing: new Set(), blocked: new Set() },
};
// A friend and block list holds at most 1000, pages of 50: enough to end.
const MAX_PAGES = 25;

function users(list) {
  return list.map(cleanUser).filter((u) => u !== null);
}

function requests(list) {
  return list.filter((r) => r !== null && typeof r === 'object')
    .map((r) => ({ user: cleanUser(r.user), at: Date.parse(r.at) }))
    .filter((r) => r.user !== null);
}

// Fetches the friends, both ways' requests and the blocks, every page, and
// tells onPeopleChange's listeners. Throws an ApiError.
export async function refreshPeople() {
  const token = app.liveToken();
  if (token === null || !app.session.registered) return known;
  const got = { friends: [], incoming: [], outgoing: [], blocks: [] };
  let cursor = null;
  for (let i = 0; i < MAX_PAGES; i++) {
    const p = await listFriends(token, { cursor });
    got.friends.push(...users(p.friends));
    got.incoming.push(...requests(p.incoming));
    got.outgoing.push(...requests(p.outgoing));
    cursor = p.next;
    if (cursor === null) break;
  }
  cursor = null;
  for (let i = 0; i < MAX_PAGES; i++) {
    const p = await listBlocks(token, { cursor });
    got.blocks.push(...users(p.blocks));
    cursor = p.next;
    if (cursor === null) break;
  }
  if (token !== app.session?.token) return known;
  Object.assign(known, got, { token });
  known.ids = {
    friends: new Set(got.friends.map((u) => u.userId)),
    incoming: new Set(got.incoming.map((r) => r.user.userId)),
    outgoing: new Set(got.outgoing.map((r) => r.user.userId)),
    blocked: new Set(got.blocks.map((u) => u.userId)),
  };
  events.dispatchEvent(new Event('change'));
  return known;
}

// A friend's presence changed (the inbox said so): their entry is updated
// and onPeopleChange's listeners told; anyone else's is ignored.
export function setPresence(userId, state, lastSeen) {
  if (people() === null || !PRESENCE.has(state)) return;
  const friend = known.friends.find((f) => f.userId === userId);
  if (friend === undefined) return;
  const seen = typeof lastSeen === 'string' ? Date.parse(lastSeen) : NaN;
  friend.presence = { state, lastSeen: Number.isFinite(seen) ? new Date(seen) : null };
  events.dispatchEvent(new Event('change'));
}

// What refreshPeople last got: { friends, incoming, outgoing, blocks }.
export function people() {
  return known.token !== null && known.token === app.session?.token ? known : null;
}

// 'friend', 'incoming' (they asked you), 'outgoing' (you asked them) or null.
export function relationOf(userId) {
  if (people() === null) return null;
  for (const kind of ['friends', 'incoming', 'outgoing']) {
    if (known.ids[kind].has(userId)) return kind === 'friends' ? 'friend' : kind;
  }
  return null;
}

// Whether the account blocks userId, as far as the page knows (for the room
// view: hide their messages). onPeopleChange tells when this may change.
export function isBlocked(userId) {
  return people() !== null && known.ids.blocked.has(userId);
}

// listener() runs whenever what the page knows changes; returns the way to
// stop that.
export function onPeopleChange(listener) {
  events.addEventListener('change', listener);
  return () => events.removeEventListener('change', listener);
}

// Fetches the lists once for this session if nothing has yet (a view that
// hides blocked users' messages needs them; the inbox refetches them later).
export function ensurePeople() {
  if (people() === null) refreshPeople().catch(() => {});
}

// ---- actions --------------------------------------------------------------

const ACTIONS = {
  add: sendFriendRequest,
  accept: acceptFriendRequest,
  decline: declineFriendRequest,
  cancel: cancelFriendRequest,
  remove: removeFriend,
  block: blockUser,
  unblock: unblockUser,
};

export const ACTION_LABELS = {
  add: 'Add friend', accept: 'Accept', decline: 'Decline', cancel: 'Cancel request',
  remove: 'Remove friend', block: 'Block', unblock: 'Unblock', message: 'Message',
};

// Does one action on userId and refreshes what the page knows; 'message'
// opens the conversation with them instead, titled name (their display
// name, as shown where the action was). Throws an ApiError.
export async function act(kind, userId, { name = null } = {}) {
  const token = app.liveToken();
  if (token === null) return;
  if (kind === 'message') {
    const roomId = await startDm(token, userId);
    closePeopleDialogs();
    const title = name ?? known.friends.find((f) => f.userId === userId)?.displayName ?? null;
    await app.openRoom(roomId, { push: true, name: title, kind: 'dm' });
    return;
  }
  try {
    await ACTIONS[kind](token, userId);
  } finally {
    // Also after a refusal: the state it refused on is news to the page.
    await refreshPeople().catch(() => {});
  }
}

// The actions that fit userId now, as far as the page knows.
export function actionsFor(userId) {
  if (isBlocked(userId)) return ['unblock'];
  const friendAction = {
    friend: ['remove'], incoming: ['accept', 'decline'], outgoing: ['cancel'],
  }[relationOf(userId)] ?? ['add'];
  return ['message', ...friendAction, 'block'];
}

// A button for one action. Destructive ones (remove, block) ask once more:
// the first tap turns the button into "Confirm …" for a few seconds.
// name: the person's display name (a DM opened by 'message' is titled with it).
export function actionButton(kind, userId, onError, { onDone = null, name = null } = {}) {
  const button = document.createElement('button');
  button.type = 'button';
  button.dataset.testid = `action-${kind}`;
  button.dataset.action = kind;
  button.textContent = ACTION_LABELS[kind];
  if (kind === 'message') button.className = 'primary';
  const confirm = kind === 'block' || kind === 'remove';
  let timer = null;
  button.addEventListener('click', async () => {
    if (confirm && button.dataset.confirm !== 'true') {
      button.dataset.confirm = 'true';
      button.classList.add('danger');
      button.textContent = `Confirm: ${ACTION_LABELS[kind].toLowerCase()}`;
      timer = setTimeout(() => {
        delete button.dataset.confirm;
        button.classList.remove('danger');
        button.textContent = ACTION_LABELS[kind];
      }, 4000);
      return;
    }
    clearTimeout(timer);
    button.disabled = true;
    try {
      await act(kind, userId, { name });
      onDone?.();
    } catch (error) {
      onError(error);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

export function closePeopleDialogs() {
  for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
}

// ---- the user card ------------------------------------------------------

let cardFor = null; // the userId the card shows

async function renderCard(userId, shown, extra = null) {
  const body = $('user-card-body');
  const error = $('user-card-error');
  setError(error, null);
  const registered = app.session?.registered === true;
  const placeholder = shown ?? cleanUser({ userId });
  const draw = (user, note = null) => {
    const head = document.createElement('div');
    head.className = 'card-person';
    const big = avatarOf(user, 'avatar avatar-big');
    const names = document.createElement('div');
    names.className = 'card-names';
    const name = document.createElement('h2');
    name.id = 'user-card-title';
    name.dataset.testid = 'user-card-name';
    name.textContent = user.displayName;
    const login = document.createElement('p');
    login.className = 'person-login';
    login.dataset.testid = 'user-card-login';
    login.textContent = `@${user.userId}`;
    names.append(name, login);
    head.append(big, names);
    const parts = [head];
    const line = [user.presence !== null ? presenceText(user.presence) : '', user.status]
      .filter((t) => t !== '').join(' · ');
    if (line) {
      const status = document.createElement('p');
      status.className = 'card-status';
      status.dataset.testid = 'user-card-status';
      status.textContent = line;
      parts.push(status);
    }
    if (note) {
      const p = document.createElement('p');
      p.className = 'hint';
      p.dataset.testid = 'user-card-note';
      p.textContent = note;
      parts.push(p);
    }
    const actions = document.createElement('div');
    actions.className = 'row-actions card-actions';
    if (registered && userId === app.session.user) {
      const edit = document.createElement('button');
      edit.type = 'button';
      edit.className = 'primary';
      edit.textContent = 'Edit your profile';
      edit.addEventListener('click', () => {
        $('user-card').close();
        app.openProfile();
      });
      actions.append(edit);
    } else if (registered) {
      for (const kind of actionsFor(userId)) {
        actions.append(actionButton(kind, userId, (e) => showFailure(error, e),
          { name: user.displayName, onDone: () => { if (cardFor === userId && $('user-card').open) renderCard(userId, user, extra); } }));
      }
    }
    parts.push(actions);
    // What the view that opened the card adds (the room's moderation).
    if (extra !== null) parts.push(...extra());
    body.replaceChildren(...parts);
  };

  if (!registered) {
    draw(placeholder, GUEST_TEXT);
    return;
  }
  delete $('user-card').dataset.loaded;
  draw(placeholder, 'Loading…');
  try {
    const [found] = await Promise.all([getUser(app.liveToken(), userId),
      people() === null ? refreshPeople() : null]);
    if (cardFor !== userId) return;
    if (found === null) {
      draw(placeholder, 'No such account.');
      return;
    }
    const user = cleanUser(found) ?? placeholder;
    // A friend's presence comes with the friends list.
    user.presence = known.friends.find((f) => f.userId === userId)?.presence ?? null;
    draw(user, isBlocked(userId) ? 'You block this user: you do not see their messages.' : null);
    $('user-card').dataset.loaded = userId;
  } catch (e) {
    if (cardFor !== userId) return;
    draw(placeholder);
    showFailure(error, e);
  }
}

// Opens the card of userId: their profile and what can be done. opts.user:
// the person as already shown (cleanUser's shape), opts.name: or just the
// name; either is drawn while the profile loads.
// extra: a function returning more of the card's nodes, called each time it
// is drawn (the room view's moderation tools).
export function openUserCard(userId, { user = null, name = null, extra = null } = {}) {
  cardFor = userId;
  const dialog = $('user-card');
  if (!dialog.open) dialog.showModal();
  renderCard(userId, user ?? (name === null ? null : cleanUser({ userId, displayName: name })), extra);
}

// Makes element (a name, an author, an avatar) open userId's card when
// clicked or activated with the keyboard. opts as openUserCard's. A guest's subject (not a user id) is left as it is.
export function attachUserMenu(element, userId, opts = {}) {
  if (!validUserId(userId)) return;
  element.classList.add('user-link');
  if (element.tagName !== 'BUTTON' && element.tagName !== 'A') {
    element.tabIndex = 0;
    element.setAttribute('role', 'button');
  }
  element.dataset.userMenu = userId;
  element.title = `@${userId}: profile and actions`;
  element.addEventListener('click', (event) => {
    event.preventDefault();
    openUserCard(userId, opts);
  });
  element.addEventListener('keydown', (event) => {
    if (element.tagName === 'BUTTON') return;
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      openUserCard(userId, opts);
    }
  });
}

// shared: the app (app.js): the session, openRoom, openProfile.
export function initPeople(shared) {
  app = shared;
  $('user-card-close').addEventListener('click', () => $('user-card').close());
  $('user-card').addEventListener('close', () => {
    cardFor = null;
  });
}
