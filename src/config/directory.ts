/**
 * The Okta directory: groups read from Okta's API. Two ways to authenticate,
 * SSWS first as Okta's guides do: Pomerium's legacy `idp_service_account`
 * (base64 of JSON with `api_key`, an Okta API token) or gatehouse's OAuth
 * service app (`idp_directory_client_id` + `idp_directory_private_key_file`),
 * which Okta prefers: scoped (okta.groups.read okta.users.read) and no
 * long-lived secret.
 */
import { createPrivateKey } from 'node:crypto'
import type { Node } from 'yaml'
import type { Reader } from './reader.js'
import type { DirectoryConfig, DirectoryCredential } from './types.js'

export interface DirectoryInputs {
  readonly serviceAccount: { readonly text: string | undefined; readonly node: Node | undefined }
  readonly clientId: { readonly text: string | undefined; readonly node: Node | undefined }
  readonly privateKeyPem: { readonly text: string | undefined; readonly node: Node | undefined }
  readonly keyId: string | undefined
  readonly providerUrl: string | undefined
  readonly refreshIntervalMs: number
  readonly timeoutMs: number
  readonly lookup: 'when_incomplete' | 'always'
}

/** `idp_service_account`: base64 of `{"api_key": "..."}` (Pomerium's form); plain JSON is accepted too. */
export function parseServiceAccount(text: string): { apiKey: string } | { error: string } {
  const trimmed = text.trim()
  const json = trimmed.startsWith('{') ? trimmed : Buffer.from(trimmed, 'base64').toString('utf8')
  let parsed: unknown
  try {
    parsed = JSON.parse(json)
  } catch {
    return { error: 'idp_service_account must be base64 of a JSON object such as {"api_key": "00abc…"}' }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { error: 'idp_service_account must hold a JSON object with api_key' }
  const apiKey = (parsed as Record<string, unknown>).api_key
  if (typeof apiKey !== 'string' || apiKey.trim().length === 0)
    return { error: 'idp_service_account has no api_key (an Okta API token: Security → API → Tokens)' }
  return { apiKey: apiKey.trim() }
}

export function compileDirectory(r: Reader, x: DirectoryInputs): DirectoryConfig | undefined {
  const hasAccount = x.serviceAccount.text !== undefined
  const hasApp = x.clientId.text !== undefined || x.privateKeyPem.text !== undefined
  if (!hasAccount && !hasApp) return undefined
  if (hasAccount && hasApp) {
    r.problem(
      x.clientId.node ?? x.privateKeyPem.node,
      'idp_directory_client_id',
      'CONFIG_CONFLICT',
      'set either idp_service_account (an API token) or idp_directory_client_id with idp_directory_private_key_file (a service app), not both',
    )
    return undefined
  }
  let credential: DirectoryCredential | undefined
  if (hasAccount) {
    const parsed = parseServiceAccount(x.serviceAccount.text as string)
    if ('error' in parsed) r.problem(x.serviceAccount.node, 'idp_service_account', 'CONFIG_BAD_SECRET', parsed.error)
    else credential = { kind: 'api_token', apiToken: parsed.apiKey }
  } else if (x.clientId.text === undefined) {
    r.problem(x.privateKeyPem.node, 'idp_directory_client_id', 'CONFIG_MISSING_KEY', 'idp_directory_private_key_file needs idp_directory_client_id')
  } else if (x.privateKeyPem.text === undefined) {
    r.problem(
      x.clientId.node,
      'idp_directory_private_key_file',
      'CONFIG_MISSING_KEY',
      "idp_directory_client_id needs idp_directory_private_key_file (the PEM private key whose public key is on the service app's General tab)",
    )
  } else {
    try {
      const key = createPrivateKey(x.privateKeyPem.text)
      if (key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'ec') throw new Error('not RSA or EC')
      credential = { kind: 'service_app', clientId: x.clientId.text, privateKeyPem: x.privateKeyPem.text, keyId: x.keyId }
    } catch {
      r.problem(
        x.privateKeyPem.node,
        'idp_directory_private_key_file',
        'CONFIG_BAD_SECRET',
        'idp_directory_private_key_file must hold a PEM RSA or EC private key',
      )
    }
  }
  if (credential === undefined || x.providerUrl === undefined) return undefined
  let orgUrl: string
  try {
    orgUrl = new URL(x.providerUrl).origin
  } catch {
    return undefined
  }
  return { orgUrl, credential, refreshIntervalMs: x.refreshIntervalMs, timeoutMs: x.timeoutMs, lookup: x.lookup }
}
