// The dashboard page: every view's skeleton, rendered on the server with the published defaults
// filled in. It holds no data: the client script (client/) fills the views from the JSON API with
// the key the user enters.
import { BUILTIN_NAMES } from '../../datasets/named.ts'
import { PUBLISHED_DATASETS } from '../../datasets/registry.ts'
import { EVAL_MODES, createEvaluationBody, evalEnvironment, grpoHyperparameters, noopMethod } from '../../shared/job-config.ts'
import { DEMO_TRAINING_JOB } from '../../shared/demo.ts'
import { BUILTIN_ENVIRONMENTS } from '../../shared/protocol/builtin-environment.ts'
import { PROTOCOL_NAMES, type ProtocolName } from '../../shared/protocol/options.ts'
import type { Child } from 'hono/jsx'
import { Choices, ErrorSlot, Field, FormError, Select } from './fields.tsx'

const GRPO = grpoHyperparameters.parse({})
const NOOP = noopMethod.parse({})
// an optional field's default as the API applies it
const defaultOf = (schema: { parse(value: unknown): unknown }) => schema.parse(undefined) as number

// the published recipe's numbers; the trainer's own options (LoRA, recomputation) keep their defaults
type NumberKey = { [K in keyof typeof GRPO]-?: (typeof GRPO)[K] extends number ? K : never }[keyof typeof GRPO]
const HYPERPARAMETERS: { key: NumberKey; label: string }[] = [
  { key: 'group_size', label: 'Group size (answers per prompt)' },
  { key: 'prompts_per_step', label: 'Prompts per step' },
  { key: 'steps', label: 'Steps' },
  { key: 'learning_rate', label: 'Learning rate' },
  { key: 'kl_coef', label: 'KL coefficient' },
  { key: 'clip_ratio', label: 'Clip ratio' },
  { key: 'dual_clip', label: 'Dual clip' },
  { key: 'updates_per_step', label: 'Updates per step' },
  { key: 'max_turns', label: 'Max turns' },
  { key: 'validation_every', label: 'Validate every (steps)' },
  { key: 'checkpoint_every', label: 'Checkpoint every (steps)' },
]

const PROTOCOL_LABELS: Record<ProtocolName, string> = {
  training: 'Training (as the agent was trained; greedy)',
  inference: 'Published inference.py (5 turns, temperature 0.7)',
  'batch-inference': 'Published batch_inference.py (10 turns, temperature 0.7)',
}

const MODE_LABELS: Record<(typeof EVAL_MODES)[number], string> = {
  direct: 'direct: the large LLM alone', cot: 'cot: the large LLM, step by step', agent: 'agent: the Prompt-R1 agent drives it',
}

function Table({ id, caption, headers, hidden }: { id: string; caption: string; headers: string[]; hidden?: boolean }) {
  return (
    <table id={id} hidden={hidden}>
      <caption>{caption}</caption>
      <thead><tr>{headers.map((h) => <th scope="col">{h}</th>)}</tr></thead>
      <tbody></tbody>
    </table>
  )
}

/**
 * The trajectory viewer's skeleton (client/trajectories.ts): the filters every episode list has,
 * the caller's own filters, the rows and the panel an opened episode fills. `prefix` keeps the ids
 * of the evaluation's and the training job's viewers apart.
 */
function EpisodeBrowser({ prefix, caption, headers, children }: { prefix: string; caption: string; headers: string[]; children?: Child }) {
  return (
    <>
      <form id={`${prefix}rows-filters`} class="filters">
        <label><input type="checkbox" name="wrong" value="1" /> Wrong answers</label>
        <label><input type="checkbox" name="no_call" value="1" /> No call made</label>
        <label><input type="checkbox" name="format" value="1" /> Format failures</label>
        {children}
      </form>
      <p id={`${prefix}rows-count`} class="muted" aria-live="polite"></p>
      <div class="scroll">
        <Table id={`${prefix}rows-table`} caption={caption} headers={[...headers, 'Flags', 'Trajectory']} />
      </div>
      <article id={`${prefix}trajectory`} class="panel" aria-label="Trajectory" hidden></article>
    </>
  )
}

// The curves' controls: smoothing, log scale, and (training jobs) another run overlaid for comparison.
function ChartControls({ prefix, compare }: { prefix: string; compare?: boolean }) {
  return (
    <form id={`${prefix}-chart-controls`} class="chart-controls" aria-label="Chart settings">
      <label>Smoothing <input type="range" name="smoothing" min="0" max="0.95" step="0.05" value="0" /> <output name="smoothing-value">0</output></label>
      <label><input type="checkbox" name="log" /> Log scale</label>
      {compare ? <label>Compare with <select name="compare"><option value="">(no other run)</option></select></label> : null}
    </form>
  )
}

function UploadForm({ id, target, purpose }: { id: string; target: string; purpose: 'fine-tune' | 'evals' }) {
  return (
    <form id={id} class="upload-form panel" data-target={target} novalidate>
      <h3>Upload a dataset</h3>
      <p class="hint">A <code>.jsonl</code> or <code>.parquet</code> file: the verl schema of the published data, or JSONL rows <code>{'{"question": ..., "golds": [...]}'}</code>. Every row is checked.</p>
      <div class="field">
        <label for={`${id}-file`}>Dataset file</label>
        <input id={`${id}-file`} type="file" name="file" accept=".jsonl,.parquet" data-param="file" aria-describedby={`${id}-file-error`} />
        <p class="field-error" id={`${id}-file-error`} data-error-for="file" aria-live="polite"></p>
      </div>
      <input type="hidden" name="purpose" value={purpose} />
      <button type="submit">Upload</button>
      <p class="upload-result" aria-live="polite"></p>
      <FormError />
    </form>
  )
}

function TrainingForm() {
  const f = 'train'
  return (
    <form id="train-form" class="panel" novalidate>
      <Field form={f} param="model" label="Base model" value="hf:Qwen/Qwen3-0.6B" hint="hf:owner/name (the Hugging Face hub, when the workers are online), a checkpoint id of this project, or a folder inside the server's model folders" />
      <Select form={f} param="training_file" label="Training dataset" files="required"><option value="">(choose a file)</option></Select>
      <Select form={f} param="validation_file" label="Validation dataset" files="optional"><option value="">(none)</option></Select>
      <Select form={f} param="method.type" label="Method">
        <option value="grpo" selected>GRPO (the published recipe)</option>
        <option value="noop">noop (no model work: checks the queue and workers)</option>
      </Select>
      <fieldset data-method="grpo" class="grid">
        <legend>GRPO hyperparameters (published defaults)</legend>
        {HYPERPARAMETERS.map(({ key, label }) => (
          <Field form={f} param={`method.grpo.hyperparameters.${key}`} label={label} type="number" value={GRPO[key]} />
        ))}
      </fieldset>
      <fieldset data-method="grpo" class="grid">
        <legend>Environment (the large LLM of the rollouts; empty: the server's, PROMPT_R1_ENV_*)</legend>
        <BuiltinEnvironment form={f} />
        <Field form={f} param="environment.base_url" label="Base URL" placeholder="https://api.openai.com/v1" />
        <Field form={f} param="environment.model" label="Model" placeholder="gpt-4o-mini" />
        <Field form={f} param="environment.api_key" label="API key" type="password" hint="Used by the worker; never shown again" />
      </fieldset>
      <fieldset data-method="noop" class="grid" hidden disabled>
        <legend>noop job</legend>
        <Field form={f} param="method.noop.steps" label="Steps" type="number" value={NOOP.steps} />
        <Field form={f} param="method.noop.step_ms" label="Milliseconds per step" type="number" value={NOOP.step_ms} />
        <Field form={f} param="method.noop.fail_at_step" label="Fail at step" type="number" hint="Empty: never" />
      </fieldset>
      <div class="grid">
        <Field form={f} param="seed" label="Seed" type="number" hint="Empty: random" />
        <Field form={f} param="suffix" label="Suffix" hint="Added to the trained model's name" />
      </div>
      <p class="form-actions">
        <button type="submit">Launch training job</button>
        <button type="button" id="train-estimate">Estimate the cost</button>
      </p>
      <p id="train-estimate-result" class="estimate" aria-live="polite"></p>
      <FormError />
    </form>
  )
}

/** A built-in environment instead of an endpoint (the demo's: no network, no key). */
function BuiltinEnvironment({ form }: { form: string }) {
  return (
    <Select form={form} param="environment.builtin" label="Built-in (needs no network)">
      <option value="">(none: the endpoint below)</option>
      {BUILTIN_ENVIRONMENTS.map((name) => <option value={name}>{name}</option>)}
    </Select>
  )
}

function EvaluationForm() {
  const f = 'eval'
  const sets = (split: string) => PUBLISHED_DATASETS.filter((d) => d.split === split).map((d) => ({ value: d.name, label: `${d.name} (${d.kind})` }))
  return (
    <form id="eval-form" class="panel" novalidate>
      <div class="grid">
        <Choices form={f} param="datasets" legend="Published sets, in-distribution" options={sets('eval-in-distribution')} checked={[]} />
        <Choices form={f} param="datasets" legend="Published sets, out-of-distribution" options={sets('eval-out-of-distribution')} checked={[]} slot={false} />
        <Choices form={f} param="datasets" legend="Built-in sets" options={BUILTIN_NAMES.map((name) => ({ value: name, label: `${name} (the demo's)` }))} checked={[]} slot={false} />
      </div>
      <div class="field">
        <label for="eval-file">Uploaded dataset</label>
        <select id="eval-file" data-param="datasets" data-type="list" data-wrap="file_id" data-files="optional"><option value="">(none)</option></select>
      </div>
      <Choices form={f} param="modes" legend="Modes, run side by side on the same rows" options={EVAL_MODES.map((m) => ({ value: m, label: MODE_LABELS[m] }))} checked={[...EVAL_MODES]} />
      <fieldset class="grid">
        <legend>Environment (the large LLM, any OpenAI-compatible API)</legend>
        <BuiltinEnvironment form={f} />
        <Field form={f} param="environment.base_url" label="Base URL" placeholder="https://api.openai.com/v1" />
        <Field form={f} param="environment.model" label="Model" placeholder="gpt-4o-mini" />
        <Field form={f} param="environment.api_key" label="API key" type="password" hint="Used by the worker; never shown again" />
      </fieldset>
      <fieldset class="grid">
        <legend>Agent (for the agent mode: a checkpoint id or a model)</legend>
        <Field form={f} param="agent.checkpoint" label="Checkpoint id" placeholder="ckpt-..." />
        <Field form={f} param="agent.model" label="Model" placeholder="hf:owner/name, ckpt-..., or a model folder" />
        <Select form={f} param="agent.protocol" label="Protocol">
          {PROTOCOL_NAMES.map((name) => <option value={name}>{PROTOCOL_LABELS[name]}</option>)}
        </Select>
        <Field form={f} param="agent.max_turns" label="Max turns" type="number" placeholder="the protocol's" />
        <Field form={f} param="agent.max_new_tokens_per_turn" label="Max new tokens per turn" type="number" placeholder="the protocol's" />
        <Field form={f} param="agent.temperature" label="Temperature" type="number" placeholder="the protocol's" hint="0 is greedy" />
      </fieldset>
      <div class="grid">
        <Field form={f} param="max_rows" label="Rows per dataset" type="number" hint="Empty: all (128 per published set)" />
        <Field form={f} param="batch_size" label="Batch size" type="number" value={defaultOf(createEvaluationBody.shape.batch_size)} />
        <Field form={f} param="bootstrap_resamples" label="Bootstrap resamples" type="number" value={defaultOf(createEvaluationBody.shape.bootstrap_resamples)} />
        <Field form={f} param="environment.concurrency" label="Environment calls in flight" type="number" value={defaultOf(evalEnvironment.shape.concurrency)} />
      </div>
      <button type="submit">Launch evaluation</button>
      <FormError />
    </form>
  )
}

function PlaygroundForm() {
  const f = 'playground'
  return (
    <form id="playground-form" class="panel" novalidate>
      <div class="field">
        <label for="playground-model">Agent</label>
        <input id="playground-model" data-param="model" list="playground-models" placeholder="prompt-r1-agent or ckpt-..." autocomplete="off" aria-describedby="playground-model-error" />
        <datalist id="playground-models"></datalist>
        <ErrorSlot form={f} param="model" />
      </div>
      <div class="field">
        <label for="playground-question">Question</label>
        <textarea id="playground-question" data-param="question" rows={3} aria-describedby="playground-messages-error"></textarea>
        <ErrorSlot form={f} param="messages" />
      </div>
      <fieldset class="grid">
        <legend>Environment (empty: the server's)</legend>
        <BuiltinEnvironment form={f} />
        <Field form={f} param="environment.base_url" label="Base URL" placeholder="https://api.openai.com/v1" />
        <Field form={f} param="environment.model" label="Model" placeholder="gpt-4o-mini" />
        <Field form={f} param="environment.api_key" label="API key" type="password" />
        <Field form={f} param="max_tokens" label="Max new tokens per agent turn" type="number" hint="Empty: 1024" />
      </fieldset>
      <button type="submit">Ask</button>
      <button type="button" id="playground-stop" disabled>Stop</button>
      <FormError />
    </form>
  )
}

export function DashboardPage() {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>Prompt-R1 dashboard</title>
        <link rel="stylesheet" href="/dashboard/style.css" />
        <link rel="icon" href="/favicon.ico" type="image/svg+xml" />
        <script src="/dashboard/app.js" defer></script>
      </head>
      <body>
        <header>
          <h1>Prompt-R1</h1>
          <nav id="main-nav" aria-label="Views" hidden>
            <a href="#/jobs">Training jobs</a>
            <a href="#/jobs/new">New training job</a>
            <a href="#/evaluations">Evaluations</a>
            <a href="#/evaluations/new">New evaluation</a>
            <a href="#/playground">Playground</a>
            <a href="/docs">API reference</a>
          </nav>
          <p id="key-status" hidden>Using your API key for this tab. <button type="button" id="forget-key">Forget key</button></p>
        </header>
        <main>
          <form id="key-form" class="panel narrow" novalidate>
            <h2>Sign in</h2>
            <p>Enter an API key of your project. It stays in this browser tab (session storage) and is sent only to this server's API.</p>
            <div class="field">
              <label for="api-key">API key</label>
              <input id="api-key" name="key" type="password" data-param="key" autocomplete="off" required aria-describedby="key-error" />
              <p class="field-error" id="key-error" data-error-for="key" aria-live="polite"></p>
            </div>
            <button type="submit">Use this key</button>
            <FormError />
          </form>
          <p id="page-message" class="form-error" role="alert"></p>
          <p id="not-found" hidden>No such view. <a href="#/jobs">Training jobs</a></p>

          <section id="view-jobs" hidden>
            <h2>Training jobs</h2>
            <p class="view-actions">
              <a class="button" href="#/jobs/new">New training job</a>
              {/* the demo's body travels in the page: the client script imports nothing */}
              <button type="button" id="demo-train" data-job={JSON.stringify(DEMO_TRAINING_JOB)} title="A tiny sample agent learns, offline, to ask the built-in arithmetic environment and answer with its result">Train the demo agent</button>
            </p>
            <Table id="jobs-table" caption="Jobs of your project, newest first" headers={['Job', 'Kind', 'Model', 'Status', 'Progress', 'Environment tokens', 'Created']} />
            <p id="jobs-message" class="muted" aria-live="polite"></p>
          </section>

          <section id="view-job" hidden>
            <h2 id="job-title">Training job</h2>
            <p class="job-head"><span id="job-status"></span> <span id="job-progress"></span> <button type="button" id="job-cancel">Cancel job</button></p>
            <p id="job-phase" class="job-phase" aria-live="polite"></p>
            <p id="job-message" class="form-error" role="alert"></p>
            <p id="job-next" hidden><a id="job-chat" class="button" href="#/playground">Chat with it in the Playground</a></p>
            <dl id="job-meta" class="meta"></dl>
            <h3>Metrics</h3>
            <ChartControls prefix="job" compare />
            <div id="job-curves" class="charts" aria-live="polite"></div>
            <h3>Checkpoints</h3>
            <p id="job-checkpoints-empty" class="muted">No checkpoints yet.</p>
            <Table id="job-checkpoints" hidden caption="Checkpoints, latest step first" headers={['Checkpoint', 'Step', 'Kind', 'Metrics', 'Download']} />
            <h3>Trajectories</h3>
            <p id="job-trajectories-empty" class="muted">No step has stored its episodes yet.</p>
            <div id="job-episodes" hidden>
              <EpisodeBrowser prefix="job-" caption="Episodes of the step, group by group" headers={['Episode', 'Group', 'Question', 'Answer', 'Reward', 'Format', 'Answer F1', 'Advantage', 'Turns', 'Calls']}>
                <label>Step <select name="step"></select></label>
              </EpisodeBrowser>
            </div>
            <h3>Event log</h3>
            <Table id="job-log" caption="Events, newest first" headers={['#', 'Time', 'Level', 'Type', 'Message']} />
          </section>

          <section id="view-train" hidden>
            <h2>New training job</h2>
            <UploadForm id="train-upload" target="train-training_file" purpose="fine-tune" />
            <TrainingForm />
          </section>

          <section id="view-evals" hidden>
            <h2>Evaluations</h2>
            <p><a class="button" href="#/evaluations/new">New evaluation</a></p>
            <Table id="evals-table" caption="Evaluations of your project, newest first" headers={['Evaluation', 'Datasets', 'Modes', 'Status', 'Progress', 'Score (Avg all)', 'Environment tokens', 'Created']} />
            <p id="evals-message" class="muted" aria-live="polite"></p>
          </section>

          <section id="view-eval-new" hidden>
            <h2>New evaluation</h2>
            <UploadForm id="eval-upload" target="eval-file" purpose="evals" />
            <EvaluationForm />
          </section>

          <section id="view-eval" hidden>
            <h2 id="eval-title">Evaluation</h2>
            <p class="job-head"><span id="eval-status"></span> <span id="eval-progress"></span> <button type="button" id="eval-cancel">Cancel evaluation</button></p>
            <p id="eval-phase" class="job-phase" aria-live="polite"></p>
            <p id="eval-message" class="form-error" role="alert"></p>
            <dl id="eval-meta" class="meta"></dl>
            <h3>Scores as rows arrive</h3>
            <ChartControls prefix="eval" />
            <div id="eval-curves" class="charts" aria-live="polite"></div>
            <h3>Results</h3>
            <div id="eval-table" class="scroll"></div>
            <div id="eval-chart" class="scroll"></div>
            <p>
              <button type="button" id="eval-download-jsonl">Download rows (JSONL)</button>{' '}
              <button type="button" id="eval-download-csv">Download rows (CSV)</button>
            </p>
            <h3>Rows and trajectories</h3>
            <EpisodeBrowser prefix="" caption="Scored rows" headers={['Dataset', 'Row', 'Mode', 'Question', 'Prediction', 'Score', 'Turns', 'Calls']}>
              <label>Mode <select name="mode"><option value="">all</option>{EVAL_MODES.map((m) => <option value={m}>{m}</option>)}</select></label>
              <label>Dataset <select name="dataset"><option value="">all</option></select></label>
            </EpisodeBrowser>
            <h3>Event log</h3>
            <Table id="eval-log" caption="Events, newest first" headers={['#', 'Time', 'Level', 'Type', 'Message']} />
          </section>

          <section id="view-playground" hidden>
            <h2>Playground</h2>
            <p>Ask a question and watch the agent write prompts for the large LLM and read its answers, turn by turn.</p>
            <PlaygroundForm />
            <ol id="transcript" class="transcript" aria-live="polite"></ol>
          </section>
        </main>
      </body>
    </html>
  )
}
