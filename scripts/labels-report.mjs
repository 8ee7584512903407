// The table of scripts/labels-experiment.sh: label file size and the student's full-test-set
// top-1 for each compression, against the student distilled with live teachers (same recipe).
import * as fs from 'node:fs';

const top1 = (run) => JSON.parse(fs.readFileSync(`runs/${run}/summary.json`, 'utf8')).table.at(-1).top1;
const live = { top1: top1('labels-live') };
const rows = [['live teachers', '-', live.top1]];
for (const [name, what] of [
  ['full', 'full, float16'],
  ['smoothing', 'top-3 marginal_smoothing, float16'],
  ['renorm', 'top-3 marginal_renorm, float16'],
]) {
  const bytes = fs.statSync(`runs/labels/fashion-m4-${name}.labels`).size;
  rows.push([what, bytes.toLocaleString('en-US'), top1(`student-meal-labels-${name}`)]);
}
console.log('| soft labels | file bytes | student top-1 | vs live |');
console.log('| --- | ---: | ---: | ---: |');
for (const [what, bytes, t] of rows) {
  const d = t - live.top1;
  console.log(`| ${what} | ${bytes} | ${t.toFixed(2)}% | ${d >= 0 ? '+' : ''}${d.toFixed(2)} |`);
}
const bench = fs.readFileSync('runs/labels/bench.txt', 'utf8').trim().split('\n');
console.log('\n' + bench.slice(0, -1).join('\n'));
