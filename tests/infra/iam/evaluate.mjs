// Evaluates IAM requests with @cloud-copilot/iam-simulate, one batch per process.
//
// stdin:  {"simulations": [<Simulation>...], "keys": ["events:source", ...]}
//         (a Simulation is the simulator's own input: request, identityPolicies,
//         serviceControlPolicies, resourceControlPolicies, resourcePolicy, ...)
// stdout: {"results": [{"decision", "error", "denied_by", "allowed_by", "ignored_keys"}...],
//          "key_types": {"events:source": "ArrayOfString", ...}}
//
// Test-only (the simulator is AGPL-licensed and never ships with wildcert).
import { runSimulation, typeForContextKey } from '@cloud-copilot/iam-simulate'

async function readStdin() {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  return JSON.parse(Buffer.concat(chunks).toString('utf8'))
}

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

async function evaluate(simulation) {
  const response = await runSimulation(simulation, { simulationMode: 'Strict' })
  if (response.resultType === 'error') {
    return { decision: null, error: response.errors }
  }
  if (response.resultType !== 'single') {
    return { decision: null, error: { message: `expected one resource, got ${response.resultType}` } }
  }
  const analysis = response.result.analysis
  return {
    decision: response.overallResult,
    error: null,
    denied_by: decisiveStatements(analysis, 'denyStatements'),
    allowed_by: decisiveStatements(analysis, 'allowStatements'),
    ignored_keys: response.result.ignoredContextKeys || [],
  }
}

async function keyType(key) {
  try {
    return await typeForContextKey(key)
  } catch {
    return null
  }
}

const input = await readStdin()
const results = []
for (const simulation of input.simulations || []) results.push(await evaluate(simulation))
const keyTypes = {}
for (const key of input.keys || []) keyTypes[key] = await keyType(key)
process.stdout.write(JSON.stringify({ results, key_types: keyTypes }))
