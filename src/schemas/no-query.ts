import { Type } from '@sinclair/typebox'

/** For routes that take no query parameters: an unknown one is a 422, as anywhere else. */
export const NoQuery = Type.Object({}, { additionalProperties: false })
