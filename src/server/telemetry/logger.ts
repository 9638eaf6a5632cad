/**
 * pino, JSON, one line per event. Log calls pass explicit fields; redaction is
 * the second line of defence so that a cookie, an Authorization header, a
 * code or a token never reaches a log even if someone logs a whole object.
 */
import pino, { type DestinationStream, type Logger } from 'pino'
import type { LogLevel } from '../../config/types.js'
import { createLogDestination } from './log-destination.js'

// Exact paths only: wildcard redaction costs more per log line than the rest
// of a proxied request. Log calls never pass tokens; these catch a mistake.
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'idToken',
  'accessToken',
  'refreshToken',
  'cookieValue',
  'session.idToken',
  'session.accessToken',
  'session.refreshToken',
  'tokens',
]

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const logger = pino(
    {
      level,
      base: { svc: 'gatehouse' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? createLogDestination(1),
  )
  return logger
}
