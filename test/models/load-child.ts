/** Child process: load a saved model with meal ('meal') or with bare tfjs-layers ('plain'). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';

const [mode, dir] = process.argv.slice(2);
await tf.setBackend('cpu');
let model: tfl.LayersModel;
if (mode === 'meal') {
  const { loadModel } = await import('../../src/models/io.js');
  model = await loadModel(dir);
} else {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const weightData = new Uint8Array(fs.readFileSync(path.join(dir, 'weights.bin'))).buffer;
  model = await tfl.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest[0].weights,
      weightData,
    }),
  );
}
const x = tf.tensor4d(
  Float32Array.from({ length: 2 * 28 * 28 }, (_, i) => ((i * 37) % 255) / 255),
  [2, 28, 28, 1],
);
process.stdout.write(JSON.stringify(Array.from((model.predict(x) as tf.Tensor).dataSync())) + '\n');
