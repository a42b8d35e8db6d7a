// The page's entry: owns the session and which view is shown, routes by the
// URL (/?room=ID is a share link, &seq=N a message in it), and keeps the top bar's "Signed in as".
// Each view (view-*.js) exports init(app), show(…) and hide(); app, below,
// is what they share and how they move from one to another.

import { APPS, appEntry } from './apps.js';
import { ApiError, acceptInvite, getMe, lookupRoom, parseRoomInput } from './api.js';
import { $, fillAvatar, setVisible } from './dom.js';
import { initInbox, syncInbox } from './inbox.js';
import { disablePush } from './push.js';
import { ACCOUNT_KEY, loadSession, storageGet, storeSession } from './session.js';
import * as login from './view-login.js';
import * as lobby from './view-lobby.js';
import * as room from './view-room.js';
import * as peoplePanel from './view-people.js';
import * as profileEditor from './view-profile.js';
import * as roomSettings from './view-room-settings.js';
import * as notifySettings from './view-notify-settings.js';

const app = {
  session: loadSession(),
  // roomId → the highest read mark this page sent.
  readUpTo: new Map(),
  saveSession, liveToken, expireSession, lobbyFailed, route, showLobby, openRoom, showMe,
};

// The account's profile as the top bar shows it: { token, name, initials,
// color } from GET /api/me for that token, or null until it is known.
let me = null;

// The chat's view is 'room'; every other application's is its name.
const views = { login, lobby, room };
for (const a of APPS) if (a.app !== 'chat') views[a.app] = a.view;

// Hides the other views first: the room is left while still on screen.
function showView(name, ...args) {
  for (const [key, view] of Object.entries(views)) if (key !== name) view.hide();
  document.body.dataset.view = name;
  views[name].show(...args);
  roomSettings.roomShown(name === 'room' ? args[0] : null);
  notifySettings.roomShown(name === 'room' ? args[0] : null);
}

function saveSession(value) {
  app.session = value;
  storeSession(value);
  renderWhoami();
  peoplePanel.sessionChanged();
}

// The account's token, or null (and back to the login) once it has expired.
function liveToken() {
  const { session } = app;
  if (session !== null && session.expiresAt !== null && session.expiresAt <= Date.now()) {
    expireSession();
    return null;
  }
  return session?.token ?? null;
}

// The top bar: an account by its display name (the login name until GET
// /api/me answers), a guest by its name. Also keeps the inbox in step with
// the session: everything that changes the session comes through here.
function renderWhoami() {
  const { session } = app;
  syncInbox();
  notifySettings.sessionChanged();
  setVisible($('whoami'), session !== null);
  if (session === null) return;
  const known = session.registered && me !== null && me.token === session.token ? me : null;
  const name = known?.name ?? session.user;
  $('whoami-name').textContent = name;
  $('whoami-name').dataset.registered = String(session.registered);
  $('whoami').title = session.registered ? `@${session.user}`
    : 'Guest: the name is gone when you close this tab';
  const avatar = $('whoami-avatar');
  fillAvatar(avatar, name);
  avatar.style.background = known?.color ?? '';
  if (known?.initials) avatar.textContent = known.initials;
  if (session.registered && known === null) loadMe(session.token);
}

let meLoading = null; // the token whose profile is being fetched

async function loadMe(token) {
  if (meLoading === token) return;
  meLoading = token;
  try {
    const answer = await getMe(token);
    if (app.session?.token === token) showMe(answer);
  } catch {
    // The login name stays: the views report what is wrong with the session.
  } finally {
    if (meLoading === token) meLoading = null;
  }
}

// The profile changed (GET or PATCH /api/me answered it): shown at once.
function showMe(answer) {
  const session = app.session;
  if (session === null || !session.registered || answer === null || typeof answer !== 'object') return;
  const avatar = answer.avatar !== null && typeof answer.avatar === 'object' ? answer.avatar : {};
  me = {
    token: session.token,
    name: typeof answer.displayName === 'string' && answer.displayName !== '' ? answer.displayName : session.user,
    initials: typeof avatar.initials === 'string' ? avatar.initials : '',
    color: typeof avatar.color === 'string' && /^#[0-9A-Fa-f]{6}$/.test(avatar.color) ? avatar.color : null,
  };
  renderWhoami();
}

function roomParam() {
  return new URLSearchParams(location.search).get('room');
}

// /?room=ID&seq=N: a notification's link (a push or a digest) to a message.
function seqParam() {
  const seq = new URLSearchParams(location.search).get('seq');
  return seq !== null && /^[1-9][0-9]{0,14}$/.test(seq) ? Number(seq) : null;
}

function showLogin(message = null, options = {}) {
  showView('login', message, options);
}

function showLobby(message = null) {
  showView('lobby', message);
}

function expireSession(message = 'Your login has expired. Please log in again.') {
  const previous = app.session;
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
// kind: 'dm' or 'room' when the caller knows it (null: the room view finds out).
async function openRoom(roomId, { push, name = null, kind = null }) {
  const token = liveToken();
  if (token === null) return;
  lobby.setBusy(true);
  try {
    const target = await lookupRoom(token, roomId);
    if (target === null) {
      if (roomParam() !== null) history.replaceState(null, '', '/');
      showLobby(`There is no room with the ID “${roomId}”. Check the ID, or create a new room.`);
      return;
    }
    if (push) history.pushState(null, '', `/?room=${encodeURIComponent(roomId)}`);
    const entry = appEntry(target.app);
    showView(entry.app === 'chat' ? 'room' : entry.app, roomId, target, name ?? target.name ?? lobby.listedName(roomId) ?? '',
      kind ?? lobby.listedKind(roomId) ?? null);
  } catch (error) {
    if (roomParam() !== null) history.replaceState(null, '', '/');
    lobbyFailed(error);
  } finally {
    lobby.setBusy(false);
  }
}

// #/invite/TOKEN: an invite link (docs/protocol.md, "Roles and moderation").
function inviteParam() {
  const m = /^#\/invite\/([A-Za-z0-9_-]{1,100})$/.exec(location.hash);
  return m === null ? (location.hash.startsWith('#/invite/') ? '' : null) : m[1];
}

// Takes the invite link, then opens its room.
async function takeInvite(inviteToken) {
  const token = liveToken();
  if (token === null) return;
  history.replaceState(null, '', '/');
  try {
    const { roomId, name } = await acceptInvite(token, inviteToken);
    history.pushState(null, '', `/?room=${encodeURIComponent(roomId)}`);
    await openRoom(roomId, { push: false, name });
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      showLobby('This invite link does not work: it may have expired, been revoked or used up. Ask for a new one.');
    } else {
      lobbyFailed(error);
    }
  }
}

async function route() {
  renderWhoami();
  const param = roomParam();
  const invite = inviteParam();
  if (app.session === null) {
    if (invite !== null) {
      showLogin(null, { lede: 'Log in, or pick a guest name, to accept the invite.' });
      return;
    }
    showLogin(null, {
      lede: param !== null
        ? `Log in, or pick a guest name, to join room ${param}.`
        : 'Chat as a guest, or with an account that keeps your name.',
    });
    return;
  }
  if (invite !== null) {
    await takeInvite(invite);
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
  const seq = seqParam();
  if (!Object.values(views).some((v) => v.showing?.(roomId))) await openRoom(roomId, { push: false });
  if (seq !== null) {
    // Shown once: a reload stays at the room's end like any share link.
    history.replaceState(null, '', `/?room=${encodeURIComponent(roomId)}`);
    await room.jumpToMessage(roomId, seq);
  }
}

for (const view of Object.values(views)) view.init(app);
initInbox(app);
// Dialogs over the views, not views: a room stays open under them.
peoplePanel.init(app);
profileEditor.init(app);
roomSettings.init(app);
notifySettings.init(app);

$('logout').addEventListener('click', () => {
  // Left as the reader sees it, before the top bar changes: its last read
  // mark counts.
  room.hide();
  const previous = app.session;
  // This browser stops getting the account's pushes (a shared computer).
  if (previous?.registered) disablePush(previous).catch(() => {});
  saveSession(null);
  history.pushState(null, '', '/');
  showLogin(null, previous?.registered ? { user: previous.user, mode: 'login' } : {});
});

// Another tab logged the account out, or in.
window.addEventListener('storage', (event) => {
  if (event.key !== ACCOUNT_KEY && event.key !== null) return;
  if (app.session?.registered && storageGet('localStorage', ACCOUNT_KEY) === null) {
    const previous = app.session;
    app.session = null;
    renderWhoami();
    peoplePanel.sessionChanged();
    history.replaceState(null, '', '/');
    showLogin('You logged out in another tab.', { user: previous.user, mode: 'login' });
  } else if (app.session === null) {
    app.session = loadSession();
    peoplePanel.sessionChanged();
    if (app.session !== null) route();
  }
});

window.addEventListener('popstate', () => {
  route();
});
window.addEventListener('hashchange', () => {
  if (inviteParam() !== null) route();
});

route();
