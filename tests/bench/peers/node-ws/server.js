// The seed's stack, as a developer would write a room server with it: Node
// and the npm `ws` package, one Set of sockets per room, each frame
// serialised once and sent to every member. It does for each room what our
// session server does for an ephemeral one (../common.js: welcome with the
// members, presence, ack and message with the room's seq, the ring).
// scripts/bench measures it beside Stateroom. Usage: node server.js --port PORT
import { WebSocketServer } from 'ws';
import { PROTOCOL, Room, joinOf, portArg } from '../common.js';

const rooms = new Map(); // id -> { room: Room, members: Set<WebSocket> }

const wss = new WebSocketServer({
	host: '127.0.0.1',
	port: portArg(),
	perMessageDeflate: false,
	maxPayload: 64 * 1024,
	handleProtocols: (protocols) => (protocols.has(PROTOCOL) ? PROTOCOL : false),
	verifyClient: (info) => joinOf(info.req.url) !== null,
});

wss.on('connection', (ws, req) => {
	const who = joinOf(req.url);
	let r = rooms.get(who.room);
	if (!r) {
		r = { room: new Room(who.room), members: new Set() };
		rooms.set(who.room, r);
	}
	const { welcome, presence } = r.room.join(who);
	ws.send(welcome);
	// Before adding ws: the joiner's own connections are not told.
	if (presence) for (const m of r.members) m.send(presence);
	r.members.add(ws);
	ws.on('message', (data, isBinary) => {
		if (isBinary) return;
		const { reply, broadcast } = r.room.onFrame(data.toString(), who);
		ws.send(reply);
		if (broadcast) for (const m of r.members) m.send(broadcast);
	});
	ws.on('close', () => {
		r.members.delete(ws);
		const left = r.room.leave(who);
		if (left) for (const m of r.members) m.send(left);
	});
	ws.on('error', () => {});
});
wss.on('listening', () => console.error(`node-ws: listening on ${wss.address().port}`));
process.on('SIGTERM', () => process.exit(0));
