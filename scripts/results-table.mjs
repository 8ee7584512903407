// Prints the README's results table from zoo/fashion-mnist/manifest.json (made by
// scripts/make-zoo.sh; `npm test` re-evaluates every row to within 0.05 points).
import * as fs from 'node:fs';

const m = JSON.parse(fs.readFileSync('zoo/fashion-mnist/manifest.json', 'utf8'));
const pct = (x) => `${x.toFixed(2)}%`;
const row = (cells) => console.log(`| ${cells.join(' | ')} |`);
row(['model', 'role', 'architecture', 'parameters', 'top-1', 'top-5']);
row(['---', '---', '---', '---:', '---:', '---:']);
const teachers = m.models.filter((x) => x.role === 'teacher');
for (const x of teachers) {
  row([`\`${x.name}\``, x.role, x.arch, x.params.toLocaleString('en-US'), pct(x.top1), pct(x.top5)]);
}
const sum = teachers.reduce((a, x) => a + x.params, 0).toLocaleString('en-US');
row(['ensemble', `mean of ${teachers.length} teachers' probabilities`, '-', sum, pct(m.ensemble.top1), pct(m.ensemble.top5)]);
for (const x of m.models.filter((x) => x.role !== 'teacher')) {
  row([`\`${x.name}\``, x.role, x.arch, x.params.toLocaleString('en-US'), pct(x.top1), pct(x.top5)]);
}
console.log(`\nAll on the ${m.testN.toLocaleString('en-US')} images of the Fashion-MNIST test set.`);
