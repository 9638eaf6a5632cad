/**
 * Test certificates made with openssl (Debian's): a private CA, and server or
 * client certificates it issues. Suites that need them skip, saying why, when
 * openssl is missing.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** openssl is there; otherwise a warning naming the suite that is skipped. */
export function opensslAvailable(suite: string): boolean {
  const ok = spawnSync('openssl', ['version']).status === 0
  if (!ok) console.warn(`[skipped] ${suite}: no openssl to make test certificates`)
  return ok
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']

function openssl(dir: string, args: readonly string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir })
  if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr.toString()}`)
}

export interface TestCa {
  readonly pem: string
  readonly file: string
  readonly keyFile: string
}

/** A self-signed P-256 CA, valid two days, as `<name>-ca.pem` in `dir`. */
export function makeCa(dir: string, name: string): TestCa {
  openssl(dir, ['req', '-x509', ...EC, '-keyout', `${name}-ca.key`, '-out', `${name}-ca.pem`, '-days', '2', '-subj', `/CN=${name} CA`])
  return { pem: readFileSync(join(dir, `${name}-ca.pem`), 'utf8'), file: join(dir, `${name}-ca.pem`), keyFile: join(dir, `${name}-ca.key`) }
}

export interface IssuedCert {
  readonly cert: string
  readonly key: string
  readonly certFile: string
  readonly keyFile: string
}

/**
 * A certificate `ca` issues for `name`: a server certificate for `altNames` (DNS names, or IP
 * addresses), or with `clientAuth` a client certificate.
 */
export function issueCert(dir: string, ca: TestCa, name: string, o: { altNames?: readonly string[]; clientAuth?: boolean }): IssuedCert {
  openssl(dir, ['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${o.altNames?.[0] ?? name}`])
  const ext = [
    ...(o.altNames === undefined ? [] : [`subjectAltName=${o.altNames.map((n) => (/^\d/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',')}`]),
    ...(o.clientAuth === true ? ['extendedKeyUsage=clientAuth'] : []),
  ]
  writeFileSync(join(dir, `${name}-ext.cnf`), ext.join('\n') + '\n')
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    ca.file,
    '-CAkey',
    ca.keyFile,
    '-CAcreateserial',
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-extfile',
    `${name}-ext.cnf`,
  ])
  const certFile = join(dir, `${name}.pem`)
  const keyFile = join(dir, `${name}.key`)
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile, keyFile }
}
