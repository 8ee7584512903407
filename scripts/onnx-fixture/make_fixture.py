#!/usr/bin/python3
"""Makes test/fixtures/onnx-fashion/: a small CNN trained in PyTorch on Fashion-MNIST,
exported to ONNX with a dynamic batch, plus its test top-1 and reference logits.

A development script, not part of the product: meal never imports PyTorch. It needs
Debian's python3-torch (run it with /usr/bin/python3) and dataset-fashion-mnist.

    /usr/bin/python3 scripts/onnx-fixture/make_fixture.py [--epochs 3] [--threads 1]

The exporter works without the `onnx` Python package (torch 1.13, TorchScript export).
"""
import argparse
import gzip
import json
import os
import struct
import subprocess
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = '/usr/share/datasets/fashion-mnist'
OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'onnx-fashion')
# PyTorch's usual input pipeline: ToTensor ([0, 1]), then Normalize(mean, std).
MEAN, STD = 0.286, 0.353
N_REFERENCE = 8


def read_idx(name):
    """IDX files as numpy arrays (torchvision is not installed)."""
    path = os.path.join(DATA, name)
    opener = gzip.open if not os.path.exists(path) else open
    with opener(path if os.path.exists(path) else path + '.gz', 'rb') as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack('>' + 'I' * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split):
    prefix = 'train' if split == 'train' else 't10k'
    x = read_idx(f'{prefix}-images-idx3-ubyte').astype(np.float32) / 255.0  # (N, 28, 28)
    y = read_idx(f'{prefix}-labels-idx1-ubyte').astype(np.int64)
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)  # (N, 1, 28, 28), (N,)


class SmallCNN(nn.Module):
    """conv3x3(16)+ReLU, pool, conv3x3(32)+ReLU, pool, dense 32+ReLU, dense 10: ~56k params."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 7 * 7, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):  # (B, 1, 28, 28) normalised pixels -> (B, 10) logits
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def normalise(x):
    return (x - MEAN) / STD


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--epochs', type=int, default=3)
    ap.add_argument('--threads', type=int, default=1)
    args = ap.parse_args()
    # One thread by default: this machine's cores are shared with long training runs.
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    xtr, ytr = load('train')
    xte, yte = load('test')
    model = SmallCNN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    for epoch in range(args.epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), 128):
            idx = perm[i:i + 128]
            loss = F.cross_entropy(model(normalise(xtr[idx])), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f'epoch {epoch + 1}/{args.epochs}: last loss {loss.item():.4f}, '
              f'{time.time() - t0:.0f} s', flush=True)

    # Test top-1 on all 10,000 test images, the number meal eval must reproduce.
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(normalise(xte[i:i + 1000])) for i in range(0, len(xte), 1000)])
    correct = int((logits.argmax(1) == yte).sum())
    top1 = 100.0 * correct / len(xte)
    print(f'PyTorch test top-1: {top1:.2f}% ({correct}/{len(xte)})')

    os.makedirs(OUT, exist_ok=True)
    # Dynamic batch: meal feeds whatever batch size its loader makes.
    torch.onnx.export(
        model, normalise(xte[:2]), os.path.join(OUT, 'model.onnx'),
        input_names=['pixels'], output_names=['logits'],
        dynamic_axes={'pixels': {0: 'batch'}, 'logits': {0: 'batch'}},
        opset_version=13,
    )
    descriptor = {
        'format': 'meal-teacher/1',
        'model': 'model.onnx',
        'layout': 'NCHW',
        'inputSize': [28, 28, 1],
        'scale': 1,
        'mean': [MEAN],
        'std': [STD],
        'output': 'logits',
        'numClasses': 10,
        'classNames': ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal',
                       'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
        'threads': 1,
    }
    reference = {
        'made_by': 'scripts/onnx-fixture/make_fixture.py',
        'torch': torch.__version__,
        'epochs': args.epochs,
        'params': sum(p.numel() for p in model.parameters()),
        'test_top1': top1,
        'test_n': len(xte),
        # Logits of the first test images, from PyTorch itself (not from the ONNX file).
        'indices': list(range(N_REFERENCE)),
        'labels': yte[:N_REFERENCE].tolist(),
        'logits': logits[:N_REFERENCE].tolist(),
    }
    with open(os.path.join(OUT, 'descriptor.json'), 'w') as f:
        json.dump(descriptor, f, indent=2)
        f.write('\n')
    with open(os.path.join(OUT, 'reference.json'), 'w') as f:
        json.dump(reference, f, indent=2)
        f.write('\n')
    # `npm run lint` checks test/ with prettier: write the JSON the way it would.
    root = os.path.join(os.path.dirname(__file__), '..', '..')
    prettier = os.path.join(root, 'node_modules', '.bin', 'prettier')
    if os.path.exists(prettier):
        subprocess.run([prettier, '--write', '--log-level', 'warn',
                        os.path.join(OUT, 'descriptor.json'), os.path.join(OUT, 'reference.json')],
                       check=True)
    print(f'wrote {os.path.normpath(OUT)}: model.onnx '
          f'({os.path.getsize(os.path.join(OUT, "model.onnx"))} bytes), descriptor.json, '
          'reference.json')


if __name__ == '__main__':
    main()
