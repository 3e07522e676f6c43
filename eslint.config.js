// Lint and format in the Fastify family's style (neostandard: standard's rules for TypeScript, no Prettier).
import neostandard from 'neostandard'

const maxLength = { code: 140, ignoreUrls: true, ignoreRegExpLiterals: true }

export default [
  ...neostandard({
    ts: true,
    ignores: ['dist/**', 'coverage/**', '.tap/**', 'test/client/generated/**', 'test/artifacts/**', 'test/bench/results/**'],
  }),
  {
    rules: {
      // Wire fields are snake_case (due_at, created_at): the contract's names, not ours to camelCase.
      camelcase: 'off',
      // `void promise` marks a deliberately unawaited call.
      'no-void': ['error', { allowAsStatement: true }],
      '@stylistic/max-len': ['error', maxLength],
    },
  },
  {
    // Test names and expected messages are sentences; wrapping them would hurt more than it helps.
    files: ['test/**'],
    rules: {
      '@stylistic/max-len': ['error', { ...maxLength, ignoreStrings: true, ignoreTemplateLiterals: true }],
      // Loops that wait on a flag another task of the same test sets (`while (writing)`): the rule cannot see it.
      'no-unmodified-loop-condition': 'off',
    },
  },
]
