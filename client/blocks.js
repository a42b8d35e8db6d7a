// The users this account blocks (GET /api/blocks, every page), fetched once
// per session and again after a change (call reloadBlocks() after a block or
// an unblock). The servers already keep blocked users out of DMs, friend
// requests and search; in rooms the two still share, hiding their messages
// is the client's part. A message is matched by its sender's id (the
// frames' and the history's userId), never by the name it shows: anyone may
// choose a blocked user's name, and a blocked user may have shown another.

import { listBlocks } from './api.js';

// At most 1000 blocks per user (docs/protocol.md): 20 pages of 50.
const PAGE = 50;
const MAX_PAGES = 20;

let owner = null; // the token the set below belongs to
let loading = null; // the fetch in flight, a Promise
let ids = new Set();
const listeners = new Set();

async function fetchAll(token) {
  const users = [];
  let cursor = null;
  for (let i = 0; i < MAX_PAGES; i++) {
    const page = await listBlocks(token, { cursor, limit: PAGE });
    users.push(...page.blocks);
    cursor = page.next;
    if (cursor === null) break;
  }
  return users;
}

function load(token) {
  const call = fetchAll(token).then((users) => {
    if (owner !== token || loading !== call) return;
    ids = new Set(users.map((u) => u.userId));
    for (const listener of listeners) listener();
  }).catch(() => {
    // Nothing hidden is better than nothing shown: the next reload retries.
    if (owner === token && loading === call) loading = null;
  });
  loading = call;
  return call;
}

// Makes sure the blocks of session (app.session) are known; a guest has none.
export function ensureBlocks(session) {
  const token = session?.registered ? session.token : null;
  if (token !== owner) {
    owner = token;
    loading = null;
    ids = new Set();
  }
  if (token === null || loading !== null) return loading ?? Promise.resolve();
  return load(token);
}

// After a block or unblock by this account.
export function reloadBlocks(session) {
  loading = null;
  return ensureBlocks(session);
}

export function isBlockedId(userId) {
  return ids.has(userId);
}

// listener() runs whenever the set changes; returns the way to stop that.
export function onBlocksChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
