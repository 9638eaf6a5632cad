/**
 * pino, JSON, one line per event. Log calls pass explicit fields; redaction is
 * the second line of defence so that a cookie, an Authorization header, a
 * code or a token never reaches a log even if someone logs a whole object.
 */
import pino, { type DestinationStream, type Logger } from 'pino'
import type { LogLevel } from '../config/types.js'

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  '*.idToken',
  '*.accessToken',
  '*.refreshToken',
  '*.id_token',
  '*.access_token',
  '*.refresh_token',
  'query.code',
  'req.query.code',
  '*.code_verifier',
  '*.client_secret',
  '*.cookieValue',
  'idToken',
  'accessToken',
  'refreshToken',
  'cookieValue',
]

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { svc: 'gatehouse' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  )
}
