"""GradTrack network: resolution plan, block and Track Attention shapes, eq. (4)."""

import pytest
import torch

from napari_gazeseg.models import GradTrack
from napari_gazeseg.models.unet import UNet, UNetConfig, plan_strides


def test_plan_for_the_papers_224_input():
    config = UNetConfig(size=224)
    assert config.strides == (1, 2, 2, 2, 2, 2, 1)
    assert config.channels == (32, 64, 128, 256, 512, 512, 512)
    assert config.n_decoder_blocks == 6
    assert [224 // config.decoder_scale(h) for h in range(1, 7)] == [7, 14, 28, 56, 112, 224]


@pytest.mark.parametrize("size, expected", [(64, (1, 2, 2, 2, 2, 1, 1)), (96, (1, 2, 2, 2, 2, 1, 1)), (256, (1, 2, 2, 2, 2, 2, 2))])
def test_plan_downsamples_only_while_whole_and_at_least_four(size, expected):
    assert plan_strides(size) == expected


def _record_block_outputs(model):
    shapes = {}
    for index, stage in enumerate(model.encoder):
        stage.register_forward_hook(lambda m, i, o, index=index: shapes.__setitem__(f"enc{index}", tuple(o.shape)))
    for block, decoder_block in enumerate(model.decoder, start=1):
        decoder_block.register_forward_hook(lambda m, i, o, block=block: shapes.__setitem__(f"dec{block}", tuple(o.shape)))
    return shapes


def test_every_block_and_track_attention_output_has_the_planned_shape():
    config = UNetConfig(size=224, base_channels=4, max_channels=16)
    model = GradTrack(config)
    shapes = _record_block_outputs(model)
    outputs = model(torch.randn(2, 3, 224, 224))
    sides = [224, 112, 56, 28, 14, 7, 7]
    channels = [4, 8, 16, 16, 16, 16, 16]
    for stage in range(7):
        assert shapes[f"enc{stage}"] == (2, channels[stage], sides[stage], sides[stage])
    for block in range(1, 7):
        stage = 6 - block
        assert shapes[f"dec{block}"] == (2, channels[stage], sides[stage], sides[stage])
    assert sorted(outputs) == [2, 4, 6]
    assert outputs[2].shape == (2, 2, 14, 14)
    assert outputs[4].shape == (2, 2, 56, 56)
    assert outputs[6].shape == (2, 2, 224, 224)


def test_plain_unet_has_only_the_segmentation_output():
    model = GradTrack(UNetConfig(size=64, base_channels=4, max_channels=8), track_attention_blocks=())
    outputs = model(torch.randn(1, 3, 64, 64))
    assert list(outputs) == [6] and outputs[6].shape == (1, 2, 64, 64)
    assert isinstance(model, UNet) and len(model.track_attention) == 0


def test_wrong_input_size_says_what_to_do():
    model = GradTrack(UNetConfig(size=64, base_channels=4, max_channels=8))
    with pytest.raises(ValueError, match="multiples of 16"):
        model(torch.randn(1, 3, 40, 40))
    with pytest.raises(ValueError, match="Track Attention blocks"):
        GradTrack(UNetConfig(size=64), track_attention_blocks=(6,))


def _small_model(seed=0):
    torch.manual_seed(seed)
    return GradTrack(UNetConfig(size=64, base_channels=4, max_channels=8))


def test_segmentation_gradient_does_not_flow_through_the_track_attention_sum():
    model = _small_model()
    outputs = model(torch.randn(2, 3, 64, 64))
    for block in (2, 4):
        # the TA logits feed the decoder only through stopgrad(P_fg): no path to the output
        (grad,) = torch.autograd.grad(outputs[6].sum(), outputs[block], retain_graph=True, allow_unused=True)
        assert grad is None
    outputs[6].sum().backward()
    for block in ("2", "4"):
        for parameter in model.track_attention[block].parameters():
            assert parameter.grad is None
    # the decoder itself does receive the segmentation gradient
    assert model.decoder[0].convs[0][0].weight.grad.abs().sum() > 0


def test_track_attention_learns_from_its_own_map_and_reads_decoder_features():
    model = _small_model()
    outputs = model(torch.randn(2, 3, 64, 64))
    outputs[2][:, 1].sum().backward()
    assert model.track_attention["2"].blocks[-1].weight.grad.abs().sum() > 0
    # its loss also trains the decoder blocks that produce F^2 (it reads them)
    assert model.decoder[1].convs[0][0].weight.grad.abs().sum() > 0
    assert model.track_attention["4"].blocks[-1].weight.grad is None


def test_track_attention_foreground_is_added_to_the_features():
    model = _small_model().eval()
    images = torch.randn(1, 3, 64, 64)
    results = []
    for bias in (-20.0, 20.0):  # foreground probability ~0, then ~1, at block 2
        with torch.no_grad():
            model.track_attention["2"].blocks[-1].bias.copy_(torch.tensor([0.0, bias]))
        captured = {}
        handle = model.decoder[2].register_forward_pre_hook(lambda m, args: captured.__setitem__("x", args[0].clone()))
        with torch.no_grad():
            results.append((model(images)[6], captured["x"]))
        handle.remove()
    (low_out, low_features), (high_out, high_features) = results
    torch.testing.assert_close(high_features - low_features, torch.ones_like(low_features), atol=1e-5, rtol=0)
    assert not torch.allclose(low_out, high_out)
