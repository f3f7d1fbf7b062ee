"""Engine *Auto* device and dtype on each kind of machine, with what torch reports faked at its
function boundary (torch.cuda / torch.backends.mps / torch.amp): no Apple or NVIDIA GPU is needed.
Nothing runs on the faked device; only the choice is checked."""

from __future__ import annotations

import pytest
import torch

from vggt_core.network import engine


@pytest.fixture
def machine(monkeypatch):
    """fake(cuda=..., mps=..., capability=..., mps_autocast=...): what torch reports about this machine."""

    def fake(cuda: bool = False, mps: bool = False, capability: tuple[int, int] = (8, 0), mps_autocast: bool = True):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
        real = torch.amp.is_autocast_available
        monkeypatch.setattr(torch.amp, "is_autocast_available",
                            lambda device_type: mps_autocast if device_type == "mps" else real(device_type))

    return fake


def test_apple_silicon_auto_is_mps_in_fp16(machine):
    machine(mps=True)
    device = engine.pick_device("auto")
    assert device.type == "mps"
    assert engine.pick_dtype("auto", device) == torch.float16
    assert engine.pick_device("mps").type == "mps"


def test_mps_without_autocast_stays_fp32(machine):
    machine(mps=True, mps_autocast=False)  # torch < 2.5: no autocast on MPS
    assert engine.pick_dtype("auto", engine.pick_device("auto")) == torch.float32


def test_cuda_wins_over_mps_and_picks_by_capability(machine):
    machine(cuda=True, mps=True, capability=(8, 6))
    device = engine.pick_device("auto")
    assert device.type == "cuda" and engine.pick_dtype("auto", device) == torch.bfloat16
    machine(cuda=True, capability=(7, 5))
    assert engine.pick_dtype("auto", engine.pick_device("auto")) == torch.float16


def test_no_gpu_is_cpu_fp32_and_mps_request_is_one_line_error(machine):
    machine()
    device = engine.pick_device("auto")
    assert device.type == "cpu" and engine.pick_dtype("auto", device) == torch.float32
    with pytest.raises(engine.DeviceError, match="not available") as err:
        engine.pick_device("mps")
    assert "\n" not in str(err.value)


def test_explicit_dtype_overrides_auto_on_mps(machine):
    machine(mps=True)
    assert engine.pick_dtype("fp32", torch.device("mps")) == torch.float32
    assert engine.pick_dtype("bf16", torch.device("mps")) == torch.bfloat16
