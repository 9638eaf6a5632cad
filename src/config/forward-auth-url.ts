/**
 * Pomerium's `forward_auth_url`: the address an ingress calls for forward-auth in Pomerium's
 * old shape (`https://forwardauth.corp.example/?uri=…`, `/verify?uri=…`). Requests whose Host is
 * this URL's host are forward-auth checks; the URL names a host (and optionally a port), nothing more.
 */
export interface ForwardAuthHost {
  /** Lower-case hostname, no port. */
  readonly host: string
  /** The port when the URL names one (then only that port matches), else any port. */
  readonly port: number | undefined
}

export type ForwardAuthUrlResult = { readonly ok: true; readonly value: ForwardAuthHost } | { readonly ok: false; readonly message: string }

export function parseForwardAuthUrl(raw: string): ForwardAuthUrlResult {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return { ok: false, message: `forward_auth_url "${raw}" is not a URL` }
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, message: 'forward_auth_url must be an http:// or https:// URL' }
  if (url.username !== '' || url.password !== '') return { ok: false, message: 'forward_auth_url must not carry user information' }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '')
    return { ok: false, message: 'forward_auth_url names a host only: no path, query or fragment (the checks are /?uri=… and /verify?uri=…)' }
  // An explicit port is kept even when it is the scheme's default (`https://x:443`), as route `from` does.
  const explicitPort = /^[a-z]+:\/\/[^/]*:(\d+)\/?$/i.exec(raw)?.[1]
  return { ok: true, value: { host: url.hostname.toLowerCase(), port: explicitPort === undefined ? undefined : Number(explicitPort) } }
}

/** Whether a request's parsed Host is the forward-auth host. */
export function isForwardAuthHost(fa: ForwardAuthHost | undefined, hostname: string, port: number | undefined): boolean {
  return fa !== undefined && fa.host === hostname && (fa.port === undefined || fa.port === port)
}
