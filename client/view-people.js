// The people panel, over whatever view is shown (a room stays connected
// under it): search for people, the friend requests both ways, and the
// friends with their online state; each person with what can be done.

import { searchUsers } from './api.js';
import { $, setError, setVisible } from './dom.js';
import {
  GUEST_TEXT, actionButton, actionsFor, attachUserMenu, cleanUser, closePeopleDialogs, collisions,
  initPeople, onPeopleChange, people, personElement, refreshPeople, showFailure,
} from './people.js';

let app = null;

const SEARCH_DELAY_MS = 300;
const SEARCH_MAX_CHARS = 64;
const search = {
  q: '', results: [], next: null, timer: null, controller: null, loading: false,
};

// Errors show at the top of the panel: brought into view from a row below.
function fail(error) {
  showFailure($('people-error'), error);
  $('people-error').scrollIntoView({ block: 'nearest' });
}

// One person's row: the person (opens their card) and the actions asked for.
function row(user, kinds, { showLogin, line = null }) {
  const li = document.createElement('li');
  li.className = 'person-row';
  li.dataset.testid = 'person-row';
  li.dataset.user = user.userId;
  const who = document.createElement('button');
  who.type = 'button';
  who.className = 'person-button';
  who.append(personElement(user, { showLogin, line }));
  attachUserMenu(who, user.userId, { user });
  const actions = document.createElement('div');
  actions.className = 'row-actions';
  for (const kind of kinds) {
    actions.append(actionButton(kind, user.userId, fail, { onDone: render, name: user.displayName }));
  }
  li.append(who, actions);
  return li;
}

function fill(list, items) {
  list.replaceChildren(...items);
}

function render() {
  const known = people();
  const friends = known?.friends ?? [];
  const incoming = known?.incoming ?? [];
  const outgoing = known?.outgoing ?? [];
  // Everyone on the panel at once: a look-alike in search beside a friend shows.
  const shown = [...friends, ...incoming.map((r) => r.user), ...outgoing.map((r) => r.user),
    ...search.results];
  const collide = collisions(shown);
  const opts = (u, line = null) => ({ showLogin: collide.has(u.userId), line });

  fill($('search-results'), search.results.map((u) => row(u, actionsFor(u.userId), opts(u))));
  setVisible($('search-more'), search.next !== null);
  $('search-more').disabled = search.loading;
  const status = $('search-status');
  if (search.q === '') status.textContent = '';
  else if (search.loading && search.results.length === 0) status.textContent = 'Searching…';
  else if (!search.loading && search.results.length === 0) status.textContent = `Nobody found for “${search.q}”.`;
  else status.textContent = '';

  fill($('incoming-list'), incoming.map((r) => row(r.user, ['accept', 'decline'], opts(r.user, 'wants to be your friend'))));
  fill($('outgoing-list'), outgoing.map((r) => row(r.user, ['cancel'], opts(r.user, 'request sent'))));
  setVisible($('requests-block'), incoming.length + outgoing.length > 0);
  setVisible($('incoming-block'), incoming.length > 0);
  setVisible($('outgoing-block'), outgoing.length > 0);
  $('incoming-count').textContent = String(incoming.length);
  $('people-button-count').textContent = String(incoming.length);
  setVisible($('people-button-count'), incoming.length > 0);

  fill($('friend-list'), friends.map((u) => row(u, ['message', 'remove'], opts(u))));
  $('friend-count').textContent = String(friends.length);
  $('friends-empty').textContent = known === null ? 'Loading…'
    : friends.length === 0 ? 'No friends yet: find people above and add them.' : '';
}

async function refresh() {
  try {
    await refreshPeople();
    setError($('people-error'), null);
  } catch (error) {
    fail(error);
  }
}

async function runSearch({ more = false } = {}) {
  const token = app.liveToken();
  if (token === null) return;
  const q = search.q;
  search.controller?.abort();
  const controller = new AbortController();
  search.controller = controller;
  search.loading = true;
  if (!more) {
    search.results = [];
    search.next = null;
  }
  render();
  try {
    const page = await searchUsers(token, q, { cursor: more ? search.next : null, signal: controller.signal });
    if (search.controller !== controller) return;
    const seen = new Set(search.results.map((u) => u.userId));
    search.results.push(...page.users.map(cleanUser).filter((u) => u !== null && !seen.has(u.userId)));
    search.next = page.next;
    setError($('people-error'), null);
  } catch (error) {
    if (search.controller !== controller) return;
    fail(error);
  } finally {
    if (search.controller === controller) {
      search.loading = false;
      search.controller = null;
      render();
    }
  }
}

function onSearchInput() {
  clearTimeout(search.timer);
  const q = $('people-search').value.trim();
  if ([...q].length > SEARCH_MAX_CHARS) {
    setError($('people-error'), `Search for at most ${SEARCH_MAX_CHARS} characters.`);
    return;
  }
  setError($('people-error'), null);
  if (q === search.q) return;
  search.q = q;
  search.controller?.abort();
  search.controller = null;
  search.loading = false;
  if (q === '') {
    search.results = [];
    search.next = null;
    render();
    return;
  }
  search.timer = setTimeout(() => runSearch(), SEARCH_DELAY_MS);
}

// Opens the panel and fetches its lists afresh.
export function open() {
  const registered = app.session?.registered === true;
  setVisible($('people-guest'), !registered);
  setVisible($('people-body'), registered);
  $('people-guest').textContent = GUEST_TEXT;
  const dialog = $('people-panel');
  if (!dialog.open) dialog.showModal();
  if (registered) {
    render();
    refresh();
    if (search.q !== '') runSearch();
  }
}

// shared: the app (app.js): the session, openRoom.
export function init(shared) {
  app = shared;
  initPeople(shared);
  app.openPeople = open;
  onPeopleChange(render);
  $('people-button').addEventListener('click', open);
  $('people-close').addEventListener('click', () => $('people-panel').close());
  $('people-search').addEventListener('input', onSearchInput);
  $('people-search-form').addEventListener('submit', (event) => {
    event.preventDefault();
    clearTimeout(search.timer);
    if (search.q !== '') runSearch();
  });
  $('search-more').addEventListener('click', () => runSearch({ more: true }));
  $('people-refresh').addEventListener('click', refresh);
  sessionChanged();
}

// A new session (login, logout): nothing of the last one stays on screen,
// and an account's requests are counted on the People button.
export function sessionChanged() {
  closePeopleDialogs();
  clearTimeout(search.timer);
  search.controller?.abort();
  Object.assign(search, { q: '', results: [], next: null, controller: null, loading: false });
  $('people-search').value = '';
  setError($('people-error'), null);
  render();
  if (app.session?.registered) refreshPeople().catch(() => {});
}
