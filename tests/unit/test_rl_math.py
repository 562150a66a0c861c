"""Advantages and losses against hand-computed tables."""

import math

import pytest
import torch

from rlscope.boundary.rl.advantages import (
    broadcast_to_tokens,
    discounted_returns,
    gae,
    grpo_advantages,
    reinforce_pp_advantages,
    remax_advantages,
    rloo_advantages,
    token_rewards,
    whiten,
)
from rlscope.boundary.rl.losses import aggregate, kl_penalty, policy_loss, value_loss

T = torch.tensor


def test_grpo_and_dr_grpo():
    r = T([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    # group 0: mean .5, unbiased std sqrt(1/3)=.57735
    want = [[0.5 / 0.57735027, -0.5 / 0.57735027, -0.5 / 0.57735027, 0.5 / 0.57735027], [0, 0, 0, 0]]
    torch.testing.assert_close(grpo_advantages(r, eps=0.0)[:1], T(want[:1]), rtol=1e-5, atol=1e-6)
    assert torch.all(grpo_advantages(r)[1] == 0)  # all-equal group: no signal, no NaN
    torch.testing.assert_close(grpo_advantages(r, scale_by_std=False), T([[0.5, -0.5, -0.5, 0.5], [0, 0, 0, 0.0]]))


def test_rloo_table():
    r = T([[1.0, 0.0, 0.0]])
    # r_i - mean of the others: 1 - 0 = 1; 0 - (1+0)/2 = -.5; -.5
    torch.testing.assert_close(rloo_advantages(r), T([[1.0, -0.5, -0.5]]))
    with pytest.raises(ValueError):
        rloo_advantages(T([[1.0]]))


def test_remax_table():
    torch.testing.assert_close(remax_advantages(T([[1.0, 0.0], [0.0, 0.0]]), T([1.0, 0.0])), T([[0.0, -1.0], [0.0, 0.0]]))


def test_token_rewards_and_returns():
    mask = T([[1, 1, 1, 0], [1, 1, 0, 0]]).float()
    kl = T([[0.1, 0.2, 0.3, 9.0], [0.5, 0.5, 9.0, 9.0]])
    tr = token_rewards(T([1.0, 0.0]), mask, kl, kl_coef=0.5)
    torch.testing.assert_close(tr, T([[-0.05, -0.1, 0.85, 0.0], [-0.25, -0.25, 0.0, 0.0]]))
    ret = discounted_returns(tr, mask, gamma=1.0)
    torch.testing.assert_close(ret, T([[0.7, 0.75, 0.85, 0.0], [-0.5, -0.25, 0.0, 0.0]]))
    ret_g = discounted_returns(T([[0.0, 0.0, 1.0]]), T([[1.0, 1.0, 1.0]]), gamma=0.5)
    torch.testing.assert_close(ret_g, T([[0.25, 0.5, 1.0]]))


def test_reinforce_pp_is_batch_whitened_returns():
    mask = T([[1, 1, 0], [1, 1, 1]]).float()
    adv = reinforce_pp_advantages(T([1.0, 0.0]), mask)
    # returns: [[1,1,-],[0,0,0]] -> mean .4, var .24
    want = (T([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]) - 0.4) / math.sqrt(0.24 + 1e-8) * mask
    torch.testing.assert_close(adv, want)
    assert abs(float((adv * mask).sum())) < 1e-5


def test_gae_table():
    rewards = T([[0.0, 0.0, 1.0]])
    values = T([[0.5, 0.6, 0.7]])
    mask = T([[1.0, 1.0, 1.0]])
    adv, ret = gae(rewards, values, mask, gamma=1.0, lam=0.5)
    # deltas: t2: 1 - .7 = .3; t1: 0 + .7 - .6 = .1; t0: 0 + .6 - .5 = .1
    # A2 = .3; A1 = .1 + .5*.3 = .25; A0 = .1 + .5*.25 = .225
    torch.testing.assert_close(adv, T([[0.225, 0.25, 0.3]]))
    torch.testing.assert_close(ret, T([[0.725, 0.85, 1.0]]))
    # padding after the end: the value past the last valid token is 0, and padded entries are 0
    adv2, _ = gae(T([[0.0, 1.0, 0.0]]), T([[0.5, 0.2, 9.0]]), T([[1.0, 1.0, 0.0]]), gamma=1.0, lam=1.0)
    torch.testing.assert_close(adv2, T([[0.5, 0.8, 0.0]]))


def test_policy_loss_clipping_table():
    logp = torch.log(T([[1.5, 0.5, 1.1]]))  # ratios 1.5, .5, 1.1 against old logp 0
    old = torch.zeros(1, 3)
    adv = T([[1.0, -1.0, 1.0]])
    mask = torch.ones(1, 3)
    loss, stats = policy_loss(logp, old, adv, mask, clip_low=0.2, clip_high=0.2, agg="token-mean")
    # per token max(-A r, -A clip(r)): t0: max(-1.5, -1.2) = -1.2; t1: max(.5, .8) = .8; t2: -1.1
    assert float(loss) == pytest.approx((-1.2 + 0.8 - 1.1) / 3)
    assert stats["losses/clipfrac"] == pytest.approx(2 / 3)
    loss_hi, _ = policy_loss(logp, old, adv, mask, clip_low=0.2, clip_high=0.6, agg="token-mean")
    assert float(loss_hi) == pytest.approx((-1.5 + 0.8 - 1.1) / 3)  # clip-higher lets t0 through


def test_aggregations():
    x = T([[1.0, 1.0, 1.0, 1.0], [4.0, 0.0, 0.0, 0.0]])
    mask = T([[1, 1, 1, 1], [1, 0, 0, 0]]).float()
    assert float(aggregate(x, mask, "token-mean")) == pytest.approx(8 / 5)
    assert float(aggregate(x, mask, "seq-mean-token-mean")) == pytest.approx((1 + 4) / 2)
    assert float(aggregate(x, mask, "seq-mean-token-sum-norm", norm_len=4)) == pytest.approx((4 / 4 + 4 / 4) / 2)
    with pytest.raises(ValueError):
        aggregate(x, mask, "nope")


def test_kl_estimators_and_value_loss():
    logp, ref = T([[math.log(0.5)]]), T([[math.log(0.25)]])
    assert float(kl_penalty(logp, ref, "k1")) == pytest.approx(math.log(2))
    assert float(kl_penalty(logp, ref, "k2")) == pytest.approx(0.5 * math.log(2) ** 2)
    assert float(kl_penalty(logp, ref, "k3")) == pytest.approx(0.5 - 1 + math.log(2))
    v, old, ret, m = T([[1.0, 0.0]]), T([[0.5, 0.0]]), T([[2.0, 1.0]]), T([[1.0, 1.0]])
    # t0: unclipped (1-2)^2 = 1, clipped v = .7 -> (.7-2)^2 = 1.69; t1: 1 and 1
    assert float(value_loss(v, old, ret, m, clip=0.2)) == pytest.approx(0.5 * (1.69 + 1) / 2)
    assert float(value_loss(v, old, ret, m, clip=None)) == pytest.approx(0.5 * (1 + 1) / 2)


def test_whiten_and_broadcast():
    mask = T([[1.0, 1.0, 0.0]])
    w = whiten(T([[1.0, 3.0, 100.0]]), mask)
    torch.testing.assert_close(w, T([[-1.0, 1.0, 0.0]]), atol=1e-4, rtol=0)
    torch.testing.assert_close(broadcast_to_tokens(T([2.0]), mask), T([[2.0, 2.0, 0.0]]))


def test_token_level_estimators_stay_on_the_input_device():
    # "meta" stands in for a GPU: a scratch tensor made on the CPU inside the loops used to fail there
    # ("Tensor on device cpu is not on the expected device meta").
    mask = torch.ones(2, 3, device="meta")
    rewards = torch.zeros(2, 3, device="meta")
    assert token_rewards(torch.zeros(2, device="meta"), mask).device.type == "meta"
    assert discounted_returns(rewards, mask).device.type == "meta"
    adv, ret = gae(rewards, rewards, mask)
    assert adv.device.type == "meta" and ret.device.type == "meta"
    assert reinforce_pp_advantages(torch.zeros(2, device="meta"), mask).device.type == "meta"
