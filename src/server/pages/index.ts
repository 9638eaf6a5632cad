/**
 * gatehouse's own pages. Each is a function of plain values; every value is
 * escaped. No page ever shows a stack trace or an internal name.
 */
import { html, layout, raw, type Raw } from './html.js'

export interface ErrorPageInput {
  readonly status: number
  readonly title: string
  readonly message: string
  /** What the person (or their admin) can do about it. */
  readonly hint?: string
  readonly code?: string
  readonly requestId?: string
  readonly action?: { readonly href: string; readonly label: string }
}

export function errorPage(p: ErrorPageInput): string {
  return layout(
    p.title,
    html`<div class="status bad">${String(p.status)}${p.code === undefined ? '' : ` · ${p.code}`}</div>
      <h1>${p.title}</h1>
      <p>${p.message}</p>
      ${p.hint === undefined ? '' : html`<p class="muted">${p.hint}</p>`}
      ${p.action === undefined ? '' : html`<p><a class="button" href="${p.action.href}">${p.action.label}</a></p>`}`,
    p.requestId,
  )
}

export interface ForbiddenPageInput {
  readonly route: string
  readonly user: string
  readonly groups: readonly string[]
  readonly reason: string
  readonly requestId: string
  readonly signOutHref: string
}

export function forbiddenPage(p: ForbiddenPageInput): string {
  return layout(
    'Access denied',
    html`<div class="status bad">403 · access denied</div>
      <h1>You don't have access to this page</h1>
      <p>You are signed in, but this route's policy does not let you in.</p>
      <span class="reason">${p.reason}</span>
      <dl>
        <dt>Route</dt>
        <dd>${p.route}</dd>
        <dt>Signed in as</dt>
        <dd>${p.user}</dd>
        <dt>Your groups</dt>
        <dd class="groups">${groupChips(p.groups)}</dd>
      </dl>
      <p class="muted">
        If you think you should have access, ask the team that runs this service to add you to the right group in Okta, and mention request ${p.requestId}.
      </p>
      <p><a href="${p.signOutHref}">Sign in as someone else</a></p>`,
    p.requestId,
  )
}

function groupChips(groups: readonly string[]): Raw {
  if (groups.length === 0) return html`<span class="muted">none</span>`
  return raw(groups.map((g) => html`<span>${g}</span>`.__raw).join(''))
}

export interface UserPageInput {
  readonly email: string | undefined
  readonly name: string | undefined
  readonly sub: string
  readonly groups: readonly string[]
  readonly signedInAt: Date
  readonly expiresAt: Date
  readonly csrfToken: string
  readonly signOutAction: string
  readonly requestId: string
  /** Things to fix in Okta that this sign-in showed (a missing groups claim). */
  readonly notes?: readonly string[]
  /** Facts gatehouse could not establish, with why (groups possibly cut at Okta's cap). */
  readonly unknown?: Readonly<Record<string, string>>
  /** On the sign-in host: the route hosts this session was handed to. */
  readonly hosts?: readonly string[]
}

export function userPage(p: UserPageInput): string {
  return layout(
    'Signed in',
    html`<div class="status ok">signed in</div>
      <h1>${p.name ?? p.email ?? p.sub}</h1>
      <dl>
        <dt>Email</dt>
        <dd>${p.email ?? '—'}</dd>
        <dt>User id</dt>
        <dd><code>${p.sub}</code></dd>
        <dt>Groups</dt>
        <dd class="groups">${groupChips(p.groups)}</dd>
        ${Object.entries(p.unknown ?? {}).map(
          ([fact, why]) =>
            html`<dt>Unknown</dt>
              <dd class="unknown">${fact}: ${why}</dd>`,
        )}
        <dt>Signed in</dt>
        <dd>${p.signedInAt.toISOString()}</dd>
        <dt>Session ends</dt>
        <dd>${p.expiresAt.toISOString()}</dd>
        ${
          p.hosts === undefined
            ? ''
            : html`<dt>Signed in on</dt>
                <dd class="hosts">${p.hosts.length === 0 ? 'no application yet' : p.hosts.map((h) => html`<code>${h}</code> `)}</dd>`
        }
      </dl>
      ${(p.notes ?? []).map((n) => html`<div class="status warn" role="note">${n}</div>`)}
      <form method="post" action="${p.signOutAction}"><input type="hidden" name="csrf" value="${p.csrfToken}" /><button type="submit">Sign out</button></form>`,
    p.requestId,
  )
}

export function signOutPage(p: { csrfToken: string; action: string; who: string; requestId: string }): string {
  return layout(
    'Sign out',
    html`<h1>Sign out?</h1>
      <p>You are signed in as <strong>${p.who}</strong>. Signing out ends your session here and at Okta.</p>
      <form method="post" action="${p.action}"><input type="hidden" name="csrf" value="${p.csrfToken}" /><button type="submit">Sign out</button></form>`,
    p.requestId,
  )
}

export function signedOutPage(p: { requestId: string }): string {
  return layout(
    'Signed out',
    html`<div class="status ok">signed out</div>
      <h1>You are signed out</h1>
      <p>Your session has ended. You can close this tab.</p>`,
    p.requestId,
  )
}
