// What a message shows beyond its text, and the actions on it: replies
// (a quoted line), edits (an "edited" mark that opens the earlier versions),
// deletions (a tombstone), reactions (counts under the message, a small
// picker), and links. Everything from the network goes in as text; links
// are made only for http(s) URLs, as elements, never from HTML.

export const PICKER_EMOJI = ['👍', '❤️', '😂', '🎉', '😮', '😢', '🙏', '🔥'];

const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
// Punctuation that ends a sentence rather than a URL.
const TRAILING = /[.,;:!?)\]}]+$/;

// text as a fragment: plain text, with each http(s) URL a link that opens
// in a new tab and tells the other site nothing of this one.
export function linkify(text) {
  const out = document.createDocumentFragment();
  let at = 0;
  for (const match of text.matchAll(URL_RE)) {
    let raw = match[0];
    const trail = raw.match(TRAILING);
    if (trail) raw = raw.slice(0, -trail[0].length);
    let url = null;
    try {
      url = new URL(raw);
    } catch {
      url = null;
    }
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) continue;
    out.append(text.slice(at, match.index));
    const a = document.createElement('a');
    a.href = url.href;
    a.textContent = raw;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    a.dataset.testid = 'message-link';
    out.append(a);
    at = match.index + raw.length;
  }
  out.append(text.slice(at));
  return out;
}

// A message's state after change frame f (edit, delete, reaction); m is
// { text, edited, deleted, reactions } and is changed in place.
export function applyChange(m, f) {
  if (f.type === 'edit' && typeof f.text === 'string' && !m.deleted) {
    m.text = f.text;
    m.edited = true;
  } else if (f.type === 'delete') {
    m.deleted = true;
    m.edited = false;
    m.text = '';
    m.reactions = [];
  } else if (f.type === 'reaction' && typeof f.emoji === 'string' && typeof f.userId === 'string' && !m.deleted) {
    const list = Array.isArray(m.reactions) ? m.reactions : [];
    let r = list.find((x) => x.emoji === f.emoji);
    const has = r !== undefined && r.userIds.includes(f.userId);
    if (f.on === true && !has) {
      if (r === undefined) {
        r = { emoji: f.emoji, count: 0, userIds: [] };
        list.push(r);
      }
      r.count++;
      if (r.userIds.length < 20) r.userIds.push(f.userId);
    } else if (f.on === false && r !== undefined && (has || r.count > r.userIds.length)) {
      // Not among the 20 names shown: one of those the server did not list.
      r.count--;
      if (has) r.userIds = r.userIds.filter((u) => u !== f.userId);
    }
    m.reactions = list.filter((x) => x.count > 0);
  }
}

// The reactions row: one toggle per emoji, its count, who in its tooltip.
// nameOf(userId) gives the name to show; onToggle(emoji, on).
export function renderReactions(element, reactions, meId, nameOf, onToggle) {
  const buttons = (reactions ?? []).map((r) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'reaction';
    b.dataset.testid = 'reaction';
    b.dataset.emoji = r.emoji;
    const mine = meId !== null && r.userIds.includes(meId);
    b.classList.toggle('mine', mine);
    b.setAttribute('aria-pressed', String(mine));
    b.textContent = `${r.emoji} ${r.count}`;
    const names = r.userIds.map(nameOf);
    const more = r.count - names.length;
    b.title = names.join(', ') + (more > 0 ? ` and ${more} more` : '');
    b.addEventListener('click', () => onToggle(r.emoji, !mine));
    return b;
  });
  element.replaceChildren(...buttons);
}

// A small popup of emoji under anchor; onPick(emoji). Closed by a pick, a
// click elsewhere or Escape.
export function openPicker(anchor, onPick) {
  document.querySelector('.emoji-picker')?.remove();
  const box = document.createElement('div');
  box.className = 'emoji-picker';
  box.dataset.testid = 'emoji-picker';
  box.setAttribute('role', 'menu');
  const close = () => {
    box.remove();
    document.removeEventListener('pointerdown', outside, true);
    document.removeEventListener('keydown', escape, true);
  };
  const outside = (e) => {
    if (!box.contains(e.target) && e.target !== anchor) close();
  };
  const escape = (e) => {
    if (e.key === 'Escape') close();
  };
  for (const emoji of PICKER_EMOJI) {
    const b = document.createElement('button');
    b.type = 'button';
    b.setAttribute('role', 'menuitem');
    b.dataset.testid = 'emoji-choice';
    b.textContent = emoji;
    b.addEventListener('click', () => {
      close();
      onPick(emoji);
    });
    box.append(b);
  }
  anchor.after(box);
  document.addEventListener('pointerdown', outside, true);
  document.addEventListener('keydown', escape, true);
  box.querySelector('button').focus();
}

// The earlier versions of a message, listed in element (text only).
export function renderVersions(element, versions) {
  const list = document.createElement('ol');
  list.className = 'versions';
  list.dataset.testid = 'versions';
  for (const v of versions) {
    const li = document.createElement('li');
    const time = document.createElement('time');
    const date = new Date(v.ts);
    time.dateTime = date.toISOString();
    time.textContent = date.toLocaleString();
    const text = document.createElement('span');
    text.textContent = v.text;
    li.append(time, ' ', text);
    list.append(li);
  }
  element.replaceChildren(list);
}
