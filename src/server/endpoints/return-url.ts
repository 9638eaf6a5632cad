/**
 * The only place a URL from the client becomes a redirect target. A return
 * URL is accepted only when it is an http(s) URL on a configured route host
 * (and port, when the route names one), with no credentials; anything else
 * falls back to the caller's default. Never an open redirect.
 */
import type { KnownHosts } from '../../authorize/snapshot.js'

export type { HostRule, KnownHosts } from '../../authorize/snapshot.js'

const MAX_RETURN_URL = 8192

/**
 * The `rd` parameter of a sign-in URL. A proxy that cannot percent-encode (plain nginx:
 * `?rd=$scheme://$http_host$request_uri`) sends the URL raw, and its own query then runs on in
 * the sign-in query: an `rd` whose raw value is `http(s)://authority/…` with a literal `/` after
 * the authority takes the rest of the query (it must be the last parameter). Anything else
 * (an encoded URL, or ingress-nginx's `$scheme://$http_host$escaped_request_uri`, whose path
 * starts `%2F`) is read as an ordinary query parameter.
 */
export function returnParam(requestTarget: string): string | undefined {
  const q = requestTarget.indexOf('?')
  if (q === -1) return undefined
  const query = requestTarget.slice(q + 1)
  const raw = /(?:^|&)rd=(https?:\/\/[^/?#%&]*\/.*)$/i.exec(query)?.[1]
  if (raw !== undefined && !raw.includes('#')) return raw
  return new URLSearchParams(query).get('rd') ?? undefined
}

export function checkReturnUrl(raw: string | undefined, base: URL, hosts: KnownHosts): URL | undefined {
  if (raw === undefined || raw.length === 0 || raw.length > MAX_RETURN_URL) return undefined
  // Browsers strip tabs and newlines and treat backslashes as slashes; refuse
  // rather than guess which reading the browser will make.
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f\\]/.test(raw)) return undefined
  let decodedOnce: string
  try {
    decodedOnce = decodeURIComponent(raw)
  } catch {
    return undefined
  }
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f\\]/.test(decodedOnce) || decodedOnce.startsWith('//')) return undefined
  let url: URL
  try {
    url = new URL(raw, base)
  } catch {
    return undefined
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined
  if (url.username !== '' || url.password !== '') return undefined
  const rules = hosts.get(url.hostname)
  if (rules === undefined) return undefined
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port)
  const scheme = url.protocol === 'https:' ? 'https' : 'http'
  // A route without a port matches any port (as route matching does).
  const fits = rules.some((r) => r.scheme === scheme && (r.port === undefined || r.port === port))
  return fits ? url : undefined
}
