/**
 * An upstream that records every request it receives, plain or upgrade, as it
 * received it (method, target, headers), answers plain requests with 200 and
 * accepts WebSocket upgrades (so a tunnel would really open). Tests compare
 * what reached it with what gatehouse's policy judged.
 */
import http from 'node:http'
import { WebSocketServer } from 'ws'
import { listenLocal } from './local-server.js'

export interface ReceivedRequest {
  readonly method: string
  /** Path and query as received. */
  readonly target: string
  readonly headers: http.IncomingHttpHeaders
  /** Arrived as an upgrade (Connection: Upgrade). */
  readonly upgrade: boolean
}

export interface RecordingUpstream {
  readonly url: string
  readonly received: ReceivedRequest[]
  close(): Promise<void>
}

export async function startRecordingUpstream(): Promise<RecordingUpstream> {
  const received: ReceivedRequest[] = []
  const server = http.createServer((req, res) => {
    received.push({ method: req.method ?? '', target: req.url ?? '', headers: req.headers, upgrade: false })
    req.resume()
    req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end('upstream'))
  })
  const wss = new WebSocketServer({ noServer: true })
  server.on('upgrade', (req, socket, head) => {
    received.push({ method: req.method ?? '', target: req.url ?? '', headers: req.headers, upgrade: true })
    socket.on('error', () => socket.destroy())
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => ws.terminate())
      ws.on('message', (m) => ws.send(m))
    })
  })
  const local = await listenLocal(server)
  return {
    url: local.url,
    received,
    async close() {
      for (const c of wss.clients) c.terminate()
      wss.close()
      await local.close()
    },
  }
}
