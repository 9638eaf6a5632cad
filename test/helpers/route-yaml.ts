/**
 * Route fragments the forward-auth tests share, as YAML text for a config's
 * `routes:` list (two-space indented list items). Each names one policy
 * shape; the tests add their own `from` host and any extra keys.
 */

/** `from` with a `/readonly` prefix that any signed-in user may read with GET only. */
export function readonlyRoute(from: string): string {
  return `
  - from: ${from}
    prefix: /readonly
    policy:
      - allow:
          and:
            - authenticated_user: true
            - http_method:
                is: GET`
}

/** A policy: any signed-in user, except under /admin (and, with `denyDelete`, the DELETE method). */
export function signedInExceptAdmin(opts: { denyDelete?: boolean } = {}): string {
  const del = opts.denyDelete === true ? '\n            - http_method:\n                is: DELETE' : ''
  return `
    policy:
      - allow:
          and:
            - authenticated_user: true
        deny:
          or:
            - http_path:
                starts_with: /admin${del}`
}

/** `from` open to the `admin` group only. */
export function adminsOnlyRoute(from: string): string {
  return `
  - from: ${from}
    policy:
      - allow:
          and:
            - groups: admin`
}
