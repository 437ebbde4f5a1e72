// A plain Node `http` translating proxy for the bench's JSON case (our own code, no
// framework): the same job as bench/peers/naive_aiohttp.py.
//
//   node bench/peers/node_peer.js --port P --upstream http://127.0.0.1:N/<base> --key K
"use strict";
const http = require("http");

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].slice(2)] = process.argv[i + 1];
const upstream = new URL(args.upstream);
const expected = `Bearer ${args.key}`;
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const route = /^\/v1\/[^/]+\/chats\/([^/?]+)\/messages(?:\?.*)?$/;

function rename(m, chatId) {
  return {
    id: m.message_id,
    chat_id: chatId,
    text: m.message,
    media: [],
    direction: m.from_myself ? "outbound" : "inbound",
    sender: { id: String(m.from_id), name: null },
    sent_at: m.send_date,
    read: m.read_by.with_id !== "",
    type: "text",
  };
}

function answer(res, status, body) {
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

http.createServer((req, res) => {
  const match = route.exec(req.url);
  if (req.method !== "GET" || !match) return answer(res, 404, '{"title":"Not Found"}');
  if (req.headers.authorization !== expected) return answer(res, 401, '{"title":"Unauthorized"}');
  const chatId = decodeURIComponent(match[1]);
  const options = {
    agent, host: upstream.hostname, port: upstream.port,
    path: `${upstream.pathname}/messages/chat.json?with_id=${encodeURIComponent(chatId)}`,
    headers: { key: "bench", exchange: "bench", accept: "application/json" },
  };
  http.get(options, (up) => {
    const chunks = [];
    up.on("data", (c) => chunks.push(c));
    up.on("end", () => {
      const page = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      const data = page.messages.map((m) => rename(m, chatId));
      answer(res, 200, JSON.stringify({ data, next_cursor: page.next_page ?? null }));
    });
  }).on("error", () => answer(res, 502, '{"title":"Bad Gateway"}'));
}).listen(Number(args.port), "127.0.0.1");
