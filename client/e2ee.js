// End-to-end encrypted DMs (docs/e2ee.md): this device's key pair, the
// members' device keys, the message envelope and its crypto. WebCrypto only.
//
// Per message: a random AES-256-GCM key encrypts the text; for every active
// device of both members that key is wrapped with AES-256-GCM under
// HKDF-SHA-256(ECDH(sender device, recipient device), a random salt, the
// room, the sender and both devices). The text's additional data names the
// room, the sender and the sending device, so a ciphertext moved to another
// room or shown under another sender fails to decrypt.

const LABEL = 'stateroom-e2ee/1';
const DB_NAME = 'stateroom-e2ee';
const STORE = 'devices';
const KNOWN_PREFIX = 'stateroom-e2ee-known:';
const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

// At most 6 active devices per account (the backend's bound) makes 12
// wrapped keys; an envelope of this much text then stays within the session
// server's 4000 bytes (the view checks the envelope itself too).
export const E2EE_MAX_TEXT_BYTES = 2000;
export const ENVELOPE_MAX_BYTES = 4000;

export function isEnvelope(text) {
  return typeof text === 'string' && text.startsWith('{"e2ee":1,');
}

const b64u = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

function unb64u(s, { min = 0, max = Infinity } = {}) {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s)) throw new Error('not base64url');
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
  if (bin.length < min || bin.length > max) throw new Error('bad length');
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

const algParams = (alg) => (alg === 'X25519' ? { name: 'X25519' } : { name: 'ECDH', namedCurve: 'P-256' });

// X25519 where the browser has it, else P-256.
async function chooseAlg() {
  try {
    await crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits']);
    return 'X25519';
  } catch {
    return 'P-256';
  }
}

// ------------------------------------------------------------ IndexedDB

function idb(mode, fn) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(DB_NAME, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STORE, { keyPath: 'userId' });
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      tx.oncomplete = () => { db.close(); resolve(req.result); };
      tx.onerror = () => { db.close(); reject(tx.error); };
    };
  });
}

// ------------------------------------------------------------ the API

export class E2eeError extends Error {
  constructor(message, code = '') {
    super(message);
    this.code = code;
  }
}

async function api(method, path, token, body) {
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try {
    data = await res.json();
  } catch {
    // An empty or broken body: the status says enough.
  }
  if (!res.ok) throw new E2eeError(data?.error?.message ?? `HTTP ${res.status}`, data?.error?.code ?? '');
  return data;
}

function deviceOf(d, revoked) {
  if (d === null || typeof d !== 'object' || typeof d.deviceId !== 'string' || !/^[A-Za-z0-9_-]{16}$/.test(d.deviceId)
    || (d.alg !== 'X25519' && d.alg !== 'P-256') || typeof d.publicKey !== 'string') return null;
  return { deviceId: d.deviceId, alg: d.alg, publicKey: d.publicKey, revoked };
}

async function fetchDevices(token, userId) {
  const data = await api('GET', `/api/users/${encodeURIComponent(userId)}/devices`, token);
  const active = Array.isArray(data?.devices) ? data.devices.map((d) => deviceOf(d, false)).filter(Boolean) : [];
  const revoked = Array.isArray(data?.revoked) ? data.revoked.map((d) => deviceOf(d, true)).filter(Boolean) : [];
  return { active, all: [...active, ...revoked] };
}

// This browser's device for userId: loaded from IndexedDB, or made and
// registered. The private key is non-extractable: it never leaves WebCrypto.
async function ownDevice(token, userId, listed) {
  let rec = await idb('readonly', (s) => s.get(userId));
  if (rec !== undefined && listed.some((d) => d.deviceId === rec.deviceId && d.publicKey === rec.publicKey)) return rec;
  if (rec !== undefined) {
    // Not listed (removed here or elsewhere): the same key again when the
    // server allows it, else a new one.
    try {
      const r = await api('POST', '/api/me/devices', token, { alg: rec.alg, publicKey: rec.publicKey });
      rec = { ...rec, deviceId: r.deviceId };
      await idb('readwrite', (s) => s.put(rec));
      return rec;
    } catch (e) {
      if (e.code !== 'key_revoked') throw e;
    }
  }
  const alg = await chooseAlg();
  const pair = await crypto.subtle.generateKey(algParams(alg), false, ['deriveBits']);
  const publicKey = b64u(await crypto.subtle.exportKey('raw', pair.publicKey));
  const r = await api('POST', '/api/me/devices', token, { alg, publicKey });
  rec = { userId, deviceId: r.deviceId, alg, publicKey, privateKey: pair.privateKey };
  await idb('readwrite', (s) => s.put(rec));
  return rec;
}

// ------------------------------------------------------------ your devices

// The caller's active devices, oldest first: { deviceId, alg, publicKey,
// createdAt } (the profile's device list).
export async function listOwnDevices(token, meId) {
  const data = await api('GET', `/api/users/${encodeURIComponent(meId)}/devices`, token);
  return (Array.isArray(data?.devices) ? data.devices : [])
    .map((d) => {
      const dev = deviceOf(d, false);
      return dev && { ...dev, createdAt: typeof d.createdAt === 'string' ? d.createdAt : null };
    })
    .filter(Boolean);
}

// This browser's device id for meId, or null when it has made none.
export async function thisDeviceId(meId) {
  try {
    const rec = await idb('readonly', (s) => s.get(meId));
    return rec?.deviceId ?? null;
  } catch {
    return null; // no IndexedDB here: no device either
  }
}

export function removeOwnDevice(token, deviceId) {
  return api('DELETE', `/api/me/devices/${encodeURIComponent(deviceId)}`, token);
}

// A device key's fingerprint, to compare with what the other browser shows:
// 30 digits from SHA-256 of the key, as the safety number is made.
export async function keyFingerprint(alg, publicKey) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', enc.encode(`${LABEL}|device\n${alg}:${publicKey}`)));
  const groups = [];
  for (let i = 0; i < 6; i++) {
    let n = 0;
    for (let j = 0; j < 5; j++) n = n * 256 + digest[i * 5 + j];
    groups.push(String(n % 100000).padStart(5, '0'));
  }
  return groups.join(' ');
}

// ------------------------------------------------------------ the crypto

async function importPublic(alg, publicKey) {
  const raw = unb64u(publicKey, { min: alg === 'X25519' ? 32 : 65, max: alg === 'X25519' ? 32 : 65 });
  return crypto.subtle.importKey('raw', raw, algParams(alg), false, []);
}

// The key that wraps a message key for one (sender device, recipient
// device) pair of one message.
async function wrapKey(own, peerPublic, salt, info) {
  const pub = await importPublic(own.alg, peerPublic);
  const shared = await crypto.subtle.deriveBits({ name: algParams(own.alg).name, public: pub }, own.privateKey, 256);
  const ikm = await crypto.subtle.importKey('raw', shared, 'HKDF', false, ['deriveKey']);
  return crypto.subtle.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt, info: enc.encode(info) }, ikm,
    { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
}

const wrapInfo = (room, from, fromDev, to, toDev) => `${LABEL}|wrap|${room}|${from}|${fromDev}|${to}|${toDev}`;
const bodyAad = (room, from, fromDev) => enc.encode(`${LABEL}|text|${room}|${from}|${fromDev}`);
// Each wrapping key is used once (its salt is new per message): a fixed IV
// is safe with it.
const WRAP_IV = new Uint8Array(12);

// ------------------------------------------------------------ a DM

// One DM's encryption as the room view uses it. onChange(kind, detail) tells
// the view of state changes ('state') and of members' key changes ('keys':
// { userId, added, removed }).
export class DmCrypto {
  constructor({ roomId, meId, peerId, token, onChange }) {
    this.roomId = roomId;
    this.meId = meId;
    this.peerId = peerId;
    this.token = token;
    this.onChange = onChange;
    this.state = 'starting'; // 'on', 'nopeer' (no device of the peer), 'error'
    this.error = '';
    this.own = null;
    this.devices = new Map(); // userId → { active, all }
    this.cache = new Map(); // envelope → Promise of text or null
    this.refreshing = null;
    this.refreshAgain = null;
  }

  async start() {
    try {
      const mine = await fetchDevices(this.token(), this.meId);
      this.own = await ownDevice(this.token(), this.meId, mine.active);
      await this.refresh();
    } catch (e) {
      this.setState('error', e instanceof E2eeError && e.code === 'too_many_devices'
        ? 'this browser has no key: your account already has 6 devices (remove one in another browser)'
        : `encryption is unavailable: ${e.message}`);
    }
  }

  setState(state, error = '') {
    this.state = state;
    this.error = error;
    this.onChange('state', { state, error });
  }

  // Reads both members' devices (at most one read at a time) and compares
  // them with those this browser saw before. Every message sent and every
  // envelope from an unknown device reads them, so that a device the peer
  // added since is encrypted for; a read already under way may have started
  // before that device came, so the caller gets the next one (one more at
  // most, shared by every caller meanwhile).
  refresh() {
    if (this.refreshing !== null) {
      this.refreshAgain ??= this.refreshing.catch(() => {}).then(() => {
        this.refreshAgain = null;
        return this.refresh();
      });
      return this.refreshAgain;
    }
    this.refreshing = (async () => {
      try {
        for (const id of [this.meId, this.peerId]) {
          const d = await fetchDevices(this.token(), id);
          this.devices.set(id, d);
          this.noteKnown(id, d.active);
        }
        if (this.own !== null) this.setState(this.devices.get(this.peerId).active.length > 0 ? 'on' : 'nopeer');
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  // Compares userId's active keys with those this browser last accepted
  // (the first non-empty set seen is accepted: trust on first use). A difference stays
  // reported until the user accepts the keys (accept()).
  noteKnown(userId, active) {
    const key = `${KNOWN_PREFIX}${this.meId}:${userId}`;
    const now = active.map((d) => `${d.deviceId}:${d.publicKey}`).sort();
    let before = null;
    try {
      before = JSON.parse(localStorage.getItem(key));
    } catch {
      before = null;
    }
    const added = Array.isArray(before) ? now.filter((k) => !before.includes(k)) : [];
    const removed = Array.isArray(before) ? before.filter((k) => !now.includes(k)) : [];
    // This browser's own new key is no news to its user.
    const own = this.own === null ? null : `${this.own.deviceId}:${this.own.publicKey}`;
    if (!Array.isArray(before) || before.length === 0 || (added.length === 1 && added[0] === own && removed.length === 0)) {
      localStorage.setItem(key, JSON.stringify(now));
      return;
    }
    if (added.length > 0 || removed.length > 0) this.onChange('keys', { userId, added: added.length, removed: removed.length });
  }

  // The user compared the safety number: the keys seen now are accepted.
  accept() {
    for (const [userId, d] of this.devices) {
      localStorage.setItem(`${KNOWN_PREFIX}${this.meId}:${userId}`,
        JSON.stringify(d.active.map((x) => `${x.deviceId}:${x.publicKey}`).sort()));
    }
  }

  get active() {
    return this.state === 'on';
  }

  // The envelope of text, for every active device of both members.
  async encrypt(text) {
    await this.refresh();
    if (!this.active) throw new E2eeError(this.error || 'the other member has no device key yet');
    const mk = crypto.getRandomValues(new Uint8Array(32));
    const salt = crypto.getRandomValues(new Uint8Array(16));
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const own = this.own;
    const key = await crypto.subtle.importKey('raw', mk, 'AES-GCM', false, ['encrypt']);
    const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: bodyAad(this.roomId, this.meId, own.deviceId) },
      key, enc.encode(text));
    const k = {};
    for (const userId of [this.meId, this.peerId]) {
      for (const d of this.devices.get(userId).active) {
        if (d.alg !== own.alg) continue; // no shared curve: docs/e2ee.md, "Limits"
        const kek = await wrapKey(own, d.publicKey, salt, wrapInfo(this.roomId, this.meId, own.deviceId, userId, d.deviceId));
        k[d.deviceId] = b64u(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: WRAP_IV }, kek, mk));
      }
    }
    const envelope = JSON.stringify({ e2ee: 1, d: own.deviceId, s: b64u(salt), i: b64u(iv), c: b64u(ct), k });
    if (enc.encode(envelope).length > ENVELOPE_MAX_BYTES) throw new E2eeError('too long for an encrypted message');
    this.cache.set(envelope, Promise.resolve(text));
    return envelope;
  }

  // The text of envelope sent by senderId, or null when it cannot be
  // decrypted (for any reason: all failures look alike to the reader).
  decrypt(envelope, senderId) {
    const cacheKey = `${senderId}\n${envelope}`;
    let p = this.cache.get(envelope) !== undefined && senderId === this.meId ? this.cache.get(envelope) : this.cache.get(cacheKey);
    if (p === undefined) {
      p = this.open(envelope, senderId).catch(() => null);
      this.cache.set(cacheKey, p);
    }
    return p;
  }

  async open(envelope, senderId) {
    if (this.own === null || (senderId !== this.meId && senderId !== this.peerId)) throw new Error('no key');
    const e = JSON.parse(envelope);
    if (e === null || typeof e !== 'object' || e.e2ee !== 1 || typeof e.d !== 'string'
      || e.k === null || typeof e.k !== 'object') throw new Error('not an envelope');
    const wrapped = Object.hasOwn(e.k, this.own.deviceId) ? unb64u(e.k[this.own.deviceId], { min: 48, max: 48 }) : null;
    if (wrapped === null) throw new Error('not for this device');
    let sender = this.devices.get(senderId)?.all.find((d) => d.deviceId === e.d);
    if (sender === undefined) {
      // A device new since the last read: read again (which warns).
      await this.refresh();
      sender = this.devices.get(senderId)?.all.find((d) => d.deviceId === e.d);
    }
    if (sender === undefined || sender.alg !== this.own.alg) throw new Error('unknown sender device');
    const kek = await wrapKey(this.own, sender.publicKey, unb64u(e.s, { min: 16, max: 16 }),
      wrapInfo(this.roomId, senderId, e.d, this.meId, this.own.deviceId));
    const mk = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: WRAP_IV }, kek, wrapped);
    const key = await crypto.subtle.importKey('raw', mk, 'AES-GCM', false, ['decrypt']);
    const text = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: unb64u(e.i, { min: 12, max: 12 }), additionalData: bodyAad(this.roomId, senderId, e.d) },
      key, unb64u(e.c, { min: 16, max: ENVELOPE_MAX_BYTES }));
    return dec.decode(text);
  }

  // The safety number: 60 digits from SHA-512 of both members' active keys,
  // in user id order, so both ends compute the same one.
  async safetyNumber() {
    const parts = [this.meId, this.peerId].sort().map((id) => `${id}\n${(this.devices.get(id)?.active ?? [])
      .map((d) => `${d.alg}:${d.publicKey}`).sort().join('\n')}`);
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-512', enc.encode(`${LABEL}|safety\n${parts.join('\n\n')}`)));
    const groups = [];
    for (let i = 0; i < 12; i++) {
      let n = 0;
      for (let j = 0; j < 5; j++) n = n * 256 + digest[i * 5 + j];
      groups.push(String(n % 100000).padStart(5, '0'));
    }
    return groups.join(' ');
  }
}
