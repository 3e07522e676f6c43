import type { Test } from 'tap'

/**
 * Moves the process clock (Date.now) `ms` ahead until `t` ends, for code that reads it rather than the app's
 * injectable clock (fast-jwt, the rate limiter's in-process store): the test need not sleep for time to pass.
 */
export function moveProcessClock(t: Test, ms: number): void {
  const realNow = Date.now
  Date.now = () => realNow() + ms
  t.teardown(() => {
    Date.now = realNow
  })
}
