"""gru_forward and torch_gru_forward (+ backward) against torch.nn.GRU, on the CPU.

The notes' GRU (reset gate before the matmul) has no nn equivalent: nn.GRU of the same size
stands in for it (same matmul work); torch_gru_* computes exactly what nn.GRU computes.

Same process, alternating runs, torch on as many threads as numpy's OpenBLAS, float64 and
float32, n_x=64 n_a=128 m=64 T_x=100 (``--sweep`` adds more sizes). Prints each ratio
(rnnlib / torch) and GFLOP/s against a measured numpy matmul peak. A benchmark, not a test.
Options and the OPENBLAS_CORETYPE note: see lstm_bench.py.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import main  # noqa: E402

if __name__ == "__main__":
    main(["gru", "torch_gru"], __doc__.splitlines()[0])
