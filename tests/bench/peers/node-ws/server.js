// The seed's stack, as a developer would write a room server with it: Node
// and the npm `ws` package, one Set of sockets per room, each message
// serialised once and sent to every member. scripts/bench measures it beside
// Stateroom. Usage: node server.js --port PORT
import { WebSocketServer } from 'ws';
import { joinOf, onFrame, welcome, portArg } from '../common.js';

const PROTOCOL = 'stateroom.v1';
const rooms = new Map(); // id -> { seq, members: Set<WebSocket> }

const wss = new WebSocketServer({
	host: '127.0.0.1',
	port: portArg(),
	perMessageDeflate: false,
	maxPayload: 64 * 1024,
	handleProtocols: (protocols) => (protocols.has(PROTOCOL) ? PROTOCOL : false),
	verifyClient: (info) => joinOf(info.req.url) !== null,
});

wss.on('connection', (ws, req) => {
	const { room: id, user } = joinOf(req.url);
	let room = rooms.get(id);
	if (!room) {
		room = { seq: 0, members: new Set() };
		rooms.set(id, room);
	}
	room.members.add(ws);
	ws.send(welcome(id, user, room));
	ws.on('message', (data, isBinary) => {
		if (isBinary) return;
		const { reply, broadcast } = onFrame(data.toString(), room, user);
		ws.send(reply);
		if (broadcast) for (const m of room.members) m.send(broadcast);
	});
	ws.on('close', () => room.members.delete(ws));
	ws.on('error', () => {});
});
wss.on('listening', () => console.error(`node-ws: listening on ${wss.address().port}`));
process.on('SIGTERM', () => process.exit(0));
