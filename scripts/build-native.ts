// Builds the engine's native module (gpu-worker/engine/native: a small addon over onnxruntime's C
// API) with the machine's C++ compiler against Node's headers and the libonnxruntime.so.1 that
// onnxruntime-node ships. Runs on `npm install` / `npm ci` (postinstall); `npm run build:native`
// runs it again. Needs g++ (or $CXX); the engine says so if the module is missing.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative } from 'node:path'

const root = join(import.meta.dirname, '..')
const native = join(root, 'gpu-worker', 'engine', 'native')
const out = join(native, 'build', 'ort_session.node')
const ortDir = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch)
const includes = [join(dirname(process.execPath), '..', 'include', 'node'), process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include', 'node'), '/usr/include/node']
  .filter((d): d is string => !!d && existsSync(join(d, 'node_api.h')))

const fail = (message: string): never => {
  console.error(`build-native: ${message}`)
  process.exit(1)
}
if (process.platform !== 'linux') fail(`the engine's native module is built for Linux workers; this is ${process.platform}`)
if (!existsSync(join(ortDir, 'libonnxruntime.so.1'))) fail(`no libonnxruntime.so.1 in ${ortDir} (is onnxruntime-node installed?)`)
if (!includes.length) fail("no Node headers (node_api.h) beside this Node, in $npm_config_nodedir or in /usr/include/node")
mkdirSync(dirname(out), { recursive: true })
const compiler = process.env.CXX ?? 'g++'
const args = [
  '-O2', '-std=c++17', '-shared', '-fPIC', '-Wall', '-DNODE_GYP_MODULE_NAME=ort_session', '-DNAPI_VERSION=8',
  `-I${includes[0]}`, join(native, 'ort_session.cc'), join(native, 'sampling.cc'), '-o', out,
  `-L${ortDir}`, '-l:libonnxruntime.so.1', `-Wl,-rpath,$ORIGIN/${relative(dirname(out), ortDir)}`,
]
const started = performance.now()
const build = spawnSync(compiler, args, { stdio: 'inherit' })
if (build.error) fail(`${compiler} could not run (${build.error.message}); install g++ or set CXX`)
if (build.status !== 0) fail(`${compiler} failed with status ${build.status}`)
console.log(`build-native: ${relative(root, out)} in ${((performance.now() - started) / 1000).toFixed(1)} s`)
