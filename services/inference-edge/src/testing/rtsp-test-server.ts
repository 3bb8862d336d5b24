import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';

/**
 * A small RTSP server for tests (RFC 2326, TCP-interleaved RTP only) — the part of a media server
 * such as mediamtx that pull-mode cameras need, because none can be installed here. It is a relay:
 *
 * - a **publisher** (a camera, or `ffmpeg -re … -f rtsp -rtsp_transport tcp rtsp://…/cam`, see
 *   `publishTestPattern`) does ANNOUNCE (its SDP), SETUP (`RTP/AVP/TCP;interleaved=…;mode=record`)
 *   and RECORD, then sends RTP/RTCP packets interleaved on its connection (`$`, channel, length);
 * - **readers** (the edge's ffmpeg with `-rtsp_transport tcp`) do DESCRIBE (they get the
 *   publisher's SDP), SETUP per track and PLAY, and receive the same packets on their own
 *   interleaved channels from then on.
 *
 * The packets are relayed untouched, so what a reader decodes is exactly what the publisher
 * encoded (RTP/JPEG, RFC 2435, when it publishes MJPEG: every frame a key frame, so a reader that
 * joins mid-stream decodes from its first whole frame). UDP transports are refused with 461.
 * OPTIONS, GET_PARAMETER/SET_PARAMETER (keep-alives) and TEARDOWN are answered.
 */

interface Track {
  /** `a=control:` of the media section (e.g. `streamid=0`). */
  control: string;
  /** The publisher's interleaved RTP channel for this track (RTCP is the next one). */
  publisherChannel?: number;
}

interface Stream {
  path: string;
  sdp: string;
  tracks: Track[];
  publisher: Conn | undefined;
  readers: Set<Conn>;
}

interface Reply {
  status: string;
  headers?: Record<string, string>;
  content?: { type: string; body: string };
  /** End the connection after the reply. */
  close?: boolean;
}

interface Conn {
  socket: net.Socket;
  session: string;
  role: 'none' | 'publisher' | 'reader';
  stream?: Stream;
  /** Reader: track index → its interleaved RTP channel. */
  channels: Map<number, number>;
  playing: boolean;
}

export interface RtspTestServerStats {
  connections: number;
  announces: number;
  plays: number;
  /** Interleaved packets received from publishers / sent to readers. */
  packetsIn: number;
  packetsOut: number;
  /** Packets not sent to a reader whose socket was backed up (a live stream drops, never queues). */
  packetsDropped: number;
}

/** A reader this far behind loses packets instead of buffering them without bound. */
const MAX_BACKLOG_BYTES = 4 * 1024 * 1024;

export class RtspTestServer {
  readonly stats: RtspTestServerStats = {
    connections: 0,
    announces: 0,
    plays: 0,
    packetsIn: 0,
    packetsOut: 0,
    packetsDropped: 0,
  };
  readonly #server: net.Server;
  readonly #streams = new Map<string, Stream>();
  readonly #conns = new Set<Conn>();
  #port = 0;

  private constructor() {
    this.#server = net.createServer((socket) => this.#accept(socket));
  }

  static async start(): Promise<RtspTestServer> {
    const s = new RtspTestServer();
    await new Promise<void>((resolve, reject) => {
      s.#server.once('error', reject);
      s.#server.listen(0, '127.0.0.1', () => resolve());
    });
    s.#port = (s.#server.address() as net.AddressInfo).port;
    return s;
  }

  get port(): number {
    return this.#port;
  }

  /** `rtsp://127.0.0.1:<port>/<path>` */
  url(path: string): string {
    return `rtsp://127.0.0.1:${this.#port}/${path.replace(/^\/+/, '')}`;
  }

  /** Whether a publisher is recording on `path`, and how many readers play it. */
  streamState(path: string): { publishing: boolean; readers: number } {
    const s = this.#streams.get(normalise(path));
    return { publishing: !!s?.publisher, readers: s ? [...s.readers].filter((r) => r.playing).length : 0 };
  }

  /** Resolves once a publisher records on `path`. */
  async waitForPublisher(path: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.streamState(path).publishing) {
      if (Date.now() > deadline) throw new Error(`no publisher on ${this.url(path)} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Ends every connection of `path` (publisher and readers): the stream "goes away". */
  dropStream(path: string): void {
    const s = this.#streams.get(normalise(path));
    if (!s) return;
    s.publisher?.socket.destroy();
    for (const r of s.readers) r.socket.destroy();
  }

  async close(): Promise<void> {
    for (const c of this.#conns) c.socket.destroy();
    await new Promise((r) => this.#server.close(r));
  }

  #accept(socket: net.Socket): void {
    this.stats.connections++;
    socket.setNoDelay(true);
    const conn: Conn = {
      socket,
      session: randomBytes(6).toString('hex'),
      role: 'none',
      channels: new Map(),
      playing: false,
    };
    this.#conns.add(conn);
    let buf: Buffer = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      for (;;) {
        if (buf.length === 0) return;
        if (buf[0] === 0x24) {
          // Interleaved binary data: '$', channel, 16-bit length, payload.
          if (buf.length < 4) return;
          const len = buf.readUInt16BE(2);
          if (buf.length < 4 + len) return;
          const frame = buf.subarray(0, 4 + len);
          buf = buf.subarray(4 + len);
          this.#onInterleaved(conn, frame);
          continue;
        }
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (buf.length > 64 * 1024) socket.destroy(); // not RTSP
          return;
        }
        const head = buf.subarray(0, end).toString('latin1');
        const headers = parseHeaders(head);
        const length = Number(headers.get('content-length') ?? 0);
        if (buf.length < end + 4 + length) return;
        const body = buf.subarray(end + 4, end + 4 + length).toString('utf8');
        buf = buf.subarray(end + 4 + length);
        this.#onRequest(conn, head.split('\r\n')[0] ?? '', headers, body);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => this.#drop(conn));
  }

  #drop(conn: Conn): void {
    this.#conns.delete(conn);
    const s = conn.stream;
    if (!s) return;
    s.readers.delete(conn);
    if (s.publisher === conn) {
      s.publisher = undefined;
      // The camera is gone: so is its stream; readers see the end and reconnect.
      for (const r of s.readers) r.socket.end();
      this.#streams.delete(s.path);
    }
  }

  #onInterleaved(conn: Conn, frame: Buffer): void {
    const s = conn.stream;
    if (conn.role !== 'publisher' || !s) return; // readers' RTCP receiver reports: nothing to do
    this.stats.packetsIn++;
    const channel = frame[1]!;
    const track = s.tracks.findIndex(
      (t) =>
        t.publisherChannel !== undefined &&
        (channel === t.publisherChannel || channel === t.publisherChannel + 1),
    );
    if (track < 0) return;
    const rtcp = channel !== s.tracks[track]!.publisherChannel;
    for (const r of s.readers) {
      const base = r.channels.get(track);
      if (!r.playing || base === undefined) continue;
      if (r.socket.writableLength > MAX_BACKLOG_BYTES) {
        this.stats.packetsDropped++;
        continue;
      }
      const out = Buffer.from(frame);
      out[1] = base + (rtcp ? 1 : 0);
      r.socket.write(out);
      this.stats.packetsOut++;
    }
  }

  #onRequest(conn: Conn, line: string, headers: Map<string, string>, body: string): void {
    const r = this.#answer(conn, line, headers, body);
    const h = [
      `RTSP/1.0 ${r.status}`,
      `CSeq: ${headers.get('cseq') ?? '0'}`,
      'Server: storevision-rtsp-test-server',
    ];
    for (const [k, v] of Object.entries(r.headers ?? {})) h.push(`${k}: ${v}`);
    if (r.content)
      h.push(`Content-Type: ${r.content.type}`, `Content-Length: ${Buffer.byteLength(r.content.body)}`);
    conn.socket.write(`${h.join('\r\n')}\r\n\r\n${r.content?.body ?? ''}`);
    if (r.close) conn.socket.end();
  }

  #answer(conn: Conn, line: string, headers: Map<string, string>, body: string): Reply {
    const [method = '', url = ''] = line.split(' ');
    const reply = (
      status: string,
      extra: Record<string, string> = {},
      content?: { type: string; body: string },
    ): Reply => ({ status, headers: extra, ...(content ? { content } : {}) });
    const session = { Session: `${conn.session};timeout=60` };
    let path: string;
    try {
      path = normalise(new URL(url).pathname);
    } catch {
      if (method === 'OPTIONS' && url === '*') path = '';
      else return reply('400 Bad Request');
    }
    switch (method) {
      case 'OPTIONS':
        return reply('200 OK', {
          Public:
            'OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, RECORD, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER',
        });
      case 'ANNOUNCE': {
        const old = this.#streams.get(path);
        if (old?.publisher && old.publisher !== conn) return reply('455 Method Not Valid In This State');
        const stream: Stream = {
          path,
          sdp: body,
          tracks: controls(body).map((control) => ({ control })),
          publisher: undefined,
          readers: old?.readers ?? new Set(),
        };
        if (!stream.tracks.length) return reply('415 Unsupported Media Type');
        this.#streams.set(path, stream);
        conn.stream = stream;
        conn.role = 'publisher';
        this.stats.announces++;
        return reply('200 OK', session);
      }
      case 'DESCRIBE': {
        const s = this.#streams.get(path);
        if (!s?.publisher) return reply('404 Stream Not Found');
        return reply(
          '200 OK',
          { 'Content-Base': `${url.replace(/\/+$/, '')}/` },
          { type: 'application/sdp', body: s.sdp },
        );
      }
      case 'SETUP': {
        const transport = headers.get('transport') ?? '';
        const interleaved = /interleaved=(\d+)(?:-(\d+))?/.exec(transport);
        if (!/RTP\/AVP\/TCP/i.test(transport) || !interleaved) return reply('461 Unsupported Transport');
        // The track's URL is the stream's plus its control (`…/cam/streamid=0`).
        const found = this.#track(path, conn);
        if (!found) return reply('404 Stream Not Found');
        const { stream, index } = found;
        const channel = Number(interleaved[1]);
        const record = /mode="?record"?/i.test(transport);
        if (record) {
          if (conn.role !== 'publisher' || conn.stream !== stream)
            return reply('455 Method Not Valid In This State');
          stream.tracks[index]!.publisherChannel = channel;
        } else {
          conn.role = 'reader';
          conn.stream = stream;
          conn.channels.set(index, channel);
          stream.readers.add(conn);
        }
        return reply('200 OK', {
          ...session,
          Transport: `RTP/AVP/TCP;unicast;interleaved=${channel}-${channel + 1}${record ? ';mode=record' : ''}`,
        });
      }
      case 'RECORD': {
        const s = conn.stream;
        if (conn.role !== 'publisher' || !s || !s.tracks.some((t) => t.publisherChannel !== undefined))
          return reply('455 Method Not Valid In This State');
        s.publisher = conn;
        return reply('200 OK', session);
      }
      case 'PLAY': {
        if (conn.role !== 'reader' || !conn.stream?.publisher)
          return reply('455 Method Not Valid In This State');
        conn.playing = true;
        this.stats.plays++;
        return reply('200 OK', { ...session, Range: 'npt=0.000-' });
      }
      case 'PAUSE':
        conn.playing = false;
        return reply('200 OK', session);
      case 'GET_PARAMETER':
      case 'SET_PARAMETER':
        return reply('200 OK', session);
      case 'TEARDOWN':
        return { ...reply('200 OK', session), close: true };
      default:
        return reply('501 Not Implemented');
    }
  }

  /** The stream and track a SETUP URL path names: `<stream path>/<track control>`. */
  #track(path: string, conn: Conn): { stream: Stream; index: number } | undefined {
    const candidates = conn.stream ? [conn.stream] : [...this.#streams.values()];
    for (const stream of candidates) {
      for (const [index, t] of stream.tracks.entries()) {
        if (path === normalise(`${stream.path}/${t.control}`)) return { stream, index };
        // An absolute control URL
        try {
          if (path === normalise(new URL(t.control).pathname)) return { stream, index };
        } catch {
          // relative control: checked above
        }
      }
      // A single-track stream set up on its own URL.
      if (path === stream.path && stream.tracks.length === 1) return { stream, index: 0 };
    }
    return undefined;
  }
}

function normalise(p: string): string {
  return `/${p.replace(/^\/+|\/+$/g, '')}`;
}

function parseHeaders(head: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of head.split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) out.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return out;
}

/** The `a=control:` of each media section of an SDP (`trackN` when a section has none). */
function controls(sdp: string): string[] {
  const out: string[] = [];
  let inMedia = false;
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) {
      inMedia = true;
      out.push(`track${out.length}`);
    } else if (inMedia && line.startsWith('a=control:'))
      out[out.length - 1] = line.slice('a=control:'.length).trim();
  }
  return out;
}

/**
 * A camera publishing to `url`: Debian's ffmpeg encoding a moving test pattern (`testsrc2`) as
 * MJPEG at `fps`, in real time (`-re`), over RTSP with TCP-interleaved RTP. Stop it with `stop()`.
 */
export function publishTestPattern(
  url: string,
  o: { width?: number; height?: number; fps?: number; ffmpeg?: string } = {},
): { child: ChildProcess; stderr: () => string; stop(): Promise<void> } {
  const { width = 640, height = 360, fps = 10 } = o;
  const child = spawn(
    o.ffmpeg ?? 'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-nostdin',
      '-re',
      '-f',
      'lavfi',
      '-i',
      `testsrc2=size=${width}x${height}:rate=${fps}`,
      '-c:v',
      'mjpeg',
      '-pix_fmt',
      'yuvj420p',
      // RTP/JPEG (RFC 2435) carries no Huffman tables: the encoder must use the standard ones.
      // (Readers' ffmpeg then warns "Invalid qtable length 64" — the encoder sends one table for
      // luma and chroma — and decodes the frames all the same.)
      '-huffman',
      'default',
      '-q:v',
      '5',
      '-f',
      'rtsp',
      '-rtsp_transport',
      'tcp',
      url,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  return {
    child,
    stderr: () => err,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(t);
    },
  };
}
