/**
 * A gatehouse with a sign-in host (`authenticate_service_url`) in front of
 * three route hosts on two registrable domains, against the local IdP whose
 * app lists only the sign-in host's redirect URIs (as an Okta app set up for
 * Pomerium does). Everything else is startStack.
 */
import { route, startStack, type Stack, type StackOptions } from './stack.js'
import type { HttpClient } from './http-client.js'

export const AUTHN = 'authenticate.alpha.localhost'
export const APP = 'app.alpha.localhost'
export const ADMIN = 'admin.alpha.localhost'
export const DOCS = 'docs.beta.localhost'

export interface AuthnStackOptions extends Omit<StackOptions, 'routes' | 'app'> {
  readonly port: number
}

export function startAuthnStack(o: AuthnStackOptions): Promise<Stack> {
  const origin = `http://${AUTHN}:${o.port}`
  return startStack({
    ...o,
    hosts: [],
    extra: `authenticate_service_url: ${origin}\n${o.extra ?? ''}`,
    app: { redirect_uris: [`${origin}/oauth2/callback`], post_logout_redirect_uris: [`${origin}/.gatehouse/signed_out`] },
    routes: ({ upstream, port }) =>
      route(`http://${APP}:${port}`, upstream, 'any-user', ['pass_identity_headers: true']) +
      route(`http://${ADMIN}:${port}`, upstream, { group: 'admin' }) +
      route(`http://${DOCS}:${port}`, upstream, 'any-user'),
  })
}

/** Follow a browser's redirects from `url` and stop at the first URL `stop` picks (its response unread). */
export async function walkUntil(client: HttpClient, url: string, stop: (u: URL) => boolean): Promise<URL | undefined> {
  const first = await client.get(url, { headers: { accept: 'text/html' } })
  const walked = await client.follow(first, url, 10, { accept: 'text/html' }, stop)
  await walked.res.body?.cancel()
  return walked.visited.find(stop)
}
