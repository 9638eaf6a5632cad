/**
 * The plain facts a front end hands the authorize core: what was asked, by
 * whom (the TCP peer), with which headers. No fastify request, no socket.
 * For a forward-auth check these describe the original request that the
 * ingress asked about, not the check request itself.
 */

export type Headers = Readonly<Record<string, string | string[] | undefined>>

export interface RequestFacts {
  /** Upper-case HTTP method. */
  readonly method: string
  /** The scheme the request arrived with (gatehouse's listener, or the original URL's for forward-auth); decides the port of a Host without one. */
  readonly scheme: 'http' | 'https'
  /** The Host header (or the original URL's authority) as sent; undefined when absent. */
  readonly host: string | undefined
  /** The request target as sent: path and query. */
  readonly target: string
  /** The TCP peer's address. */
  readonly peer: string | undefined
  /** The request headers (lower-case names): the cookie, X-Forwarded-* from trusted proxies, CORS preflight, Accept. */
  readonly headers: Headers
  /** A WebSocket upgrade (only routes with `allow_websockets` accept one). */
  readonly isWebSocket: boolean
}
