#!/usr/bin/env python3
"""PyTorch timings of the reference nets (design.md section 5), for bench/bench.ts.

Same networks as src/models/reference.ts, in PyTorch's NCHW layout, timed the way bench.ts
times ours: inference forward, then a training step (zero grads, forward in training mode,
cross-entropy, backward, Adam 1e-3), median over --steps after a warm-up.

    python3 bench/torch_step.py --threads 2 --steps 10 --nets cnn-small,resnet-mini --json

Needs python3-torch (Debian) and, for a fair BLAS, libopenblas0-pthread.
"""
import argparse
import json
import statistics
import time

import torch
from torch import nn


def conv_bn(cin, cout, k, stride, act):
    """A bias-free convolution with 'same'-style padding, BatchNorm and an activation."""
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout)]
    return layers + ([act()] if act else [])


class Residual(nn.Module):
    """A basic block: two 3x3 conv+BN, identity or 1x1 conv+BN shortcut, ReLU after the sum."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(*conv_bn(cin, cout, 3, stride, nn.ReLU), *conv_bn(cout, cout, 3, 1, None))
        same = stride == 1 and cin == cout
        self.skip = nn.Identity() if same else nn.Sequential(*conv_bn(cin, cout, 1, stride, None))

    def forward(self, x):
        return torch.relu(self.body(x) + self.skip(x))


def cnn_small():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(7 * 7 * 64, 128), nn.ReLU(), nn.Linear(128, 10))


def resnet_mini():
    blocks, cin = [], 32
    for cout, stride in [(32, 1), (32, 1), (64, 2), (64, 1), (128, 2), (128, 1)]:
        blocks.append(Residual(cin, cout, stride))
        cin = cout
    return nn.Sequential(*conv_bn(1, 32, 3, 1, nn.ReLU), *blocks,
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))


def mobilenet_mini():
    layers, cin = conv_bn(1, 32, 3, 1, nn.ReLU6), 32
    for cout, stride in [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1)]:
        layers += [nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU6()]
        layers += conv_bn(cin, cout, 1, 1, nn.ReLU6)
        cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 10))


BUILDERS = {"cnn-small": cnn_small, "resnet-mini": resnet_mini, "mobilenet-mini": mobilenet_mini}


def median_ms(fn, steps, warmup):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return 1000 * statistics.median(samples)


def bench(name, batch, steps, warmup):
    torch.manual_seed(0)
    model = BUILDERS[name]()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images = torch.randn(batch, 1, 28, 28)
    labels = torch.randint(0, 10, (batch,))

    def forward():
        with torch.no_grad():
            model(images)

    def train_step():
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()

    model.eval()
    forward_ms = median_ms(forward, steps, warmup)
    model.train()
    train_ms = median_ms(train_step, steps, warmup)
    params = sum(p.numel() for p in model.parameters())
    return {"params": params, "forward_ms": forward_ms, "train_step_ms": train_ms}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--nets", default=",".join(BUILDERS))
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    unknown = [n for n in args.nets.split(",") if n not in BUILDERS]
    if unknown:
        parser.error(f"unknown nets {unknown}: expected some of {', '.join(BUILDERS)}")

    torch.set_num_threads(args.threads)
    nets = {n: bench(n, args.batch, args.steps, args.warmup) for n in args.nets.split(",")}
    if args.json:
        print(json.dumps({"torch": torch.__version__, "threads": args.threads, "batch": args.batch, "nets": nets}))
        return
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}")
    for name, r in nets.items():
        print(f"{name:16s} {r['params']:>8d} params  forward {r['forward_ms']:7.1f} ms"
              f"  train step {r['train_step_ms']:7.1f} ms")


if __name__ == "__main__":
    main()
