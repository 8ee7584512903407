import { tf } from '../dist/src/engine/tf.js';
import { buildModel, parameterCount } from '../dist/src/models/registry.js';
await tf.setBackend(process.argv[2] ?? 'cpu');
for (const name of ['cnn-small', 'resnet-mini', 'mobilenet-mini']) {
  const m = buildModel(name, { inputShape: [28, 28, 1], numClasses: 10 });
  console.log(name, m.countParams(), parameterCount(m));
}
