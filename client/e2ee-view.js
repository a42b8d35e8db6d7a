// What the room view shows of an encrypted DM (docs/e2ee.md): the header's
// lock menu (state, safety number), warnings when a member's device keys
// change, and each envelope's text once decrypted.
//
// When a DM is encrypted: as soon as both members have a device key. A
// browser that once saw this DM encrypted never sends in clear in it again
// (a server hiding the peer's devices cannot make it).

import { DmCrypto, E2EE_MAX_TEXT_BYTES, isEnvelope } from './e2ee.js';

const STICKY_PREFIX = 'stateroom-e2ee-on:';

export { isEnvelope, E2EE_MAX_TEXT_BYTES };

export class E2eeView {
  // view: the RoomView (its list, renderState, withScroll); peer: { userId,
  // displayName }.
  constructor(view, { roomId, meId, peer, token }) {
    this.view = view;
    this.peer = peer;
    this.sticky = `${STICKY_PREFIX}${meId}:${roomId}`;
    this.warned = new Map(); // userId → its warning line
    this.menu = document.createElement('details');
    this.menu.className = 'e2ee-menu';
    this.menu.dataset.testid = 'e2ee-menu';
    this.summary = document.createElement('summary');
    this.summary.dataset.testid = 'e2ee-status';
    this.panel = document.createElement('div');
    this.panel.className = 'e2ee-panel';
    this.menu.append(this.summary, this.panel);
    this.menu.addEventListener('toggle', () => {
      if (this.menu.open) this.renderPanel();
      else this.panel.replaceChildren();
    });
    document.querySelector('#room-view .room-header').insertBefore(this.menu, document.getElementById('leave-room'));
    this.crypto = new DmCrypto({
      roomId, meId, peerId: peer.userId, token,
      onChange: (kind, detail) => (kind === 'state' ? this.onState(detail) : this.warn(detail)),
    });
    this.renderSummary();
    this.started = this.crypto.start();
  }

  destroy() {
    this.menu.remove();
  }

  onState({ state }) {
    if (state === 'on') localStorage.setItem(this.sticky, '1');
    this.renderSummary();
    if (this.menu.open) this.renderPanel();
  }

  get wasOn() {
    return localStorage.getItem(this.sticky) === '1';
  }

  renderSummary() {
    const s = this.crypto.state;
    this.menu.dataset.state = s;
    this.summary.textContent = s === 'on' ? '🔒 Encrypted' : s === 'starting' ? '🔒 …'
      : s === 'nopeer' && !this.wasOn ? 'Not encrypted' : '⚠ Not encrypted';
  }

  async renderPanel() {
    const c = this.crypto;
    const p = document.createElement('p');
    if (c.state === 'on') {
      p.textContent = `Messages here are end-to-end encrypted for your devices and ${this.peer.displayName}'s. `
        + `Compare this safety number with ${this.peer.displayName} (in person or on a call): `
        + 'when both screens show the same, nobody in between holds a key.';
    } else if (c.state === 'nopeer') {
      p.textContent = this.wasOn
        ? `${this.peer.displayName} has no device key any more: nothing is sent until they open this conversation again.`
        : `Not encrypted yet: ${this.peer.displayName} has not opened a conversation in a browser with a key. `
          + 'Messages are encrypted once they have.';
    } else {
      p.textContent = c.error || 'Setting up encryption…';
    }
    const parts = [p];
    if (c.state === 'on' || c.state === 'nopeer') {
      const code = document.createElement('code');
      code.dataset.testid = 'safety-number';
      code.textContent = await c.safetyNumber();
      parts.push(code);
    }
    if (this.warned.size > 0) {
      const ok = document.createElement('button');
      ok.type = 'button';
      ok.dataset.testid = 'e2ee-verified';
      ok.textContent = 'We compared it: accept these keys';
      ok.addEventListener('click', () => {
        c.accept();
        for (const li of this.warned.values()) li.remove();
        this.warned.clear();
        this.menu.open = false;
      });
      parts.push(ok);
    }
    this.panel.replaceChildren(...parts);
  }

  // One line per member, telling the latest difference.
  warn({ userId, added, removed }) {
    if (this.view.destroyed) return;
    const who = userId === this.crypto.meId ? 'Your' : `${this.peer.displayName}'s`;
    const what = [added > 0 ? `${added} added` : '', removed > 0 ? `${removed} removed` : ''].filter(Boolean).join(', ');
    let li = this.warned.get(userId);
    if (li === undefined || !li.isConnected) {
      li = document.createElement('li');
      li.className = 'system e2ee-warning';
      li.dataset.testid = 'e2ee-warning';
      this.warned.set(userId, li);
      this.view.withScroll(() => this.view.list.append(li));
    }
    li.textContent = `⚠ ${who} device keys changed (${what}). Check the safety number in the 🔒 menu before trusting new messages.`;
    this.renderSummary();
  }

  // What to send for text: its envelope; text itself when this DM is not
  // encrypted (and never was here); throws with a message to show when
  // neither can be sent.
  async seal(text) {
    await this.started;
    if (this.crypto.state === 'nopeer' && !this.wasOn) return text;
    if (this.crypto.state !== 'on') await this.crypto.refresh().catch(() => {});
    if (this.crypto.state === 'nopeer' && !this.wasOn) return text;
    if (this.crypto.state !== 'on') {
      throw new Error(this.crypto.state === 'nopeer'
        ? `${this.peer.displayName} has no device key: not sent, this conversation stays encrypted`
        : this.crypto.error || 'encryption is not ready');
    }
    return this.crypto.encrypt(text);
  }

  // The text of li's envelope: a string, null (could not be decrypted) or
  // undefined (not yet: li is drawn again when known).
  plain(li, senderId) {
    const m = li.msg;
    if (m.plainOf === m.text) return m.plain;
    const env = m.text;
    this.started.then(() => this.crypto.decrypt(env, senderId)).then((text) => {
      if (li.msg.text !== env) return;
      li.msg.plainOf = env;
      li.msg.plain = text;
      this.view.renderState(li);
    });
    return undefined;
  }
}
