/**
 * An upstream that streams: every GET gets an open-ended body (no
 * Content-Length) that stays open, as server-sent events (`text/event-stream`)
 * or, with `ndjson`, as plain chunked transfer of JSON lines
 * (`application/x-ndjson`, a long-poll / watch stream); `push` sends a message
 * to every open stream; `cut` counts the streams that ended because the other
 * side (gatehouse) went away rather than by the upstream ending them.
 */
import http from 'node:http'
import { listenLocal, type LocalServer } from './local-server.js'

export interface StreamingUpstream extends LocalServer {
  /** Send `data: <text>` to every open stream. */
  push(text: string): void
  readonly open: number
  /** Streams closed from gatehouse's side. */
  readonly cut: number
}

export type StreamFormat = 'sse' | 'ndjson'

/** How a message `text` looks on the wire in each format. */
function frame(format: StreamFormat, text: string): string {
  return format === 'sse' ? `data: ${text}\n\n` : `${JSON.stringify({ data: text })}\n`
}

export async function startStreamingUpstream(opts: { format?: StreamFormat } = {}): Promise<StreamingUpstream> {
  const format = opts.format ?? 'sse'
  const streams = new Set<http.ServerResponse>()
  let cut = 0
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': format === 'sse' ? 'text/event-stream' : 'application/x-ndjson', 'cache-control': 'no-store' })
    res.write(format === 'sse' ? ': open\n\n' : '{"open":true}\n')
    streams.add(res)
    res.on('close', () => {
      if (streams.delete(res) && !res.writableEnded) cut++
    })
    req.resume()
  })
  const local = await listenLocal(server)
  return {
    ...local,
    push(text) {
      for (const res of streams) res.write(frame(format, text))
    },
    get open() {
      return streams.size
    },
    get cut() {
      return cut
    },
    async close() {
      for (const res of streams) res.end()
      await local.close()
    },
  }
}

/** A stream as the client reads it: `next(text)` waits for a message carrying `text`; `ended` resolves with how it ended. */
export interface ReadStream {
  next(text: string): Promise<void>
  readonly ended: Promise<'complete' | 'cut'>
}

export function readStream(body: ReadableStream<Uint8Array> | null, format: StreamFormat = 'sse'): ReadStream {
  if (body === null) throw new Error('no body')
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let seen = ''
  const waiters: Array<{ text: string; resolve: () => void; reject: (e: Error) => void }> = []
  const settle = (): void => {
    for (const w of [...waiters])
      if (seen.includes(`${frame(format, w.text).trimEnd()}\n`)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve()
      }
  }
  const ended = (async (): Promise<'complete' | 'cut'> => {
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) return 'complete'
        seen += decoder.decode(value, { stream: true })
        settle()
      }
    } catch {
      return 'cut'
    } finally {
      for (const w of waiters.splice(0)) w.reject(new Error(`the stream ended before "${w.text}"`))
    }
  })()
  return {
    ended,
    next: (text) =>
      new Promise<void>((resolve, reject) => {
        waiters.push({ text, resolve, reject })
        settle()
      }),
  }
}
