/**
 * Downstream mTLS at the listener: the TLS options that ask for (or, with
 * reject_connection, demand) a client certificate, and the per-request check
 * for policy_with_default_deny, which answers 495 as Pomerium does when the
 * certificate is missing or did not verify against the configured CAs.
 */
import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'
import type { DownstreamMtls } from '../../config/downstream-mtls.js'

export function clientCertTlsOptions(mtls: DownstreamMtls | undefined): { ca?: string; requestCert?: boolean; rejectUnauthorized?: boolean } {
  if (mtls === undefined) return {}
  return { ca: mtls.caPem, requestCert: true, rejectUnauthorized: mtls.enforcement === 'reject_connection' }
}

/** undefined: fine (no mTLS, or a verified certificate); otherwise why the request is refused. */
export function clientCertProblem(mtls: DownstreamMtls | undefined, req: IncomingMessage): string | undefined {
  if (mtls === undefined) return undefined
  const socket = req.socket as Partial<TLSSocket>
  if (socket.encrypted !== true) return 'client certificates need HTTPS'
  if (socket.authorized === true) return undefined
  const error = socket.authorizationError
  return error === null || error === undefined ? 'no client certificate was presented' : `the client certificate did not verify (${String(error)})`
}
