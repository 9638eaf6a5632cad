/**
 * Bearer tokens: Pomerium's `bearer_token_format` and
 * `idp_access_token_allowed_audiences` (global, and per route over the global
 * value), and gatehouse's route key `pass_bearer_token`, compiled into one
 * value per route. A format that verifies access tokens without an audience
 * list cannot be built: that is a config error, not a door left open.
 */
import type { Node } from 'yaml'
import type { Reader } from './reader.js'
import type { BearerTokenFormat, RouteBearer } from './types.js'

export const BEARER_TOKEN_FORMATS: readonly BearerTokenFormat[] = ['default', 'idp_access_token', 'idp_identity_token']

/** The global values, already read; a route starts from these. */
export interface BearerDefaults {
  readonly format: BearerTokenFormat
  readonly audiences: readonly string[] | undefined
}

export function readBearerFormat(r: Reader, node: Node | undefined, path: string): BearerTokenFormat | undefined {
  if (node === undefined) return undefined
  const raw = r.string(node, path)
  if (raw === undefined) return undefined
  const found = BEARER_TOKEN_FORMATS.find((f) => f === raw)
  if (found === undefined) r.problem(node, path, 'CONFIG_BAD_VALUE', `${path} must be one of ${BEARER_TOKEN_FORMATS.join(', ')}, found "${raw}"`)
  return found
}

export function readAudiences(r: Reader, node: Node | undefined, path: string): readonly string[] | undefined {
  if (node === undefined) return undefined
  const list = r.stringList(node, path)
  if (list === undefined) return undefined
  const kept = list.map((a) => a.trim()).filter((a) => a.length > 0)
  if (kept.length === 0) r.problem(node, path, 'CONFIG_BAD_VALUE', `${path} must list at least one audience`, 'for example api://default')
  return kept
}

/** The route's bearer handling: its own keys over the global ones. */
export function compileRouteBearer(
  r: Reader,
  at: { readonly map: Node; readonly base: string },
  own: { readonly format: Node | undefined; readonly audiences: Node | undefined; readonly pass: boolean | undefined },
  defaults: BearerDefaults,
): RouteBearer {
  const format = readBearerFormat(r, own.format, `${at.base}.bearer_token_format`) ?? defaults.format
  const audiences = readAudiences(r, own.audiences, `${at.base}.idp_access_token_allowed_audiences`) ?? defaults.audiences
  const passToken = own.pass ?? false
  switch (format) {
    case 'default':
      return { format }
    case 'idp_identity_token':
      return { format, passToken }
    case 'idp_access_token':
      if (audiences === undefined || audiences.length === 0) {
        // At the route's own key when it has one, else at the route (the format came from the global key).
        r.problem(
          own.format ?? at.map,
          own.format !== undefined ? `${at.base}.bearer_token_format` : at.base,
          'CONFIG_MISSING_KEY',
          `bearer_token_format idp_access_token${own.format === undefined ? ' (set globally)' : ''} needs idp_access_token_allowed_audiences, globally or on the route: without it any token the issuer signed would do`,
          "the audience of your Okta authorization server, e.g. api://default (Security → API → the server's Audience)",
        )
        return { format: 'default' }
      }
      return { format, allowedAudiences: audiences, passToken }
  }
}
