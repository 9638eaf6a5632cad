/**
 * Downstream mTLS, in Pomerium's keys: `downstream_mtls` (`ca` base64 PEM or
 * `ca_file`, `enforcement`), the older `client_ca`/`client_ca_file`, and the
 * route-level `tls_downstream_client_ca(_file)`, whose CAs join the one bundle
 * (as Pomerium now documents). Enforcement:
 *   policy_with_default_deny (default): the handshake asks for a certificate;
 *     a request without a valid one gets the 495 page, whatever the route.
 *   reject_connection: the handshake itself fails without a valid certificate.
 * A sub-key that would narrow access further and is not implemented (crl,
 * match_subject_alt_names, max_verify_depth, enforcement: policy) is a config
 * error: a client-certificate requirement must never silently disappear.
 */
import { X509Certificate } from 'node:crypto'
import { isMap, type Node } from 'yaml'
import type { Reader } from './reader.js'

export type MtlsEnforcement = 'policy_with_default_deny' | 'reject_connection'
export interface DownstreamMtls {
  /** PEM bundle of the trust anchors. */
  readonly caPem: string
  readonly enforcement: MtlsEnforcement
}

const NOT_IMPLEMENTED = ['crl', 'crl_file', 'match_subject_alt_names', 'max_verify_depth']

/** Base64 of PEM (Pomerium's inline form), or PEM itself; undefined with a problem when it holds no certificate. */
function pemBundle(r: Reader, node: Node | undefined, path: string, text: string, fromFile: boolean): string | undefined {
  const pem = fromFile || text.includes('-----BEGIN') ? text : Buffer.from(text, 'base64').toString('utf8')
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  try {
    if (blocks.length === 0) throw new Error('no certificate')
    for (const b of blocks) new X509Certificate(b)
  } catch {
    r.problem(node, path, 'CONFIG_BAD_VALUE', `${path} must be ${fromFile ? 'a file of' : 'base64 of'} PEM CA certificates`)
    return undefined
  }
  return blocks.join('\n') + '\n'
}

export interface MtlsInputs {
  readonly global: { node: Node | undefined; readonly map: Node | undefined }
  readonly clientCa: { node: Node | undefined; text: string | undefined; fromFile: boolean }
  /** Route-level CAs: node, key path, text, whether from a file. */
  readonly routeCas: ReadonlyArray<{ node: Node | undefined; path: string; text: string; fromFile: boolean }>
  readonly insecureServer: boolean
  readonly root: Node | null
}

export function compileDownstreamMtls(r: Reader, inputs: MtlsInputs, readFile: (p: string) => string): DownstreamMtls | undefined {
  const bundles: string[] = []
  let enforcement: MtlsEnforcement = 'policy_with_default_deny'
  const m = inputs.global.map
  if (m !== undefined) {
    if (!isMap(m)) r.problem(m, 'downstream_mtls', 'CONFIG_BAD_TYPE', 'downstream_mtls must be a map (ca or ca_file, enforcement)')
    else {
      const entries = new Map(r.entries(m))
      for (const [k, pair] of entries) {
        const at = `downstream_mtls.${k}`
        if (NOT_IMPLEMENTED.includes(k)) {
          r.problem(
            pair.key as Node,
            at,
            'CONFIG_UNSUPPORTED_KEY',
            `${at} is not supported, and it would restrict access: gatehouse refuses to start without it`,
            'remove it, or keep Pomerium for this deployment',
          )
        } else if (!['ca', 'ca_file', 'enforcement'].includes(k)) r.problem(pair.key as Node, at, 'CONFIG_UNKNOWN_KEY', `unknown key "${at}"`)
      }
      const caNode = entries.get('ca')?.value as Node | undefined
      const fileNode = entries.get('ca_file')?.value as Node | undefined
      if (caNode !== undefined && fileNode !== undefined)
        r.problem(fileNode, 'downstream_mtls.ca_file', 'CONFIG_CONFLICT', 'downstream_mtls.ca is given twice: set ca or ca_file, not both')
      else if (caNode !== undefined) {
        const text = r.string(caNode, 'downstream_mtls.ca')
        const pem = text === undefined ? undefined : pemBundle(r, caNode, 'downstream_mtls.ca', text, false)
        if (pem !== undefined) bundles.push(pem)
      } else if (fileNode !== undefined) {
        const path = r.string(fileNode, 'downstream_mtls.ca_file')
        if (path !== undefined) {
          try {
            const pem = pemBundle(r, fileNode, 'downstream_mtls.ca_file', readFile(path), true)
            if (pem !== undefined) bundles.push(pem)
          } catch (err) {
            r.problem(fileNode, 'downstream_mtls.ca_file', 'CONFIG_FILE_UNREADABLE', `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
          }
        }
      }
      const enfNode = entries.get('enforcement')?.value as Node | undefined
      if (enfNode !== undefined) {
        const v = r.string(enfNode, 'downstream_mtls.enforcement')
        if (v === 'policy_with_default_deny' || v === 'reject_connection') enforcement = v
        else if (v === 'policy')
          r.problem(
            enfNode,
            'downstream_mtls.enforcement',
            'CONFIG_UNSUPPORTED_KEY',
            'enforcement: policy leaves client certificates to the client_certificate policy criterion, which gatehouse does not implement',
            'use policy_with_default_deny (every request needs a valid certificate) or reject_connection',
          )
        else if (v !== undefined)
          r.problem(
            enfNode,
            'downstream_mtls.enforcement',
            'CONFIG_BAD_VALUE',
            `enforcement must be policy_with_default_deny or reject_connection, found "${v}"`,
          )
      }
    }
  }
  const c = inputs.clientCa
  if (c.text !== undefined) {
    const pem = pemBundle(r, c.node, c.fromFile ? 'client_ca_file' : 'client_ca', c.text, c.fromFile)
    if (pem !== undefined) bundles.push(pem)
  }
  for (const rc of inputs.routeCas) {
    const pem = pemBundle(r, rc.node, rc.path, rc.text, rc.fromFile)
    if (pem !== undefined) bundles.push(pem)
  }
  const configured = m !== undefined || c.text !== undefined || inputs.routeCas.length > 0
  if (configured && bundles.length === 0 && r.problems.length === 0)
    r.problem(
      m ?? c.node ?? inputs.root,
      'downstream_mtls',
      'CONFIG_MISSING_KEY',
      'downstream mTLS needs a CA: set downstream_mtls.ca or downstream_mtls.ca_file',
    )
  if (bundles.length === 0) return undefined
  if (inputs.insecureServer)
    r.problem(
      m ?? c.node ?? inputs.root,
      'downstream_mtls',
      'CONFIG_CONFLICT',
      'client certificates need gatehouse to terminate TLS, but insecure_server is true',
      'remove insecure_server (and set certificate_file), or enforce client certificates at the load balancer in front',
    )
  return { caPem: bundles.join(''), enforcement }
}
