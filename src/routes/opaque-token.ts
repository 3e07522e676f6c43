import { UUID_PATTERN } from '../schemas/patterns.js'

/**
 * Cursors and sync tokens: opaque to clients, base64url JSON to us. They carry positions in the caller's own
 * data only, so they need no secrecy; every field is validated when one comes back.
 */
export function encodeOpaque(fields: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(fields)).toString('base64url')
}

/** The fields of a token, or undefined when it is not base64url JSON of an object. */
export function decodeOpaque(text: string): Record<string, unknown> | undefined {
  try {
    const decoded: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'))
    return typeof decoded === 'object' && decoded !== null && !Array.isArray(decoded) ? (decoded as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/** The task ids that tokens carry are checked with this before they reach a query. */
export const UUID = new RegExp(UUID_PATTERN)
