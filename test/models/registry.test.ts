import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildModel, modelNames, parameterCount } from '../../src/models/registry.js';

test('reference nets have the parameter counts of design.md §5', () => {
  const opts = { inputShape: [28, 28, 1] as [number, number, number], numClasses: 10 };
  assert.equal(parameterCount(buildModel('cnn-small', opts)), 421642);
  assert.equal(parameterCount(buildModel('resnet-mini', opts)), 696042);
  assert.equal(parameterCount(buildModel('mobilenet-mini', opts)), 136202);
});

test('an unknown architecture lists the known ones', () => {
  const opts = { inputShape: [28, 28, 1] as [number, number, number], numClasses: 10 };
  assert.throws(
    () => buildModel('resnet-9000', opts),
    (e: Error) => {
      for (const name of modelNames()) assert.match(e.message, new RegExp(name));
      return /unknown architecture "resnet-9000"/.test(e.message);
    },
  );
});
