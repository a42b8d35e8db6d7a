// Where the browser keeps the session and the user's choices. A guest's
// session lives in sessionStorage: each tab is its own guest, so two tabs can
// chat with each other, and the name is gone with the tab. An account's
// session lives in localStorage, so that it survives a reload and is shared
// by the browser's tabs until it expires or the user logs out.
// A session is { token, user, registered, expiresAt } or null.

import { tokenExpiry } from './api.js';

const GUEST_KEY = 'stateroom.session';
export const ACCOUNT_KEY = 'stateroom.account';

// storage is 'localStorage' or 'sessionStorage': merely reading those
// properties throws where the browser blocks storage.
export function storageGet(storage, key) {
  try {
    return window[storage].getItem(key);
  } catch {
    // Storage disabled (some private modes): nothing is remembered.
    return null;
  }
}

export function storageSet(storage, key, value) {
  try {
    if (value === null) window[storage].removeItem(key);
    else window[storage].setItem(key, value);
  } catch {
    // As above: the session then lasts as long as the page.
  }
}

function readSession(storage, key, registered) {
  const raw = storageGet(storage, key);
  if (raw === null) return null;
  try {
    const saved = JSON.parse(raw);
    if (saved && typeof saved.token === 'string' && typeof saved.user === 'string') {
      const expiresAt = tokenExpiry(saved.token);
      if (expiresAt === null || expiresAt > Date.now()) {
        return { token: saved.token, user: saved.user, registered, expiresAt };
      }
    }
  } catch {
    // Corrupt entry: dropped below.
  }
  storageSet(storage, key, null);
  return null;
}

// A guest in this tab wins over the browser's account: the tab chose it.
export function loadSession() {
  return readSession('sessionStorage', GUEST_KEY, false)
    ?? readSession('localStorage', ACCOUNT_KEY, true);
}

export function storeSession(value) {
  if (value === null) {
    storageSet('sessionStorage', GUEST_KEY, null);
    storageSet('localStorage', ACCOUNT_KEY, null);
  } else {
    const saved = JSON.stringify({ token: value.token, user: value.user });
    storageSet('sessionStorage', GUEST_KEY, value.registered ? null : saved);
    if (value.registered) storageSet('localStorage', ACCOUNT_KEY, saved);
  }
}
