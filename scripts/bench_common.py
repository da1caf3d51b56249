"""Shared by the reference sides of the benchmark (bench_reference.py: PyTorch; bench_onnx.py: ONNX Runtime).
No torch import here, so the ONNX Runtime processes stay free of it."""
import time


def timed(fn, repeats: int):
    """Best wall time of `repeats` calls after one warm-up call."""
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best
