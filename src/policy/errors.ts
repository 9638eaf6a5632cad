import { GatehouseError } from '../errors.js'

export const POLICY_ERROR_CODES = [
  'POLICY_BAD_SHAPE',
  'POLICY_UNKNOWN_ACTION',
  'POLICY_UNKNOWN_OPERATOR',
  'POLICY_UNKNOWN_CRITERION',
  'POLICY_BAD_MATCHER',
  'POLICY_BAD_VALUE',
] as const
export type PolicyErrorCode = (typeof POLICY_ERROR_CODES)[number]

export class PolicyError extends GatehouseError<PolicyErrorCode> {}
