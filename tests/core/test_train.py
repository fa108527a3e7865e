"""The training loop: budgets, early stopping with best-weight restore, checkpoints and resume."""

import json

import pytest
import torch

from genolm.core.models import GenolmConfig, GenolmForSequenceClassification
from genolm.core.runs import parse_duration
from genolm.core.train import TrainConfig, train
from genolm.io.errors import UsageError


def _model():
    torch.manual_seed(0)
    return GenolmForSequenceClassification(
        GenolmConfig(vocab_size=10, arch="cnn", hidden_size=16, num_layers=1, num_heads=4, num_labels=2)
    )


def _batches(n_batches, fail_at=None):
    g = torch.Generator().manual_seed(0)
    for i in range(n_batches):
        if fail_at is not None and i == fail_at:
            raise KeyboardInterrupt("killed")
        ids = torch.randint(5, 10, (8, 12), generator=g)
        yield {"input_ids": ids, "labels": (ids == 5).sum(1).gt(2).long()}


class Loader:
    def __init__(self, n, fail_at=None):
        self.n, self.fail_at = n, fail_at

    def __iter__(self):
        return _batches(self.n, self.fail_at)


def test_parse_duration():
    assert parse_duration("90") == 90 and parse_duration("15m") == 900 and parse_duration("1.5h") == 5400
    with pytest.raises(UsageError):
        parse_duration("soon")


def test_max_steps_and_epochs_budgets():
    assert train(_model(), Loader(100), TrainConfig(max_steps=7, eval_every=0)).steps == 7
    res = train(_model(), Loader(5), TrainConfig(epochs=3, eval_every=0), steps_per_epoch=5)
    assert res.steps == 15
    with pytest.raises(ValueError):
        train(_model(), Loader(5), TrainConfig(eval_every=0))


def test_early_stopping_restores_best_weights():
    scores = iter([0.5, 0.9, 0.4, 0.3, 0.2, 0.1])
    snapshots = {}

    def evaluate(model):
        s = next(scores)
        snapshots[s] = model.head[-1].weight.detach().clone()
        return {"mcc": s}

    m = _model()
    res = train(m, Loader(1000), TrainConfig(max_steps=1000, eval_every=2, patience=3, metric="mcc"), evaluate=evaluate)
    assert res.stopped_because == "early stopping" and res.best_metric == 0.9 and res.best_step == 4
    assert res.steps == 10
    assert torch.equal(m.head[-1].weight, snapshots[0.9])


def test_resume_after_kill(tmp_path):
    cfg = TrainConfig(max_steps=12, eval_every=0, checkpoint_every=4)
    with pytest.raises(KeyboardInterrupt):
        train(_model(), Loader(100, fail_at=9), cfg, out_dir=tmp_path)
    state = json.loads((tmp_path / "checkpoint" / "state.json").read_text())
    assert state["step"] == 8
    res = train(_model(), Loader(100), cfg, out_dir=tmp_path, resume=True)
    assert res.steps == 12
    assert not (tmp_path / "checkpoint").exists()  # finished runs clean up


def _shuffled_loader():
    from torch.utils.data import DataLoader

    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 10, (96, 12), generator=g)
    rows = [{"input_ids": ids[i], "labels": (ids[i] == 5).sum().gt(2).long()} for i in range(len(ids))]
    return DataLoader(rows, batch_size=8, shuffle=True)  # shuffling and dropout draw from the global RNG


def _dropout_model():
    torch.manual_seed(0)
    return GenolmForSequenceClassification(
        GenolmConfig(vocab_size=10, arch="cnn", hidden_size=16, num_layers=1, num_heads=4, num_labels=2, dropout=0.3)
    )


class _KillAfter:
    """A loader that dies (like kill -9 of the process) after n batches in total."""

    def __init__(self, inner, n):
        self.inner, self.left = inner, n

    def __iter__(self):
        for b in self.inner:
            if self.left == 0:
                raise SystemExit("killed")
            self.left -= 1
            yield b


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    cfg = TrainConfig(max_steps=30, eval_every=0, checkpoint_every=7, seed=3)  # 12 batches/epoch: crosses epochs
    full = _dropout_model()
    train(full, _shuffled_loader(), cfg)
    with pytest.raises(SystemExit):
        train(_dropout_model(), _KillAfter(_shuffled_loader(), 17), cfg, out_dir=tmp_path)
    assert json.loads((tmp_path / "checkpoint" / "state.json").read_text())["step"] == 14
    resumed = _dropout_model()
    res = train(resumed, _shuffled_loader(), cfg, out_dir=tmp_path, resume=True)
    assert res.steps == 30
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), k


def test_resume_without_checkpoint_says_so(tmp_path, caplog):
    with caplog.at_level("WARNING", logger="genolm.train"):
        res = train(_model(), Loader(10), TrainConfig(max_steps=3, eval_every=0), out_dir=tmp_path, resume=True)
    assert res.steps == 3 and "nothing to resume" in caplog.text


def test_custom_step_function_trains_through_the_loop():
    m = _model()
    seen = []

    def step(model, batch):
        seen.append(batch["tag"])
        out = model(input_ids=batch["input_ids"])
        return torch.nn.functional.cross_entropy(out.logits, batch["labels"]) * 2.0

    class Tagged(Loader):
        def __iter__(self):
            for b in _batches(self.n):
                yield {**b, "tag": "x"}  # non-tensor values pass through to the step function

    before = m.head[-1].weight.clone()
    res = train(m, Tagged(5), TrainConfig(max_steps=5, eval_every=0), step_fn=step)
    assert res.steps == 5 and seen == ["x"] * 5 and not torch.equal(before, m.head[-1].weight)


def test_checkpoint_every_takes_steps_or_a_duration(tmp_path):
    from genolm.core.train import parse_checkpoint_every

    assert parse_checkpoint_every(500) == (500, None)
    assert parse_checkpoint_every("40") == (40, None)
    assert parse_checkpoint_every("90s") == (0, 1.5)
    with pytest.raises(UsageError):
        parse_checkpoint_every("often")
    # a tiny duration checkpoints at every step: a kill after step 5 leaves a step-5 checkpoint
    cfg = TrainConfig(max_steps=20, eval_every=0, checkpoint_every="0.001s")
    with pytest.raises(KeyboardInterrupt):
        train(_model(), Loader(100, fail_at=5), cfg, out_dir=tmp_path)
    assert json.loads((tmp_path / "checkpoint" / "state.json").read_text())["step"] == 5
