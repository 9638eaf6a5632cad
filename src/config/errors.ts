import { GatehouseError } from '../errors.js'

export const CONFIG_ERROR_CODES = [
  'CONFIG_READ_FAILED',
  'CONFIG_YAML_SYNTAX',
  'CONFIG_NOT_A_MAP',
  'CONFIG_UNKNOWN_KEY',
  'CONFIG_UNSUPPORTED_KEY',
  'CONFIG_MISSING_KEY',
  'CONFIG_BAD_TYPE',
  'CONFIG_BAD_VALUE',
  'CONFIG_BAD_URL',
  'CONFIG_BAD_DURATION',
  'CONFIG_BAD_SECRET',
  'CONFIG_BAD_REGEX',
  'CONFIG_MISSING_ENV',
  'CONFIG_FILE_UNREADABLE',
  'CONFIG_CONFLICT',
  'CONFIG_POLICY',
  'CONFIG_GENERATED_SECRET',
  'CONFIG_NO_POLICY',
] as const
export type ConfigErrorCode = (typeof CONFIG_ERROR_CODES)[number]

export class ConfigError extends GatehouseError<ConfigErrorCode> {}
