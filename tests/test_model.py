"""The temporal lifter: reference parameter counts and key names, strided == dilated."""

import pytest
import torch

from poseact.lifting.models.temporal import TemporalLifter
from poseact.nn import count_parameters


@pytest.mark.parametrize("widths,params,traj,keys", [
    ([3, 3, 3], 8_555_571, 8_506_371, 32),
    ([3, 3, 3, 3], 12_753_971, 12_704_771, 44),
    ([3, 3, 3, 3, 3], 16_952_371, 16_903_171, 56),
])
def test_parameter_counts_and_state_dict_match_reference(widths, params, traj, keys):
    model = TemporalLifter(17, 2, 17, widths)
    assert count_parameters(model) == params
    assert count_parameters(TemporalLifter(17, 2, 1, widths)) == traj
    state = model.state_dict()
    assert len(state) == keys
    assert list(state)[:8] == ["expand_bn.weight", "expand_bn.bias", "expand_bn.running_mean",
                               "expand_bn.running_var", "expand_bn.num_batches_tracked", "shrink.weight",
                               "shrink.bias", "expand_conv.weight"]
    assert state["expand_conv.weight"].shape == (1024, 34, 3)
    assert state["shrink.weight"].shape == (51, 1024, 1)
    assert model.receptive_field == 3 ** len(widths)


def test_other_reference_shapes():
    assert count_parameters(TemporalLifter(17, 3, 17, [3, 3, 3, 3, 3])) == 17_004_595
    assert count_parameters(TemporalLifter(17, 2, 17, [3, 3, 3], dense=True)) == 29_527_091
    he = TemporalLifter(15, 2, 15, [3, 3, 3]).state_dict()
    assert he["expand_conv.weight"].shape == (1024, 30, 3) and he["shrink.weight"].shape == (45, 1024, 1)
    assert TemporalLifter(17, 2, 17, [3, 5, 3]).receptive_field == 45
    assert TemporalLifter(17, 2, 17, [3, 3, 7]).receptive_field == 63


def _randomise_bn(model):
    for bn in [model.expand_bn, *model.layers_bn]:
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
    return model


@pytest.mark.parametrize("widths", [[3, 3, 3], [3, 5, 3], [3, 3, 3, 3, 3], [1], [5, 3]])
@pytest.mark.parametrize("causal", [False, True])
def test_strided_form_equals_dilated_form(widths, causal):
    torch.manual_seed(0)
    model = _randomise_bn(TemporalLifter(17, 2, 17, widths, causal=causal, channels=32)).eval()
    x = torch.randn(5, model.receptive_field, 17, 2)
    assert torch.allclose(model(x), model.forward_single(x), atol=1e-5)


def test_dilated_output_length_and_causality():
    torch.manual_seed(0)
    model = _randomise_bn(TemporalLifter(17, 2, 17, [3, 3, 3], causal=True, channels=32)).eval()
    x = torch.randn(1, 40, 17, 2)
    y = model(x)
    assert y.shape == (1, 40 - 26, 17, 3)
    # a causal model's output at t depends on inputs <= t only: changing the future changes nothing
    x2 = x.clone()
    x2[:, -1] += 5
    y2 = model(x2)
    assert torch.allclose(y[:, :-1], y2[:, :-1]) and not torch.allclose(y[:, -1], y2[:, -1])


def test_bad_inputs_are_named():
    model = TemporalLifter(17, 2, 17, [3, 3, 3], channels=16)
    with pytest.raises(ValueError, match=r"expected input \(B, T, 17, 2\)"):
        model(torch.zeros(2, 27, 16, 2))
    with pytest.raises(ValueError, match="fewer than the receptive field 27"):
        model(torch.zeros(2, 20, 17, 2))
    with pytest.raises(ValueError, match="exactly 27 frames"):
        model.forward_single(torch.zeros(2, 29, 17, 2))
    with pytest.raises(ValueError, match="odd"):
        TemporalLifter(17, 2, 17, [3, 4])


def test_bn_momentum_setter_reaches_every_layer():
    model = TemporalLifter(17, 2, 17, [3, 3, 3], channels=16)
    model.set_bn_momentum(0.01)
    assert model.expand_bn.momentum == 0.01 and all(bn.momentum == 0.01 for bn in model.layers_bn)
