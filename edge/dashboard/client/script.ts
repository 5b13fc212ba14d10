// The dashboard's client script, built from the client modules without a bundler: each module's
// one exported function is written out with Function.prototype.toString(), which gives the
// JavaScript that the TypeScript loader (tsx, vite, wrangler's esbuild) produced for it, and the
// script wires them together. So the client code is typechecked with the rest of the project and
// served by every runtime the edge runs in, with no build step and no file access.
import { apiKit } from './api.ts'
import { chartKit } from './charts.ts'
import { domKit } from './dom.ts'
import { evaluationViews } from './evaluations.ts'
import { formKit } from './forms.ts'
import { jobViews } from './jobs.ts'
import { main } from './main.ts'
import { playgroundView } from './playground.ts'
import { trackingKit } from './tracking.ts'
import { trajectoryKit } from './trajectories.ts'

export function clientScript(): string {
  return `"use strict";
(() => {
// esbuild's keepNames (tsx, wrangler) wraps functions in __name(fn, "name"); a function is enough here
const __name = (target) => target;
const dom = (${domKit})();
const api = (${apiKit})();
const charts = (${chartKit})(dom);
const kit = { dom, api, charts, forms: (${formKit})(api), tracking: (${trackingKit})(dom, charts, api), trajectories: (${trajectoryKit})(dom) };
(${main})(kit, (${jobViews})(kit), (${evaluationViews})(kit), (${playgroundView})(kit));
})();
`
}
