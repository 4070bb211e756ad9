"""lstm_forward + lstm_backward against torch.nn.LSTM forward + backward, on the CPU.

Same process, alternating runs, torch on as many threads as numpy's OpenBLAS, float64 and
float32, n_x=64 n_a=128 m=64 T_x=100 (``--sweep`` adds more sizes). Prints each ratio
(rnnlib / torch) and GFLOP/s against a measured numpy matmul peak. A benchmark, not a test.

    .venv/bin/python bench/lstm_bench.py [--sweep] [--repeats N] [--wait-quiet SECONDS]

On a CPU with AVX-512 that OpenBLAS does not recognise (it then falls back to its AVX2
"Haswell" kernels, which the header reports), ``OPENBLAS_CORETYPE=SkylakeX`` in the
environment selects the AVX-512 kernels that torch's MKL/oneDNN use anyway.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import main  # noqa: E402

if __name__ == "__main__":
    main(["lstm"], __doc__.splitlines()[0])
