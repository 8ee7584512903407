// Writes the bundled Fashion-MNIST subset (the first N train and test images)
// from the full data set: node scripts/make-subset.mjs [SRC_DIR] [TRAIN_N] [TEST_N]
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
const [src = '/usr/share/datasets/fashion-mnist', trainN = '6000', testN = '2000'] = process.argv.slice(2);
const out = 'assets/fashion-mnist-subset';
fs.mkdirSync(out, { recursive: true });
for (const [base, n] of [['train', +trainN], ['t10k', +testN]]) {
  for (const kind of ['images-idx3', 'labels-idx1']) {
    const name = `${base}-${kind}-ubyte.gz`;
    const bytes = zlib.gunzipSync(fs.readFileSync(`${src}/${name}`));
    const rank = bytes[3];
    const header = Buffer.from(bytes.subarray(0, 4 + 4 * rank));
    const per = kind.startsWith('images') ? header.readUInt32BE(8) * header.readUInt32BE(12) : 1;
    header.writeUInt32BE(n, 4);
    const body = bytes.subarray(4 + 4 * rank, 4 + 4 * rank + n * per);
    fs.writeFileSync(`${out}/${name}`, zlib.gzipSync(Buffer.concat([header, body]), { level: 9 }));
  }
}
console.log(`wrote ${out}: ${trainN} train, ${testN} test`);
