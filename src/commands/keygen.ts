/** `gatehouse keygen`: a fresh cookie_secret and P-256 signing_key, ready to paste. */
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import type { CommandIO } from './io.js'

export async function run(argv: string[], io: CommandIO): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    io.stdout('usage: gatehouse keygen\n  Prints a new cookie_secret and signing_key as YAML.\n')
    return 0
  }
  if (argv.length > 0) {
    io.stderr('usage: gatehouse keygen\n')
    return 2
  }
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
  io.stdout(
    `# Keep these secret. Paste into the config, or set COOKIE_SECRET / SIGNING_KEY.\ncookie_secret: ${randomBytes(32).toString('base64')}\nsigning_key: ${Buffer.from(pem).toString('base64')}\n`,
  )
  return 0
}
