"""avgen.checkpoints: one folder convention, a fixed class registry, strict loads and one clear error per bad folder."""

import json
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

from avgen.checkpoints import (MODELS, CheckpointError, from_pretrained, read_pipeline_config, save_pipeline_config,
                               save_pretrained)
from avgen.models.s2v.sound_inversion import AudioCLIPEncoder, SoundToVideo
from avgen.models.v2s.feature2mel import FeatureToMel
from avgen.models.v2s.specvqgan import SpecVQGANCodebook, SpecVQGANTransformer
from avgen.models.v2s.varietysound import VarietySound
from avgen.models.vocoders.hifigan import HiFiGANGenerator
from avgen.models.vocoders.melgan import MelGANGenerator

GROUPS = {"coarse": [0, 1], "mid": [2], "fine": [3]}
TINY = {
    "VarietySound": lambda: VarietySound(feature_dim=6, temporal_channels=8, temporal_lstm=8, sgau_channels=8,
                                         timbre_lstm=8, background_lstm=4, decoder_hidden=8, decoder_filters=8,
                                         up_channels=8, ablate_background="zeros"),
    "FeatureToMel": lambda: FeatureToMel(feature_dim=6, hidden=8, num_layers=1),
    "HiFiGANGenerator": lambda: HiFiGANGenerator(channels=16, resblock_kernels=(3,), resblock_dilations=((1,),)),
    "SoundToVideo": lambda: SoundToVideo(num_ws=4, w_dim=8, groups=GROUPS, encoder_width=4, rnn_hidden=8),
    "AudioCLIPEncoder": lambda: AudioCLIPEncoder(embed_dim=8, width=4, blocks=(1, 1, 1, 1)),
    "SpecVQGANCodebook": lambda: SpecVQGANCodebook(ch=32, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(4,),
                                                   resolution=8, z_channels=8, embed_dim=4, n_embed=8),
    "SpecVQGANTransformer": lambda: SpecVQGANTransformer(vocab_size=8, block_size=10, n_layer=1, n_head=2,
                                                         n_embd=8, feat_dim=4, feat_sample_size=2, code_shape=(2, 4)),
    "MelGANGenerator": lambda: MelGANGenerator(n_mel_channels=4, ngf=2, n_residual_layers=1),
}


def test_every_registered_model_round_trips(tmp_path):
    assert set(TINY) == set(MODELS)
    for name, make in TINY.items():
        torch.manual_seed(0)
        m = make().eval()
        folder = save_pretrained(m, tmp_path / name)
        cfg = json.loads((tmp_path / name / "config.json").read_text())
        assert cfg["class"] == name and "avgen_version" in cfg and (tmp_path / name / "model.safetensors").is_file()
        back = from_pretrained(folder)
        assert type(back) is type(m) and back.config == m.config and not back.training
        for k, v in m.state_dict().items():
            assert torch.equal(back.state_dict()[k], v), (name, k)


def test_config_survives_as_the_models_dataclass(tmp_path):
    m = TINY["VarietySound"]()
    back = from_pretrained(save_pretrained(m, tmp_path / "vs"), expected=VarietySound)
    assert back.ablate == {"background": "zeros"} and back.config.resample_segment == (8, 32)


def test_fp16_storage_loads_into_fp32(tmp_path):
    m = TINY["FeatureToMel"]()
    folder = save_pretrained(m, tmp_path / "f", dtype=torch.float16)
    assert all(v.dtype == torch.float16 for v in load_file(str(tmp_path / "f" / "model.safetensors")).values())
    back = from_pretrained(folder)
    assert next(back.parameters()).dtype == torch.float32


@pytest.mark.parametrize("name", ["os.system", "builtins.eval", "torch.nn.Linear", "nosuchmodule_avgen_probe.Evil",
                                  "Module", 42])
def test_a_class_outside_the_registry_is_refused_and_never_imported(tmp_path, name):
    folder = save_pretrained(TINY["FeatureToMel"](), tmp_path / "f")
    cfg = json.loads((tmp_path / "f" / "config.json").read_text())
    cfg["class"] = name
    (tmp_path / "f" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="is not one of avgen's models"):
        from_pretrained(folder)
    assert "nosuchmodule_avgen_probe" not in sys.modules


def _folder(tmp_path):
    return save_pretrained(TINY["FeatureToMel"](), tmp_path / "f")


def _edit_config(folder, fn):
    p = f"{folder}/config.json"
    cfg = json.load(open(p))
    fn(cfg)
    json.dump(cfg, open(p, "w"))


def _edit_weights(folder, fn):
    p = f"{folder}/model.safetensors"
    sd = load_file(p)
    fn(sd)
    save_file(sd, p)


BAD_FOLDERS = {
    "missing folder": (lambda f: f + "_nope", "no such checkpoint folder"),
    "a file, not a folder": (lambda f: f + "/model.safetensors", "not a folder"),
    "no config.json": (lambda f: (__import__("os").remove(f + "/config.json"), f)[1], "no config.json"),
    "invalid JSON": (lambda f: (open(f + "/config.json", "w").write("{not json"), f)[1], "not valid JSON"),
    "JSON not an object": (lambda f: (open(f + "/config.json", "w").write("[1, 2]"), f)[1], "expected a JSON object"),
    "unknown config key": (lambda f: (_edit_config(f, lambda c: c["config"].update(bogus=1)), f)[1],
                           "unknown config key.*config.bogus"),
    "wrong config type": (lambda f: (_edit_config(f, lambda c: c["config"].update(hidden="wide")), f)[1],
                          "config.hidden: expected an integer"),
    "negative kernel": (lambda f: (_edit_config(f, lambda c: c["config"].update(kernel_size=-3)), f)[1],
                        "config.json: 'config' does not build a FeatureToMel"),
    "no weights file": (lambda f: (__import__("os").remove(f + "/model.safetensors"), f)[1], "weights file not found"),
    "corrupt weights": (lambda f: (open(f + "/model.safetensors", "wb").write(b"\x10\x00garbage"), f)[1],
                        "not a readable safetensors file"),
    "missing tensor": (lambda f: (_edit_weights(f, lambda sd: sd.pop("proj.weight")), f)[1],
                       r"missing 1 tensor\(s\) \(proj.weight\)"),
    "unexpected tensor": (lambda f: (_edit_weights(f, lambda sd: sd.update(extra=torch.zeros(1))), f)[1],
                          r"unexpected 1 tensor\(s\) \(extra\)"),
    "shape mismatch": (lambda f: (_edit_weights(f, lambda sd: sd.update({"proj.bias": torch.zeros(3)})), f)[1],
                       r"proj.bias has shape \(3,\), FeatureToMel expects \(8,\)"),
    "non-finite weights": (lambda f: (_edit_weights(f, lambda sd: sd["proj.bias"].fill_(float("nan"))), f)[1],
                           "non-finite"),
}


@pytest.mark.parametrize("case", sorted(BAD_FOLDERS))
def test_each_bad_folder_gives_one_clear_error(tmp_path, case):
    make, message = BAD_FOLDERS[case]
    folder = make(_folder(tmp_path))
    with pytest.raises(CheckpointError, match=message) as info:
        from_pretrained(folder)
    assert "\n" not in str(info.value)


def test_wrong_kind_is_named(tmp_path):
    folder = save_pretrained(TINY["HiFiGANGenerator"](), tmp_path / "voc")
    with pytest.raises(CheckpointError, match="a HiFiGANGenerator checkpoint, not a VarietySound one"):
        from_pretrained(folder, expected=VarietySound)


def test_pipeline_components_must_stay_inside_the_folder(tmp_path):
    (tmp_path / "p" / "g").mkdir(parents=True)
    save_pipeline_config(tmp_path / "p", "VideoToSoundPipeline", {"generator": "g"}, {"data": {}})
    assert read_pipeline_config(tmp_path / "p", "VideoToSoundPipeline")["components"] == {"generator": "g"}
    with pytest.raises(CheckpointError, match="not a SoundToVideoPipeline"):
        read_pipeline_config(tmp_path / "p", "SoundToVideoPipeline")
    for bad in ("../elsewhere", "/abs/path", "missing"):
        save_pipeline_config(tmp_path / "p", "VideoToSoundPipeline", {"generator": bad}, {})
        with pytest.raises(CheckpointError, match="component 'generator'"):
            read_pipeline_config(tmp_path / "p", "VideoToSoundPipeline")
    with pytest.raises(CheckpointError, match="reserved"):
        save_pipeline_config(tmp_path / "p", "VideoToSoundPipeline", {}, {"class": "x"})


def test_earlier_single_folder_layouts_still_load(tmp_path):
    """A ``task: vocoder`` final/ folder as training wrote it before the convention."""
    m = TINY["HiFiGANGenerator"]()
    (tmp_path / "old").mkdir()
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(tmp_path / "old" / "generator.safetensors"))
    cfg = {"task": "vocoder", "model": {"n_mels": 80, "channels": 16, "resblock_kernels": [3],
                                        "resblock_dilations": [[1]]}}
    (tmp_path / "old" / "config.json").write_text(json.dumps(cfg))
    back = from_pretrained(tmp_path / "old", expected=HiFiGANGenerator)
    x = torch.rand(1, 80, 4)
    assert torch.equal(back(x), m.eval()(x))


def test_earlier_feature2mel_and_bad_legacy_entries(tmp_path):
    """An earlier feature2mel final/ (disc_* names, feature_dim at the top) loads; a malformed 'ablate' is one error."""
    m = FeatureToMel(feature_dim=6, hidden=8, num_layers=1)
    (tmp_path / "f2m").mkdir()
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(tmp_path / "f2m" / "generator.safetensors"))
    cfg = {"task": "feature2mel", "feature_dim": 6, "n_mels": 80,
           "model": {"hidden": 8, "num_layers": 1, "disc_windows": [32, 64, 128], "disc_hidden": 128}}
    (tmp_path / "f2m" / "config.json").write_text(json.dumps(cfg))
    assert from_pretrained(tmp_path / "f2m").config == m.config
    (tmp_path / "vs").mkdir()
    (tmp_path / "vs" / "config.json").write_text(json.dumps({"task": "varietysound", "model": {"ablate": "zeros"}}))
    with pytest.raises(CheckpointError, match="model.ablate"):
        from_pretrained(tmp_path / "vs")
