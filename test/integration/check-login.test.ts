/**
 * `gatehouse check --online --login` end to end: the command's loopback
 * listener, a scripted sign-in at the local Okta-shaped IdP, and the report.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { main } from '../../src/cli.js'
import { startDevIdp } from '../../src/devidp/index.js'
import { createHttpClient } from '../helpers/http-client.js'
import { signInAtIdp } from '../helpers/idp-login.js'
import { freePort } from '../helpers/stack.js'

const closers: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const c of closers.reverse()) await c()
})

async function runCheck(yaml: (issuer: { org: string; custom: string }) => string, app: Record<string, unknown>, username: string) {
  const port = await freePort()
  const idp = await startDevIdp({
    users: [{ username: 'alice', password: 'alice', email: 'alice@example.com', groups: ['admin', 'eng'] }],
    clients: [{ client_id: 'check', client_secret: 'check-secret', redirect_uris: [`http://localhost:${port}/.gatehouse/callback`], ...app }],
  })
  closers.push(() => idp.close())
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-check-'))
  const file = join(dir, 'gatehouse.yaml')
  writeFileSync(
    file,
    `idp_provider: okta\nidp_client_id: check\nidp_client_secret: check-secret\ncookie_secret: ${Buffer.alloc(32, 7).toString('base64')}\ninsecure_server: true\n${yaml({ org: idp.orgIssuer, custom: idp.issuer })}`,
  )
  let out = ''
  const io = { stdout: (t: string) => void (out += t), stderr: (t: string) => void (out += t), env: {}, cwd: process.cwd() }
  const done = main(['check', '-c', file, '--online', '--login', '--login-port', String(port), '--login-timeout', '60'], io)
  await expect.poll(() => out.includes('waiting'), { timeout: 20_000 }).toBe(true)
  const browser = createHttpClient()
  const start = `http://localhost:${port}/`
  const login = await browser.follow(await browser.get(start), start)
  const back = await signInAtIdp(browser, login, { username, password: username })
  expect(await back.res.text()).toContain('Signed in')
  return { code: await done, out }
}

describe('check --online --login', () => {
  it('org server: shows the thin ID token, groups from /userinfo, the persistent refresh token, route decisions, and flags an org access token sent upstream', async () => {
    const { code, out } = await runCheck(
      ({ org }) => `idp_provider_url: ${org}
routes:
  - from: http://app.localhost
    to: http://127.0.0.1:9
    policy:
      - allow:
          and:
            - groups: admin
  - from: http://api.localhost
    to: http://127.0.0.1:9
    allow_any_authenticated_user: true
    set_request_headers:
      Authorization: Bearer \${gatehouse.access_token}
`,
      { groups_claim: { filter: { regex: '.*' } } },
      'alice',
    )
    expect(out).toContain('requesting scopes: openid profile email offline_access groups')
    expect(out).toContain('register    http://localhost:')
    expect(out).toContain('ID token claims:')
    expect(out).toMatch(/\n {2}sub: "00u/)
    // Thin: the profile is only in the userinfo claims.
    expect(out.slice(out.indexOf('ID token claims:'), out.indexOf('userinfo claims:'))).not.toContain('email')
    expect(out).toContain('groups (groups, from /userinfo): [Everyone, admin, eng]')
    expect(out).toContain('refresh token: yes, persistent')
    expect(out).toContain('(for Okta only: no API can verify it)')
    expect(out).toMatch(/app\.localhost: allow: /)
    expect(out).toContain('forward the access token upstream, but an org-server access token is for Okta only')
    expect(code).toBe(1)
  })

  it('custom server without offline_access: names the missing refresh token and shows the access token’s audience', async () => {
    const { code, out } = await runCheck(
      ({ custom }) => `idp_provider_url: ${custom}
idp_scopes: [openid, profile, email]
routes:
  - from: http://app.localhost
    to: http://127.0.0.1:9
    allow_any_authenticated_user: true
`,
      {},
      'alice',
    )
    expect(out).toContain('groups (groups, from the ID token): [admin, eng]')
    expect(out).toContain('refresh token: none')
    expect(out).toContain('no refresh token: add offline_access')
    expect(out).toContain('access token: audience "api://default", scopes ["openid","profile","email"]')
    expect(code).toBe(1)
  })
})
