"""Device selection: the provider lists per device, and a device that cannot be used is an error.

These run on a CPU-only machine (CI); the GPU side is exercised by benchmarks/gpu_check.sh on a CUDA host.
"""

from __future__ import annotations

import onnxruntime as ort
import pytest
from click.testing import CliRunner

from btsbot_fast import Scorer
from btsbot_fast.backends import DEVICES, DeviceUnavailableError
from btsbot_fast.backends.onnx import (
    OnnxBackend,
    check_active_providers,
    execution_providers,
    installed_ort_distributions,
)
from btsbot_fast.cli import main

HAS_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()
HAS_TRT = "TensorrtExecutionProvider" in ort.get_available_providers()


def test_provider_lists_per_device(tmp_path):
    assert DEVICES == ("cpu", "cuda", "tensorrt")
    assert execution_providers("cpu") == [("CPUExecutionProvider", {})]
    assert execution_providers("cuda", device_id=1) == [("CUDAExecutionProvider", {"device_id": 1}),
                                                       ("CPUExecutionProvider", {})]
    trt = execution_providers("tensorrt", device_id=2, fp16=True, engine_cache=tmp_path,
                              profile_shapes={"triplet": (63, 63, 3), "metadata": (25,)}, max_batch=64)
    assert [name for name, _ in trt] == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    opts = trt[0][1]
    assert opts["device_id"] == 2 and trt[1][1] == {"device_id": 2}
    assert opts["trt_fp16_enable"] is True
    assert opts["trt_engine_cache_enable"] is True and opts["trt_engine_cache_path"] == str(tmp_path)
    assert opts["trt_timing_cache_path"] == str(tmp_path)
    # one optimisation profile covering batches 1..64, so a short last batch does not rebuild the engine
    assert opts["trt_profile_min_shapes"] == "triplet:1x63x63x3,metadata:1x25"
    assert opts["trt_profile_opt_shapes"] == opts["trt_profile_max_shapes"] == "triplet:64x63x63x3,metadata:64x25"
    assert execution_providers("tensorrt")[0][1] == {"device_id": 0, "trt_fp16_enable": False}


@pytest.mark.parametrize("kwargs, match", [
    ({"device": "gpu"}, "unknown device"),
    ({"device": "cuda", "device_id": -1}, "device_id"),
    ({"device": "cuda", "device_id": True}, "device_id"),
    ({"device": "cuda", "fp16": True}, "fp16 applies to the tensorrt device only"),
    ({"device": "cpu", "fp16": True}, "fp16"),
])
def test_bad_device_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        execution_providers(**kwargs)


def test_the_session_must_start_on_the_requested_provider():
    """ONNX Runtime falls back to the CPU with only a log line; the check after session creation refuses it."""
    check_active_providers("cpu", ["CPUExecutionProvider"], ["CPUExecutionProvider"])
    check_active_providers("cuda", ["CUDAExecutionProvider", "CPUExecutionProvider"], ["CUDAExecutionProvider"])
    with pytest.raises(DeviceUnavailableError, match="did not start on CUDAExecutionProvider .active: CPUExecution"):
        check_active_providers("cuda", ["CPUExecutionProvider"], ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with pytest.raises(DeviceUnavailableError, match="TensorrtExecutionProvider"):
        check_active_providers("tensorrt", ["CUDAExecutionProvider", "CPUExecutionProvider"],
                               ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"])


def test_exactly_one_onnxruntime_distribution():
    """onnxruntime and onnxruntime-gpu overwrite each other's files: an install must hold exactly one."""
    assert len(installed_ort_distributions()) == 1, installed_ort_distributions()


def test_cpu_session_runs_on_cpu(official_model):
    b = OnnxBackend(official_model.onnx_path, device="cpu")
    assert b.providers == ["CPUExecutionProvider"] and b.device == "cpu"
    assert Scorer(official_model, device="cpu").backend.providers == ["CPUExecutionProvider"]


@pytest.mark.skipif(HAS_CUDA, reason="this onnxruntime has CUDA: the error path needs a CPU-only build")
@pytest.mark.parametrize("device", ["cuda", "tensorrt"])
def test_gpu_device_without_gpu_is_an_error(official_model, device, tmp_path):
    """Asking for a GPU on a CPU-only ONNX Runtime is an error naming the fix, never a silent CPU run."""
    with pytest.raises(DeviceUnavailableError, match=r"no (CUDA|Tensorrt)ExecutionProvider.*onnxruntime-gpu"):
        OnnxBackend(official_model.onnx_path, device=device)
    with pytest.raises(DeviceUnavailableError):
        Scorer(official_model, device=device, home=tmp_path)
    assert not (tmp_path / "tensorrt").exists()  # nothing created for a device that is not there


@pytest.mark.skipif(HAS_CUDA, reason="this onnxruntime has CUDA")
def test_cli_device_errors(sample_alert, tmp_path):
    env = {"BTSBOT_FAST_HOME": str(tmp_path)}
    res = CliRunner().invoke(main, ["score", str(sample_alert), "--device", "cuda"], env=env)
    assert res.exit_code == 1 and res.stdout == ""
    assert res.stderr.startswith("Error: device 'cuda': ") and len(res.stderr.splitlines()) == 1
    res = CliRunner().invoke(main, ["score", str(sample_alert), "--fp16"], env=env)
    assert res.exit_code == 2 and "--fp16 needs --device tensorrt" in res.output
    res = CliRunner().invoke(main, ["score", str(sample_alert), "--device", "metal"], env=env)
    assert res.exit_code == 2


@pytest.fixture(scope="module")
def sample_alert(reference):
    return next(p for p in sorted((reference.dev / "kowalski").glob("*.avro")))
