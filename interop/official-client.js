// The official CometD JavaScript client (cometd 9 + cometd-nodejs-client) logging in to a GWS
// API (our simulator) as an agent, for the interop tests.
//   node official-client.js <api-url> <username>   (the password is read from GWS_PASSWORD)
// 1. GET {api}/me with Basic auth → session cookie and CSRF pair (Node's fetch).
// 2. CometD handshake on {api}/notifications with the Basic and CSRF headers and the cookie,
//    subscribe to /v2/me/interactions and /v2/me/channels.
// 3. StartContactCenterSession and Ready, then print every message as
//    {"event":"message","channel":…,"data":…}.
// Commands on stdin: {"cmd":"stop"} → disconnect, EndContactCenterSession, exit.
import { adapt } from "cometd-nodejs-client";
import { CometD } from "cometd";
import { emit, onCommands } from "./peer.js";

const [api, username] = process.argv.slice(2);
const password = process.env.GWS_PASSWORD || "";
const TOPICS = ["/v2/me/interactions", "/v2/me/channels"];
const REQUEST_TIMEOUT_MS = 10_000;

function fail(what, error) {
    emit({ event: "fatal", what, error: String(error) });
    process.exit(2);
}

const headers = {
    Authorization: "Basic " + Buffer.from(`${username}:${password}`).toString("base64"),
};

async function rest(method, path, body) {
    const response = await fetch(api + path, {
        method,
        headers: body ? { ...headers, "Content-Type": "application/json" } : headers,
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await response.text();
    if (!response.ok) {
        throw new Error(`${method} ${path}: HTTP ${response.status} ${text}`);
    }
    return { response, body: text ? JSON.parse(text) : null };
}

// 1. Log in: the session cookie and the CSRF pair.
let me;
try {
    me = await rest("GET", "/me");
} catch (e) {
    fail("GET /me", e);
}
const cookies = me.response.headers.getSetCookie().map(c => c.split(";")[0]);
headers.Cookie = cookies.join("; ");
const csrfName = me.response.headers.get("x-csrf-header");
const csrfToken = me.response.headers.get("x-csrf-token");
if (csrfName && csrfToken) {
    headers[csrfName] = csrfToken;
}
emit({ event: "logged_in", user: me.body.user.id, cookies: cookies.map(c => c.split("=")[0]), csrfHeader: csrfName });

// 2. CometD: subscribe on every successful handshake (below).
adapt();
const cometd = new CometD();
cometd.configure({
    url: api + "/notifications",
    requestHeaders: headers,
    logLevel: "warn",
    maxNetworkDelay: REQUEST_TIMEOUT_MS,
    // GWS serves CometD at exactly {api}/notifications; without this the client would post to
    // {api}/notifications/handshake, /connect, … (see the README's interop paragraph).
    appendMessageTypeToURL: false,
});
// GWS 8.5 offers long-polling only: no WebSocket attempt (it would go out without the Basic
// and CSRF headers, which `requestHeaders` only adds to HTTP requests).
cometd.unregisterTransport("websocket");
cometd.unregisterTransport("callback-polling");
for (const meta of ["/meta/handshake", "/meta/connect", "/meta/subscribe", "/meta/disconnect", "/meta/unsuccessful"]) {
    cometd.addListener(meta, m => emit({
        event: "meta",
        channel: m.channel,
        successful: m.successful,
        subscription: m.subscription,
        error: m.error,
        advice: m.advice,
    }));
}

function subscribe(topic) {
    return new Promise((resolve, reject) => {
        cometd.subscribe(topic, m => emit({ event: "message", channel: m.channel, data: m.data }), reply => {
            if (reply.successful) {
                resolve();
            } else {
                reject(new Error(`subscribe ${topic}: ${reply.error}`));
            }
        });
    });
}

// As the CometD documentation recommends, subscribe on every successful handshake: a
// re-handshake (the server forgot the session) drops the client's subscriptions.
let firstSubscribed;
const subscribed = new Promise((resolve, reject) => (firstSubscribed = { resolve, reject }));
let handshakes = 0;
cometd.addListener("/meta/handshake", reply => {
    if (!reply.successful) {
        return;
    }
    handshakes += 1;
    const n = handshakes;
    emit({ event: "handshaken", clientId: reply.clientId, n });
    cometd.batch(() => {
        Promise.all(TOPICS.map(subscribe)).then(() => {
            emit({ event: "subscribed", topics: TOPICS, n });
            firstSubscribed.resolve();
        }, e => {
            emit({ event: "subscribe_failed", error: String(e), n });
            firstSubscribed.reject(e);
        });
    });
});

try {
    await new Promise((resolve, reject) => {
        cometd.handshake(reply => (reply.successful ? resolve() : reject(
            new Error(`handshake: ${reply.error || JSON.stringify(reply.failure)}`))));
    });
    await subscribed;
    // 3. Become available for chats.
    const start = await rest("POST", "/me", { operationName: "StartContactCenterSession", channels: ["chat"] });
    const ready = await rest("POST", "/me/channels/chat", { operationName: "Ready" });
    emit({ event: "ready", start: start.body, ready: ready.body });
} catch (e) {
    fail("set-up", e);
}

onCommands(async command => {
    if (command.cmd !== "stop") {
        emit({ event: "unknown_command", cmd: command.cmd });
        return;
    }
    await new Promise(resolve => cometd.disconnect(reply => {
        emit({ event: "disconnected", successful: reply.successful });
        resolve();
    }));
    const end = await rest("POST", "/me", { operationName: "EndContactCenterSession" });
    emit({ event: "ended", reply: end.body });
    process.exit(0);
});
