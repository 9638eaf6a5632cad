/** A clock for gatehouse that a test moves forward (the IdP keeps real time): refresh and expiry without waiting. */
export interface TestClock {
  now(): number
  advance(ms: number): void
}

export function testClock(): TestClock {
  let offset = 0
  return { now: () => Date.now() + offset, advance: (ms: number) => void (offset += ms) }
}
