// Writes zoo/fashion-mnist/manifest.json: each committed model's name, path,
// architecture, parameter count and top-1 on the full test set, measured here
// with `meal eval --json` (the same check CI repeats).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const data = process.argv[2] ?? '/usr/share/datasets/fashion-mnist';
const zoo = 'zoo/fashion-mnist';
const order = ['cnn-small', 'resnet-tiny', 'mlp', 'student-init', 'student-baseline', 'student-meal', 'student-tiny-init'];
const roles = { 'student-init': 'student init', 'student-baseline': 'student baseline', 'student-meal': 'student (MEAL V2)', 'student-tiny-init': 'student init (cnn-tiny, labels experiment)' };
const models = [];
for (const name of order) {
  const dir = path.join(zoo, name);
  if (!fs.existsSync(path.join(dir, 'meal.json'))) continue;
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meal.json'), 'utf8'));
  const out = execFileSync(process.execPath, ['dist/src/cli/main.js', 'eval', '--data', data, '--model', dir, '--json'], { encoding: 'utf8' });
  const { top1, top5, n } = JSON.parse(out.trim().split('\n').pop());
  models.push({ name, path: dir, role: roles[name] ?? 'teacher', arch: meta.arch, params: meta.params, top1, top5, testN: n });
  console.log(`${name.padEnd(18)} ${meta.arch.padEnd(15)} ${String(meta.params).padStart(8)}  top-1 ${top1.toFixed(2)}%`);
}
const teachers = models.filter((m) => m.role === 'teacher').map((m) => m.path);
const args = ['dist/src/cli/main.js', 'eval', '--data', data, ...teachers.flatMap((t) => ['--model', t]), '--json'];
const ens = JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8' }).trim().split('\n').pop());
console.log(`ensemble of ${teachers.length}    top-1 ${ens.top1.toFixed(2)}%`);
const manifest = { dataset: 'fashion-mnist', testN: ens.n, made_by: 'bash scripts/make-zoo.sh', models, ensemble: { members: teachers, top1: ens.top1, top5: ens.top5 } };
fs.writeFileSync(path.join(zoo, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
