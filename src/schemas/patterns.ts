/** PostgreSQL text cannot hold U+0000, so strings holding it are refused at validation rather than by the driver. */
export const NUL_FREE_PATTERN = '^[^\\u0000]*$'
