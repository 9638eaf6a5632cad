/**
 * A test server (an upstream, a JWKS endpoint, a socket that misbehaves) on
 * an ephemeral loopback port, and a close that does not wait for keep-alive
 * connections to time out.
 */
import type { AddressInfo, Server } from 'node:net'

export interface LocalServer {
  /** `http://127.0.0.1:<port>` (or https, as asked). */
  readonly url: string
  readonly port: number
  close(): Promise<void>
}

export async function listenLocal(server: Server, scheme: 'http' | 'https' = 'http'): Promise<LocalServer> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    close() {
      // http(s) servers keep idle keep-alive sockets; a plain net server has none to drop.
      ;(server as Server & { closeAllConnections?: () => void }).closeAllConnections?.()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
