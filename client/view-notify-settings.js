// Notifications in the web client (docs/protocol.md, "Notifications"), for
// accounts (guests see none of it):
// - the settings page (🔔 in the top bar): what DMs and rooms notify by
//   default, do-not-disturb hours in a time zone (the browser's by default),
//   push (the account's switch and this browser's subscription), email (the
//   address, its switch and the digest's delay), and the account's reminders;
// - per room or DM (🔔 in the room's header): its own level and a mute (1 h,
//   8 h, 24 h, or until turned back on);
// - fired reminders: a bar under the top bar (and a count on 🔔), loaded at
//   sign-in and again when the inbox says one fired; "Open" shows the room
//   at the message and dismisses the reminder.

import {
  deleteReminder, getNotify, getRoomNotify, listReminders, updateNotify, updateRoomNotify,
} from './api.js';
import { $, linkButton, setError, setVisible } from './dom.js';
import { renderEmailSettings } from './email-settings.js';
import { disablePush, enablePush, pushStatus } from './push.js';
import { initRemind } from './remind.js';
import { jumpToMessage } from './view-room.js';

let app = null;
let roomId = null;       // the room or DM on screen, or null
let reminders = [];      // GET /api/me/reminders, as last fetched
let loadedFor = null;    // the token they were fetched with

const LEVEL_TEXT = { all: 'every message', mentions: 'mentions only', nothing: 'nothing' };

function token() {
  if (app === null) return null;
  return app.session?.registered ? app.liveToken() : null;
}

function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

function timeText(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleString([], { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}

function roomLabel(r) {
  if (r.roomKind === 'dm') return `your conversation with ${typeof r.by === 'string' ? r.by : 'someone'}`;
  return typeof r.roomName === 'string' && r.roomName !== '' ? r.roomName : `room ${r.roomId}`;
}

// ---- the settings page ----------------------------------------------------

// ---- channels: push (this browser) and email --------------------------------

const PUSH_TEXT = {
  unsupported: 'This browser cannot show notifications.',
  disabled: 'This server sends no push notifications.',
  denied: 'Notifications are blocked for this site: your browser\'s site settings can allow them.',
  off: 'This browser does not get notifications.',
  on: 'This browser gets notifications.',
};

const DELAYS = [[900, '15 minutes'], [3600, '1 hour'], [14400, '4 hours'], [86400, '1 day']];

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props);
  e.append(...children);
  return e;
}

// An account-wide setting saved as soon as it changes (PUT /api/me/notify
// with that one field): a channel's switch or the digest's delay.
async function saveField(fields, control) {
  const t = token();
  if (t === null) return;
  control.disabled = true;
  setError($('notify-error'), null);
  try {
    await updateNotify(t, fields);
  } catch (error) {
    setError($('notify-error'), error.message);
  } finally {
    control.disabled = false;
  }
}

function accountSwitch(label, field, on, testid) {
  const box = el('input', { type: 'checkbox', checked: on });
  box.dataset.testid = testid;
  box.addEventListener('change', () => saveField({ [field]: box.checked }, box));
  return el('label', { className: 'choice' }, box, el('span', { textContent: label }));
}

// Push: the account's switch (every browser), and this browser's own
// subscription (push.js), which only a click may ask permission for.
async function renderPush(prefs) {
  const text = el('p', { className: 'hint' });
  const button = el('button', { type: 'button', hidden: true });
  button.dataset.testid = 'push-toggle';
  const error = el('p', { className: 'error', hidden: true, role: 'alert' });
  $('notify-push').replaceChildren(el('h3', { textContent: 'Push' }),
    accountSwitch('Push notifications to my browsers', 'push', prefs.push, 'notify-push-on'),
    text, button, error);
  let status = null;
  const show = (s) => {
    status = s;
    text.textContent = PUSH_TEXT[s] ?? '';
    button.hidden = s !== 'on' && s !== 'off';
    button.textContent = s === 'on' ? 'Stop on this browser' : 'Turn on for this browser';
  };
  button.addEventListener('click', async () => {
    button.disabled = true;
    setError(error, null);
    try {
      show(status === 'on' ? await disablePush(app.session) : await enablePush(app.session));
    } catch (e) {
      setError(error, `This browser could not subscribe: ${e.message}`);
    } finally {
      button.disabled = false;
    }
  });
  try {
    show(await pushStatus(app.session));
  } catch (e) {
    setError(error, e.message);
  }
}

// Email: the address (email-settings.js), the account's switch (what the
// unsubscribe link turns off) and the digest's quiet period.
function renderEmail(prefs) {
  const address = el('div');
  const delay = el('select', { id: 'notify-email-delay' });
  delay.dataset.testid = 'notify-email-delay';
  const known = DELAYS.some(([s]) => s === prefs.emailDelayS);
  for (const [seconds, label] of known ? DELAYS : [...DELAYS, [prefs.emailDelayS, `${prefs.emailDelayS} s`]]) {
    delay.append(el('option', { value: String(seconds), textContent: label }));
  }
  delay.value = String(prefs.emailDelayS);
  delay.addEventListener('change', () => saveField({ emailDelayS: Number(delay.value) }, delay));
  $('notify-email').replaceChildren(address,
    accountSwitch('Email me what I have not read', 'email', prefs.email, 'notify-email-on'),
    el('label', { htmlFor: 'notify-email-delay', textContent: 'Wait before emailing (and at most one email each)' }),
    delay);
  renderEmailSettings(address, { token }).catch((e) => setError($('notify-error'), e.message));
}

function renderChannels(prefs) {
  renderPush(prefs);
  renderEmail(prefs);
}

function fill(prefs) {
  $('notify-dm-level').value = prefs.dmLevel;
  $('notify-room-level').value = prefs.roomLevel;
  const dnd = prefs.dnd !== null && typeof prefs.dnd === 'object' ? prefs.dnd : null;
  $('notify-dnd-on').checked = dnd !== null;
  if (dnd !== null) {
    $('notify-dnd-start').value = dnd.start;
    $('notify-dnd-end').value = dnd.end;
  }
  // Never set (the default UTC): the browser's zone is what the user means.
  $('notify-tz').value = prefs.tz === 'UTC' && dnd === null ? browserZone() : prefs.tz;
  renderChannels(prefs);
}

async function openSettings() {
  const t = token();
  if (t === null) return;
  setError($('notify-error'), null);
  $('notify-done').textContent = '';
  $('notify-settings').showModal();
  try {
    fill(await getNotify(t));
  } catch (error) {
    setError($('notify-error'), error.message);
  }
  loadReminders(true);
}

async function save(event) {
  event.preventDefault();
  const t = token();
  if (t === null) return;
  const on = $('notify-dnd-on').checked;
  const start = $('notify-dnd-start').value;
  const end = $('notify-dnd-end').value;
  if (on && (start === '' || end === '' || start === end)) {
    setError($('notify-error'), 'Do not disturb needs two different times.');
    return;
  }
  setError($('notify-error'), null);
  $('notify-done').textContent = 'Saving…';
  try {
    fill(await updateNotify(t, {
      dmLevel: $('notify-dm-level').value,
      roomLevel: $('notify-room-level').value,
      dnd: on ? { start, end } : null,
      tz: $('notify-tz').value.trim() || browserZone(),
    }));
    $('notify-done').textContent = 'Saved.';
  } catch (error) {
    $('notify-done').textContent = '';
    setError($('notify-error'), error.message);
  }
}

// ---- reminders --------------------------------------------------------------

async function openReminder(r) {
  // Opened: done with; it goes from the bar at once.
  dismiss(r);
  if ($('notify-settings').open) $('notify-settings').close();
  await app.openRoom(r.roomId, { push: true, kind: r.roomKind === 'dm' ? 'dm' : 'room' });
  await jumpToMessage(r.roomId, r.seq);
}

async function dismiss(r) {
  reminders = reminders.filter((x) => x.id !== r.id);
  renderReminders();
  const t = token();
  if (t === null) return;
  try {
    await deleteReminder(t, r.id);
  } catch {
    // Still listed next time: the user can dismiss it again.
  }
}

function reminderItem(r, testid) {
  const li = document.createElement('li');
  li.dataset.testid = testid;
  li.dataset.id = String(r.id);
  li.dataset.room = r.roomId;
  li.dataset.seq = String(r.seq);
  const text = document.createElement('span');
  text.className = 'reminder-text';
  text.textContent = r.firedAt !== null
    ? `⏰ Reminder: a message in ${roomLabel(r)}`
    : `⏰ ${timeText(r.at)}: a message in ${roomLabel(r)}`;
  const open = linkButton('Open', () => openReminder(r));
  open.dataset.testid = 'reminder-open';
  const drop = linkButton(r.firedAt !== null ? 'Dismiss' : 'Cancel', () => dismiss(r));
  drop.dataset.testid = 'reminder-dismiss';
  li.append(text, open, drop);
  return li;
}

function renderReminders() {
  const fired = reminders.filter((r) => typeof r.firedAt === 'string');
  const bar = $('reminders-bar');
  bar.replaceChildren(...fired.map((r) => reminderItem(r, 'reminder-fired')));
  setVisible(bar, fired.length > 0 && token() !== null);
  const count = $('notify-button-count');
  count.textContent = String(fired.length);
  setVisible(count, fired.length > 0);
  $('notify-reminders').replaceChildren(...reminders.map((r) => reminderItem(r, 'reminder-row')));
  setVisible($('notify-reminders-empty'), reminders.length === 0);
}

async function loadReminders(force = false) {
  const t = token();
  if (t === null) {
    reminders = [];
    loadedFor = null;
    renderReminders();
    return;
  }
  if (!force && loadedFor === t) return;
  loadedFor = t;
  try {
    reminders = await listReminders(t);
  } catch {
    // The bar stays as it was; the next event or sign-in fetches again.
  }
  renderReminders();
}

// ---- one room or DM ---------------------------------------------------------

function renderRoom(state) {
  const button = $('room-notify-button');
  button.textContent = state.muted ? '🔕' : '🔔';
  button.dataset.muted = String(state.muted);
  const level = typeof state.level === 'string' ? state.level : '';
  const radio = document.querySelector(`#room-notify input[name="room-notify-level"][value="${level}"]`);
  if (radio !== null) radio.checked = true;
  $('room-notify-default-hint').textContent = state.level === null
    ? `(${LEVEL_TEXT[state.effectiveLevel] ?? state.effectiveLevel})` : '';
  $('room-notify-muted').textContent = !state.muted ? 'Not muted.'
    : state.mutedUntil === null ? 'Muted until you turn it back on.'
      : `Muted until ${timeText(state.mutedUntil)}.`;
  setVisible(document.querySelector('#room-notify [data-mute="off"]'), state.muted);
}

async function loadRoom() {
  const t = token();
  const id = roomId;
  if (t === null || id === null) return;
  try {
    const state = await getRoomNotify(t, id);
    if (roomId === id) renderRoom(state);
  } catch (error) {
    if ($('room-notify').open) setError($('room-notify-error'), error.message);
  }
}

async function changeRoom(fields) {
  const t = token();
  const id = roomId;
  if (t === null || id === null) return;
  setError($('room-notify-error'), null);
  try {
    const state = await updateRoomNotify(t, id, fields);
    if (roomId === id) renderRoom(state);
  } catch (error) {
    setError($('room-notify-error'), error.message);
  }
}

// ---- what app.js and inbox.js call -----------------------------------------

// The room view shows id (null: it shows none).
export function roomShown(id) {
  roomId = id;
  const button = $('room-notify-button');
  button.textContent = '🔔';
  delete button.dataset.muted;
  setVisible(button, id !== null && token() !== null);
  if ($('room-notify').open) $('room-notify').close();
  if (id !== null) loadRoom();
}

// The session changed (signed in, out, or another account).
export function sessionChanged() {
  setVisible($('notify-button'), token() !== null);
  loadReminders();
}

// The inbox said {"type":"reminder"}: one fired.
export function reminderFired() {
  loadReminders(true);
}

export function init(shared) {
  app = shared;
  initRemind(app, () => loadReminders(true));
  $('notify-button').addEventListener('click', openSettings);
  $('notify-close').addEventListener('click', () => $('notify-settings').close());
  $('notify-form').addEventListener('submit', save);
  $('room-notify-button').addEventListener('click', () => {
    setError($('room-notify-error'), null);
    $('room-notify').showModal();
    loadRoom();
  });
  $('room-notify-close').addEventListener('click', () => $('room-notify').close());
  for (const radio of document.querySelectorAll('#room-notify input[name="room-notify-level"]')) {
    radio.addEventListener('change', () => changeRoom({ level: radio.value === '' ? null : radio.value }));
  }
  for (const button of document.querySelectorAll('#room-notify [data-mute]')) {
    button.addEventListener('click', () => {
      const m = button.dataset.mute;
      changeRoom(m === 'forever' ? { muted: true } : m === 'off' ? { muted: false } : { muteFor: Number(m) });
    });
  }
}
