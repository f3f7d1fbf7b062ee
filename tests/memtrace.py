"""Peak tensor memory of a callable, from the CPU allocator's own allocation trace.

Device-independent accounting for the benchmarks and tests: every tensor allocation and free that
PyTorch's CPU allocator sees during `fn()` is replayed in time order, so the result is the largest
number of bytes that were live at once above the starting level (weights and inputs that exist
before the call are not counted). It is what a GPU's caching allocator would have to hold for the
same ops, without its rounding and fragmentation and without kernel workspaces.
"""
from __future__ import annotations

from typing import Any, Callable


def peak_tensor_bytes(fn: Callable[[], Any]) -> tuple[Any, int]:
    """Run `fn()` under the PyTorch profiler; return (its result, peak live bytes above the start)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=False) as prof:
        result = fn()
    events = sorted(
        (e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"
    )
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return result, peak
