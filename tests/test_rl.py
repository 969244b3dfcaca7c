"""The RL update on a fresh tiny model: it learns a trivially learnable reward within a few
steps, log-probs line up with the model's distribution, and zero-signal groups change nothing."""
import torch

from train.model import GPT, GPTConfig
from train.rl import RLSettings, _pad_batch, rl_update, sample_groups, token_logprobs

TARGET = 5


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=8, n_layer=1, n_head=2, n_embd=32, seq_len=16))


def test_token_logprobs_are_the_completion_tokens_log_softmax():
    model = tiny_model()
    prompts, comps = [[1, 2, 3], [4]], [[5, 6], [7, 0, 1]]
    inp, tgt = _pad_batch(prompts, comps, "cpu")
    assert tgt.tolist() == [[-1, -1, 5, 6], [7, 0, 1, -1]]
    logp, mask = token_logprobs(model, inp, tgt)
    logits, _ = model(inp)
    ref = torch.log_softmax(logits, -1)
    assert torch.allclose(logp[0, 2], ref[0, 2, 5], atol=1e-5)
    assert torch.allclose(logp[1, 0], ref[1, 0, 7], atol=1e-5)
    assert mask.tolist() == [[0, 0, 1, 1], [1, 1, 1, 0]]
    assert logp[0, 0].item() == 0.0


def test_zero_signal_groups_are_counted_and_do_not_move_the_model():
    model = tiny_model()
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    stats = rl_update(model, opt, [[0], [1]], [[2], [3], [4], [5]], torch.ones(2, 2), RLSettings())
    assert stats["zero_signal"] == 1.0 and stats["updated_groups"] == 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    stats = rl_update(model, opt, [[0], [1]], [[2], [3], [4], [5]], torch.tensor([[1.0, 0.0], [0.0, 0.0]]),
                      RLSettings())
    assert stats["zero_signal"] == 0.5 and stats["updated_groups"] == 1 and stats["tokens"] == 2


def _learn(settings: RLSettings, steps: int = 12):
    model = tiny_model()
    ref = tiny_model() if settings.kl_coef else None
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr)
    prompts = [[0], [1], [2], [3]]
    means = []
    for step in range(steps):
        comps = sample_groups(model, prompts, settings.group_size, 3, 1.0, None, (), seed=step)
        rewards = torch.tensor([[float(c[0] == TARGET) for c in comps[g * settings.group_size:(g + 1) * settings.group_size]]
                                for g in range(len(prompts))])
        rl_update(model, opt, prompts, comps, rewards, settings, ref)
        means.append(float(rewards.mean()))
    with torch.no_grad():
        logits, _ = model(torch.tensor([[0]]))
    return means, torch.softmax(logits[0, -1], -1)[TARGET].item()


def test_mean_reward_rises_on_a_trivially_learnable_task():
    # reward 1 iff the first sampled token is TARGET: chance is 1/8 at the start
    means, p_target = _learn(RLSettings(group_size=8, lr=0.02, microbatch=16))
    assert sum(means[:3]) / 3 < 0.35
    assert sum(means[-3:]) / 3 > 0.6, means
    assert p_target > 0.6


def test_clipped_reuse_std_scaling_and_kl_also_learn():
    s = RLSettings(group_size=8, lr=0.01, updates_per_batch=2, clip_eps=0.2, scale_by_std=True,
                   kl_coef=0.01, loss_norm="sequence")
    means, p_target = _learn(s)
    assert sum(means[-3:]) / 3 > sum(means[:3]) / 3 + 0.25, means


# -- standard errors and the noise verdict (issue #14) -------------------------------------------

def test_standard_error_is_over_problems_and_formatted():
    from train.rl import fmt_se, mean_se
    mean, se = mean_se([1.0, 0.0, 1.0, 0.0])
    assert mean == 0.5 and abs(se - (1 / 3) ** 0.5 / 2) < 1e-9      # sample sd 0.577 / sqrt(4)
    # one problem posed twice counts once: two problems, means 1 and 0
    mean, se = mean_se([1.0, 1.0, 0.0, 0.0], ["a", "a", "b", "b"])
    assert mean == 0.5 and abs(se - 0.5) < 1e-9
    assert mean_se([0.25], ["a"]) == (0.25, (0.25 * 0.75) ** 0.5)       # one problem: the binomial bound
    assert mean_se([]) == (0.0, 0.0)
    assert fmt_se(0.3412, 0.0301) == "0.341 (se 0.030)"


def test_change_within_noise_is_said_so():
    from train.rl import compare
    groups = [str(i) for i in range(32)]
    before = {"pass@1": 0.078, "pass@1_se": 0.02, "scores": [0.25 if i % 4 == 0 else 0.0 for i in range(32)]}
    after = {"pass@1": 0.062, "pass@1_se": 0.018, "scores": [0.25 if i % 4 == 1 else 0.0 for i in range(32)]}
    after["scores"][5] = 0.0
    before["pass@1"], after["pass@1"] = sum(before["scores"]) / 32, sum(after["scores"]) / 32
    c = compare(before, after, groups, "new problems, trained phrasings")
    assert c["noise"] and c["change"] < 0
    assert "within noise" in c["verdict"] and "(se " in c["verdict"]
    assert c["verdict"].startswith("new problems, trained phrasings: pass@1 0.062 (se 0.020) -> 0.055 (se 0.018)")
    # a clear gain on every problem is not noise
    better = {"pass@1": 0.9, "pass@1_se": 0.02, "scores": [0.9] * 32}
    c = compare(before, better, groups, "x")
    assert not c["noise"] and "more than 2 standard errors" in c["verdict"]
    # no per-item scores (an old checkpoint's "before"): the two errors combine as independent
    c = compare({"pass@1": 0.5, "pass@1_se": 0.03}, {"pass@1": 0.55, "pass@1_se": 0.04}, groups, "x")
    assert abs(c["change_se"] - 0.05) < 1e-9 and c["noise"]


def _expected_reward(model, prompts) -> float:
    """The exact mean reward of the toy task (first token == TARGET) under the model."""
    with torch.no_grad():
        return sum(torch.softmax(model(torch.tensor([p]))[0][0, -1], -1)[TARGET].item() for p in prompts) / len(prompts)


def test_one_grpo_step_raises_the_expected_reward_of_its_own_batch():
    # issue #14: whatever the advantage scaling or loss normalisation, ONE update on a batch
    # must make the rewarded completions more likely (a sign or weighting slip fails here)
    prompts = [[0], [1], [2], [3]]
    for std, norm, reuse in ((False, "token", 1), (True, "token", 1), (True, "sequence", 1), (False, "token", 2)):
        model = tiny_model(seed=3)
        opt = torch.optim.AdamW(model.parameters(), lr=0.01)
        comps = sample_groups(model, prompts, 8, 3, 1.0, None, (), seed=11)
        rewards = torch.tensor([[float(c[0] == TARGET) for c in comps[g * 8:(g + 1) * 8]] for g in range(4)])
        assert 0 < rewards.sum() < rewards.numel()        # the batch carries signal
        before = _expected_reward(model, prompts)
        rl_update(model, opt, prompts, comps, rewards,
                  RLSettings(group_size=8, scale_by_std=std, loss_norm=norm, updates_per_batch=reuse))
        assert _expected_reward(model, prompts) > before + 0.01, (std, norm, reuse)
