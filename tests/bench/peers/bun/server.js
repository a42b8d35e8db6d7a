// What a developer picks for speed: Bun's built-in server (uWebSockets
// inside) with its pub/sub, one topic per room, so a frame is built once
// and queued to every subscriber by Bun itself. It does for each room what
// our session server does for an ephemeral one (../common.js: welcome with
// the members, presence, ack and message with the room's seq, the ring).
// scripts/bench measures it beside Stateroom. Usage: bun server.js --port PORT
import { PROTOCOL, Room, joinOf, portArg } from '../common.js';

const rooms = new Map(); // id -> Room

const server = Bun.serve({
	hostname: '127.0.0.1',
	port: portArg(),
	fetch(req, srv) {
		const join = joinOf(req.url);
		const asked = (req.headers.get('sec-websocket-protocol') ?? '').split(',').map((s) => s.trim());
		if (!join || !asked.includes(PROTOCOL)) return new Response('bad request', { status: 400 });
		if (srv.upgrade(req, { data: join, headers: { 'Sec-WebSocket-Protocol': PROTOCOL } })) return undefined;
		return new Response('upgrade failed', { status: 400 });
	},
	websocket: {
		perMessageDeflate: false,
		maxPayloadLength: 64 * 1024,
		open(ws) {
			const who = ws.data;
			let room = rooms.get(who.room);
			if (!room) {
				room = new Room(who.room);
				rooms.set(who.room, room);
			}
			who.state = room;
			const { welcome, presence } = room.join(who);
			ws.send(welcome);
			// Before subscribing: the joiner's own connections are not told.
			if (presence) server.publish(who.room, presence);
			ws.subscribe(who.room);
		},
		message(ws, data) {
			if (typeof data !== 'string') return;
			const { reply, broadcast } = ws.data.state.onFrame(data, ws.data);
			ws.send(reply);
			if (broadcast) server.publish(ws.data.room, broadcast);
		},
		close(ws) {
			// Bun has unsubscribed ws already.
			const left = ws.data.state?.leave(ws.data);
			if (left) server.publish(ws.data.room, left);
		},
	},
});
console.error(`bun: listening on ${server.port}`);
process.on('SIGTERM', () => process.exit(0));
