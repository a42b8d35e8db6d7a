// The call bar of the room view (docs/protocol.md, "Calls"): join the
// room's call with audio or audio and video, mute, camera, screen share,
// leave; who is in the call, who is muted, who speaks (a level meter). The
// media go browser to browser, a full mesh of RTCPeerConnections (at most 6
// participants); the session server only relays each one's offers, answers
// and ICE candidates to the participant it names, and GET /api/ice gives
// the STUN and TURN servers.
//
// Who offers: of two participants, the one that joined later (the larger
// number in its id, "p<n>") sends the offer, so two never offer to each
// other at once. Every connection has one audio and one video transceiver
// from the start; mute, camera and screen share swap or stop the tracks they
// send (replaceTrack), which needs no new offer.
//
// Ringing in a DM: the server rings the other member when we are the first
// in the call ({"op":"ring"}) and says why it stopped ({"op":"ring_end"}):
// the bar shows "Ringing…", then "Declined" or "No answer" (and we leave
// the call, as a phone hangs up), or nothing once answered. acceptCall()
// is the incoming-call banner's Accept (ring.js): it joins the DM's call
// once its room view is connected.

import { $, setVisible } from './dom.js';

const SPEAKING_LEVEL = 0.04; // RMS of the samples: above it, someone speaks
const METER_MS = 150;

const idNumber = (id) => Number(String(id).slice(1));

function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== null) node.textContent = text;
  return node;
}

function button(label, testid, onClick) {
  const b = el('button', { type: 'button', 'data-testid': testid }, label);
  b.addEventListener('click', onClick);
  return b;
}

// A level meter over a stream's audio: level() is its RMS now (0..1).
class Meter {
  constructor(context, stream) {
    this.analyser = context.createAnalyser();
    this.analyser.fftSize = 512;
    this.samples = new Float32Array(this.analyser.fftSize);
    this.source = stream.getAudioTracks().length ? context.createMediaStreamSource(stream) : null;
    this.source?.connect(this.analyser);
  }

  level() {
    if (!this.source) return 0;
    this.analyser.getFloatTimeDomainData(this.samples);
    let sum = 0;
    for (const s of this.samples) sum += s * s;
    return Math.sqrt(sum / this.samples.length);
  }

  stop() {
    this.source?.disconnect();
  }
}

// The Call of each room view shown, by room id, and an accepted ring whose
// room view is not there yet: { roomId, video }.
const calls = new Map();
let accepted = null;

// conn: the room's RoomConnection; token(): a live API token; mount: the
// element the bar goes before. Returns { destroy }.
export function attachCall({ conn, token, mount }) {
  const call = new Call(conn, token);
  mount.before(call.bar);
  calls.set(conn.roomId, call);
  call.takeAccepted();
  return {
    destroy: () => {
      if (calls.get(conn.roomId) === call) calls.delete(conn.roomId);
      call.destroy();
    },
  };
}

// Joins roomId's call (with video if video) as soon as its view is shown
// and connected.
export function acceptCall(roomId, video) {
  accepted = { roomId, video };
  calls.get(roomId)?.takeAccepted();
}

// The room's connection, when its view is shown (to decline through it).
export function shownConnection(roomId) {
  return calls.get(roomId)?.conn ?? null;
}

class Call {
  constructor(conn, token) {
    this.conn = conn;
    this.token = token;
    this.self = null; // our participant id once joined
    this.joining = false;
    this.participants = []; // the latest members frame's
    this.peers = new Map(); // id → { pc, stream, tile, label, meter }
    this.signals = new Map(); // id → the promise of its latest signal taken
    this.local = null; // our camera and microphone stream
    this.screen = null; // the shared screen's stream
    this.media = { audio: false, video: false, screen: false };
    this.iceServers = [];
    this.ringing = null; // 'ringing', 'declined', 'missed' or null: our ring's state
    this.audioContext = null;
    this.meters = null;
    this.localMeter = null;
    this.build();
    this.offs = [];
    const on = (type, fn) => {
      const handler = (e) => fn.call(this, e.detail);
      conn.addEventListener(type, handler);
      this.offs.push(() => conn.removeEventListener(type, handler));
    };
    on('frame', this.onFrame);
    on('servererror', this.onServerError);
    // Our participant is our connection: when it goes, so did we.
    on('state', ({ state }) => {
      if (state !== 'connected' && (this.self !== null || this.joining)) this.end('The connection dropped: you left the call.');
      if (state !== 'connected') this.setParticipants([]);
      this.render();
      this.takeAccepted();
    });
    this.render();
  }

  build() {
    this.bar = el('section', { class: 'call-bar', 'data-testid': 'call-bar', 'aria-label': 'Call' });
    this.status = el('span', { class: 'call-status', 'data-testid': 'call-status', role: 'status' });
    this.ringStatus = el('span', { class: 'call-ring', 'data-testid': 'call-ring', role: 'status' });
    this.joinVideo = button('Join with video', 'call-join-video', () => this.join(true));
    this.joinAudio = button('Join with audio', 'call-join-audio', () => this.join(false));
    this.muteButton = button('Mute', 'call-mute', () => this.toggleAudio());
    this.cameraButton = button('Camera off', 'call-camera', () => this.toggleVideo());
    this.screenButton = button('Share screen', 'call-screen', () => this.toggleScreen());
    this.leaveButton = button('Leave call', 'call-leave', () => this.leave());
    this.leaveButton.classList.add('danger');
    const controls = el('div', { class: 'call-controls' });
    controls.append(this.status, this.ringStatus, this.joinVideo, this.joinAudio, this.muteButton, this.cameraButton,
      this.screenButton, this.leaveButton);
    this.error = el('p', { class: 'error call-error', 'data-testid': 'call-error', role: 'alert' });
    this.list = el('ul', { class: 'call-people', 'data-testid': 'call-participants' });
    this.grid = el('div', { class: 'call-videos', 'data-testid': 'call-videos' });
    this.bar.append(controls, this.error, this.list, this.grid);
    setVisible(this.error, false);
  }

  render() {
    const inCall = this.self !== null;
    const n = this.participants.length;
    this.status.textContent = inCall ? `In the call (${n})`
      : n ? `${n} in the call` : this.joining ? 'Joining…' : 'No call';
    this.bar.dataset.state = inCall ? 'in-call' : this.joining ? 'joining' : 'idle';
    this.ringStatus.textContent = { ringing: 'Ringing…', declined: 'Declined', missed: 'No answer' }[this.ringing] ?? '';
    this.bar.dataset.ring = this.ringing ?? '';
    setVisible(this.ringStatus, this.ringing !== null);
    const connected = this.conn.state === 'connected';
    for (const b of [this.joinVideo, this.joinAudio]) {
      setVisible(b, !inCall);
      b.disabled = this.joining || !connected;
    }
    for (const b of [this.muteButton, this.cameraButton, this.screenButton, this.leaveButton]) setVisible(b, inCall);
    this.muteButton.textContent = this.media.audio ? 'Mute' : 'Unmute';
    this.muteButton.setAttribute('aria-pressed', String(!this.media.audio));
    this.cameraButton.textContent = this.media.video ? 'Camera off' : 'Camera on';
    this.screenButton.textContent = this.media.screen ? 'Stop sharing' : 'Share screen';
    setVisible(this.screenButton, inCall && !!navigator.mediaDevices?.getDisplayMedia);
    setVisible(this.grid, inCall);
    setVisible(this.list, n > 0);

    const items = this.participants.map((p) => {
      const li = el('li', { 'data-testid': 'call-participant', 'data-id': p.id });
      if (p.id === this.self) li.dataset.self = 'true';
      const meter = el('span', { class: 'call-meter', 'aria-hidden': 'true' });
      meter.append(el('span'));
      const flags = [p.audio ? null : 'muted', p.video ? null : 'camera off', p.screen ? 'sharing' : null]
        .filter(Boolean).join(', ');
      li.append(meter, el('span', { class: 'call-name' }, p.id === this.self ? `${p.user} (you)` : p.user));
      if (flags) li.append(el('span', { class: 'call-flags', 'data-testid': 'call-flags' }, flags));
      li.dataset.muted = String(!p.audio);
      return li;
    });
    this.list.replaceChildren(...items);
  }

  showError(text) {
    this.error.textContent = text ?? '';
    setVisible(this.error, !!text);
  }

  // ------------------------------------------------------------ joining

  // The banner's Accept, once this room is connected.
  takeAccepted() {
    if (accepted === null || accepted.roomId !== this.conn.roomId || this.conn.state !== 'connected') return;
    const { video } = accepted;
    accepted = null;
    this.join(video);
  }

  async join(video) {
    if (this.joining || this.self !== null) return;
    this.joining = true;
    this.ringing = null;
    this.showError(null);
    this.render();
    try {
      const res = await fetch('/api/ice', { headers: { Authorization: `Bearer ${this.token()}` }, cache: 'no-store' });
      if (!res.ok) throw new Error(`the ICE servers could not be read (${res.status})`);
      const body = await res.json();
      this.iceServers = Array.isArray(body.iceServers) ? body.iceServers : [];
      this.local = await navigator.mediaDevices.getUserMedia({ audio: true, video });
    } catch (e) {
      this.joining = false;
      this.showError(e?.name === 'NotAllowedError' ? 'The browser was not allowed the microphone or camera.'
        : `Cannot join the call: ${e?.message ?? e}`);
      this.render();
      return;
    }
    if (!this.joining) { // left or dropped while asking
      this.stopLocal();
      return;
    }
    this.media = { audio: true, video, screen: false };
    this.startMeters();
    this.addTile('self', 'You', this.local, true);
    if (!this.conn.sendFrame({ type: 'call', op: 'join', audio: true, video })) {
      this.end('Not connected: try again once the room is back.');
    }
  }

  leave() {
    if (this.self !== null || this.joining) this.conn.sendFrame({ type: 'call', op: 'leave' });
    this.end(null);
  }

  // Ends our side of the call: every peer connection and our media.
  end(message) {
    if (this.ringing === 'ringing') this.ringing = null;
    this.self = null;
    this.joining = false;
    for (const id of [...this.peers.keys()]) this.dropPeer(id);
    this.stopLocal();
    this.media = { audio: false, video: false, screen: false };
    this.grid.replaceChildren();
    this.showError(message);
    this.render();
  }

  stopLocal() {
    for (const s of [this.local, this.screen]) for (const t of s?.getTracks() ?? []) t.stop();
    this.local = null;
    this.screen = null;
    clearInterval(this.meters);
    this.meters = null;
    this.localMeter?.stop();
    this.localMeter = null;
    this.audioContext?.close();
    this.audioContext = null;
  }

  destroy() {
    this.leave();
    for (const off of this.offs) off();
    this.bar.remove();
  }

  // ------------------------------------------------------------ frames

  onFrame(frame) {
    if (frame.type !== 'call') return;
    if (frame.op === 'joined' && typeof frame.self === 'string') {
      if (!this.joining) return;
      this.joining = false;
      this.self = frame.self;
      this.render();
    } else if (frame.op === 'members' && Array.isArray(frame.participants)) {
      this.setParticipants(frame.participants.filter((p) => p && typeof p.id === 'string'));
    } else if (frame.op === 'signal' && typeof frame.from === 'string') {
      // One at a time per sender: a candidate must wait for the offer
      // before it to be taken.
      const from = frame.from;
      const next = (this.signals.get(from) ?? Promise.resolve())
        .then(() => this.onSignal(from, frame.data))
        .catch((e) => this.showError(`Call: ${e?.message ?? e}`));
      this.signals.set(from, next);
    } else if (frame.op === 'left') {
      this.render();
    } else if (frame.op === 'ring') {
      // Only the caller is in the call while it rings.
      if (this.self !== null || this.joining) this.ringing = 'ringing';
      this.render();
    } else if (frame.op === 'ring_end' && this.ringing === 'ringing') {
      const reason = frame.reason;
      this.ringing = reason === 'declined' || reason === 'missed' ? reason : null;
      if (this.ringing !== null) this.leave();
      else this.render();
    }
  }

  onServerError({ code, message }) {
    if (code === 'call_full' || code === 'not_in_call' || (this.joining && code === 'muted')) {
      this.end(code === 'call_full' ? 'The call is full (6 people).' : message);
    }
  }

  setParticipants(list) {
    this.participants = list;
    if (this.self !== null) {
      const ids = new Set(list.map((p) => p.id));
      for (const id of [...this.peers.keys()]) if (!ids.has(id)) this.dropPeer(id);
      for (const p of list) {
        if (p.id === this.self) continue;
        const peer = this.peers.get(p.id);
        if (peer) peer.label.textContent = p.user;
        // The later joiner offers; the other waits for its offer.
        else if (idNumber(this.self) > idNumber(p.id)) this.offer(p).catch((e) => this.showError(`Call: ${e?.message ?? e}`));
      }
    }
    this.render();
  }

  // ------------------------------------------------------------ peers

  peerFor(id) {
    let peer = this.peers.get(id);
    if (peer) return peer;
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    const stream = new MediaStream();
    const who = this.participants.find((p) => p.id === id);
    const { tile, label } = this.addTile(id, who?.user ?? '', stream, false);
    peer = { pc, stream, tile, label, meter: null };
    this.peers.set(id, peer);
    pc.onicecandidate = (e) => {
      if (e.candidate) this.signal(id, { candidate: e.candidate.toJSON() });
    };
    pc.ontrack = (e) => {
      stream.addTrack(e.track);
      if (e.track.kind === 'audio' && this.audioContext) {
        peer.meter?.stop();
        peer.meter = new Meter(this.audioContext, stream);
      }
    };
    pc.onconnectionstatechange = () => {
      tile.dataset.state = pc.connectionState;
    };
    return peer;
  }

  // Our tracks on a connection's transceivers: microphone, and the screen
  // or else the camera.
  sendOurs(pc) {
    const audio = this.local?.getAudioTracks()[0] ?? null;
    const video = this.screen?.getVideoTracks()[0] ?? this.local?.getVideoTracks()[0] ?? null;
    for (const t of pc.getTransceivers()) {
      const kind = t.receiver.track?.kind;
      if (t.stopped || !kind) continue;
      t.direction = 'sendrecv';
      const track = kind === 'audio' ? (this.media.audio ? audio : null)
        : (this.media.video || this.media.screen ? video : null);
      t.sender.replaceTrack(track).catch(() => {}); // a closed connection: nothing to send
    }
  }

  async offer(p) {
    const { pc } = this.peerFor(p.id);
    pc.addTransceiver('audio', { direction: 'sendrecv' });
    pc.addTransceiver('video', { direction: 'sendrecv' });
    this.sendOurs(pc);
    await pc.setLocalDescription(await pc.createOffer());
    this.signal(p.id, { sdp: pc.localDescription.toJSON() });
  }

  async onSignal(from, data) {
    if (this.self === null || !data || typeof data !== 'object') return;
    if (data.sdp && data.sdp.type === 'offer') {
      const { pc } = this.peerFor(from);
      await pc.setRemoteDescription(data.sdp);
      this.sendOurs(pc);
      await pc.setLocalDescription(await pc.createAnswer());
      this.signal(from, { sdp: pc.localDescription.toJSON() });
    } else if (data.sdp && data.sdp.type === 'answer') {
      const peer = this.peers.get(from);
      if (peer) await peer.pc.setRemoteDescription(data.sdp);
    } else if (data.candidate) {
      const peer = this.peers.get(from);
      if (peer) await peer.pc.addIceCandidate(data.candidate);
    }
  }

  signal(to, data) {
    this.conn.sendFrame({ type: 'call', op: 'signal', to, data });
  }

  dropPeer(id) {
    const peer = this.peers.get(id);
    if (!peer) return;
    this.peers.delete(id);
    this.signals.delete(id);
    peer.pc.close();
    peer.meter?.stop();
    peer.tile.remove();
  }

  addTile(id, name, stream, self) {
    const tile = el('figure', { class: 'call-tile', 'data-testid': 'call-tile', 'data-id': id });
    const video = el('video', { autoplay: '', playsinline: '' });
    video.muted = self; // our own sound would echo
    video.srcObject = stream;
    const label = el('figcaption', {}, name);
    tile.append(video, label);
    if (self) this.grid.prepend(tile);
    else this.grid.append(tile);
    return { tile, label };
  }

  // ------------------------------------------------------------ media

  startMeters() {
    try {
      this.audioContext = new AudioContext();
    } catch {
      return; // no meters, the call works without
    }
    this.localMeter = new Meter(this.audioContext, this.local);
    this.meters = setInterval(() => this.updateMeters(), METER_MS);
  }

  updateMeters() {
    const levels = new Map([[this.self, this.media.audio ? this.localMeter?.level() ?? 0 : 0]]);
    for (const [id, peer] of this.peers) levels.set(id, peer.meter?.level() ?? 0);
    for (const li of this.list.children) {
      const level = levels.get(li.dataset.id) ?? 0;
      li.firstChild.firstChild.style.width = `${Math.min(100, Math.round(level * 400))}%`;
      li.dataset.speaking = String(level > SPEAKING_LEVEL);
    }
  }

  sendState() {
    this.conn.sendFrame({ type: 'call', op: 'state', ...this.media });
    for (const { pc } of this.peers.values()) this.sendOurs(pc);
    this.render();
  }

  toggleAudio() {
    this.media.audio = !this.media.audio;
    for (const t of this.local?.getAudioTracks() ?? []) t.enabled = this.media.audio;
    this.sendState();
  }

  async toggleVideo() {
    if (!this.media.video && !this.local?.getVideoTracks().length) {
      try {
        const cam = await navigator.mediaDevices.getUserMedia({ video: true });
        for (const t of cam.getVideoTracks()) this.local.addTrack(t);
      } catch (e) {
        this.showError(`The camera could not be started: ${e?.message ?? e}`);
        return;
      }
    }
    this.media.video = !this.media.video;
    for (const t of this.local?.getVideoTracks() ?? []) t.enabled = this.media.video;
    this.sendState();
  }

  async toggleScreen() {
    if (this.media.screen) {
      for (const t of this.screen?.getTracks() ?? []) t.stop();
      this.screen = null;
      this.media.screen = false;
      this.sendState();
      return;
    }
    try {
      this.screen = await navigator.mediaDevices.getDisplayMedia({ video: true });
    } catch (e) {
      if (e?.name !== 'NotAllowedError') this.showError(`The screen could not be shared: ${e?.message ?? e}`);
      return;
    }
    // The browser's own "stop sharing" ends it as our button does.
    this.screen.getVideoTracks()[0].addEventListener('ended', () => {
      if (this.media.screen) this.toggleScreen();
    });
    this.media.screen = true;
    this.sendState();
  }
}
