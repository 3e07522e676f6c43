import { existsSync, readFileSync } from 'node:fs'
import { mkdir, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freshClusterCopy, useFreshCluster } from '../../src/db/database.js'

/**
 * Every test process opens in-memory databases, and each would run initdb (about 3 s in WASM) for its first one.
 * tap's `before` step makes the fresh cluster once for the run and leaves it here; test processes load it.
 */
const CLUSTER_FILE = fileURLToPath(new URL('../../.tap/fresh-cluster.tar', import.meta.url))

/** Makes the run's fresh cluster (rewritten each run, so it always matches the installed PGlite). */
export async function writeFreshCluster (): Promise<void> {
  const cluster = Buffer.from(await (await freshClusterCopy()).arrayBuffer())
  await mkdir(dirname(CLUSTER_FILE), { recursive: true })
  // Written whole, then renamed: a process never reads half a cluster.
  await writeFile(`${CLUSTER_FILE}.partial`, cluster)
  await rename(`${CLUSTER_FILE}.partial`, CLUSTER_FILE)
}

/** In-memory databases of this process start from the run's cluster, when tap's before step made one. */
export function useRunCluster (): void {
  if (existsSync(CLUSTER_FILE)) useFreshCluster(new Blob([readFileSync(CLUSTER_FILE)]))
}
