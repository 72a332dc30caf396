// Evaluates IAM requests with @cloud-copilot/iam-simulate: one batch per line, so one process
// serves a whole test run.
//
// stdin:  one line per batch: {"simulations": [<Simulation>...], "keys": ["events:source", ...]}
//         (a Simulation is the simulator's own input: request, identityPolicies,
//         serviceControlPolicies, resourceControlPolicies, resourcePolicy, ...)
// stdout: one line per batch: {"results": [{"decision", "error", "denied_by", "allowed_by", "ignored_keys"}...],
//          "key_types": {"events:source": "ArrayOfString", ...}}
//
// Test-only (the simulator is AGPL-licensed and never ships with wildcert).
import { createInterface } from 'node:readline'
import { createValidatedPolicy, validateResourcePolicy } from '@cloud-copilot/iam-policy'
import { runSimulation, runUnsafeSimulation, typeForContextKey } from '@cloud-copilot/iam-simulate'

// Condition keys whose variable part follows a colon (kms:EncryptionContext:<key>): the
// simulator's request validation only matches variables after a slash and drops them. A request
// carrying one is decided again, its policies already validated, with the context as given.
const COLON_VARIABLE = /^kms:encryptioncontext:./i

// "<policy>#<Sid or index>" for each statement of one analysis list.
function statementNames(statements) {
  return (statements || []).map((s) => `${s.policyId ?? 'resource'}#${s.statement.sid() ?? s.statement.index()}`)
}

function decisiveStatements(analysis, kind) {
  const parts = [
    analysis.identityAnalysis,
    analysis.resourceAnalysis,
    analysis.permissionBoundaryAnalysis,
    analysis.sessionAnalysis,
  ]
  const names = parts.flatMap((part) => statementNames(part && part[kind]))
  for (const org of [analysis.scpAnalysis, analysis.rcpAnalysis]) {
    for (const ou of (org && org.ouAnalysis) || []) names.push(...statementNames(ou[kind]))
  }
  return names
}

// The unsafe run names the resource policy only when it comes named.
function named(simulation) {
  if (!simulation.resourcePolicy) return simulation
  const resourcePolicy = createValidatedPolicy(simulation.resourcePolicy, validateResourcePolicy,
    { name: 'resource' })
  return { ...simulation, resourcePolicy }
}

async function evaluate(simulation) {
  const response = await runSimulation(simulation, { simulationMode: 'Strict' })
  if (response.resultType === 'error') {
    return { decision: null, error: response.errors }
  }
  if (response.resultType !== 'single') {
    return { decision: null, error: { message: `expected one resource, got ${response.resultType}` } }
  }
  const analysis = response.result.analysis
  const ignored = response.result.ignoredContextKeys || []
  if (ignored.some((key) => COLON_VARIABLE.test(key))) {
    return {
      decision: runUnsafeSimulation(named(simulation), { simulationMode: 'Strict' }),
      error: null,
      denied_by: [],
      allowed_by: [],
      ignored_keys: ignored.filter((key) => !COLON_VARIABLE.test(key)),
    }
  }
  return {
    decision: response.overallResult,
    error: null,
    denied_by: decisiveStatements(analysis, 'denyStatements'),
    allowed_by: decisiveStatements(analysis, 'allowStatements'),
    ignored_keys: ignored,
  }
}

async function keyType(key) {
  try {
    return await typeForContextKey(key)
  } catch {
    return null
  }
}

async function batch(input) {
  const results = []
  for (const simulation of input.simulations || []) results.push(await evaluate(simulation))
  const keyTypes = {}
  for (const key of input.keys || []) keyTypes[key] = await keyType(key)
  return { results, key_types: keyTypes }
}

for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (line.trim()) process.stdout.write(JSON.stringify(await batch(JSON.parse(line))) + '\n')
}
