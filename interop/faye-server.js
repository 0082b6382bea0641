// A faye 1.4 Bayeux server on 127.0.0.1 for the interop tests.
//   node faye-server.js [timeout-seconds] [port]
// Mount point /bayeux. Commands on stdin (JSON lines):
//   {"cmd":"publish","channel":"/x","data":{...}}  → {"event":"published",...}
//   {"cmd":"expire"}   destroy every client session seen on the wire → {"event":"expired",...}
//   {"cmd":"stop"}
// Events also include "session_removed" (faye's disconnect event, explicit or not) and the
// "exchange"/"violation" wire log of peer.js.
import faye from "faye";
import { emit, listen, onCommands, wireClients } from "./peer.js";

const timeout = Number(process.argv[2] || 5);
const bayeux = new faye.NodeAdapter({ mount: "/bayeux", timeout });

let expiring = new Set();
bayeux.on("disconnect", clientId => {
    if (wireClients.has(clientId)) {
        emit({ event: "session_removed", clientId, timeout: expiring.has(clientId) });
    }
});

const server = listen((request, response) => {
    if (bayeux.check(request)) {
        bayeux.handle(request, response);
    } else {
        response.statusCode = 404;
        response.end();
    }
}, Number(process.argv[3] || 0));

onCommands(async command => {
    switch (command.cmd) {
        case "publish":
            await bayeux.getClient().publish(command.channel, command.data);
            emit({ event: "published", channel: command.channel });
            break;
        case "expire": {
            // What faye's own garbage collector does to a client that stopped polling.
            const engine = bayeux._server._engine;
            const ids = [...wireClients];
            expiring = new Set(ids);
            for (const id of ids) {
                engine.destroyClient(id);
            }
            emit({ event: "expired", clientIds: ids });
            break;
        }
        case "stop":
            bayeux.close();
            server.close();
            process.exit(0);
            break;
        default:
            emit({ event: "unknown_command", cmd: command.cmd });
    }
});
