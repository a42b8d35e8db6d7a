// The profile editor, over whatever view is shown: the account's display
// name, status line and who may start a conversation with it (the limits
// are the API's, checked here first to say which field to fix), its avatar
// as others see it, the users it blocks, each with "Unblock", and the email
// address notifications go to (email-settings.js).

import { getMe, updateMe } from './api.js';
import { $, setError, setVisible } from './dom.js';
import { renderEmailSettings } from './email-settings.js';
import {
  GUEST_TEXT, actionButton, avatarOf, cleanUser, onPeopleChange, people, personElement,
  refreshPeople, showFailure,
} from './people.js';

let app = null;
let me = null; // the profile as the server last gave it

const NAME_MAX = 64;
const STATUS_MAX = 140;

const chars = (text) => [...text.normalize('NFC').trim()].length;
// Cc, and the line and paragraph separators: what the server refuses.
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;

function renderCounters() {
  const name = chars($('profile-name').value);
  const status = chars($('profile-status').value);
  $('profile-name-count').textContent = `${name}/${NAME_MAX}`;
  $('profile-name-count').classList.toggle('over', name > NAME_MAX);
  $('profile-status-count').textContent = `${status}/${STATUS_MAX}`;
  $('profile-status-count').classList.toggle('over', status > STATUS_MAX);
}

function renderMe() {
  const user = cleanUser(me);
  if (user === null) return;
  $('profile-avatar').replaceChildren(avatarOf(user, 'avatar avatar-big'));
  $('profile-shown-name').textContent = user.displayName;
  $('profile-login').textContent = `@${user.userId}`;
  // The name field is empty while the login name is shown.
  $('profile-name').value = me.displayName === me.userId ? '' : user.displayName;
  $('profile-status').value = user.status;
  const policy = me.dmPolicy === 'friends' ? 'friends' : 'everyone';
  document.querySelector(`#profile-form input[name="dm-policy"][value="${policy}"]`).checked = true;
  renderCounters();
}

function renderBlocks() {
  const known = people();
  const blocks = known?.blocks ?? [];
  $('block-list').replaceChildren(...blocks.map((u) => {
    const li = document.createElement('li');
    li.className = 'person-row';
    li.dataset.testid = 'blocked-row';
    li.dataset.user = u.userId;
    const actions = document.createElement('div');
    actions.className = 'row-actions';
    actions.append(actionButton('unblock', u.userId, (e) => showFailure($('blocks-error'), e)));
    // The login name too, unless it is the name shown: an unblock must hit the right one.
    const showLogin = u.displayName.toLowerCase() !== u.userId.toLowerCase();
    li.append(personElement(u, { showLogin, line: '' }), actions);
    return li;
  }));
  $('blocks-empty').textContent = known === null ? 'Loading…'
    : blocks.length === 0 ? 'You block nobody.' : '';
}

// The fields that changed, checked; or a message naming what to fix.
function changes() {
  const name = $('profile-name').value.normalize('NFC').trim();
  const status = $('profile-status').value.normalize('NFC').trim();
  if (chars(name) > NAME_MAX) return `Display name: at most ${NAME_MAX} characters (this one has ${chars(name)}).`;
  if (CONTROL_RE.test(name)) return 'Display name: no line breaks or control characters.';
  if (chars(status) > STATUS_MAX) return `Status: at most ${STATUS_MAX} characters (this one has ${chars(status)}).`;
  if (CONTROL_RE.test(status)) return 'Status: no line breaks or control characters.';
  const fields = {};
  const current = me.displayName === me.userId ? '' : me.displayName;
  if (name !== current) fields.displayName = name === '' ? null : name;
  if (status !== (me.status ?? '')) fields.status = status;
  const policy = document.querySelector('#profile-form input[name="dm-policy"]:checked').value;
  if (policy !== me.dmPolicy) fields.dmPolicy = policy;
  return fields;
}

async function save(event) {
  event.preventDefault();
  const fields = changes();
  const saved = $('profile-saved');
  saved.textContent = '';
  if (typeof fields === 'string') {
    setError($('profile-error'), fields);
    return;
  }
  setError($('profile-error'), null);
  if (Object.keys(fields).length === 0) {
    saved.textContent = 'Nothing to save.';
    return;
  }
  const token = app.liveToken();
  if (token === null) return;
  const button = $('profile-save');
  button.disabled = true;
  try {
    me = await updateMe(token, fields);
    app.showMe(me);
    renderMe();
    saved.textContent = 'Saved.';
  } catch (error) {
    showFailure($('profile-error'), error);
  } finally {
    button.disabled = false;
  }
}

async function load() {
  const token = app.liveToken();
  if (token === null) return;
  setError($('profile-error'), null);
  $('profile-saved').textContent = '';
  try {
    me = await getMe(token);
    renderMe();
    setVisible($('profile-form'), true);
  } catch (error) {
    showFailure($('profile-error'), error);
  }
  refreshPeople().catch((error) => showFailure($('blocks-error'), error));
}

// Opens the editor with the profile and the blocks fetched afresh.
export function open() {
  const registered = app.session?.registered === true;
  setVisible($('profile-guest'), !registered);
  $('profile-guest').textContent = GUEST_TEXT;
  setVisible($('profile-form'), false);
  setVisible($('blocks-block'), registered);
  // Email notifications until the notification settings have a page of their own.
  setVisible($('email-block'), registered);
  setError($('blocks-error'), null);
  const dialog = $('profile-editor');
  if (!dialog.open) dialog.showModal();
  if (registered) {
    renderBlocks();
    load();
    renderEmailSettings($('email-block'), { token: () => app.liveToken() })
      .catch((error) => showFailure($('profile-error'), error));
  }
}

// shared: the app (app.js): the session.
export function init(shared) {
  app = shared;
  app.openProfile = open;
  onPeopleChange(renderBlocks);
  $('profile-button').addEventListener('click', open);
  $('profile-close').addEventListener('click', () => $('profile-editor').close());
  $('profile-form').addEventListener('submit', save);
  $('profile-name').addEventListener('input', renderCounters);
  $('profile-status').addEventListener('input', renderCounters);
  $('profile-reset-name').addEventListener('click', () => {
    $('profile-name').value = '';
    renderCounters();
    $('profile-name').focus();
  });
}
