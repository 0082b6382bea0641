// A cometd-nodejs-server 1.2 Bayeux server on 127.0.0.1 for the interop tests.
//   node cometd-server.js [timeout-ms] [port]
// Any path. Commands on stdin (JSON lines):
//   {"cmd":"publish","channel":"/x","data":{...}}  → {"event":"published",...}
//   {"cmd":"expire"}   expire every session as the server's sweeper does → {"event":"expired",...}
//   {"cmd":"stop"}
// Events also include "session_removed" (with `timeout`: expired rather than disconnected)
// and the "exchange"/"violation" wire log of peer.js.
import cometd from "cometd-nodejs-server";
import { emit, listen, onCommands } from "./peer.js";

const timeout = Number(process.argv[2] || 5000);
const server = cometd.createCometDServer({ timeout });

const sessions = new Map();
server.addListener("sessionAdded", session => sessions.set(session.id, session));
server.addListener("sessionRemoved", (session, timedOut) => {
    sessions.delete(session.id);
    emit({ event: "session_removed", clientId: session.id, timeout: timedOut });
});

const http = listen(server.handle, Number(process.argv[3] || 0));

onCommands(async command => {
    switch (command.cmd) {
        case "publish": {
            const channel = server.createServerChannel(command.channel);
            await new Promise((resolve, reject) =>
                channel.publish(null, command.data, failure => (failure ? reject(failure) : resolve())));
            emit({ event: "published", channel: command.channel });
            break;
        }
        case "expire": {
            const ids = [...sessions.keys()];
            for (const session of sessions.values()) {
                // What the server's sweeper does to a session whose client stopped polling;
                // a held /meta/connect is then answered, as a lost connection would end it.
                server._removeServerSession(session, true);
                session._flush();
            }
            emit({ event: "expired", clientIds: ids });
            break;
        }
        case "stop":
            http.close();
            process.exit(0);
            break;
        default:
            emit({ event: "unknown_command", cmd: command.cmd });
    }
});
