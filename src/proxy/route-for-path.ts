/**
 * The route for a canonical request path, with path parameters handled (see
 * path-params.ts): a `;` in a segment is refused unless the route allows path
 * parameters, and then the policy judges the path with them removed, and the
 * route must be the same one either way.
 */
import type { CompiledRoute, RouteTable } from '../config/types.js'
import { stripPathParams } from './path-params.js'

export type RouteForPath =
  | {
      readonly kind: 'route'
      readonly route: CompiledRoute
      /** The path the policy judges: the canonical path, or (path parameters allowed) the path a servlet container serves. */
      readonly judgedPath: string
    }
  | { readonly kind: 'none' }
  | { readonly kind: 'refused'; readonly message: string }

const NONE: RouteForPath = Object.freeze({ kind: 'none' })
const CASE: RouteForPath = Object.freeze({ kind: 'refused', message: "The request path differs only in letter case from another route's path." })
const PARAMS: RouteForPath = Object.freeze({
  kind: 'refused',
  message: 'The request path has a ";" (path parameters) in a segment; this route does not accept them.',
})
const PARAMS_ROUTE: RouteForPath = Object.freeze({
  kind: 'refused',
  message: 'The request path names a different route with its path parameters (";…") than without them.',
})

export function routeForPath(table: RouteTable, hostname: string, port: number | undefined, path: string, hasParams: boolean): RouteForPath {
  if (!hasParams) {
    const f = table.find(hostname, port, path)
    if (f.kind === 'none') return NONE
    if (f.kind === 'ambiguous') return CASE
    return { kind: 'route', route: f.route, judgedPath: path }
  }
  const judged = stripPathParams(path)
  const f = table.find(hostname, port, judged)
  if (f.kind === 'none') return NONE
  if (f.kind === 'ambiguous') return CASE
  if (!f.route.allowPathParameters) return PARAMS
  // The path as written must land on the same route: an upstream that keeps `;` as data reads that one.
  const asWritten = table.find(hostname, port, path)
  if (asWritten.kind !== 'route' || asWritten.route !== f.route) return PARAMS_ROUTE
  return { kind: 'route', route: f.route, judgedPath: judged }
}
