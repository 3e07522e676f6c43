import { Type } from '@sinclair/typebox'

/** A count, 32-bit in the document (no caller holds two billion tasks); in bodies and in headers alike. */
export const Count = (description?: string) =>
  Type.Integer({ format: 'int32', minimum: 0, maximum: 2_147_483_647, ...(description !== undefined && { description }) })
