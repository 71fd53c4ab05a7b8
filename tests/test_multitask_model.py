"""SPNet (deephar TPAMI): parameter counts of spec §3.12, output structure, soft-argmax, decoupling."""

from __future__ import annotations

import pytest
import torch

from poseact.multitask.models.spnet import SPNet, SPNetConfig
from poseact.nn import count_parameters
from poseact.multitask.models.layers import SoftArgmax2d, joint_confidence, max_min_pool, spatial_softmax

# (config, millions of parameters in spec §3.12)
PAPER_SIZES = [
    (dict(num_pyramids=1), 4.08),
    (dict(num_pyramids=8), 21.34),
    (dict(num_pyramids=8, num_joints=17, dim=3), 21.74),
    (dict(num_pyramids=6, action_pyramids=[5, 6], num_actions=[15], pose_replica=True,
          pose_features=160, visual_features=160), 20.27),
    (dict(num_pyramids=2, action_pyramids=[1, 2], num_actions=[15], pose_features=160, visual_features=160), 10.22),
    (dict(num_pyramids=2, num_joints=17, dim=3, action_pyramids=[1, 2], num_actions=[60],
          pose_features=192, visual_features=192), 12.80),
]


def small(**kw) -> SPNetConfig:
    base = dict(num_joints=17, dim=3, input_size=64, num_pyramids=2, num_levels=3, growth=16, stem_channels=16,
                kernel_size=3, action_pyramids=[1, 2], num_actions=[10], pose_features=32, visual_features=32)
    return SPNetConfig(**{**base, **kw})


@pytest.mark.parametrize("kw,millions", PAPER_SIZES)
def test_parameter_counts_match_the_reference(kw, millions):
    n = count_parameters(SPNet(SPNetConfig(**kw))) / 1e6
    assert abs(n - millions) / millions < 0.005, f"{kw}: {n:.3f} M vs {millions} M"


def test_output_structure_and_action_heat_map_size():
    cfg = small(num_pyramids=4, action_pyramids=[3, 4], pose_replica=True)
    model = SPNet(cfg)
    shapes = []
    model.blocks[-1].action.heads[0].register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape)))
    poses, actions = model(torch.randn(2, 8, 3, 64, 64))
    assert len(poses) == 4 * 2 and all(p.shape == (2, 8, 17, 4) for p in poses)
    assert len(actions) == 2 * 2 and actions[0][0].shape == (2, 10)
    assert shapes == [(2, 10, 4, 5)]  # T=8 -> 4, J=17 padded to 20 -> 5 (NTU: 4×5)
    assert ((poses[-1][..., :3] >= 0) & (poses[-1][..., :3] <= 1)).all()


def test_pose_outputs_do_not_depend_on_the_action_stream():
    model = SPNet(small()).eval()
    x = torch.randn(1, 8, 3, 64, 64)
    with torch.no_grad():
        a, acts = model(x)
        b, none = model(x, with_action=False)
    assert none == [] and len(acts) == 4
    assert all(torch.equal(p, q) for p, q in zip(a, b))


def test_soft_argmax_ramps_and_confidence():
    h, w = 8, 8
    logits = torch.full((1, 2, h, w), -50.0)
    logits[0, 0, 3, 7] = 50.0  # joint 0 peaked at row 3, last column
    prob = spatial_softmax(logits)
    xy = SoftArgmax2d(h, w)(prob)
    assert torch.allclose(xy[0, 0], torch.tensor([1.0, 3 / 7]), atol=1e-5)
    conf = joint_confidence(prob)
    assert conf[0, 0] == pytest.approx(1.0, abs=1e-5)
    assert conf[0, 1] == pytest.approx(4 / 64, abs=1e-5)  # uniform map: 4 cells of 1/64
    assert not any(p.requires_grad for p in SoftArgmax2d(h, w).parameters())


def test_max_min_pool_is_a_sum():
    x = torch.tensor([[[[1.0, 5.0], [-2.0, 3.0]]]])
    assert max_min_pool(x).item() == pytest.approx(3.0)  # max 5 + min -2


@pytest.mark.parametrize("replica", [False, True])
def test_replica_decouples_the_pose_regressors_from_the_action_loss(replica):
    model = SPNet(small(pose_replica=replica))
    model.copy_replicas()
    _, actions = model(torch.randn(2, 8, 3, 64, 64))
    sum(a[0].logsumexp(-1).sum() for a in actions).backward()
    grad = model.blocks[-1].head.heat.weight.grad  # the last PB: nothing downstream re-reads its maps
    if replica:
        assert grad is None or grad.abs().max() == 0
        assert model.blocks[-1].head.heat_replica.weight.grad.abs().max() > 0
    else:
        assert grad.abs().max() > 0


def test_invalid_configs_name_the_field():
    with pytest.raises(ValueError, match="input_size"):
        SPNet(small(input_size=48))
    with pytest.raises(ValueError, match="num_actions"):
        SPNet(small(num_actions=[]))
