"""train/common.py: one device picker, one settings loader, one map from errors to exit codes,
one run log, shared by every training phase (issue #13)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from train import common, probe, rl, sft  # noqa: E402
from train import config as train_config  # noqa: E402
from train.checkpoint import CheckpointError, ModelMismatch  # noqa: E402
from train.data import DataError  # noqa: E402
from train.rl import RLSettings  # noqa: E402

HERE = "cuda" if torch.cuda.is_available() else "cpu"


def _pipe(tmp_path: Path, train: dict | None = None) -> Path:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"output": str(tmp_path / "out"), "train": train or {}}))
    return path


def test_pick_device_auto_is_cuda_if_there_else_cpu():
    assert common.pick_device("auto") == torch.device(HERE)
    assert common.pick_device(None) == torch.device(HERE)
    assert common.pick_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name", ["bogus", "cuda:99"])
def test_pick_device_refuses_a_bad_device_naming_the_key(name):
    with pytest.raises(train_config.ConfigError, match=r"train\.rl\.device"):
        common.pick_device(name, "train.rl.device")


def test_rl_device_default_is_pretrains(tmp_path):
    """rl.py used to default to the CPU even where CUDA is: now every phase defaults to auto."""
    pipe = _pipe(tmp_path)
    devices = {phase: common.load_settings(str(pipe), [], phase)[1]["device"]
               for phase in ("pretrain", "sft", "rl", "probe", "chat")}
    assert set(devices.values()) == {"auto"}, devices
    assert RLSettings().device == RLSettings.from_params({}).device == "auto"
    assert common.pick_device(devices["rl"], "train.rl.device") == common.pick_device(devices["pretrain"])


@pytest.mark.parametrize("phase,main", [("sft", sft.main), ("rl", rl.main)])
@pytest.mark.parametrize("device", ["bogus", "cuda:99"])
def test_bad_device_is_one_line_exit_2_before_anything(tmp_path, capsys, phase, main, device):
    if device == "cuda:99" and torch.cuda.device_count() > 99:
        pytest.skip("this machine has a cuda:99")
    pipe = _pipe(tmp_path, {phase: {"device": device}})
    assert main([str(pipe)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"train.{phase}.device" in err[0], err
    assert not (tmp_path / "out").exists()


def test_probe_missing_checkpoint_is_exit_3_like_every_phase(tmp_path, capsys):
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"question": "q", "answer": "a"}\n')
    assert probe.main([str(tmp_path / "nowhere"), "--questions", str(qa)]) == 3
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize("err,code", [
    (train_config.ConfigError("x"), 2), (ModelMismatch("x"), 2), (ValueError("x"), 2),
    (CheckpointError("x"), 3), (DataError("x"), 3), (FileNotFoundError("x"), 3),
    (common.InputError("x"), 3), (common.RunFailed("x"), 1), (KeyError("x"), None),
])
def test_one_map_from_errors_to_exit_codes(err, code):
    assert common.exit_code(err) == code


def test_run_main_prints_one_line_and_keeps_unexpected_tracebacks(capsys):
    def bad():
        raise CheckpointError("step-000001/model.safetensors: missing")

    assert common.run_main("train x", bad) == 3
    assert capsys.readouterr().err == "train x: error: step-000001/model.safetensors: missing\n"
    with pytest.raises(KeyError):
        common.run_main("train x", lambda: {}["nope"])


def test_run_log_starts_anew_or_keeps_records_up_to_the_resumed_step(tmp_path, capsys):
    path = tmp_path / "run" / "log.jsonl"
    log = common.RunLog(path)
    for step in (1, 2, 3):
        log({"step": step}, f"step {step}")
    log.close()
    assert capsys.readouterr().out == "step 1\nstep 2\nstep 3\n"
    log = common.RunLog(path, resume_step=2)
    log({"step": 3, "again": True})
    log.close()
    assert [json.loads(x) for x in path.read_text().splitlines()] == [{"step": 1}, {"step": 2},
                                                                       {"step": 3, "again": True}]
    common.RunLog(path).close()
    assert path.read_text() == ""
    common.RunLog(tmp_path / "other" / "log.jsonl", enabled=False).close()
    assert not (tmp_path / "other").exists()
