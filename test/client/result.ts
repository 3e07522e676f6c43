/**
 * What test/client/flow.ts takes and returns, in plain types: test/client.test.ts reads it without following
 * an import into the generated file, which exists only once the test has written it.
 */

export interface FlowOptions {
  /** Origin of a running server, such as `http://127.0.0.1:41234`. */
  baseUrl: string
  /** The caller: a user id and a bearer token whose `sub` is that id. */
  user: { id: string; token: string }
  /** Another user, whose token must not reach the caller's tasks. */
  otherUser: { id: string; token: string }
}

/** What a problem answer looked like, as the client saw it. */
export interface SeenProblem {
  status: number
  title: string
  detail: string
  requestIdMatchesHeader: boolean
  contentType: string | null
}

export interface SeenValidationProblem extends SeenProblem {
  /** `error.errors[0].path`: the first invalid field, such as `/body/title`. */
  firstPath: string
  paths: string[]
}

export interface FlowResult {
  created: { id: string; title: string; priority: string; tags: string[]; location: string | null }[]
  listing: {
    query: Record<string, unknown>
    pages: { titles: string[]; totalCount: number | null; next: string | null }[]
  }
  fetched: { title: string; etag: string }
  fetchedThroughUserPath: { id: string; user_id: string }
  updated: { title: string; priority: string; description: string | null; etag: string | null }
  completed: { completed: boolean; completedAtIsSet: boolean }
  stats: { total: number; completed: number; pending: number; overdue: number; by_priority: Record<string, number> }
  deleted: { status: number; getAfterwards: number }
  errors: {
    missingToken: SeenProblem & { wwwAuthenticate: string | null }
    invalidToken: SeenProblem & { wwwAuthenticate: string | null }
    otherUsersTask: SeenProblem
    otherUserInPath: SeenProblem
    staleEtag: SeenProblem & { currentEtag: string | null }
    unknownId: SeenProblem
    emptyTitle: SeenValidationProblem
    wrongPriority: SeenValidationProblem
  }
}

export interface FlowModule {
  runFlow(options: FlowOptions): Promise<FlowResult>
}
