/**
 * A refusal written straight onto a socket, for the requests fastify never
 * sees (WebSocket upgrades): the same table entry, status and JSON body as
 * `refuse()` gives an API client, with the same headers, then the connection
 * is closed. Nothing from the request is echoed.
 */
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import { REFUSALS, type RefusalCode } from './refusals.js'

export interface SocketRefusalDetail {
  readonly message?: string
  /** Only for codes whose status depends on the cause (see the table's statusNote). */
  readonly status?: number
  /** Extra response headers (`WWW-Authenticate` for a refused bearer token). */
  readonly headers?: Readonly<Record<string, string>>
}

/** The whole HTTP/1.1 response for a refusal: status line, headers, JSON body. */
export function socketRefusal(error: RefusalCode, requestId: string, detail: SocketRefusalDetail = {}): { status: number; bytes: string } {
  const entry = REFUSALS[error]
  const status = detail.status ?? entry.status
  const hint = 'hint' in entry ? entry.hint : undefined
  const body = JSON.stringify({ error, message: detail.message ?? entry.message, ...(hint === undefined ? {} : { hint }), request_id: requestId })
  const headers: Record<string, string> = {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    Connection: 'close',
    ...detail.headers,
  }
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n`
  // eslint-disable-next-line no-control-regex
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value.replace(/[\x00-\x1f\x7f]/g, ' ')}\r\n`
  return { status, bytes: head + '\r\n' + body }
}

/** Write the refusal and close the socket (nothing more is read from it). */
export function refuseSocket(socket: Duplex, error: RefusalCode, requestId: string, detail: SocketRefusalDetail = {}): number {
  const { status, bytes } = socketRefusal(error, requestId, detail)
  if (!socket.destroyed) socket.end(bytes)
  return status
}
