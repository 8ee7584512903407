/**
 * What identifies a teacher without loading it: a SHA-256 over its model
 * files. The soft-label cache records it, and `meal distill --labels` compares
 * it with the teachers a run names, so labels made by other teachers are
 * refused without building or running any teacher.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stripFileScheme } from '../models/io.js';
import { MealError } from '../util/errors.js';
import { readDescriptor } from './descriptor.js';

/** Files of a TensorFlow.js model: model.json and the weight files its manifest names. */
function tfjsFiles(location: string): string[] {
  const json = location.endsWith('.json') ? location : path.join(location, 'model.json');
  if (!fs.existsSync(json)) {
    throw new MealError(
      'MISSING_FILE',
      `teacher ${location}: no model.json there. Expected a meal model folder or a descriptor .json.`,
    );
  }
  const manifest = (
    JSON.parse(fs.readFileSync(json, 'utf8')) as { weightsManifest?: { paths: string[] }[] }
  ).weightsManifest;
  const weights = (manifest ?? []).flatMap((g) =>
    g.paths.map((p) => path.join(path.dirname(json), p)),
  );
  return [json, ...weights];
}

/** SHA-256 of a teacher's model files (and its descriptor, which says how it is fed). */
export function teacherFingerprint(spec: string): string {
  const p = stripFileScheme(spec);
  const hash = createHash('sha256');
  let files: string[];
  if (p.toLowerCase().endsWith('.json') && !p.endsWith('model.json')) {
    const d = readDescriptor(p);
    const { model: _model, name: _name, threads: _threads, ...feeding } = d;
    hash.update(JSON.stringify(feeding));
    files = d.model.toLowerCase().endsWith('.onnx') ? [d.model] : tfjsFiles(d.model);
  } else {
    files = tfjsFiles(p);
  }
  for (const f of files) {
    if (!fs.existsSync(f)) {
      throw new MealError('MISSING_FILE', `teacher ${spec}: ${f} does not exist.`);
    }
    hash.update(fs.readFileSync(f));
  }
  return hash.digest('hex');
}
