// Message search in the room view: a search box in the room's header, the
// hits of GET /api/rooms/:id/search with the matched words marked, and a hit
// chosen shows its message in the conversation, loading older history page
// by page (the room view's own scrollback) until the message is there.
import { ApiError, searchRoom } from './api.js';

const PAGE = 20;
// How long a message found stays highlighted.
const HIGHLIGHT_MS = 2500;

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

// The snippet's text with the matched words (between STX and ETX) as
// <mark>s; text nodes only, never HTML.
function snippetNodes(snippet) {
  const out = [];
  let marked = false;
  for (const part of snippet.split(/([\u0002\u0003])/)) {
    if (part === '\u0002') marked = true;
    else if (part === '\u0003') marked = false;
    else if (part !== '') {
      if (marked) out.push(element('mark', '', part));
      else out.push(document.createTextNode(part));
    }
  }
  return out;
}

function validHit(h) {
  return h !== null && typeof h === 'object' && Number.isInteger(h.seq) && h.seq > 0 &&
    typeof h.snippet === 'string' && typeof h.text === 'string';
}

class RoomSearch {
  // view: the RoomView (view-room.js); app: the app (liveToken, expireSession).
  constructor(view, app) {
    this.view = view;
    this.app = app;
    this.query = '';
    this.next = null;
    this.busy = null; // the AbortController of the request in flight
    this.jumping = 0; // bumped per jump, so that a newer one wins
    this.timer = null;

    this.form = element('form', 'room-search');
    this.form.setAttribute('role', 'search');
    this.input = element('input');
    this.input.type = 'search';
    this.input.placeholder = 'Search messages';
    this.input.maxLength = 200;
    this.input.setAttribute('aria-label', 'Search messages in this room');
    this.input.dataset.testid = 'search-input';
    const submit = element('button', '', 'Search');
    submit.type = 'submit';
    submit.dataset.testid = 'search-submit';
    this.form.append(this.input, submit);

    this.panel = element('section', 'search-results');
    this.panel.dataset.testid = 'search-results';
    this.panel.setAttribute('aria-label', 'Search results');
    this.panel.hidden = true;
    const head = element('div', 'search-head');
    this.status = element('p', 'search-status');
    this.status.dataset.testid = 'search-status';
    this.status.setAttribute('role', 'status');
    const close = element('button', 'link-button', 'Close');
    close.type = 'button';
    close.dataset.testid = 'search-close';
    head.append(this.status, close);
    this.list = element('ol', 'search-hits');
    this.more = element('button', 'link-button', 'More results');
    this.more.type = 'button';
    this.more.dataset.testid = 'search-more';
    this.more.hidden = true;
    this.panel.append(head, this.list, this.more);

    const header = document.querySelector('#room-view .room-header');
    header.querySelector('#leave-room').before(this.form);
    header.after(this.panel);

    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.run(this.input.value.trim());
    });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.close();
    });
    close.addEventListener('click', () => this.close());
    this.more.addEventListener('click', () => this.fetch());
  }

  destroy() {
    this.busy?.abort();
    this.jumping++;
    clearTimeout(this.timer);
    this.form.remove();
    this.panel.remove();
  }

  close() {
    this.busy?.abort();
    this.panel.hidden = true;
  }

  setStatus(text) {
    this.status.textContent = text;
  }

  run(query) {
    if (query === '') {
      this.close();
      return;
    }
    this.query = query;
    this.next = null;
    this.list.replaceChildren();
    this.panel.hidden = false;
    this.fetch();
  }

  async fetch() {
    const token = this.app.liveToken();
    if (token === null) return;
    this.busy?.abort();
    const busy = new AbortController();
    this.busy = busy;
    this.more.hidden = true;
    this.setStatus('Searching…');
    try {
      const { hits, next } = await searchRoom(token, this.view.roomId, this.query,
        { cursor: this.next, limit: PAGE, signal: busy.signal });
      if (this.busy !== busy) return;
      this.next = next;
      for (const h of hits.filter(validHit)) this.list.append(this.hitItem(h));
      const n = this.list.childElementCount;
      this.setStatus(n === 0 ? `No messages match “${this.query}”.`
        : `${n}${next ? '+' : ''} ${n === 1 && !next ? 'message matches' : 'messages match'} “${this.query}”.`);
      this.more.hidden = next === null;
    } catch (error) {
      if (this.busy !== busy) return;
      if (error instanceof ApiError && error.status === 401) {
        this.app.expireSession();
        return;
      }
      this.setStatus(`Search failed: ${error.message}`);
    } finally {
      if (this.busy === busy) this.busy = null;
    }
  }

  hitItem(h) {
    const li = element('li');
    const button = element('button', 'search-hit');
    button.type = 'button';
    button.dataset.testid = 'search-hit';
    button.dataset.seq = String(h.seq);
    const meta = element('span', 'search-meta');
    const who = typeof h.user === 'string' && h.user !== '' ? h.user : (h.userId ?? '');
    const date = new Date(Number.isFinite(h.ts) ? h.ts : NaN);
    meta.append(element('strong', '', who),
      Number.isNaN(date.getTime()) ? '' : ` · ${date.toLocaleString()}`);
    const snippet = element('span', 'search-snippet');
    snippet.append(...snippetNodes(h.snippet === '' ? h.text : h.snippet));
    button.append(meta, snippet);
    // A hit that mentions the reader stands out as the message itself does.
    if (h.userId !== this.view.meId && this.view.mentionsMe(h.text)) {
      button.classList.add('mentions-me');
      button.dataset.mentionsMe = 'true';
    }
    button.addEventListener('click', () => this.jump(h.seq));
    li.append(button);
    return li;
  }

  // Shows message seq in the conversation: older pages come in (as when the
  // reader scrolls up) until it is there, or the history ends without it.
  async jump(seq) {
    const view = this.view;
    const mine = ++this.jumping;
    this.setStatus('Finding the message…');
    for (;;) {
      if (view.destroyed || mine !== this.jumping) return;
      const li = view.bySeq.get(seq);
      if (li !== undefined) {
        this.show(li);
        return;
      }
      if (view.older === 'error') {
        this.setStatus(`Could not load earlier messages: ${view.olderError}`);
        return;
      }
      if (view.older === 'done' || (view.order.length > 0 && view.order[0] < seq)) {
        this.setStatus('That message is no longer in the room.');
        return;
      }
      if (view.older === 'idle') view.loadOlder({ asked: true });
      await new Promise((resolve) => { setTimeout(resolve, 50); });
    }
  }

  show(li) {
    // On a phone the results cover the conversation: out of the way.
    if (window.matchMedia('(max-width: 700px)').matches) this.panel.hidden = true;
    this.setStatus('');
    li.scrollIntoView({ block: 'center' });
    for (const old of this.view.list.querySelectorAll('.search-target')) old.classList.remove('search-target');
    li.classList.add('search-target');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => li.classList.remove('search-target'), HIGHLIGHT_MS);
  }
}

// Adds the search box to the room view; returns what the view destroys
// when it closes.
export function attachSearch(view, app) {
  return new RoomSearch(view, app);
}
