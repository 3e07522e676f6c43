import { createCipheriv, createDecipheriv, createSecretKey, randomFillSync, type KeyObject } from 'node:crypto'
import { UUID_PATTERN } from '../schemas/patterns.js'

const ALGORITHM = 'aes-256-gcm'
const IV_BYTES = 12
const TAG_BYTES = 16
/** IVs are taken from one fill of random bytes this many at a time: a fill per token costs ~10 µs. */
const IVS_PER_FILL = 1024

/**
 * Cursors and sync tokens, sealed with AES-256-GCM under the key every instance shares (the `tokens` row of
 * `token_keys`): clients can neither read them (they hold positions in the server-wide order of transactions)
 * nor alter them. Each is bound to its context (what it is, whose, for which listing) as associated data, so
 * opened in any other context it fails. A token is base64url of: IV (12 random bytes), the fields' JSON
 * encrypted, tag (16 bytes). With random 96-bit IVs, a billion tokens under one key repeat an IV with a
 * chance below 10^-11.
 */
export class OpaqueTokens {
  private readonly key: KeyObject
  private readonly ivs = Buffer.alloc(IV_BYTES * IVS_PER_FILL)
  private usedIvBytes = this.ivs.length

  /** `key`: 32 bytes. */
  constructor (key: Buffer) {
    this.key = createSecretKey(key)
  }

  seal (context: string, fields: object): string {
    if (this.usedIvBytes === this.ivs.length) {
      randomFillSync(this.ivs)
      this.usedIvBytes = 0
    }
    const iv = this.ivs.subarray(this.usedIvBytes, (this.usedIvBytes += IV_BYTES))
    const cipher = createCipheriv(ALGORITHM, this.key, iv, { authTagLength: TAG_BYTES })
    cipher.setAAD(Buffer.from(context))
    return Buffer.concat([iv, cipher.update(JSON.stringify(fields), 'utf8'), cipher.final(), cipher.getAuthTag()]).toString('base64url')
  }

  /** The fields of a token sealed in this context; undefined for anything else (altered, another's, not a token). */
  open (context: string, text: string): Record<string, unknown> | undefined {
    const sealed = Buffer.from(text, 'base64url')
    // Node's decoder skips characters outside the alphabet and spare trailing bits: only the canonical text counts.
    if (sealed.length < IV_BYTES + TAG_BYTES || sealed.toString('base64url') !== text) return undefined
    const decipher = createDecipheriv(ALGORITHM, this.key, sealed.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES })
    decipher.setAAD(Buffer.from(context))
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES))
    try {
      const plain = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()])
      return objectOf(plain.toString('utf8'))
    } catch {
      // final() throws when the tag does not authenticate the text and its context.
      return undefined
    }
  }
}

/** The object a JSON text holds; undefined when it is not JSON of an object. */
export function objectOf (json: string): Record<string, unknown> | undefined {
  try {
    const decoded: unknown = JSON.parse(json)
    return typeof decoded === 'object' && decoded !== null && !Array.isArray(decoded) ? (decoded as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/** The task ids that tokens carry are checked with this before they reach a query. */
export const UUID = new RegExp(UUID_PATTERN)
