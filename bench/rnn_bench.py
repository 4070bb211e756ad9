"""rnn_forward + rnn_backward (tanh) against torch.nn.RNN forward + backward, on the CPU.

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
    main(["rnn"], __doc__.splitlines()[0])
