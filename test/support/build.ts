import { execFileSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * Keeps dist/ (what `npm start` runs) built from the current src/, for the tests and the bench that start the
 * compiled server. tap runs it first (test/support/before-run.ts).
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const BUILT_SERVER = join(ROOT, 'dist/server.js')
/** What `npm run build` compiles from. */
const INPUTS = [join(ROOT, 'src'), join(ROOT, 'tsconfig.json')]

function newestChange (path: string): number {
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  const files = readdirSync(path, { recursive: true, encoding: 'utf8' })
  return Math.max(stat.mtimeMs, ...files.map((file) => statSync(join(path, file)).mtimeMs))
}

/** When built: the build writes every output file, and with noEmitOnError a failed build writes none. */
function builtAt (): number {
  try {
    return statSync(BUILT_SERVER).mtimeMs
  } catch {
    return -Infinity
  }
}

/** Runs `npm run build` when a file it reads changed after dist/ was built, or dist/ is missing. */
export function buildIfStale (): void {
  if (Math.max(...INPUTS.map(newestChange)) <= builtAt()) return
  console.error('dist/ is missing or older than src/: building it (npm run build)')
  // Without the test runner's NODE_OPTIONS (its coverage and loader hooks): the compiler needs neither.
  const env = { ...process.env }
  delete env.NODE_OPTIONS
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, env, stdio: ['ignore', 'inherit', 'inherit'] })
}
