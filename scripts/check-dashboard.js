#!/usr/bin/env node
// Checks that the Grafana dashboard and the Prometheus alert rules in docs/observability/
// ask only for metrics that exitguard exposes.
//
//   node scripts/check-dashboard.js [options] [SCRAPE]
//
//   SCRAPE                 a /metrics scrape (Prometheus text format) of the exporter: every
//                          name the dashboard and rules use must also be present in it
//   --dashboard FILE       default docs/observability/grafana-dashboard.json
//   --rules FILE           default docs/observability/alerts.yml
//   --metrics FILE         the exported metric list, default docs/observability/metrics.txt
//   --runbook FILE         default docs/runbook.md: the rules' runbook_url anchors must exist
//   --promtool PATH        promtool used to check the dashboard's PromQL syntax (default:
//                          `promtool` when on PATH, else that check is skipped)
//   --require-promtool     fail instead of skipping the syntax check when promtool is missing
//
// What is checked:
//   - the dashboard is valid JSON; its panels have unique ids, fit the 24-column grid,
//     do not overlap, use the ${DS_PROMETHEUS} data-source variable, and every target
//     has an expr;
//   - every `expr` in the dashboard (panels, annotations) and every templating query,
//     and every `expr:` of the rule file, refers only to metric names in the list:
//     counters and gauges by their name, histograms as <name>_bucket/_sum/_count
//     (a bare histogram name is not a series);
//   - label matchers on those metrics use only the metric's labels (plus job/instance,
//     and le on _bucket), with a listed value where the list enumerates them; the
//     labels of by/without/on/ignoring clauses exist on some metric;
//   - every rule's runbook_url ends in #anchor of a heading of the runbook;
//   - with promtool, every dashboard expression parses as PromQL (Grafana's $variables
//     replaced by sample values);
//   - with a scrape: every referenced name is present in it (as a sample or a declared
//     family), and the exposed exitguard_* families, label values and histogram
//     buckets agree with the list. Differences that cannot break a query (a listed
//     family not exposed, no sample yet) are warnings.
// Exit status: 0 when everything holds, 1 on any error (each printed as `error: ...`), 2 on
// bad usage.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..');
const errors = [];
const warnings = [];
const error = (msg) => errors.push(msg);
const warn = (msg) => warnings.push(msg);

// --- arguments -------------------------------------------------------------------
function usage(msg) {
  if (msg) console.error(`check-dashboard: ${msg}`);
  console.error('usage: node scripts/check-dashboard.js [--dashboard FILE] [--rules FILE] [--metrics FILE] ' +
    '[--promtool PATH] [--require-promtool] [SCRAPE]');
  process.exit(2);
}

const opts = {
  dashboard: path.join(ROOT, 'docs/observability/grafana-dashboard.json'),
  rules: path.join(ROOT, 'docs/observability/alerts.yml'),
  metrics: path.join(ROOT, 'docs/observability/metrics.txt'),
  runbook: path.join(ROOT, 'docs/runbook.md'),
  promtool: null,
  requirePromtool: false,
  scrape: null,
};
{
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = () => (i + 1 < args.length ? args[++i] : usage(`${a} needs a value`));
    if (a === '--dashboard') opts.dashboard = value();
    else if (a === '--rules') opts.rules = value();
    else if (a === '--metrics') opts.metrics = value();
    else if (a === '--runbook') opts.runbook = value();
    else if (a === '--promtool') opts.promtool = value();
    else if (a === '--require-promtool') opts.requirePromtool = true;
    else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else if (opts.scrape === null) opts.scrape = a;
    else usage(`unexpected argument ${a}`);
  }
}

function readText(file, what) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    console.error(`error: cannot read ${what} ${file}: ${e.message}`);
    process.exit(1);
  }
}
const rel = (file) => path.relative(process.cwd(), path.resolve(file)) || file;

// --- the metric list -------------------------------------------------------------
// families: name -> { type, labels: Map(label -> Set(values) | null) }
// series:   series name -> { family, labels: Map }  (what a PromQL selector can name)
const AMBIENT_LABELS = ['job', 'instance']; // added by Prometheus at scrape time
const families = new Map();
const series = new Map();
{
  const text = readText(opts.metrics, 'metric list');
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const [name, type, ...labelSpecs] = line.split(/\s+/);
    const where = `${rel(opts.metrics)}:${index + 1}`;
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name) || !['counter', 'gauge', 'histogram'].includes(type)) {
      console.error(`error: ${where}: expected "<name> <counter|gauge|histogram> [label=v1|v2...]...", got "${raw.trim()}"`);
      process.exit(1);
    }
    const labels = new Map();
    let le = null;
    for (const spec of labelSpecs) {
      const [label, values] = spec.split('=');
      const set = values === undefined ? null : new Set(values.split('|'));
      if (label === 'le') le = set;
      else labels.set(label, set);
    }
    families.set(name, { type, labels, le });
    if (type === 'histogram') {
      series.set(`${name}_bucket`, { family: name, labels: new Map([...labels, ['le', le]]) });
      series.set(`${name}_sum`, { family: name, labels });
      series.set(`${name}_count`, { family: name, labels });
    } else {
      series.set(name, { family: name, labels });
    }
  });
  if (families.size === 0) {
    console.error(`error: ${rel(opts.metrics)} lists no metric`);
    process.exit(1);
  }
}
// A bucket bound as a number (Go and prometheus-cpp spell infinity "+Inf").
const leNumber = (v) => (/^\+?inf$/i.test(v) ? Infinity : /^-inf$/i.test(v) ? -Infinity : Number(v));
const leKnown = (allowed, v) => [...allowed].some((a) => leNumber(a) === leNumber(v));

const allLabels = new Set([...AMBIENT_LABELS, 'le']);
for (const s of series.values()) for (const l of s.labels.keys()) allLabels.add(l);

// --- the scrape --------------------------------------------------------------------
// sampleNames: name -> array of label maps; declared: names a # TYPE line implies.
let scrape = null;
if (opts.scrape) {
  const text = readText(opts.scrape, 'scrape');
  const sampleNames = new Map();
  const declared = new Map(); // series name -> family name
  const familyTypes = new Map();
  const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"/g;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    let m;
    if ((m = /^#\s*TYPE\s+(\S+)\s+(\S+)/.exec(line))) {
      const [, name, type] = m;
      familyTypes.set(name, type);
      const names = type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`]
        : type === 'summary' ? [name, `${name}_sum`, `${name}_count`] : [name];
      for (const n of names) declared.set(n, name);
      continue;
    }
    if (line.startsWith('#')) continue;
    if ((m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?/.exec(line))) {
      const labels = new Map();
      if (m[2]) for (const lm of m[2].matchAll(labelRe)) labels.set(lm[1], lm[2]);
      if (!sampleNames.has(m[1])) sampleNames.set(m[1], []);
      sampleNames.get(m[1]).push(labels);
    }
  }
  if (sampleNames.size === 0) error(`scrape ${rel(opts.scrape)} has no sample at all`);
  scrape = { sampleNames, declared, familyTypes };
}

// --- collecting the expressions ----------------------------------------------------
// exprs: { where, expr, promql: whether it is PromQL (a templating query may not be) }
const exprs = [];

let dashboard = null;
{
  const text = readText(opts.dashboard, 'dashboard');
  try {
    dashboard = JSON.parse(text);
  } catch (e) {
    error(`${rel(opts.dashboard)} is not valid JSON: ${e.message}`);
  }
}

if (dashboard !== null) {
  const D = rel(opts.dashboard);
  if (typeof dashboard !== 'object' || Array.isArray(dashboard)) error(`${D}: the top level is not an object`);
  for (const key of ['title', 'uid']) {
    if (typeof dashboard[key] !== 'string' || !dashboard[key]) error(`${D}: missing "${key}"`);
  }
  if (typeof dashboard.schemaVersion !== 'number') error(`${D}: missing a numeric "schemaVersion"`);

  const vars = (dashboard.templating && Array.isArray(dashboard.templating.list)) ? dashboard.templating.list : [];
  const dsVar = vars.find((v) => v.name === 'DS_PROMETHEUS');
  if (!dsVar || dsVar.type !== 'datasource' || dsVar.query !== 'prometheus') {
    error(`${D}: no templating variable DS_PROMETHEUS of type "datasource" with query "prometheus"`);
  }
  vars.forEach((v, i) => {
    if (v.type !== 'query') return;
    const query = typeof v.query === 'string' ? v.query : v.query && v.query.query;
    if (typeof query === 'string' && query) {
      exprs.push({ where: `${D}: templating variable "${v.name}"`, expr: query, promql: !/^\s*(label_values|label_names|metrics|query_result)\s*\(/.test(query) });
    } else {
      error(`${D}: templating variable "${v.name || i}" has no query`);
    }
  });

  const usesDsVar = (ds) => ds && typeof ds === 'object' && ds.uid === '${DS_PROMETHEUS}';
  const allPanels = [];
  const walkPanels = (list, where) => {
    if (!Array.isArray(list)) return;
    list.forEach((p, i) => {
      allPanels.push({ p, where: `${where}[${i}]` });
      if (Array.isArray(p.panels)) walkPanels(p.panels, `${where}[${i}].panels`);
    });
  };
  walkPanels(dashboard.panels, 'panels');
  if (allPanels.length === 0) error(`${D}: no panels`);

  const ids = new Map();
  for (const { p, where } of allPanels) {
    const name = `${D}: panel "${p.title || '(untitled)'}" (${where})`;
    if (typeof p.id !== 'number') error(`${name}: no numeric id`);
    else if (ids.has(p.id)) error(`${name}: id ${p.id} already used by ${ids.get(p.id)}`);
    else ids.set(p.id, `"${p.title}"`);
    const g = p.gridPos;
    if (!g || ![g.x, g.y, g.w, g.h].every(Number.isInteger) || g.x < 0 || g.w < 1 || g.h < 1 || g.x + g.w > 24) {
      error(`${name}: gridPos missing or outside the 24-column grid: ${JSON.stringify(g)}`);
    }
    if (p.type === 'row' || p.type === 'text') continue;
    if (!usesDsVar(p.datasource)) error(`${name}: datasource is not {"uid": "\${DS_PROMETHEUS}"}`);
    if (!Array.isArray(p.targets) || p.targets.length === 0) {
      error(`${name}: no targets`);
      continue;
    }
    const refIds = new Set();
    p.targets.forEach((t, ti) => {
      if (!t.refId || refIds.has(t.refId)) error(`${name}: target ${ti} has a missing or duplicate refId`);
      refIds.add(t.refId);
      if (typeof t.expr !== 'string' || !t.expr.trim()) error(`${name}: target ${t.refId || ti} has no expr`);
      if (t.datasource !== undefined && !usesDsVar(t.datasource)) error(`${name}: target ${t.refId || ti} datasource is not \${DS_PROMETHEUS}`);
    });
  }

  // Panels on the top level must not overlap (a collapsed row's panels sit inside it).
  const placed = (Array.isArray(dashboard.panels) ? dashboard.panels : []).filter((p) => p.gridPos);
  placed.forEach((a, i) => placed.slice(i + 1).forEach((b) => {
    const ga = a.gridPos; const gb = b.gridPos;
    if (ga.x < gb.x + gb.w && gb.x < ga.x + ga.w && ga.y < gb.y + gb.h && gb.y < ga.y + ga.h) {
      error(`${D}: panels "${a.title}" and "${b.title}" overlap (${JSON.stringify(ga)}, ${JSON.stringify(gb)})`);
    }
  }));

  // Every `expr` anywhere (targets, annotations, library panels...).
  const titleOf = (node) => (node && typeof node.title === 'string' ? node.title : node && node.name);
  const walk = (node, where, label) => {
    if (Array.isArray(node)) {
      node.forEach((child, i) => walk(child, `${where}[${i}]`, label));
    } else if (node && typeof node === 'object') {
      const here = titleOf(node) ? `"${titleOf(node)}" (${where})` : label;
      for (const [key, value] of Object.entries(node)) {
        if (key === 'expr') {
          if (typeof value === 'string' && value.trim()) {
            const ref = node.refId ? ` target ${node.refId}` : '';
            exprs.push({ where: `${D}: ${here}${ref}`, expr: value, promql: true });
          }
        } else {
          walk(value, where ? `${where}.${key}` : key, here);
        }
      }
    }
  };
  walk(dashboard, '', 'dashboard');
}

// A rule file is YAML; only the `expr:` values are needed. A value is what follows
// `expr:` on its line plus every following line indented deeper than the key
// (covers plain, quoted, `|` and `>` block scalars). Checked against the rule count.
{
  const R = rel(opts.rules);
  const lines = readText(opts.rules, 'rule file').split('\n');
  let ruleCount = 0;
  let exprCount = 0;
  let current = null;
  const indentOf = (l) => l.match(/^ */)[0].length;
  for (let i = 0; i < lines.length; i++) {
    let m;
    if ((m = /^\s*-?\s*(alert|record):\s*(.+?)\s*$/.exec(lines[i]))) {
      ruleCount++;
      current = `${m[1]} ${m[2].replace(/^["']|["']$/g, '')}`;
      continue;
    }
    if (!(m = /^(\s*)(-\s+)?expr:(.*)$/.exec(lines[i]))) continue;
    exprCount++;
    const keyIndent = m[1].length + (m[2] ? m[2].length : 0);
    let first = m[3].trim();
    if (/^[|>][-+0-9]*(\s+#.*)?$/.test(first)) first = '';
    const body = [first];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const l = lines[j];
      if (l.trim() === '') { body.push(''); continue; }
      if (indentOf(l) <= keyIndent) break;
      body.push(l.trim());
    }
    i = j - 1;
    let expr = body.join('\n').trim();
    if (/^".*"$/s.test(expr)) {
      try { expr = JSON.parse(expr.replace(/\n\s*/g, ' ')); } catch (e) { /* leave as is */ }
    } else if (/^'.*'$/s.test(expr)) {
      expr = expr.slice(1, -1).replace(/''/g, "'");
    }
    exprs.push({ where: `${R}: ${current || `line ${i + 1}`}`, expr, promql: true, rule: true });
  }
  // runbook_url: ...runbook.md#anchor -> a heading of the runbook (GitHub's anchors).
  const urls = [];
  lines.forEach((l, i) => {
    const m = /^\s*runbook_url:\s*["']?([^"'\s]+)["']?\s*$/.exec(l);
    if (m) urls.push({ url: m[1], line: i + 1 });
  });
  if (urls.length > 0) {
    if (!fs.existsSync(opts.runbook)) {
      warn(`${rel(opts.runbook)} not found: runbook_url anchors not checked`);
    } else {
      const slug = (h) => h.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
      const anchors = new Set(fs.readFileSync(opts.runbook, 'utf8').split('\n')
        .filter((l) => /^#{1,6}\s/.test(l)).map((l) => slug(l.replace(/^#+\s*/, ''))));
      for (const { url, line } of urls) {
        const anchor = url.includes('#') ? url.slice(url.indexOf('#') + 1) : '';
        if (!url.includes(path.basename(opts.runbook))) error(`${R}:${line}: runbook_url ${url} does not point at ${path.basename(opts.runbook)}`);
        else if (!anchor || !anchors.has(anchor)) {
          error(`${R}:${line}: runbook_url ${url}: no heading "#${anchor}" in ${rel(opts.runbook)} (anchors: ${[...anchors].join(', ')})`);
        }
      }
    }
  }
  if (ruleCount === 0) error(`${R}: no alert or record rule found`);
  if (exprCount !== ruleCount) error(`${R}: found ${ruleCount} rules but ${exprCount} expr: keys; cannot read every expression`);
}

// --- checking names and labels -----------------------------------------------------
const referenced = new Map(); // series name -> [where]
const NAME_RE = /(?<![A-Za-z0-9_:])exitguard_[A-Za-z0-9_:]*/g;

function checkMatchers(name, body, where) {
  const info = series.get(name);
  if (!info) return;
  const matcherRe = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g;
  for (const m of body.matchAll(matcherRe)) {
    const [, label, op, value] = m;
    if (AMBIENT_LABELS.includes(label) || label === '__name__') continue;
    if (!info.labels.has(label)) {
      error(`${where}: ${name} has no label "${label}" (its labels: ${[...info.labels.keys(), ...AMBIENT_LABELS].join(', ')})`);
      continue;
    }
    const allowed = info.labels.get(label);
    if (!allowed || value.includes('$')) continue;
    let values = null;
    if (op === '=' || op === '!=') values = [value];
    else if (/^[A-Za-z0-9_.+|]*$/.test(value)) values = value.split('|'); // a plain alternation
    if (!values) continue;
    for (const v of values) {
      const known = label === 'le' ? leKnown(allowed, v) : allowed.has(v);
      if (!known) error(`${where}: ${name}{${label}${op}"${value}"}: "${v}" is not a value of ${label} (${[...allowed].join('|')})`);
    }
  }
}

// The listed series name closest to a misspelt one (edit distance), if any is close.
function nearest(name) {
  const distance = (a, b) => {
    let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const cur = [i];
      for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
    return prev[b.length];
  };
  let best = null;
  for (const s of series.keys()) {
    const d = distance(name, s);
    if (d <= 6 && (!best || d < best.d)) best = { s, d };
  }
  return best && best.s;
}

for (const { where, expr } of exprs) {
  const names = [...new Set(expr.match(NAME_RE) || [])];
  if (names.length === 0 && /exitguard/.test(expr) === false && where.includes('templating') === false) {
    warn(`${where}: refers to no exitguard_* metric: ${expr}`);
  }
  for (const name of names) {
    if (!referenced.has(name)) referenced.set(name, []);
    referenced.get(name).push(where);
    if (series.has(name)) continue;
    if (families.has(name) && families.get(name).type === 'histogram') {
      error(`${where}: unknown metric ${name}: a histogram is queried as ${name}_bucket, ${name}_sum or ${name}_count`);
    } else {
      const close = nearest(name);
      error(`${where}: unknown metric ${name} (not exposed by the exporter${close ? `; did you mean ${close}?` : ''})`);
    }
  }
  for (const m of expr.matchAll(/(?<![A-Za-z0-9_:])(exitguard_[A-Za-z0-9_:]*)\s*\{([^}]*)\}/g)) {
    checkMatchers(m[1], m[2], where);
  }
  if (!/label_(replace|join)\s*\(/.test(expr)) {
    for (const m of expr.matchAll(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)) {
      for (const label of m[2].split(',').map((s) => s.trim()).filter(Boolean)) {
        if (!allLabels.has(label)) error(`${where}: ${m[1]} (${m[2]}): no exitguard metric has a label "${label}"`);
      }
    }
  }
}

// --- PromQL syntax, through promtool -----------------------------------------------
// Grafana's variables replaced by sample values, each expression becomes a recording
// rule of a throw-away rule file, and `promtool check rules` parses them.
function grafanaToPromql(expr) {
  const durations = { __rate_interval: '5m', __interval: '1m', __range: '1h', __range_s: '3600', __range_ms: '3600000', __interval_ms: '60000' };
  return expr.replace(/\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)\]\]/g, (all, a, b, c) => {
    const v = a || b || c;
    return Object.prototype.hasOwnProperty.call(durations, v) ? durations[v] : '.*';
  });
}

let syntaxChecked = 0;
{
  const dashExprs = exprs.filter((e) => e.promql && !e.rule);
  let promtool = opts.promtool;
  if (!promtool) {
    const found = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' });
    promtool = found.status === 0 ? found.stdout.trim() : null;
  }
  if (!promtool) {
    (opts.requirePromtool ? error : warn)('promtool not found: the dashboard\'s PromQL syntax was not checked');
  } else if (dashExprs.length > 0) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'check-dashboard-'));
    const file = path.join(dir, 'dashboard-exprs.yml');
    const rules = dashExprs.map((e, i) => `      - record: dashboard:expr_${i}\n        expr: ${JSON.stringify(grafanaToPromql(e.expr))}`);
    fs.writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`);
    const run = spawnSync(promtool, ['check', 'rules', file], { encoding: 'utf8' });
    if (run.error) {
      error(`cannot run ${promtool}: ${run.error.message}`);
    } else if (run.status !== 0) {
      const out = `${run.stdout}${run.stderr}`;
      // promtool names the failing rule by its position (group "dashboard", rule N, 1-based).
      const bad = [...out.matchAll(/rule (\d+)/g)].map((m) => Number(m[1]) - 1).filter((i) => dashExprs[i]);
      if (bad.length) for (const i of new Set(bad)) error(`${dashExprs[i].where}: PromQL does not parse: ${dashExprs[i].expr}`);
      error(`promtool check rules rejected the dashboard's expressions:\n${out.trim().replace(/^/gm, '    ')}`);
    } else {
      syntaxChecked = dashExprs.length;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// --- against the scrape ------------------------------------------------------------
if (scrape) {
  const S = rel(opts.scrape);
  for (const [name, wheres] of referenced) {
    if (!series.has(name)) continue; // already an error
    if (scrape.sampleNames.has(name)) continue;
    if (scrape.declared.has(name)) {
      warn(`${name} is declared in ${S} but has no sample yet (used by ${wheres[0]})`);
    } else {
      error(`${wheres[0]}: ${name} is not in the scrape ${S}${wheres.length > 1 ? ` (also used by ${wheres.length - 1} more)` : ''}`);
    }
  }
  // The exposed exitguard_* families against the list.
  const exposed = new Set([...scrape.familyTypes.keys()].filter((n) => n.startsWith('exitguard_')));
  for (const name of scrape.sampleNames.keys()) {
    if (name.startsWith('exitguard_') && !scrape.declared.has(name)) exposed.add(name);
  }
  for (const name of exposed) {
    const fam = families.get(name) || (series.has(name) && families.get(series.get(name).family));
    if (!fam) {
      warn(`${S} exposes ${name}, which ${rel(opts.metrics)} does not list`);
    } else if (scrape.familyTypes.has(name) && scrape.familyTypes.get(name) !== fam.type && families.has(name)) {
      error(`${S}: ${name} is a ${scrape.familyTypes.get(name)}, ${rel(opts.metrics)} says ${fam.type}`);
    }
  }
  for (const [name] of families) {
    if (!exposed.has(name) && ![...series.entries()].some(([s, i]) => i.family === name && scrape.sampleNames.has(s))) {
      warn(`${rel(opts.metrics)} lists ${name}, which ${S} does not expose`);
    }
  }
  // Label names and enumerated values of every exposed exitguard sample.
  for (const [name, samples] of scrape.sampleNames) {
    const info = series.get(name);
    if (!info) continue;
    for (const labels of samples) {
      for (const [label, value] of labels) {
        if (AMBIENT_LABELS.includes(label)) continue;
        if (!info.labels.has(label)) {
          error(`${S}: ${name} has a label "${label}" that ${rel(opts.metrics)} does not list`);
          continue;
        }
        const allowed = info.labels.get(label);
        if (!allowed) continue;
        const ok = label === 'le' ? leKnown(allowed, value) : allowed.has(value);
        if (!ok) error(`${S}: ${name}{${label}="${value}"}: "${value}" is not a listed value (${[...allowed].join('|')})`);
      }
      for (const label of info.labels.keys()) {
        if (!labels.has(label)) error(`${S}: a sample of ${name} lacks the label "${label}"`);
      }
    }
    if (name.endsWith('_bucket') && info.labels.get('le')) {
      const want = [...info.labels.get('le')].map(leNumber).sort((a, b) => a - b);
      const got = [...new Set(samples.map((l) => leNumber(l.get('le'))))].sort((a, b) => a - b);
      if (want.join(',') !== got.join(',')) error(`${S}: ${name} has buckets le=${got.join(',')}, expected ${want.join(',')}`);
    }
  }
}

// --- coverage (information) ------------------------------------------------------
const usedFamilies = new Set([...referenced.keys()].filter((n) => series.has(n)).map((n) => series.get(n).family));
const unused = [...families.keys()].filter((f) => !usedFamilies.has(f));

// --- report ------------------------------------------------------------------------
for (const w of warnings) console.log(`warning: ${w}`);
const summary = `${exprs.length} expressions (${exprs.filter((e) => !e.rule).length} in ${rel(opts.dashboard)}, ` +
  `${exprs.filter((e) => e.rule).length} in ${rel(opts.rules)}), ${referenced.size} metric names, ` +
  `checked against ${families.size} listed families${scrape ? ` and the scrape ${rel(opts.scrape)}` : ''}` +
  `${syntaxChecked ? `; ${syntaxChecked} dashboard expressions parse (promtool)` : ''}`;
if (unused.length && !errors.length) console.log(`note: listed but used by neither the dashboard nor the rules: ${unused.join(', ')}`);
if (errors.length) {
  for (const e of errors) console.error(`error: ${e}`);
  console.error(`check-dashboard: FAILED, ${errors.length} error(s); ${summary}`);
  process.exit(1);
}
console.log(`check-dashboard: OK: ${summary}`);
