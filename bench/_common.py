"""Shared machinery of the CPU benchmarks: thread counts, the numpy matmul peak, alternating timing.

Not a test: nothing here asserts a time. Run from the repository root, e.g.
``.venv/bin/python bench/lstm_bench.py``.
"""

import argparse
import ctypes
import glob
import os
import statistics
import time

import numpy as np
import torch

# (n_x, n_a, m, T_x): the shape first, then a small sweep.
TARGET = (64, 128, 64, 100)
SWEEP = [(16, 32, 16, 100), (32, 64, 32, 100), (64, 128, 64, 100), (64, 128, 64, 25),
         (128, 256, 64, 50), (64, 512, 32, 50), (64, 128, 256, 50)]


def _openblas():
    """numpy's OpenBLAS library (ctypes), or None."""
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs",
                                  "libscipy_openblas*.so*"))
    for lib in libs:
        try:
            return ctypes.CDLL(lib)
        except OSError:
            pass
    return None


def blas_threads():
    """Threads numpy's OpenBLAS uses (read from the library; falls back to the CPU count)."""
    dll = _openblas()
    for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads"):
        if dll is not None and hasattr(dll, name):
            return int(getattr(dll, name)())
    return os.cpu_count() or 1


def blas_core():
    """The kernel set OpenBLAS picked at run time (e.g. 'Haswell' = AVX2, 'SkylakeX' = AVX-512)."""
    dll = _openblas()
    for name in ("scipy_openblas_get_corename64_", "openblas_get_corename"):
        if dll is not None and hasattr(dll, name):
            f = getattr(dll, name)
            f.restype = ctypes.c_char_p
            return f().decode()
    return "unknown"


def cpu_has_avx512():
    try:
        with open("/proc/cpuinfo") as f:
            return "avx512f" in f.read()
    except OSError:
        return False


def matmul_peak(dtype, n=1024, repeats=5):
    """Best GFLOP/s of an n x n numpy matmul: the ceiling the benchmarks are measured against."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((n, n)).astype(dtype)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n ** 3 / best / 1e9


CLOCK = time.perf_counter  # wall time; --cpu-time switches to process CPU time


def _timed(f):
    t = CLOCK()
    f()
    return CLOCK() - t


def alternate(f_numpy, f_torch, repeats, warmup=2):
    """Run the two alternately (numpy, torch, numpy, ...); return both lists of times (s)."""
    for _ in range(warmup):
        f_numpy()
        f_torch()
    tn, tt = [], []
    for _ in range(repeats):
        tn.append(_timed(f_numpy))
        tt.append(_timed(f_torch))
    return tn, tt


def parse_args(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--repeats", type=int, default=15, help="timed runs of each (default 15)")
    p.add_argument("--sweep", action="store_true", help="also time the sweep of sizes")
    p.add_argument("--dtype", choices=["float64", "float32", "both"], default="both")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for torch (default: as many as numpy's OpenBLAS uses)")
    p.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                   help="before each measurement wait (at most this long) for the 1-minute load "
                        "average to drop below 0.5, on a shared machine")
    p.add_argument("--cpu-time", action="store_true",
                   help="time process CPU time instead of wall time: steadier on a loaded "
                        "machine, meaningful with one thread (OPENBLAS_NUM_THREADS=1 --threads 1)")
    return p.parse_args()


def wait_quiet(seconds):
    """Sleep until the 1-minute load average is below 0.5 or ``seconds`` have passed."""
    end = time.monotonic() + seconds
    while os.getloadavg()[0] >= 0.5 and time.monotonic() < end:
        time.sleep(5)


def header(args):
    global CLOCK
    if args.cpu_time:
        CLOCK = time.process_time
    threads = args.threads or blas_threads()
    torch.set_num_threads(threads)
    print(f"numpy {np.__version__} (OpenBLAS threads {blas_threads()}, kernels {blas_core()}), "
          f"torch {torch.__version__} "
          f"(threads {torch.get_num_threads()}), cpus {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}, "
          f"clock {'process CPU time' if args.cpu_time else 'wall'}")
    if blas_core() == "Haswell" and cpu_has_avx512() and "OPENBLAS_CORETYPE" not in os.environ:
        print("note: this CPU has AVX-512 but OpenBLAS chose its AVX2 (Haswell) kernels, while "
              "torch's MKL/oneDNN use AVX-512; OPENBLAS_CORETYPE=SkylakeX selects OpenBLAS's "
              "AVX-512 kernels (about 2x the float32 matmul peak here)")
    dtypes = ["float64", "float32"] if args.dtype == "both" else [args.dtype]
    peaks = {d: matmul_peak(getattr(np, d)) for d in dtypes}
    print("numpy matmul peak (1024^3): "
          + ", ".join(f"{d} {g:.0f} GFLOP/s" for d, g in peaks.items()))
    return dtypes, peaks


def report(label, flops, tn, tt, peak):
    """One line: medians, ratio numpy/torch, GFLOP/s and share of the matmul peak."""
    mn, mt = statistics.median(tn), statistics.median(tt)
    gn, gt = flops / mn / 1e9, flops / mt / 1e9
    print(f"{label:<34} numpy {mn * 1e3:8.2f} ms  torch {mt * 1e3:8.2f} ms  "
          f"ratio {mn / mt:5.2f}  (min {min(tn) / min(tt):4.2f})  "
          f"GFLOP/s numpy {gn:5.1f} ({gn / peak:4.0%})  torch {gt:5.1f} ({gt / peak:4.0%})  "
          f"[load {os.getloadavg()[0]:.1f}]")
    return mn / mt


# ---------------------------------------------------------------------------------------------
# One benchmark per cell: rnnlib's sequence forward + backward vs the nn module's.

def _cells():
    from rnnlib import gru, lstm, rnn

    return {
        # name: (forward, backward, nn class, gates, output-weight key)
        "rnn": (rnn.rnn_forward, rnn.rnn_backward, torch.nn.RNN, 1, "Wya"),
        "gru": (gru.gru_forward, gru.gru_backward, torch.nn.GRU, 3, "Wy"),
        "torch_gru": (gru.torch_gru_forward, gru.torch_gru_backward, torch.nn.GRU, 3, "Wy"),
        "lstm": (lstm.lstm_forward, lstm.lstm_backward, torch.nn.LSTM, 4, "Wy"),
    }


def flops(gates, n_x, n_a, m, T_x):
    """Matmul FLOPs of forward + backward: forward 2 m T (n_a + n_x) gates n_a, backward twice
    that (weight gradients and input gradients). Elementwise work is not counted."""
    return 3 * 2 * m * T_x * (n_a + n_x) * gates * n_a


def bench_cell(cell, shape, dtype, repeats, peak):
    """Time rnnlib's forward + backward against nn.RNN/GRU/LSTM on the same data."""
    from rnnlib.cells import CELLS
    from rnnlib.pytorch import to_torch

    cells = _cells()
    forward, backward, nn_cls, gates, wy = cells[cell]
    n_x, n_a, m, T_x = shape
    rng = np.random.default_rng(0)
    p = {k: v.astype(dtype) for k, v in CELLS[cell].init(n_a, n_x, rng).items()}
    p[wy] = (0.1 * rng.standard_normal((1, n_a))).astype(dtype)  # n_y = 1: a negligible head
    p["by"] = np.zeros((1, 1), dtype=dtype)
    x = rng.standard_normal((n_x, m, T_x)).astype(dtype)
    a0 = (0.1 * rng.standard_normal((n_a, m))).astype(dtype)
    da = rng.standard_normal((n_a, m, T_x)).astype(dtype)

    def run_numpy():
        out = forward(x, a0, p)
        backward(da, out[-1])

    # The nn module computes the same function where one exists; for the notes' GRU nn.GRU is
    # the stand-in (same size, same amount of work, reset gate after the matmul).
    if cell == "gru":
        module = nn_cls(n_x, n_a).to(getattr(torch, dtype))
    else:
        module = to_torch(p, cell)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 1, 0))).requires_grad_()
    h0 = torch.from_numpy(np.ascontiguousarray(a0.T))[None].requires_grad_()
    state = (h0, torch.zeros_like(h0)) if cell == "lstm" else h0
    g = torch.from_numpy(np.ascontiguousarray(da.transpose(2, 1, 0)))

    def run_torch():
        module.zero_grad(set_to_none=True)
        xt.grad = h0.grad = None
        out, _ = module(xt, state)
        out.backward(g)

    tn, tt = alternate(run_numpy, run_torch, repeats)
    label = f"{cell} {dtype} n_x={n_x} n_a={n_a} m={m} T_x={T_x}"
    return report(label, flops(gates, *shape), tn, tt, peak)


def main(cells, description):
    args = parse_args(description)
    dtypes, peaks = header(args)
    shapes = [TARGET] + ([s for s in SWEEP if s != TARGET] if args.sweep else [])
    ratios = {}
    for cell in cells:
        for dtype in dtypes:
            for shape in shapes:
                wait_quiet(args.wait_quiet)
                ratios[cell, dtype, shape] = bench_cell(cell, shape, dtype, args.repeats,
                                                        peaks[dtype])
    print("\nratio = rnnlib time / torch time (median of alternating runs; < 1: rnnlib faster)")
    for dtype in dtypes:
        for cell in cells:
            print(f"  {cell:<10} {dtype}  at {TARGET}: {ratios[cell, dtype, TARGET]:.2f}")
    return ratios
