import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hubFetch, hubResponseError } from "../../src/agent/hubHttp.js";
import { parseAnnouncedGrants } from "../../src/agent/sensorAnnounce.js";

// hubFetch is node:http, not fetch (docs/benchmarks.md, "Agent footprint"): these pin what callers relied on from fetch.
describe("hubFetch over node:http", () => {
  let server: Server;
  let base = "";
  const seen: { method: string; url: string; headers: Record<string, unknown>; body: string }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
        if (req.url === "/redirect") {
          res.writeHead(302, { location: "/elsewhere" }).end();
        } else if (req.url === "/slow") {
          setTimeout(() => res.end("late"), 2000);
        } else if (req.url === "/error") {
          res.writeHead(409, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "HUB_NODE_REPLAY", message: "seen that nonce", hint: "retry" } }));
        } else if (req.url === "/bytes") {
          res.writeHead(200, { etag: '"e1"', "set-cookie": ["a=1", "b=2"] }).end(Buffer.from([0, 1, 2, 255]));
        } else {
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ echo: Buffer.concat(chunks).toString("utf8") }));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const addr = server.address();
    base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("sends method, headers and body as given, and reads status, headers and the whole body", async () => {
    const res = await hubFetch(`${base}/post?x=1`, { method: "POST", headers: { "x-palisade": "yes", "content-type": "application/json" }, body: '{"a":"ü"}' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ echo: '{"a":"ü"}' });
    const got = seen.at(-1)!;
    expect(got).toMatchObject({ method: "POST", url: "/post?x=1", body: '{"a":"ü"}' });
    expect(got.headers["x-palisade"]).toBe("yes");
    expect(got.headers["content-length"]).toBe(String(Buffer.byteLength('{"a":"ü"}')));

    const bytes = await hubFetch(`${base}/bytes`, { body: new Uint8Array([9, 8, 7]).subarray(1) });
    expect(bytes.headers.get("ETag")).toBe('"e1"');
    expect(bytes.headers.get("set-cookie")).toBe("a=1, b=2");
    expect(bytes.headers.get("x-absent")).toBeNull();
    expect([...new Uint8Array(await bytes.arrayBuffer())]).toEqual([0, 1, 2, 255]);
    expect(seen.at(-1)!.body).toBe("\u0008\u0007");
  });

  it("does not follow redirects: a 3xx is an answer the caller refuses", async () => {
    const res = await hubFetch(`${base}/redirect`);
    expect(res.status).toBe(302);
    expect(seen.at(-1)!.url).toBe("/redirect");
  });

  it("keeps the hub's error code, message and hint", async () => {
    const err = await hubResponseError(await hubFetch(`${base}/error`), "status delivery");
    expect(err).toMatchObject({ code: "HUB_NODE_REPLAY", message: "status delivery: seen that nonce", hint: "retry", details: { status: 409 } });
  });

  it("no answer is HUB_UNREACHABLE: refused connection, timeout, a non-URL", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const addr = closed.address();
    await new Promise<void>((r) => closed.close(() => r()));
    await expect(hubFetch(`http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 1}/`)).rejects.toMatchObject({ code: "HUB_UNREACHABLE", message: expect.stringMatching(/ECONNREFUSED/) });
    await expect(hubFetch(`${base}/slow`, { timeoutMs: 200 })).rejects.toMatchObject({ code: "HUB_UNREACHABLE", message: expect.stringMatching(/timed out/) });
    await expect(hubFetch("not a url")).rejects.toMatchObject({ code: "HUB_UNREACHABLE" });
    await expect(hubFetch("ftp://127.0.0.1/")).rejects.toMatchObject({ code: "HUB_UNREACHABLE" });
  });
});

describe("announced implicit grants", () => {
  it("accepts well-formed grants and refuses anything else as a whole", () => {
    const ok = [
      { path: "/proc", write: false, recursive: true },
      { path: "/dev/null", write: true, recursive: false, extra: 1 },
    ];
    expect(parseAnnouncedGrants(ok)).toEqual([
      { path: "/proc", write: false, recursive: true },
      { path: "/dev/null", write: true, recursive: false },
    ]);
    expect(parseAnnouncedGrants(undefined)).toBeUndefined();
    expect(parseAnnouncedGrants({})).toBeUndefined();
    expect(parseAnnouncedGrants([{ path: "relative", write: false, recursive: false }])).toBeUndefined();
    expect(parseAnnouncedGrants([{ path: "/x", write: "yes", recursive: false }])).toBeUndefined();
    expect(parseAnnouncedGrants([null])).toBeUndefined();
    expect(parseAnnouncedGrants(Array.from({ length: 5000 }, () => ok[0]))).toBeUndefined();
  });
});
