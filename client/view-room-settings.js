// Room settings, over the room view, for its owner and moderators: the owner
// renames the room, sets its visibility, capacity and invite-only, appoints
// and removes moderators, hands it over and deletes it; moderators (and the
// owner) invite people, make, copy and revoke invite links, and lift bans.
// The button in the room's header shows only for those roles, as
// GET /api/rooms/:id/members says (you.role); the server checks every
// action again.

import {
  ApiError, createInviteLink, deleteRoom, handOverRoom, inviteUser, listBans, listInvites,
  revokeInviteLink, roomMembers, setRoomRole, unbanUser, uninviteUser, updateRoom,
} from './api.js';
import { $, copyText, linkButton, setError, setVisible } from './dom.js';

let app = null;
let roomId = null;      // the room shown, or null
let role = null;        // the caller's role in it
let asked = 0;          // which roomShown() an answer belongs to

const ROOM_NAME_MAX = 100;
const utf8Bytes = (text) => new TextEncoder().encode(text).length;

function done(message) {
  $('rs-done').textContent = message;
}

function failed(error) {
  if (error instanceof ApiError && error.status === 401) {
    $('room-settings').close();
    app.expireSession();
    return;
  }
  done('');
  setError($('rs-error'), error.message);
}

// Runs an action with the token; reports its failure in the dialog.
async function act(action, doneText) {
  const token = app.liveToken();
  if (token === null || roomId === null) return false;
  setError($('rs-error'), null);
  done('');
  try {
    await action(token);
    if (doneText) done(doneText);
    return true;
  } catch (error) {
    failed(error);
    return false;
  }
}

function row(label, detail, buttons, testid, key) {
  const li = document.createElement('li');
  li.className = 'person-row';
  li.dataset.testid = testid;
  li.dataset.key = key;
  const text = document.createElement('div');
  text.className = 'person';
  const strong = document.createElement('strong');
  strong.textContent = label;
  text.append(strong);
  if (detail) {
    const small = document.createElement('span');
    small.className = 'hint';
    small.textContent = ` ${detail}`;
    text.append(small);
  }
  const actions = document.createElement('div');
  actions.className = 'row-actions';
  actions.append(...buttons);
  li.append(text, actions);
  return li;
}

const when = (ms) => new Date(ms).toLocaleString();

function renderSettings(answer) {
  const room = answer.room ?? {};
  $('rs-name').value = typeof room.name === 'string' ? room.name : '';
  $('rs-capacity').value = Number.isInteger(room.capacity) ? String(room.capacity) : '';
  const visibility = room.visibility === 'public' ? 'public' : 'unlisted';
  document.querySelector(`#rs-form input[name="rs-visibility"][value="${visibility}"]`).checked = true;
  $('rs-invite-only').checked = room.inviteOnly === true;
  const mods = Array.isArray(answer.moderators) ? answer.moderators : [];
  $('rs-moderators').replaceChildren(...mods.map((m) => row(m.name, m.name !== m.userId ? `@${m.userId}` : '',
    [linkButton('Remove', () => changeRole(m.userId, 'member'))], 'rs-moderator', m.userId)));
  if (mods.length === 0) {
    const li = document.createElement('li');
    li.className = 'hint';
    li.textContent = 'No moderators yet.';
    $('rs-moderators').append(li);
  }
}

function renderInvites(answer) {
  const invites = Array.isArray(answer.invites) ? answer.invites : [];
  $('rs-invited').replaceChildren(...invites.map((i) => row(i.name, `invited by ${i.by}`,
    [linkButton('Uninvite', () => refreshAfter(act((t) => uninviteUser(t, roomId, i.userId), 'Uninvited.')))],
    'rs-invited-row', i.userId)));
  const now = Date.now();
  const links = (Array.isArray(answer.links) ? answer.links : []).filter((l) => !l.revoked && l.expiresAt > now
    && (l.maxUses === null || l.uses < l.maxUses));
  $('rs-links').replaceChildren(...links.map((l) => row(`Link #${l.id}`,
    `by ${l.createdBy}, expires ${when(l.expiresAt)}, used ${l.uses}${l.maxUses === null ? '' : ` of ${l.maxUses}`}`,
    [linkButton('Revoke', () => refreshAfter(act((t) => revokeInviteLink(t, roomId, l.id), 'Link revoked.')))],
    'rs-link-row', String(l.id))));
}

function renderBans(answer) {
  const bans = Array.isArray(answer.bans) ? answer.bans : [];
  $('rs-ban-list').replaceChildren(...bans.map((b) => row(b.name,
    `by ${b.by}${b.reason ? `: “${b.reason}”` : ''}${b.until === null ? '' : `, until ${when(b.until)}`}`,
    [linkButton('Unban', () => refreshAfter(act((t) => unbanUser(t, roomId, b.userId), 'Unbanned.')))],
    'rs-ban-row', b.userId)));
  $('rs-bans-empty').textContent = bans.length === 0 ? 'Nobody is banned.' : '';
}

async function load() {
  const token = app.liveToken();
  const id = roomId;
  if (token === null || id === null) return;
  try {
    const [members, invites, bans] = await Promise.all([
      roomMembers(token, id), listInvites(token, id), listBans(token, id)]);
    if (id !== roomId) return;
    role = members.you?.role ?? null;
    setVisible($('rs-owner'), role === 'owner');
    setVisible($('room-settings-button'), role === 'owner' || role === 'moderator');
    renderSettings(members);
    renderInvites(invites);
    renderBans(bans);
  } catch (error) {
    failed(error);
  }
}

async function refreshAfter(action) {
  if (await action) await load();
}

function changeRole(userId, newRole) {
  return refreshAfter(act((t) => setRoomRole(t, roomId, userId, newRole),
    newRole === 'moderator' ? 'Moderator appointed.' : 'Moderator removed.'));
}

// The fields of the settings form that changed, or a message naming what to fix.
function settingsChanges(current) {
  const fields = {};
  const name = $('rs-name').value.trim();
  if (utf8Bytes(name) > ROOM_NAME_MAX) return `Name: at most ${ROOM_NAME_MAX} bytes.`;
  const capacity = Number($('rs-capacity').value);
  if (!Number.isInteger(capacity) || capacity < 1) return 'Capacity: a whole number of people, at least 1.';
  const visibility = document.querySelector('#rs-form input[name="rs-visibility"]:checked')?.value;
  const room = current.room ?? {};
  if (name !== (room.name ?? '')) fields.name = name === '' ? null : name;
  if (capacity !== room.capacity) fields.capacity = capacity;
  if (visibility !== room.visibility) fields.visibility = visibility;
  if ($('rs-invite-only').checked !== room.inviteOnly) fields.inviteOnly = $('rs-invite-only').checked;
  return fields;
}

async function saveSettings(event) {
  event.preventDefault();
  const token = app.liveToken();
  if (token === null || roomId === null) return;
  setError($('rs-error'), null);
  let current;
  try {
    current = await roomMembers(token, roomId);
  } catch (error) {
    failed(error);
    return;
  }
  const fields = settingsChanges(current);
  if (typeof fields === 'string') {
    setError($('rs-error'), fields);
    return;
  }
  if (Object.keys(fields).length === 0) {
    done('Nothing to save.');
    return;
  }
  let saved = null;
  if (await act(async (t) => { saved = await updateRoom(t, roomId, fields); }, 'Saved.')) {
    // The header shows the name at once; the room's own log tells the others.
    $('room-name').textContent = saved.name || 'Room';
    $('room-name').classList.toggle('untitled', !saved.name);
    await load();
  }
}

function userIdOf(input) {
  const value = $(input).value.trim();
  if (value === '') {
    setError($('rs-error'), 'Enter a user id.');
    return null;
  }
  return value;
}

async function createLink(event) {
  event.preventDefault();
  const uses = $('rs-link-uses').value.trim();
  const maxUses = uses === '' ? null : Number(uses);
  if (maxUses !== null && (!Number.isInteger(maxUses) || maxUses < 1)) {
    setError($('rs-error'), 'Uses: a whole number, at least 1, or empty for any.');
    return;
  }
  let link = null;
  const ok = await act(async (t) => {
    link = await createInviteLink(t, roomId, { expiresInS: Number($('rs-link-expiry').value), maxUses });
  }, 'Link created.');
  if (!ok) return;
  $('rs-new-link').value = new URL(link.url, location.origin).href;
  setVisible($('rs-new-link-row'), true);
  setVisible($('rs-new-link-hint'), true);
  await load();
}

export function open() {
  if (roomId === null) return;
  setError($('rs-error'), null);
  done('');
  setVisible($('rs-new-link-row'), false);
  setVisible($('rs-new-link-hint'), false);
  setVisible($('rs-delete-confirm'), false);
  const dialog = $('room-settings');
  if (!dialog.open) dialog.showModal();
  load();
}

// The room view now shows id (null: none): the button shows once the
// caller's role is known to be the owner's or a moderator's.
export async function roomShown(id) {
  const mine = ++asked;
  roomId = id;
  role = null;
  setVisible($('room-settings-button'), false);
  if ($('room-settings').open) $('room-settings').close();
  const token = app.liveToken();
  if (id === null || token === null) return;
  try {
    const answer = await roomMembers(token, id);
    if (mine !== asked) return;
    role = answer.you?.role ?? null;
    setVisible($('room-settings-button'), role === 'owner' || role === 'moderator');
  } catch {
    // A DM, or a room that refuses: no settings to show.
  }
}

export function init(shared) {
  app = shared;
  $('room-settings-button').addEventListener('click', open);
  $('room-settings-close').addEventListener('click', () => $('room-settings').close());
  $('rs-form').addEventListener('submit', saveSettings);
  $('rs-appoint-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const userId = userIdOf('rs-appoint');
    if (userId !== null) changeRole(userId, 'moderator').then(() => { $('rs-appoint').value = ''; });
  });
  $('rs-handover-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const userId = userIdOf('rs-handover');
    if (userId === null) return;
    if (await act((t) => handOverRoom(t, roomId, userId), `The room is now ${userId}'s.`)) {
      $('rs-handover').value = '';
      await load();
    }
  });
  $('rs-invite-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const userId = userIdOf('rs-invite');
    if (userId === null) return;
    if (await act((t) => inviteUser(t, roomId, userId), `${userId} is invited.`)) {
      $('rs-invite').value = '';
      await load();
    }
  });
  $('rs-link-form').addEventListener('submit', createLink);
  $('rs-copy-link').addEventListener('click', async () => {
    const ok = await copyText($('rs-new-link').value, $('rs-new-link'));
    $('rs-copy-link').textContent = ok ? 'Copied!' : 'Press Ctrl+C';
    setTimeout(() => { $('rs-copy-link').textContent = 'Copy'; }, 2000);
  });
  $('rs-delete').addEventListener('click', () => setVisible($('rs-delete-confirm'), true));
  $('rs-delete-no').addEventListener('click', () => setVisible($('rs-delete-confirm'), false));
  $('rs-delete-yes').addEventListener('click', async () => {
    if (await act((t) => deleteRoom(t, roomId), null)) {
      $('room-settings').close();
      history.pushState(null, '', '/');
      app.showLobby('The room is deleted.');
    }
  });
}
