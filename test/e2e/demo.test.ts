import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import { chromium, type Browser, type Page } from 'playwright-core'
import { CHROMIUM_ARGS, CHROMIUM_PATH, requireBrowser } from '../helpers/requirements.js'
import { freePort } from '../helpers/stack.js'

const hasBrowser = requireBrowser()

// What a person does after `npm start`: the demo command with config/demo.yaml,
// in its own process, driven by a real browser.
describe.skipIf(!hasBrowser)('the demo (gatehouse demo / npm start)', () => {
  let demo: ChildProcess
  let browser: Browser
  let port: number
  let output = ''
  let idpPort = 0
  beforeAll(async () => {
    port = await freePort()
    idpPort = await freePort()
    const upPort = await freePort()
    const orgPort = await freePort()
    demo = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli.ts',
        'demo',
        '--port',
        String(port),
        '--idp-port',
        String(idpPort),
        '--upstream-port',
        String(upPort),
        '--org-port',
        String(orgPort),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    demo.stdout?.on('data', (d) => (output += d))
    demo.stderr?.on('data', (d) => (output += d))
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (output.includes('gatehouse demo is running')) resolve()
      }
      demo.stdout?.on('data', check)
      demo.once('exit', (code) => reject(new Error(`demo exited with ${code}: ${output}`)))
    })
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true })
  })
  afterAll(async () => {
    await browser?.close()
    if (demo !== undefined && demo.exitCode === null) {
      const exited = new Promise((r) => demo.once('exit', r))
      demo.kill('SIGTERM')
      await exited
    }
  })

  it('prints the URL and the demo users, and nothing alarming', () => {
    expect(output).toContain(`http://localhost:${port}/`)
    expect(output).toMatch(/alice +password "alice" +groups: admin, eng/)
    expect(output).toMatch(/bob +password "bob" +groups: eng/)
    expect(output).not.toMatch(/WARNING|Unsupported runtime/)
  })

  /** A fresh browser opens /admin, signs in at the IdP's form, and comes back to /admin. */
  async function signInAtAdmin(user: string): Promise<Page> {
    const page = await (await browser.newContext()).newPage()
    await page.goto(`http://localhost:${port}/admin`)
    await page.fill('#username', user)
    await page.fill('#password', user)
    await Promise.all([page.waitForURL(`http://localhost:${port}/admin`), page.click('#sign-in')])
    return page
  }

  it('alice reaches both routes and signs out; bob gets a 403 that says which rule failed', async () => {
    const alice = await signInAtAdmin('alice')
    await expect(alice.textContent('body')).resolves.toContain('gatehouse let you through')
    await alice.goto(`http://localhost:${port}/`)
    await expect(alice.textContent('body')).resolves.toContain('gatehouse let you through')
    await alice.goto(`http://localhost:${port}/.gatehouse/`)
    await alice.click('button[type=submit]')
    await alice.waitForURL((u) => u.pathname === '/.gatehouse/signed_out')

    const bob = await signInAtAdmin('bob')
    await expect(bob.textContent('.reason')).resolves.toBe('no allow rule lets you in (groups; your value: [eng])')
    await bob.goto(`http://localhost:${port}/`)
    await expect(bob.textContent('body')).resolves.toContain('gatehouse let you through')
  })

  it('signing out of the IdP on its own page signs alice out of gatehouse too (front- and back-channel logout)', async () => {
    const alice = await signInAtAdmin('alice')
    await alice.goto(`http://127.0.0.1:${idpPort}/`)
    await expect(alice.textContent('#who')).resolves.toBe('alice@example.com')
    await alice.click('#idp-sign-out')
    await alice.waitForURL((u) => u.pathname === '/login/signed-out')
    // Her gatehouse session is gone: the app sends her to the IdP's sign-in form again.
    await alice.goto(`http://localhost:${port}/`)
    await alice.waitForURL((u) => u.port === String(idpPort) && u.pathname.startsWith('/login/'))
    expect(await alice.isVisible('#username')).toBe(true)
  }, 90_000)
})
