/** Parse a Host header: lower-case hostname and optional port, or undefined when malformed. */
export interface HostPort {
  readonly hostname: string
  readonly port: number | undefined
  /** As the client wrote it, lower-cased (`app.example.com:8443`): used for the browser-facing URLs. */
  readonly authority: string
}

const HOSTNAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?)*\.?$/
const IPV6 = /^\[[0-9a-f:.]+\]$/

export function parseHost(header: string | undefined): HostPort | undefined {
  if (header === undefined || header.length === 0 || header.length > 300) return undefined
  const lower = header.toLowerCase()
  let hostname = lower
  let port: number | undefined
  const colon = lower.lastIndexOf(':')
  if (colon !== -1 && !lower.endsWith(']')) {
    const p = lower.slice(colon + 1)
    if (!/^[0-9]{1,5}$/.test(p)) return undefined
    port = Number(p)
    if (port === 0 || port > 65535) return undefined
    hostname = lower.slice(0, colon)
  }
  if (!(HOSTNAME.test(hostname) || IPV6.test(hostname))) return undefined
  if (hostname.endsWith('.')) hostname = hostname.slice(0, -1)
  return { hostname, port, authority: lower }
}
