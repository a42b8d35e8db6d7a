// Mentions (docs/protocol.md, "Mentions"): "@<user id>" in a message's text
// mentions that account. The server decides who is mentioned (and counts
// it in GET /api/me/rooms); the page finds the same tokens to draw them as
// the person's name with their user menu, to highlight a message that
// mentions the viewer, and completes "@" in the composer from the room's
// members. Text from the network goes in as text nodes only.

import { attachUserMenu } from './people.js';

// '@' and the user id characters after it, the '@' not following one of
// them ("mail@example.org" mentions nobody); the server's rule (schema
// migration 021).
const TOKEN_RE = /(?<![A-Za-z0-9_.-])@([A-Za-z0-9_.-]+)/g;
const ID_MAX = 32;
const COMPLETIONS_MAX = 8;

// The mention tokens of text: [{ index, length, id }], index and length
// covering "@id" as it is to be drawn. A token's trailing dots end a
// sentence unless known(id with them) says they are part of an id; ids
// over 32 characters name nobody.
export function mentionTokens(text, known = () => false) {
  const out = [];
  for (const match of text.matchAll(TOKEN_RE)) {
    let id = match[1];
    if (!known(id)) id = id.replace(/\.+$/, '');
    if (id.length === 0 || id.length > ID_MAX) continue;
    out.push({ index: match.index, length: id.length + 1, id });
  }
  return out;
}

// Whether text mentions userId (login ids are one whatever their case).
export function mentions(text, userId, known) {
  if (typeof text !== 'string' || typeof userId !== 'string' || !text.includes('@')) return false;
  const me = userId.toLowerCase();
  return mentionTokens(text, known).some((t) => t.id.toLowerCase() === me);
}

// Replaces the mention tokens in fragment's text nodes (links left alone)
// with elements that show "@name" and open the user's menu. person(id)
// gives { userId, name } for an id the page knows (any case), or null: the
// token then shows as written, still with the menu of that id.
export function drawMentions(fragment, { person, meId }) {
  const walker = document.createTreeWalker(fragment, NodeFilter.SHOW_TEXT);
  const nodes = [];
  for (let n = walker.nextNode(); n !== null; n = walker.nextNode()) {
    if (n.parentElement?.closest('a') == null && n.data.includes('@')) nodes.push(n);
  }
  const known = (id) => person(id) !== null;
  for (const node of nodes) {
    const text = node.data;
    const tokens = mentionTokens(text, known);
    if (tokens.length === 0) continue;
    const parts = [];
    let at = 0;
    for (const t of tokens) {
      parts.push(text.slice(at, t.index));
      const who = person(t.id);
      const userId = who?.userId ?? t.id;
      const span = document.createElement('span');
      span.className = 'mention';
      span.dataset.testid = 'mention';
      span.dataset.userId = userId;
      span.textContent = `@${who?.name ?? t.id}`;
      if (meId !== null && userId.toLowerCase() === meId.toLowerCase()) span.classList.add('me');
      else attachUserMenu(span, userId, { name: who?.name ?? userId });
      parts.push(span);
      at = t.index + t.length;
    }
    parts.push(text.slice(at));
    node.replaceWith(...parts);
  }
  return fragment;
}

// "@" completion in textarea input: while the word before the caret is
// "@prefix", a list of the people candidates() gives ([{ userId, name }])
// whose id or name starts with prefix (any case; a name's later words
// too); Up/Down move, Enter or Tab picks, Escape closes, a click picks.
// Picking puts "@<userId> " in place of "@prefix". Returns a function that
// removes it.
export function attachCompletion(input, candidates) {
  const list = document.createElement('ul');
  list.className = 'mention-list';
  list.dataset.testid = 'mention-list';
  list.setAttribute('role', 'listbox');
  list.hidden = true;
  input.after(list);
  let matches = [];
  let active = 0;
  let start = -1; // where "@prefix" begins in the input's value

  const close = () => {
    list.hidden = true;
    matches = [];
    start = -1;
  };
  const draw = () => {
    list.replaceChildren(...matches.map((p, i) => {
      const li = document.createElement('li');
      li.setAttribute('role', 'option');
      li.dataset.testid = 'mention-option';
      li.dataset.userId = p.userId;
      li.setAttribute('aria-selected', String(i === active));
      const name = document.createElement('strong');
      name.textContent = p.name;
      const id = document.createElement('span');
      id.className = 'mention-id';
      id.textContent = ` @${p.userId}`;
      li.append(name, id);
      // mousedown, not click: the input keeps the focus.
      li.addEventListener('mousedown', (e) => {
        e.preventDefault();
        pick(i);
      });
      return li;
    }));
    list.hidden = matches.length === 0;
  };
  const pick = (i) => {
    const p = matches[i];
    if (p === undefined || start < 0) return;
    const end = input.selectionStart;
    const insert = `@${p.userId} `;
    input.value = input.value.slice(0, start) + insert + input.value.slice(end);
    const caret = start + insert.length;
    input.setSelectionRange(caret, caret);
    close();
    input.dispatchEvent(new Event('input', { bubbles: true }));
  };
  const update = () => {
    const caret = input.selectionStart;
    const before = input.value.slice(0, caret);
    const m = before.match(/(?<![A-Za-z0-9_.-])@([A-Za-z0-9_.-]{0,32})$/);
    if (m === null || input.selectionEnd !== caret) {
      close();
      return;
    }
    const prefix = m[1].toLowerCase();
    start = caret - m[0].length;
    const starts = (s) => s.toLowerCase().startsWith(prefix)
      || s.toLowerCase().split(/\s+/).some((w) => w.startsWith(prefix));
    matches = candidates().filter((p) => starts(p.userId) || starts(p.name)).slice(0, COMPLETIONS_MAX);
    active = 0;
    draw();
  };
  const onKey = (e) => {
    if (list.hidden || e.isComposing) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      active = (active + (e.key === 'ArrowDown' ? 1 : matches.length - 1)) % matches.length;
      draw();
    } else if (e.key === 'Enter' || e.key === 'Tab') {
      pick(active);
    } else if (e.key === 'Escape') {
      close();
    } else {
      return;
    }
    // Before the composer's own keys: Enter picks here, it does not send.
    e.preventDefault();
    e.stopImmediatePropagation();
  };
  const onBlur = () => close();
  input.addEventListener('input', update);
  input.addEventListener('keydown', onKey, { capture: true });
  input.addEventListener('blur', onBlur);
  return () => {
    input.removeEventListener('input', update);
    input.removeEventListener('keydown', onKey, { capture: true });
    input.removeEventListener('blur', onBlur);
    list.remove();
  };
}
