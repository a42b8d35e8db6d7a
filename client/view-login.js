// The sign-in view: come in as a guest, log in to an account or register
// one. It remembers which of the three the user picked last.

import {
  ApiError, PASSWORD_MAX_BYTES, PASSWORD_MIN_BYTES, USER_ID_RULE, login, loginWithPassword,
  register, tokenExpiry, validUserId,
} from './api.js';
import { textBytes } from './connection.js';
import { $, setError, setVisible } from './dom.js';
import { storageGet, storageSet } from './session.js';

const MODE_KEY = 'stateroom.login-mode';

const LOGIN_MODES = {
  guest: {
    submit: 'Continue as guest',
    footnote: 'A guest name lasts as long as this tab. Names that belong to an account are taken.',
  },
  login: {
    submit: 'Log in',
    footnote: 'You stay logged in on this browser until you log out or your login expires.',
  },
  register: {
    submit: 'Create account',
    footnote: 'You stay logged in on this browser until you log out or your login expires.',
  },
};

let app = null;
let loginMode = 'guest';

function setLoginMode(mode) {
  loginMode = Object.hasOwn(LOGIN_MODES, mode) ? mode : 'guest';
  $(`mode-${loginMode}`).checked = true;
  const { submit, footnote } = LOGIN_MODES[loginMode];
  $('login-submit').textContent = submit;
  $('login-footnote').textContent = footnote;
  setVisible($('password-block'), loginMode !== 'guest');
  const password = $('login-password');
  password.autocomplete = loginMode === 'register' ? 'new-password' : 'current-password';
  password.required = loginMode !== 'guest';
  const rule = $('password-rule');
  rule.textContent = loginMode === 'register'
    ? `At least ${PASSWORD_MIN_BYTES} characters. Longer is better: a few unrelated words make a good one.`
    : '';
  setVisible(rule, loginMode === 'register');
  storageSet('localStorage', MODE_KEY, loginMode);
}

// What to tell the user when a way in was refused, and which field to fix.
function loginRefusal(error, mode, userId) {
  if (!(error instanceof ApiError)) return { message: String(error), field: 'login-user' };
  switch (error.code) {
    case 'name_taken':
      return mode === 'guest'
        ? { message: `“${userId}” belongs to an account. Log in with its password, or pick another name.`, field: 'login-user' }
        : { message: `The name “${userId}” is taken. Pick another one, or log in if it is yours.`, field: 'login-user' };
    case 'invalid_credentials':
      return { message: 'Wrong name or password.', field: 'login-password' };
    case 'invalid_password':
    case 'too_long':
      return { message: `A password needs ${PASSWORD_MIN_BYTES} to ${PASSWORD_MAX_BYTES} bytes.`, field: 'login-password' };
    case 'invalid_user_id':
      return { message: `“${userId}” is not a valid name: ${USER_ID_RULE}.`, field: 'login-user' };
    default:
      return { message: error.message, field: 'login-user' };
  }
}

// The problem with what was typed, before asking the server, or null.
function loginProblem(mode, userId, password) {
  if (userId === '') return { message: 'Please enter a name.', field: 'login-user' };
  if (!validUserId(userId)) {
    return { message: `“${userId}” is not a valid name: ${USER_ID_RULE}.`, field: 'login-user' };
  }
  if (mode === 'guest') return null;
  if (password === '') return { message: 'Please enter your password.', field: 'login-password' };
  if (mode === 'register' && textBytes(password) < PASSWORD_MIN_BYTES) {
    return { message: `Use a password of at least ${PASSWORD_MIN_BYTES} characters.`, field: 'login-password' };
  }
  if (textBytes(password) > PASSWORD_MAX_BYTES) {
    return { message: `A password can be at most ${PASSWORD_MAX_BYTES} bytes long.`, field: 'login-password' };
  }
  return null;
}

const SIGN_IN = {
  guest: (userId) => login(userId),
  login: (userId, password) => loginWithPassword(userId, password),
  register: (userId, password) => register(userId, password),
};

// shared: the app (app.js), for saveSession and route.
export function init(shared) {
  app = shared;
  setLoginMode(storageGet('localStorage', MODE_KEY) ?? 'guest');

  for (const radio of document.querySelectorAll('#login-form input[name="mode"]')) {
    radio.addEventListener('change', () => {
      if (!radio.checked) return;
      setLoginMode(radio.value);
      setError($('login-error'), null);
    });
  }

  $('show-password').addEventListener('click', () => {
    const input = $('login-password');
    const showing = input.type === 'text';
    input.type = showing ? 'password' : 'text';
    $('show-password').setAttribute('aria-pressed', String(!showing));
    $('show-password').textContent = showing ? 'Show' : 'Hide';
  });

  $('login-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const mode = loginMode;
    const userId = $('login-user').value.trim();
    const password = $('login-password').value;
    const problem = loginProblem(mode, userId, password);
    if (problem !== null) {
      setError($('login-error'), problem.message);
      $(problem.field).focus();
      return;
    }
    const submit = $('login-submit');
    submit.disabled = true;
    setError($('login-error'), null);
    try {
      const token = await SIGN_IN[mode](userId, password);
      $('login-password').value = '';
      app.saveSession({
        token, user: userId, registered: mode !== 'guest', expiresAt: tokenExpiry(token),
      });
      await app.route();
    } catch (error) {
      const refusal = loginRefusal(error, mode, userId);
      setError($('login-error'), refusal.message);
      $(refusal.field).focus();
    } finally {
      submit.disabled = false;
    }
  });
}

export function show(message = null, { lede = null, user = null, mode = null } = {}) {
  setVisible($('login-view'), true);
  if (lede !== null) $('login-lede').textContent = lede;
  if (user !== null) $('login-user').value = user;
  if (mode !== null) setLoginMode(mode);
  setError($('login-error'), message);
  (user !== null && loginMode !== 'guest' ? $('login-password') : $('login-user')).focus();
}

export function hide() {
  setVisible($('login-view'), false);
}
