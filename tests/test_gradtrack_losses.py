"""Losses of GradTrack against hand-computed values (eq. 3 and 5) and the baselines."""

import math

import pytest
import torch

from napari_gazeseg.models.gradtrack_losses import (
    cross_entropy_loss,
    dice_ce_loss,
    gradtrack_loss,
    method_loss,
    soft_dice_loss,
    track_map_loss,
)

LN2 = math.log(2.0)


def test_track_map_loss_equation_3_by_hand():
    # pixel a: P_fg = P_bg = 1/2, G = 0.5 -> (1 + 0.5) * -log(1/2)
    # pixel b: P_fg = 3/4, P_bg = 1/4, G = 0 -> -log(1/4)
    logits = torch.tensor([[[[0.0, 0.0]], [[0.0, math.log(3.0)]]]])  # (1, 2, 1, 2)
    track = torch.tensor([[[0.5, 0.0]]])
    expected = (1.5 * LN2 + 2 * LN2) / 2
    assert track_map_loss(logits, track).item() == pytest.approx(expected, rel=1e-6)


def test_track_map_is_resized_bilinearly_to_the_prediction():
    logits = torch.zeros(1, 2, 2, 2)
    track = torch.full((1, 8, 8), 0.6)
    assert track_map_loss(logits, track).item() == pytest.approx(1.6 * LN2, rel=1e-6)
    # left half of a 4x4 map inside the track, right half outside: halves stay halves at 2x2
    half = torch.zeros(1, 4, 4)
    half[..., :2] = 1.0
    assert track_map_loss(logits, half).item() == pytest.approx((2 * LN2 + LN2) / 2, rel=1e-6)


def test_dice_and_cross_entropy_by_hand():
    logits = torch.zeros(1, 2, 2, 2)  # P_fg = 1/2 everywhere
    mask = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    assert cross_entropy_loss(logits, mask).item() == pytest.approx(LN2, rel=1e-6)
    # Dice = 2 * (0.5 + 0.5) / (4 * 0.5 + 2) = 0.5
    assert soft_dice_loss(logits, mask).item() == pytest.approx(0.5, abs=1e-5)
    assert dice_ce_loss(logits, mask).item() == pytest.approx(0.5 + LN2, abs=1e-5)
    confident = torch.stack([-20 * (mask - 0.5), 20 * (mask - 0.5)], dim=1)
    assert dice_ce_loss(confident, mask).item() < 1e-3


def test_total_loss_equation_5_by_hand():
    outputs = {2: torch.zeros(1, 2, 2, 2), 4: torch.zeros(1, 2, 4, 4), 6: torch.zeros(1, 2, 8, 8)}
    track = {0.5: torch.zeros(1, 8, 8), 0.75: torch.full((1, 8, 8), 0.5), 1.0: torch.ones(1, 8, 8)}
    pseudo = torch.zeros(1, 8, 8)
    pseudo[:, :4] = 1.0
    total, terms = gradtrack_loss(outputs, track, pseudo)
    # L(100%, 6) = 2 ln2; L(50%, 2) = ln2; L(75%, 4) = 1.5 ln2; L_VAM = Dice 0.5 + CE ln2
    expected = 2 * LN2 + 0.5 * LN2 + 0.5 * 1.5 * LN2 + 0.5 * (0.5 + LN2)
    assert total.item() == pytest.approx(expected, abs=1e-5)
    assert float(terms["track_100_block6"]) == pytest.approx(2 * LN2, rel=1e-6)
    assert float(terms["track_50_block2"]) == pytest.approx(LN2, rel=1e-6)
    assert float(terms["track_75_block4"]) == pytest.approx(1.5 * LN2, rel=1e-6)
    assert float(terms["vam"]) == pytest.approx(0.5 + LN2, abs=1e-5)
    heavier, _ = gradtrack_loss(outputs, track, pseudo, lambda_track=1.0, lambda_vam=1.0)
    assert heavier.item() == pytest.approx(expected + 0.5 * 2.5 * LN2 + 0.5 * (0.5 + LN2), abs=1e-5)


def test_methods_pick_their_targets():
    outputs = {6: torch.zeros(1, 2, 4, 4)}
    half = torch.zeros(1, 4, 4)
    half[:, :2] = 1.0
    targets = {"vam_soft": half, "vam_crf_soft": half, "mask": half, "gazemedseg_0": half, "gazemedseg_1": torch.ones(1, 4, 4)}
    for method in ("vam", "vam_crf", "supervised"):
        loss, _ = method_loss(method, outputs, targets)
        assert loss.item() == pytest.approx(0.5 + LN2, abs=1e-5)
    loss, terms = method_loss("gazemedseg", outputs, targets)
    # all-ones target: Dice = 2 * 8 / (8 + 16) = 2/3, CE = ln2
    assert loss.item() == pytest.approx(((0.5 + LN2) + (1 / 3 + LN2)) / 2, abs=1e-5)
    assert sorted(terms) == ["gazemedseg_0", "gazemedseg_1"]
    with pytest.raises(ValueError, match="choose one of"):
        method_loss("nope", outputs, targets)


@pytest.mark.parametrize(
    ("blocks", "terms_expected"),
    [
        ((2, 4), {"track_50_block2", "track_75_block4", "track_100_block6", "vam"}),
        ((2,), {"track_50_block2", "track_100_block6", "vam"}),
        ((4,), {"track_75_block4", "track_100_block6", "vam"}),
        ((), {"track_100_block6", "vam"}),  # no Track Attention: G^100% and L_VAM only
    ],
)
def test_gradtrack_loss_supervises_the_track_attention_blocks_the_network_has(blocks, terms_expected):
    sizes = {2: 2, 4: 4, 6: 8}
    outputs = {b: torch.zeros(1, 2, sizes[b], sizes[b]) for b in (*blocks, 6)}
    targets = {"track_50": torch.zeros(1, 8, 8), "track_75": torch.zeros(1, 8, 8),
               "track_100": torch.ones(1, 8, 8), "pseudo_mask": torch.zeros(1, 8, 8)}
    loss, terms = method_loss("gradtrack", outputs, targets)
    assert set(terms) == terms_expected
    expected = sum((1.0 if name.endswith("block6") else 0.5) * float(v)
                   for name, v in terms.items() if name != "vam") + 0.5 * float(terms["vam"])
    assert loss.item() == pytest.approx(expected, rel=1e-6)
