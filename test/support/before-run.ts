import { buildIfStale } from './build.js'
import { writeFreshCluster } from './fresh-cluster.js'

/** tap runs this once before the test files (`before` in package.json's tap config). */
try {
  buildIfStale()
} catch (error) {
  // The compiler has printed its errors; without dist/ the tests that start the server cannot run.
  console.error(`${(error as Error).message}: not running the tests`)
  process.exit(1)
}
await writeFreshCluster()
