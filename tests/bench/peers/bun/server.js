// What a developer picks for speed: Bun's built-in server (uWebSockets
// inside) with its pub/sub, one topic per room, so a message is framed once
// and queued to every subscriber by Bun itself. scripts/bench measures it
// beside Stateroom. Usage: bun server.js --port PORT
import { joinOf, onFrame, welcome, portArg } from '../common.js';

const PROTOCOL = 'stateroom.v1';
const rooms = new Map(); // id -> { seq }

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
			const { room: id, user } = ws.data;
			let room = rooms.get(id);
			if (!room) {
				room = { seq: 0 };
				rooms.set(id, room);
			}
			ws.data.state = room;
			ws.subscribe(id);
			ws.send(welcome(id, user, room));
		},
		message(ws, data) {
			if (typeof data !== 'string') return;
			const { reply, broadcast } = onFrame(data, ws.data.state, ws.data.user);
			ws.send(reply);
			if (broadcast) server.publish(ws.data.room, broadcast);
		},
	},
});
console.error(`bun: listening on ${server.port}`);
process.on('SIGTERM', () => process.exit(0));
