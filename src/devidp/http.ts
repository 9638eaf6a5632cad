/**
 * Small HTTP helpers for the local IdP, and Okta's error wording in one
 * place: OAuth errors (`error` + `error_description`) at the token endpoint
 * and the redirect URI, Okta API errors (`errorCode` + `errorSummary`) for
 * rate limits.
 */
import type http from 'node:http'
import { idpErrorPage } from './pages.js'

/** Okta's words, so a relying party is tested against the text it will meet. */
export const OKTA = {
  refreshInvalid: 'The refresh token is invalid or expired.',
  codeInvalid: 'The authorization code is invalid or has expired.',
  pkceFailed: 'PKCE verification failed.',
  redirectMismatch: "The 'redirect_uri' does not match the redirection URI used in the authorization request.",
  clientSecretInvalid: 'The client secret supplied for a confidential client is invalid.',
  clientAuthFailed: 'Client authentication failed. Either the client or the client credentials are invalid.',
  assertionInvalid: 'The client_assertion token is invalid.',
  grantNotAllowed: (configured: Iterable<string>): string =>
    `The client is not authorized to use the provided grant type. Configured grant types: [${[...configured].join(', ')}].`,
  unsupportedGrant: (gt: string): string => `The authorization grant type is not supported by the authorization server. Configured grant type: ${gt}.`,
  policyFailed: 'Policy evaluation failed for this request, please check the policy configurations.',
  notAssigned: 'User is not assigned to the client application.',
  invalidScope: 'One or more scopes are not configured for the authorization server resource.',
  noIdTokenHint: "The 'id_token_hint' parameter is required.",
  logoutRedirectNotRegistered: "The 'post_logout_redirect_uri' parameter must be a Logout redirect URI in the client app settings.",
  redirectNotRegistered: "The 'redirect_uri' parameter must be a Login redirect URI in the client app settings.",
  rateLimited: 'API call exceeded rate limit due to too many requests.',
  loginRequired: 'The client specified not to prompt, but the user is not logged in.',
} as const

export function readBody(req: http.IncomingMessage, limit = 16_384): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > limit) {
        reject(new Error('body too large'))
        req.destroy()
      } else chunks.push(c)
    })
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', pragma: 'no-cache', ...headers })
  res.end(JSON.stringify(body))
}

export function sendHtml(res: http.ServerResponse, status: number, html: string, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', ...headers })
  res.end(html)
}

export function oauthError(res: http.ServerResponse, status: number, error: string, description: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error, error_description: description }, headers)
}

/** An error Okta shows on its own page (no redirect: the redirect URI itself is in doubt). */
export function errorPage(res: http.ServerResponse, status: number, error: string, description: string): void {
  sendHtml(res, status, idpErrorPage(`${status === 400 ? '400 Bad Request' : String(status)}: ${error}`, description))
}

/** An error sent back to the app's redirect URI, with the request's state. */
export function redirectError(
  res: http.ServerResponse,
  redirectUri: string,
  mode: 'query' | 'fragment' | 'form_post',
  error: string,
  description: string,
  state: string | undefined,
): void {
  redirectWith(res, redirectUri, mode, { error, error_description: description, ...(state === undefined ? {} : { state }) })
}

export function redirectWith(
  res: http.ServerResponse,
  redirectUri: string,
  mode: 'query' | 'fragment' | 'form_post',
  params: Record<string, string>,
  headers: Record<string, string | string[]> = {},
): void {
  const target = new URL(redirectUri)
  const p = new URLSearchParams(params)
  if (mode === 'fragment') target.hash = p.toString()
  else if (mode === 'query') for (const [k, v] of p) target.searchParams.append(k, v)
  if (mode === 'form_post') {
    const inputs = [...p].map(([k, v]) => `<input type="hidden" name="${escapeAttr(k)}" value="${escapeAttr(v)}">`).join('')
    sendHtml(
      res,
      200,
      `<!doctype html><html><body onload="document.forms[0].submit()"><form method="post" action="${escapeAttr(redirectUri)}">${inputs}</form></body></html>`,
      headers,
    )
    return
  }
  res.writeHead(302, { location: target.href, 'cache-control': 'no-store', ...headers })
  res.end()
}

function escapeAttr(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

/** HTTP Basic credentials, form-decoded as RFC 6749 §2.3.1 says. */
export function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  if (header === undefined || !/^basic /i.test(header)) return undefined
  const raw = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8')
  const colon = raw.indexOf(':')
  if (colon < 0) return undefined
  try {
    return { id: decodeURIComponent(raw.slice(0, colon).replace(/\+/g, ' ')), secret: decodeURIComponent(raw.slice(colon + 1).replace(/\+/g, ' ')) }
  } catch {
    return undefined
  }
}
