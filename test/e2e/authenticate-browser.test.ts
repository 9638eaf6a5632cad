import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdirSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'
import { CHROMIUM_ARGS, CHROMIUM_PATH, requireBrowser } from '../helpers/requirements.js'
import { freePort, type Stack } from '../helpers/stack.js'
import { ADMIN, APP, AUTHN, DOCS, startAuthnStack } from '../helpers/authenticate-stack.js'

const hasBrowser = requireBrowser()
const shots = new URL('./screenshots/', import.meta.url).pathname

// *.localhost names are this machine in Chromium: three route hosts on two domains and the sign-in host.
describe.skipIf(!hasBrowser)('one sign-in for every host, in a real browser', () => {
  let s: Stack
  let browser: Browser
  beforeAll(async () => {
    mkdirSync(shots, { recursive: true })
    s = await startAuthnStack({ port: await freePort() })
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true })
  })
  afterAll(async () => {
    await browser?.close()
    await s?.close()
  })

  it('alice signs in once at the IdP, reaches three hosts, and one sign-out ends them all', async () => {
    const ctx = await browser.newContext()
    const page = await ctx.newPage()
    const idpPages: string[] = []
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame() && f.url().startsWith(s.idp.url)) idpPages.push(f.url())
    })

    const target = s.url(APP, '/reports?tab=q3')
    await page.goto(target)
    await page.waitForSelector('#username')
    await page.screenshot({ path: `${shots}authenticate-idp-form.png`, fullPage: true })
    await page.fill('#username', 'alice')
    await page.fill('#password', 'alice')
    await Promise.all([page.waitForURL(target), page.click('#sign-in')])
    await expect(page.textContent('body')).resolves.toContain('gatehouse let you through')
    const idpVisits = idpPages.length

    // The other hosts, one on another domain: no IdP page in between.
    for (const host of [DOCS, ADMIN]) {
      await page.goto(s.url(host, '/welcome'))
      await page.waitForURL(s.url(host, '/welcome'))
      await expect(page.textContent('body')).resolves.toContain('gatehouse let you through')
    }
    await page.screenshot({ path: `${shots}authenticate-second-domain.png`, fullPage: true })
    expect(idpPages.length).toBe(idpVisits)

    // The sign-in host says who she is and where she is signed in.
    await page.goto(`http://${AUTHN}:${s.port}/.gatehouse/`)
    await expect(page.textContent('h1')).resolves.toBe('Alice')
    const hosts = (await page.textContent('.hosts')) ?? ''
    for (const host of [APP, ADMIN, DOCS]) expect(hosts).toContain(`${host}:${s.port}`)
    await page.screenshot({ path: `${shots}authenticate-user-page.png`, fullPage: true })

    // Sign out on one route host: back through the IdP's end-session to the sign-in host's signed_out page.
    await page.goto(s.url(DOCS, '/.gatehouse/'))
    await Promise.all([page.waitForURL((u) => u.hostname === AUTHN && u.pathname === '/.gatehouse/signed_out'), page.click('button[type=submit]')])
    await expect(page.textContent('h1')).resolves.toBe('You are signed out')
    await page.screenshot({ path: `${shots}authenticate-signed-out.png`, fullPage: true })
    expect(s.idp.endSessions.at(-1)?.accepted).toBe(true)

    // Every host, and the IdP, ask again.
    for (const host of [APP, ADMIN, DOCS]) {
      await page.goto(s.url(host, '/'))
      await page.waitForSelector('#username')
    }
    await ctx.close()
  })
})
