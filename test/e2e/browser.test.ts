import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdirSync } from 'node:fs'
import { chromium, type Browser, type Page } from 'playwright-core'
import { CHROMIUM_ARGS, CHROMIUM_PATH, requireBrowser } from '../helpers/requirements.js'
import { ROUTES_APP_ADMIN, startStack, type Stack } from '../helpers/stack.js'

const hasBrowser = requireBrowser()
const shots = new URL('./screenshots/', import.meta.url).pathname

describe.skipIf(!hasBrowser)('sign-in in a real browser', () => {
  let s: Stack
  let browser: Browser
  beforeAll(async () => {
    mkdirSync(shots, { recursive: true })
    s = await startStack({ routes: ROUTES_APP_ADMIN })
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true })
  })
  afterAll(async () => {
    await browser?.close()
    await s?.close()
  })

  async function signIn(page: Page, url: string, user: string): Promise<void> {
    await page.goto(url)
    await page.waitForSelector('#username')
    expect(page.url().startsWith(s.idp.url)).toBe(true)
    await page.fill('#username', user)
    await page.fill('#password', user)
    await Promise.all([page.waitForURL((u) => u.hostname !== '127.0.0.1'), page.click('#sign-in')])
  }

  it('alice signs in at the IdP and arrives at the upstream with the original path and query', async () => {
    const ctx = await browser.newContext()
    const page = await ctx.newPage()
    const target = s.url('app.localhost', '/reports/q3?year=2026&tab=summary')
    await signIn(page, target, 'alice')
    expect(page.url()).toBe(target)
    await expect(page.textContent('body')).resolves.toContain('gatehouse let you through')
    await expect(page.textContent('body')).resolves.toContain('/reports/q3?year=2026&tab=summary')
    await expect(page.textContent('body')).resolves.toContain('valid — signed for alice@example.com')
    await page.goto(s.url('app.localhost', '/.gatehouse/'))
    await expect(page.textContent('h1')).resolves.toBe('Alice')
    await page.screenshot({ path: `${shots}user-info.png`, fullPage: true })

    // Sign out: here and at the IdP.
    await page.click('button[type=submit]')
    await page.waitForURL((u) => u.pathname === '/.gatehouse/signed_out')
    await expect(page.textContent('h1')).resolves.toBe('You are signed out')
    expect(s.idp.endSessions.at(-1)?.accepted).toBe(true)
    await page.goto(s.url('app.localhost', '/'))
    // The IdP asks for the password again: its session ended too.
    await page.waitForSelector('#username')
    await ctx.close()
  })

  it('bob sees the 403 page with the reason', async () => {
    const ctx = await browser.newContext()
    const page = await ctx.newPage()
    await signIn(page, s.url('admin.localhost', '/'), 'bob')
    await expect(page.textContent('.reason')).resolves.toBe('no allow rule lets you in (groups; your value: [eng])')
    await expect(page.textContent('.status')).resolves.toContain('403')
    await page.screenshot({ path: `${shots}forbidden.png`, fullPage: true })
    await ctx.close()
  })
})
