/** Fill in the local IdP's sign-in form and follow the redirects back to the relying party. */
import type { Response } from 'undici'
import type { HttpClient } from './http-client.js'

export async function signInAtIdp(
  client: HttpClient,
  loginPage: { res: Response; url: URL },
  creds: { username: string; password: string },
  stop?: (url: URL) => boolean,
): Promise<{ res: Response; url: URL; visited: URL[] }> {
  const html = await loginPage.res.text()
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1]
  if (action === undefined) throw new Error(`no sign-in form at ${loginPage.url.href} (status ${loginPage.res.status}): ${html.slice(0, 300)}`)
  const target = new URL(action.replace(/&amp;/g, '&'), loginPage.url)
  const posted = await client.post(target, creds)
  return client.follow(posted, target, 10, { accept: 'text/html' }, stop)
}
