"""Shared helpers of the benchmark scripts: machine description, process memory, result files."""
from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
GB = 1e9  # decimal gigabytes, as in the VGGT paper's table


def _proc_status_kib(field: str) -> int:
    """A "VmXXX:  1234 kB" line of /proc/self/status in KiB (0 where /proc is missing, e.g. macOS)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_gb() -> float:
    """Current resident set size of this process in GB."""
    return _proc_status_kib("VmRSS") * 1024 / GB


def peak_rss_gb() -> float:
    """Peak resident set size (high-water mark) of this process in GB since it started."""
    kib = _proc_status_kib("VmHWM")
    if not kib:  # no /proc: ru_maxrss is KiB on Linux, bytes on macOS
        import resource

        raw = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return raw / GB if sys.platform == "darwin" else raw * 1024 / GB
    return kib * 1024 / GB


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def total_ram_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024 / GB
    except OSError:
        pass
    return None


def hardware(device: str) -> dict[str, Any]:
    """What the numbers were measured on: CPU, cores, RAM, GPU, library versions."""
    import torch

    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "ram_gb": total_ram_gb(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(torch.device(device))
        info.update(
            gpu=props.name,
            gpu_memory_gb=props.total_memory / GB,
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            flash_sdp=torch.backends.cuda.flash_sdp_enabled(),
        )
    return info


def command_line() -> str:
    return " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv])


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)  # never leave a half-written file behind when a run is killed
    return path


def md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
