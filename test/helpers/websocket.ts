/** WebSocket clients and an echo upstream for the tests that watch open connections. */
import http from 'node:http'
import { WebSocket, WebSocketServer } from 'ws'
import { listenLocal, type LocalServer } from './local-server.js'

export interface OpenSocket {
  readonly ws: WebSocket
  /** Resolves when the socket closes, with the code and reason gatehouse (or the upstream) sent. */
  readonly closed: Promise<{ code: number; reason: string }>
  /** Send a message and wait for the echo. */
  echo(text: string): Promise<string>
}

export type Connected = { readonly open: OpenSocket } | { readonly status: number }

/** Connect to `url` (http:// is turned into ws://) with a cookie (and other headers); every hostname resolves to 127.0.0.1. */
export function connectWebSocket(url: string, cookie?: string, headers: Record<string, string> = {}): Promise<Connected> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), {
      headers: cookie === undefined ? headers : { ...headers, cookie },
      lookup: (_h: string, o: { all?: boolean }, cb: (e: null, a: unknown, f?: number) => void) =>
        o.all === true ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4),
    } as never)
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })))
    ws.on('open', () =>
      resolve({
        open: {
          ws,
          closed,
          echo: (text) =>
            new Promise((r, reject) => {
              ws.once('message', (m) => r(m.toString()))
              ws.send(text, (err) => (err === undefined || err === null ? undefined : reject(err)))
            }),
        },
      }),
    )
    ws.on('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }))
    ws.on('error', () => resolve({ status: -1 }))
  })
}

export function mustOpen(c: Connected): OpenSocket {
  if (!('open' in c)) throw new Error(`the WebSocket upgrade was refused: ${c.status}`)
  return c.open
}

/** An upstream that echoes every message back, prefixed with `echo:`, and counts the close frames it received. */
export async function startEchoUpstream(): Promise<LocalServer & { readonly closeCodes: number[] }> {
  const server = http.createServer((_req, res) => res.end('plain'))
  const wss = new WebSocketServer({ server })
  const closeCodes: number[] = []
  wss.on('connection', (ws) => {
    ws.on('message', (m) => ws.send(`echo:${m.toString()}`))
    ws.on('close', (code) => closeCodes.push(code))
  })
  const local = await listenLocal(server)
  return {
    ...local,
    closeCodes,
    async close() {
      for (const c of wss.clients) c.terminate()
      wss.close()
      await local.close()
    },
  }
}
