// The helpers every client view gets (types only: the values are built in the browser, script.ts).
import type { Api } from './api.ts'
import type { Charts } from './charts.ts'
import type { Dom } from './dom.ts'
import type { Forms } from './forms.ts'
import type { Tracking } from './tracking.ts'
import type { Trajectories } from './trajectories.ts'

export interface Kit { dom: Dom; charts: Charts; api: Api; forms: Forms; tracking: Tracking; trajectories: Trajectories }

/** A view's entry: called with the route's parameters; returns what stops its polling. */
export type View = (params: string[]) => (() => void) | void
