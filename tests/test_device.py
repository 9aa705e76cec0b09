"""course_utils.device: device choice, the COURSE_DEVICE override, seeding."""

import random

import numpy as np
import pytest
import torch

from course_utils import device as dev


def test_default_is_best_available(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    assert dev.get_device().type == dev.available_devices()[0]


def test_preference_order_cuda_mps_cpu(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert dev.available_devices() == ["cuda", "mps", "cpu"]
    assert dev.get_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert dev.get_device().type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert dev.get_device().type == "cpu"


def test_environment_override(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert dev.get_device() == torch.device("cpu")


def test_argument_beats_environment(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    assert dev.get_device("cpu") == torch.device("cpu")


def test_unavailable_device_names_the_available_ones(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match=r"COURSE_DEVICE.*cuda.*available: cpu"):
        dev.get_device()


def test_unknown_device_name(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "tpu9")
    match = r"'tpu9' is not a device name.*cuda, mps, cpu"
    with pytest.raises(ValueError, match=match):
        dev.get_device()


def test_cuda_index_out_of_range(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(RuntimeError, match=r"cuda:3.*1 CUDA device"):
        dev.get_device("cuda:3")


def test_blank_override_means_automatic(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "  ")
    assert dev.get_device().type == dev.available_devices()[0]


def test_seed_everything_repeats_all_generators():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    dev.seed_everything(123)
    first = draw()
    dev.seed_everything(123)
    assert draw() == first
    dev.seed_everything(124)
    assert draw() != first


@pytest.mark.parametrize("seed", [-1, 1.5, "1", True])
def test_seed_everything_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        dev.seed_everything(seed)


def test_synchronize_cpu_is_a_no_op():
    dev.synchronize("cpu")
