"""Finding and checking SAM checkpoints; fine-tuned overlays; one clear sentence when wrong."""

from __future__ import annotations

import shutil

import pytest
import torch
from sam_tiny import (  # noqa: F401  (fixtures)
    TINY_FILE,
    TINY_TYPE,
    build_tiny_sam,
    no_user_checkpoints,
    tiny_checkpoint,
)

from napari_gazeseg.models.sam_loading import (
    OFFICIAL_CHECKPOINTS,
    SamCheckpointError,
    find_checkpoint,
    load_sam,
    register_sam_builder,
    save_finetuned,
)


def _one_sentence(message: str) -> bool:
    return message.count(". ") == 0 and message.endswith(".")


@pytest.mark.parametrize("model_type", ["vit_b", "vit_l", "vit_h"])
def test_missing_official_checkpoint_names_file_and_url(no_user_checkpoints, model_type):  # noqa: F811
    name, url = OFFICIAL_CHECKPOINTS[model_type]
    with pytest.raises(SamCheckpointError) as err:
        load_sam(model_type)
    message = str(err.value)
    assert name in message and url in message and str(no_user_checkpoints) in message
    assert "GAZESEG_SAM_CHECKPOINT" in message and _one_sentence(message)


def test_explicit_missing_path_is_named(no_user_checkpoints, tmp_path):  # noqa: F811
    with pytest.raises(
        SamCheckpointError, match=r"nowhere\.pth does not exist; download sam_vit_b_01ec64\.pth"
    ):
        find_checkpoint("vit_b", tmp_path / "nowhere.pth")
    with pytest.raises(SamCheckpointError, match="unknown SAM model type 'vit_x'"):
        find_checkpoint("vit_x")


def test_search_order_env_file_then_env_dir_then_cache(
    no_user_checkpoints,  # noqa: F811
    tiny_checkpoint,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    with pytest.raises(SamCheckpointError, match=TINY_FILE):
        find_checkpoint(TINY_TYPE)
    no_user_checkpoints.mkdir(parents=True)
    shutil.copy(tiny_checkpoint, no_user_checkpoints / TINY_FILE)
    assert find_checkpoint(TINY_TYPE) == no_user_checkpoints / TINY_FILE
    env_dir = tmp_path / "env-dir"
    env_dir.mkdir()
    shutil.copy(tiny_checkpoint, env_dir / TINY_FILE)
    monkeypatch.setenv("GAZESEG_SAM_DIR", str(env_dir))
    assert find_checkpoint(TINY_TYPE) == env_dir / TINY_FILE
    monkeypatch.setenv("GAZESEG_SAM_CHECKPOINT", str(tiny_checkpoint))
    assert find_checkpoint(TINY_TYPE) == tiny_checkpoint
    assert load_sam(TINY_TYPE, device="cpu").checkpoint == tiny_checkpoint


def test_checkpoint_of_another_model_type_says_which_it_is(no_user_checkpoints, tmp_path):  # noqa: F811
    state = build_tiny_sam().state_dict()
    state["image_encoder.patch_embed.proj.weight"] = torch.zeros(768, 3, 16, 16)  # vit_b's width
    path = tmp_path / "sam_vit_b_01ec64.pth"
    torch.save(state, path)
    with pytest.raises(SamCheckpointError) as err:
        load_sam(TINY_TYPE, path, device="cpu")
    message = str(err.value)
    assert message.startswith("sam_vit_b_01ec64.pth does not fit SAM vit_tiny")
    assert "it is a vit_b checkpoint: choose model type vit_b" in message and _one_sentence(message)


def test_mismatched_architecture_is_reported(no_user_checkpoints, tiny_checkpoint):  # noqa: F811
    def wider():
        model = build_tiny_sam()
        model.image_encoder.neck[0] = torch.nn.Conv2d(32, 128, 1, bias=False)
        return model

    register_sam_builder("vit_tiny_wider", wider, "wider.pth")
    with pytest.raises(
        SamCheckpointError,
        match=r"image_encoder\.neck\.0\.weight has shape \(32, 32, 1, 1\), expected \(128, 32, 1, 1\)",
    ):
        load_sam("vit_tiny_wider", tiny_checkpoint, device="cpu")


def test_unreadable_checkpoint(no_user_checkpoints, tmp_path):  # noqa: F811
    path = tmp_path / "half.pth"
    path.write_bytes(b"\x80\x02partial download")
    with pytest.raises(
        SamCheckpointError, match="half.pth could not be read as a SAM vit_tiny checkpoint"
    ):
        load_sam(TINY_TYPE, path, device="cpu")


def test_finetuned_overlay_replaces_only_prompt_encoder_and_decoder(tiny_checkpoint, tmp_path):  # noqa: F811
    trained = load_sam(TINY_TYPE, tiny_checkpoint, device="cpu").model
    with torch.no_grad():
        for parameter in [*trained.prompt_encoder.parameters(), *trained.mask_decoder.parameters()]:
            parameter.add_(1.0)
    path = save_finetuned(
        trained, tmp_path / "model.pt", TINY_TYPE, {"prompt": "heatmap_fixations"}
    )
    stored = torch.load(path, weights_only=True)
    assert set(stored) == {"format", "model_type", "meta", "prompt_encoder", "mask_decoder"}

    base = load_sam(TINY_TYPE, tiny_checkpoint, device="cpu")
    loaded = load_sam(TINY_TYPE, tiny_checkpoint, device="cpu", finetuned=path)
    assert loaded.finetuned_meta == {"prompt": "heatmap_fixations"}
    assert loaded.model_key == base.model_key  # embeddings stay valid under an overlay
    for name, value in loaded.model.state_dict().items():
        expected = (
            trained if name.startswith(("prompt_encoder", "mask_decoder")) else base.model
        ).state_dict()[name]
        assert torch.equal(value, expected), name

    register_sam_builder("vit_tiny_twin", build_tiny_sam, "twin.pth")
    with pytest.raises(SamCheckpointError, match="fine-tuned on SAM vit_tiny, not vit_tiny_twin"):
        load_sam("vit_tiny_twin", tiny_checkpoint, finetuned=path)
    with pytest.raises(
        SamCheckpointError, match="is a fine-tuned gaze checkpoint, not a base SAM model"
    ):
        load_sam(TINY_TYPE, path)
    with pytest.raises(SamCheckpointError, match="is not a fine-tuned gaze checkpoint"):
        load_sam(TINY_TYPE, tiny_checkpoint, finetuned=tiny_checkpoint)


@pytest.mark.parametrize(
    "content",
    ["python object", "legacy pickle", "damaged zip"],
)
def test_a_refused_checkpoint_never_suggests_weights_only_false(no_user_checkpoints, tiny_checkpoint, tmp_path, content):  # noqa: F811
    import argparse
    import pickle

    path = tmp_path / "suspicious.pth"
    if content == "python object":  # what a malicious or foreign pickle looks like to weights_only
        torch.save({"image_encoder.x": torch.zeros(1), "extra": argparse.Namespace(run="code")}, path)
    elif content == "legacy pickle":
        path.write_bytes(pickle.dumps(argparse.Namespace(run="code"), protocol=2))
    else:
        data = bytearray(tiny_checkpoint.read_bytes())
        data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
        path.write_bytes(bytes(data[: len(data) * 3 // 4]))
    for load in (lambda: load_sam(TINY_TYPE, path, device="cpu"),
                 lambda: load_sam(TINY_TYPE, tiny_checkpoint, device="cpu", finetuned=path)):
        with pytest.raises(SamCheckpointError) as err:
            load()
        message = str(err.value)
        assert "weights_only" not in message and "False" not in message, message
        assert message.startswith("suspicious.pth could not be read") and _one_sentence(message), message


@pytest.mark.parametrize("layout", ["exported", "exported with decoder", "training checkpoint"])
def test_micro_sam_checkpoint_layouts_load(no_user_checkpoints, tmp_path, layout):  # noqa: F811
    """micro-sam's layouts: a plain state dict (its exported vit_b.pt), ``{"model_state", "decoder_state"}``
    (export with the instance decoder) and torch_em training checkpoints (``sam.`` prefixed names)."""
    torch.manual_seed(5)
    reference = build_tiny_sam()
    state = reference.state_dict()
    decoder = {"encoders.0.weight": torch.randn(4, 3), "out_conv.bias": torch.randn(2)}  # ignored by us
    payload = {
        "exported": state,
        "exported with decoder": {"model_state": state, "decoder_state": decoder},
        "training checkpoint": {
            "model_state": {f"sam.{k}": v for k, v in state.items()},
            "optimizer_state": {"state": {}, "param_groups": [{"lr": 1e-5, "params": [0, 1]}]},
            "decoder_state": decoder,
            "iteration": 100,
        },
    }[layout]
    path = tmp_path / "micro_sam_vit_tiny.pt"
    torch.save(payload, path)
    loaded = load_sam(TINY_TYPE, path, device="cpu").model
    for name, value in reference.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
