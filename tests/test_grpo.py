"""GRPO arithmetic on hand-made groups, against values computed by hand."""
import math

import pytest
import torch

from train.grpo import group_advantages, kl_k3, pass_at_k, policy_loss, zero_signal_groups

REWARDS = torch.tensor([[1.0, 0.0, 0.0, 1.0],
                        [1.0, 1.0, 1.0, 1.0],
                        [0.0, 0.0, 0.0, 1.0]])


def test_advantage_is_reward_minus_group_mean():
    adv = group_advantages(REWARDS)
    expect = torch.tensor([[0.5, -0.5, -0.5, 0.5],
                           [0.0, 0.0, 0.0, 0.0],
                           [-0.25, -0.25, -0.25, 0.75]])
    assert torch.allclose(adv, expect)


def test_advantage_scaled_by_group_std():
    adv = group_advantages(REWARDS, scale_by_std=True, eps=0.0 + 1e-12)
    s = math.sqrt(0.25 * 0.75)          # population std of (0, 0, 0, 1)
    expect = torch.tensor([[1.0, -1.0, -1.0, 1.0],
                           [0.0, 0.0, 0.0, 0.0],          # zero-signal group stays zero, no NaN
                           [-0.25 / s, -0.25 / s, -0.25 / s, 0.75 / s]])
    assert torch.allclose(adv, expect, atol=1e-5)


def test_zero_signal_groups_are_the_all_equal_ones():
    assert zero_signal_groups(REWARDS).tolist() == [False, True, False]
    assert zero_signal_groups(torch.zeros(2, 3)).tolist() == [True, True]


LOGP = torch.tensor([[-1.0, -2.0, -9.0],
                     [-0.5, -7.0, -7.0]])
MASK = torch.tensor([[1.0, 1.0, 0.0],
                     [1.0, 0.0, 0.0]])
ADV = torch.tensor([1.0, -0.5])


def test_token_level_loss_and_gradient_without_old_policy():
    logp = LOGP.clone().requires_grad_(True)
    loss, stats = policy_loss(logp, MASK, ADV, norm="token")
    # -(1 + 1 - 0.5) / 3 completion tokens
    assert loss.item() == pytest.approx(-0.5)
    loss.backward()
    expect = torch.tensor([[-1 / 3, -1 / 3, 0.0], [0.5 / 3, 0.0, 0.0]])
    assert torch.allclose(logp.grad, expect)
    assert stats["tokens"] == 3 and stats["clip_frac"] == 0.0 and stats["ratio"] == pytest.approx(1.0)


def test_sequence_level_loss():
    loss, _ = policy_loss(LOGP, MASK, ADV, norm="sequence")
    # sequence means: -1 and +0.5, then their mean
    assert loss.item() == pytest.approx(-0.25)
    with pytest.raises(ValueError, match="normalisation"):
        policy_loss(LOGP, MASK, ADV, norm="batch")


def test_clipped_ratio_loss():
    # ratios: token (0,0) 1.5 with A=+1 -> clipped to 1.2; (0,1) 0.5 with A=+1 -> unclipped 0.5;
    # (1,0) 0.5 with A=-0.5 -> clipped to 0.8 * -0.5 = -0.4 (the pessimistic side)
    old = LOGP - torch.log(torch.tensor([[1.5, 0.5, 1.0], [0.5, 1.0, 1.0]]))
    logp = LOGP.clone().requires_grad_(True)
    loss, stats = policy_loss(logp, MASK, ADV, old_logp=old, clip_eps=0.2)
    assert loss.item() == pytest.approx((-1.2 - 0.5 + 0.4) / 3)
    assert stats["clip_frac"] == pytest.approx(2 / 3)
    loss.backward()
    # clipped tokens get no gradient; the unclipped one gets -A * ratio / 3
    assert logp.grad[0, 0].item() == 0.0 and logp.grad[1, 0].item() == 0.0
    assert logp.grad[0, 1].item() == pytest.approx(-0.5 / 3)


def test_kl_k3_penalty():
    ref = LOGP + math.log(2.0)          # ref - logp = log 2 everywhere
    per_tok = 2.0 - math.log(2.0) - 1.0
    assert torch.allclose(kl_k3(LOGP, ref), torch.full_like(LOGP, per_tok))
    assert kl_k3(LOGP, LOGP).abs().max().item() == 0.0
    loss, stats = policy_loss(LOGP, MASK, ADV, ref_logp=ref, kl_coef=0.1)
    assert stats["kl"] == pytest.approx(per_tok)
    assert loss.item() == pytest.approx(-0.5 + 0.1 * per_tok)


def test_pass_at_k():
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)      # 1 - C(3,2)/C(4,2)
    assert pass_at_k(4, 0, 4) == 0.0
    assert pass_at_k(4, 3, 2) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)
