// Shared plumbing for the Bayeux server peers: JSON lines on stdout (events), JSON lines on
// stdin (commands), a wire log of every HTTP exchange, and a check that a client never has two
// /meta/connect requests outstanding. Used by tests/integration/interop.rs.
import http from "node:http";
import readline from "node:readline";

/** A peer never outlives this, even if its parent forgets it. */
export const MAX_LIFETIME_MS = 180_000;

/** Print one event as a JSON line. */
export function emit(event) {
    process.stdout.write(JSON.stringify(event) + "\n");
}

/**
 * Read commands (one JSON object a line) from stdin and hand them to `handle`; exit when stdin
 * closes (the parent test is gone) or after MAX_LIFETIME_MS.
 */
export function onCommands(handle) {
    const lines = readline.createInterface({ input: process.stdin });
    // Commands run one after the other; stdin closing waits for the last one.
    let pending = Promise.resolve();
    lines.on("line", line => {
        let command;
        try {
            command = JSON.parse(line);
        } catch (e) {
            emit({ event: "bad_command", line });
            return;
        }
        pending = pending.then(() => handle(command)).catch(e => {
            emit({ event: "command_failed", cmd: command.cmd, error: String(e) });
        });
    });
    lines.on("close", () => pending.finally(() => process.exit(0)));
    setTimeout(() => {
        emit({ event: "lifetime_exceeded" });
        process.exit(3);
    }, MAX_LIFETIME_MS);
}

/** Client ids seen on the wire (the server's own in-process clients never show up here). */
export const wireClients = new Set();

const outstandingConnects = new Map();

/**
 * An HTTP server on 127.0.0.1 (free port) that logs every exchange as an `exchange` event,
 * reports a second concurrent /meta/connect of one client as a `violation`, and passes each
 * request to `handle`. Prints `{"event":"listening","port":N}` once bound to `port` (0: any free
 * port), `{"event":"fatal",…}` and exits when it cannot bind.
 */
export function listen(handle, port = 0) {
    const server = http.createServer((request, response) => {
        const chunks = [];
        request.on("data", chunk => chunks.push(chunk));
        let messages = [];
        let connectOf = null;
        request.on("end", () => {
            try {
                const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
                messages = Array.isArray(body) ? body : [body];
            } catch (e) {
                messages = [];
            }
            for (const m of messages) {
                if (m && typeof m.clientId === "string") {
                    wireClients.add(m.clientId);
                }
                if (m && m.channel === "/meta/connect") {
                    connectOf = m.clientId;
                    const n = (outstandingConnects.get(connectOf) || 0) + 1;
                    outstandingConnects.set(connectOf, n);
                    if (n > 1) {
                        emit({ event: "violation", what: "concurrent /meta/connect", clientId: connectOf });
                    }
                }
            }
        });
        const end = response.end;
        let sent = "";
        response.end = function (chunk, ...rest) {
            if (chunk) {
                sent = chunk.toString();
            }
            return end.call(this, chunk, ...rest);
        };
        response.on("close", () => {
            if (connectOf !== null) {
                outstandingConnects.set(connectOf, outstandingConnects.get(connectOf) - 1);
            }
            let reply = sent;
            try {
                reply = JSON.parse(sent);
            } catch (e) {
                // Not JSON: keep the text.
            }
            emit({
                event: "exchange",
                method: request.method,
                path: request.url,
                cookie: request.headers.cookie || null,
                status: response.statusCode,
                request: messages,
                response: reply,
            });
        });
        handle(request, response);
    });
    server.on("error", e => {
        emit({ event: "fatal", what: "listen", error: String(e) });
        process.exit(2);
    });
    server.listen(port, "127.0.0.1", () => {
        emit({ event: "listening", port: server.address().port });
    });
    return server;
}
