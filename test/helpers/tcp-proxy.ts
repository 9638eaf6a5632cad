/**
 * A TCP relay on an ephemeral loopback port in front of a real server (the
 * shared PostgreSQL), that a test can cut — every connection dropped and new
 * ones refused, as when the database goes away — and restore on the same port.
 * `retarget` sends new connections elsewhere (a load balancer switching replicas).
 */
import net from 'node:net'
import type { AddressInfo } from 'node:net'

export interface TcpProxy {
  readonly port: number
  cut(): Promise<void>
  restore(): Promise<void>
  close(): Promise<void>
  /** New connections go to this port from now on; open ones stay where they are. */
  retarget(port: number): void
}

export async function startTcpProxy(initial: { host: string; port: number }): Promise<TcpProxy> {
  let target = initial
  const sockets = new Set<net.Socket>()
  const makeServer = (): net.Server =>
    net.createServer((client) => {
      const upstream = net.connect(target)
      sockets.add(client).add(upstream)
      const drop = (): void => {
        client.destroy()
        upstream.destroy()
        sockets.delete(client)
        sockets.delete(upstream)
      }
      client.on('error', drop).on('close', drop)
      upstream.on('error', drop).on('close', drop)
      client.pipe(upstream).pipe(client)
    })
  let server = makeServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  let up = true
  const stop = (): Promise<void> => {
    if (!up) return Promise.resolve()
    up = false
    for (const s of sockets) s.destroy()
    sockets.clear()
    return new Promise((resolve) => server.close(() => resolve()))
  }
  return {
    port,
    cut: stop,
    async restore() {
      if (up) return
      server = makeServer()
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve))
      up = true
    },
    close: stop,
    retarget(port) {
      target = { host: target.host, port }
    },
  }
}
