/**
 * Talking OAuth to the local IdP by hand (no client library), so tests see
 * exactly what the IdP sends: authorize + sign-in form → the redirect's
 * parameters; the token endpoint's JSON; userinfo.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { DevIdp } from '../../src/devidp/index.js'
import { createHttpClient, type HttpClient } from './http-client.js'

export interface AuthorizeOptions {
  readonly server?: string
  readonly clientId: string
  readonly redirectUri: string
  readonly scope: string
  readonly username?: string
  readonly password?: string
  readonly responseType?: string
  readonly client?: HttpClient
  readonly extra?: Record<string, string>
  readonly pkce?: boolean
}

export interface AuthorizeResult {
  /** The parameters the IdP sent to the redirect URI (query or fragment). */
  readonly params: URLSearchParams
  readonly verifier: string
  readonly client: HttpClient
  /** The HTML the IdP answered when it did not redirect (an error page). */
  readonly page?: { status: number; text: string }
}

export function base(idp: DevIdp, server = 'default'): string {
  return server === 'org' ? `${idp.url}/oauth2/v1` : `${idp.issuerOf(server)}/v1`
}

export async function authorize(idp: DevIdp, o: AuthorizeOptions): Promise<AuthorizeResult> {
  const client = o.client ?? createHttpClient()
  const verifier = randomBytes(32).toString('base64url')
  const url = new URL(`${base(idp, o.server)}/authorize`)
  const q: Record<string, string> = {
    client_id: o.clientId,
    redirect_uri: o.redirectUri,
    response_type: o.responseType ?? 'code',
    scope: o.scope,
    state: 'st-' + randomBytes(6).toString('hex'),
    nonce: 'n-' + randomBytes(6).toString('hex'),
    ...(o.pkce === false ? {} : { code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' }),
    ...o.extra,
  }
  for (const [k, v] of Object.entries(q)) url.searchParams.set(k, v)
  let res = await client.get(url)
  let at = url
  for (let hop = 0; hop < 5; hop++) {
    const loc = res.headers.get('location')
    if (res.status !== 302 || loc === null) break
    const next = new URL(loc, at)
    await res.body?.cancel()
    if (next.href.startsWith(o.redirectUri)) return { params: paramsOf(next), verifier, client }
    at = next
    res = await client.get(next)
  }
  const html = await res.text()
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1]
  if (action === undefined || o.username === undefined) return { params: new URLSearchParams(), verifier, client, page: { status: res.status, text: html } }
  const posted = await client.post(new URL(action.replace(/&amp;/g, '&'), at), { username: o.username, password: o.password ?? o.username })
  const loc = posted.headers.get('location')
  if (posted.status !== 302 || loc === null)
    return { params: new URLSearchParams(), verifier, client, page: { status: posted.status, text: await posted.text() } }
  return { params: paramsOf(new URL(loc)), verifier, client }
}

function paramsOf(u: URL): URLSearchParams {
  return u.hash.length > 1 ? new URLSearchParams(u.hash.slice(1)) : u.searchParams
}

export interface TokenAnswer {
  readonly status: number
  readonly body: Record<string, unknown>
  readonly headers: Headers
}

export async function tokenRequest(
  idp: DevIdp,
  form: Record<string, string>,
  auth: { clientId: string; secret?: string; method?: 'basic' | 'post' },
  server = 'default',
): Promise<TokenAnswer> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' }
  const body = new URLSearchParams(form)
  if (auth.method === 'post') {
    body.set('client_id', auth.clientId)
    if (auth.secret !== undefined) body.set('client_secret', auth.secret)
  } else if (auth.secret !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(auth.clientId)}:${encodeURIComponent(auth.secret)}`).toString('base64')}`
  }
  const res = await fetch(`${base(idp, server)}/token`, { method: 'POST', headers, body })
  const text = await res.text()
  let parsed: Record<string, unknown> = {}
  try {
    parsed = JSON.parse(text) as Record<string, unknown>
  } catch {
    parsed = { raw: text }
  }
  return { status: res.status, body: parsed, headers: res.headers }
}

/** authorize + sign-in + code exchange. */
export async function signInForTokens(idp: DevIdp, o: AuthorizeOptions & { secret: string }): Promise<TokenAnswer & { params: URLSearchParams }> {
  const a = await authorize(idp, o)
  const code = a.params.get('code')
  if (code === null) return { status: 0, body: Object.fromEntries(a.params), headers: new Headers(), params: a.params }
  const t = await tokenRequest(
    idp,
    { grant_type: 'authorization_code', code, redirect_uri: o.redirectUri, ...(o.pkce === false ? {} : { code_verifier: a.verifier }) },
    { clientId: o.clientId, secret: o.secret },
    o.server,
  )
  return { ...t, params: a.params }
}

export async function userinfo(idp: DevIdp, accessToken: string, server = 'default'): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base(idp, server)}/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } })
  return { status: res.status, body: res.status === 200 ? ((await res.json()) as Record<string, unknown>) : {} }
}
