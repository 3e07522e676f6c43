import { hash } from 'node:crypto'

/**
 * Callers of recently verified tokens, so a client sending the same token on every request pays for one
 * signature check, not one per request (EdDSA costs far more than the rest of a request). Keyed by the SHA-256
 * of the whole token, signature included: a forged or altered token has another key and is verified in full.
 * An entry is never used at or past its token's `exp`; the oldest entries go first once `maxEntries` is reached.
 */
export class VerifiedTokens {
  private readonly entries = new Map<string, { userId: string; expiresAtMs: number }>()

  constructor (private readonly maxEntries: number) {}

  /** The caller of a token verified earlier and not yet expired; undefined otherwise. */
  get (token: string, nowMs: number): string | undefined {
    const key = keyOf(token)
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    if (nowMs >= entry.expiresAtMs) {
      this.entries.delete(key)
      return undefined
    }
    return entry.userId
  }

  set (token: string, userId: string, expiresAtMs: number): void {
    const key = keyOf(token)
    this.entries.delete(key)
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string)
    this.entries.set(key, { userId, expiresAtMs })
  }

  get size (): number {
    return this.entries.size
  }
}

function keyOf (token: string): string {
  return hash('sha256', token, 'base64url')
}
