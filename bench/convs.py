"""PyTorch side of bench/convs.ts: median ms of the same 3x3 convolutions (forward, input
gradient, filter gradient), as a JSON list of [forward, input_grad, filter_grad] per shape."""
import json
import sys

import torch
from torch.nn.grad import conv2d_input, conv2d_weight

from torch_step import median_ms

SHAPES = [(28, 32, 32, 1), (28, 32, 64, 2), (14, 32, 64, 1), (14, 64, 64, 1), (7, 128, 128, 1)]

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
out = []
with torch.no_grad():
    for h, c, o, s in SHAPES:
        x, w = torch.randn(128, c, h, h), torch.randn(o, c, 3, 3)
        dy = torch.randn(128, o, (h + s - 1) // s, (h + s - 1) // s)
        out.append([
            median_ms(lambda: torch.nn.functional.conv2d(x, w, stride=s, padding=1), 10, 3),
            median_ms(lambda: conv2d_input(x.shape, w, dy, stride=s, padding=1), 10, 3),
            median_ms(lambda: conv2d_weight(x, w.shape, dy, stride=s, padding=1), 10, 3),
        ])
print(json.dumps(out))
