/**
 * The authorize core's answer. A front end turns it into its own kind of
 * reply: the reverse proxy forwards or refuses, the WebSocket front end opens
 * a tunnel or writes a status line, forward-auth answers 200/401/403/302.
 */
import type { CompiledRoute } from '../config/types.js'
import type { ForwardedFacts } from '../proxy/client-address.js'
import type { HostPort } from './host.js'
import type { ActiveSession } from './ports.js'
import type { RouteRuntime } from './snapshot.js'
import type { AuthenticateRuntime, HandoffStart } from './authenticate.js'

/** The route a request resolved to, with the facts every later step needs. */
export interface RouteTarget {
  readonly kind: 'route'
  readonly host: HostPort
  /** The route host's scheme as a browser uses it (the route's `from`). */
  readonly scheme: 'http' | 'https'
  /** The method the policy judges, and the one the upstream receives (front ends forward this, never their own copy). */
  readonly method: string
  /** The canonical path: what the upstream receives (before prefix_rewrite). */
  readonly path: string
  /** What the policy judges: `path`, or with `allow_path_parameters` the path without its `;…` parameters. */
  readonly judgedPath: string
  /** Raw query including '?', or ''. */
  readonly query: string
  readonly route: CompiledRoute
  readonly rt: RouteRuntime
  /** The client address, scheme and host gatehouse believes (after `trusted_proxies`). */
  readonly fwd: ForwardedFacts
  /** The sign-in host when `authenticate_service_url` is set: sign-ins go there. */
  readonly authenticate: AuthenticateRuntime | undefined
}

export type Verdict =
  /** A path trick, a malformed Host, an ambiguous path: 400. */
  | { readonly kind: 'bad-request'; readonly message: string }
  /** No route for this host and path: 404. */
  | { readonly kind: 'not-found' }
  /** The public JWKS document (any route host). */
  | { readonly kind: 'jwks' }
  /**
   * One of gatehouse's own endpoints: under /.gatehouse/ on a route host, or (`on: 'authenticate'`)
   * any path on the sign-in host of `authenticate_service_url`, which serves no route.
   */
  | { readonly kind: 'endpoint'; readonly host: HostPort; readonly scheme: 'http' | 'https'; readonly path: string; readonly on?: 'authenticate' }
  /** The session store could not answer: 503, nothing forwarded. */
  | { readonly kind: 'store-down'; readonly target: RouteTarget; readonly err: unknown }
  /**
   * A session-dependent rule met no session. `signInUrl` starts a sign-in on the route host and comes back to
   * this request (any client can open it). With a sign-in host, `handoff` is where a browser goes at once: the
   * sign-in host with a signed request for this return URL, bound to the nonce the route host must set as
   * its binding cookie in the same reply.
   */
  | { readonly kind: 'sign-in'; readonly target: RouteTarget; readonly reason: string; readonly signInUrl: string; readonly handoff: HandoffStart | undefined }
  /** Refused, with the sentence and the criterion that decided it. */
  | {
      readonly kind: 'deny'
      readonly target: RouteTarget
      readonly session: ActiveSession | undefined
      /** The whole reason, for the log and the operators. */
      readonly reason: string
      /** What the caller is told: the criterion and their own value only. */
      readonly publicReason: string
      readonly criterion: string
    }
  /**
   * A bearer token (bearer_token_format other than default) that was missing its
   * mark: 401 with `WWW-Authenticate: Bearer error="invalid_token"`, or 503 when
   * the IdP could not be asked. Never a cookie, never a redirect.
   */
  | { readonly kind: 'bearer-refused'; readonly target: RouteTarget; readonly status: 401 | 503; readonly description: string }
  /** Let through, as `session` (undefined on a public route); `assertion` is the signed JWT for the upstream. */
  | { readonly kind: 'allow'; readonly target: RouteTarget; readonly session: ActiveSession | undefined; readonly assertion: string | undefined }

export type Allow = Extract<Verdict, { kind: 'allow' }>
