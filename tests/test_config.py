import pytest
import yaml

from detector.models import build_model, config_from_dict, load_config
from detector.models.config import CONFIG_DIR

BASE = {"name": "t", "backbone": {"name": "csppeleenet"}, "neck": {"name": "efm"}}


def write(tmp_path, data):
    p = tmp_path / "m.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_unknown_top_level_key_names_key_and_file(tmp_path):
    p = write(tmp_path, {**BASE, "anchros": []})
    with pytest.raises(ValueError, match=r"m\.yaml: unknown key 'anchros'"):
        load_config(p)


def test_unknown_component_key_names_key_and_file(tmp_path):
    p = write(tmp_path, {**BASE, "neck": {"name": "efm", "channels": 128}})
    with pytest.raises(ValueError, match=r"m\.yaml: unknown key 'neck\.channels' for neck 'efm'"):
        load_config(p)


def test_unknown_component_name(tmp_path):
    with pytest.raises(ValueError, match="unknown backbone 'vgg'"):
        load_config(write(tmp_path, {**BASE, "backbone": {"name": "vgg"}}))


def test_missing_key_and_bad_yaml(tmp_path):
    with pytest.raises(ValueError, match="missing required key 'neck'"):
        config_from_dict({"name": "t", "backbone": "csppeleenet"}, "x.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ValueError, match="bad.yaml: not valid YAML"):
        load_config(bad)


def test_names_count_must_match(tmp_path):
    with pytest.raises(ValueError, match="2 names for num_classes=3"):
        config_from_dict({**BASE, "num_classes": 3, "names": ["a", "b"]}, "x.yaml")


def test_builder_derives_channels_and_custom_classes():
    cfg = config_from_dict({**BASE, "num_classes": 2, "names": ["cat", "dog"]})
    model = build_model(cfg)
    assert model.names == ["cat", "dog"]
    assert [c.out_channels for c in model.head.convs] == [3 * 7] * 3
    assert [c.in_channels for c in model.head.convs] == [s.channels for s in model.neck.out_specs]


def test_round_trip_through_dict():
    cfg = load_config("csppeleenet-efm-sam")
    again = config_from_dict(cfg.to_dict())
    assert again == config_from_dict(cfg.to_dict()) and again.neck.kwargs == {"sam": True}
    assert len(again.names) == 80


def test_shipped_configs_never_name_a_channel_count():
    for path in CONFIG_DIR.glob("*.yaml"):
        text = path.read_text()
        assert "channels" not in text and "in_specs" not in text, path


@pytest.mark.parametrize("change,match", [
    ({"backbone": {"name": "csppeleenet", "width": 100000}}, r"m\.yaml: the model would have [\d,]+ parameters, over"),
    ({"num_classes": 1000000000}, r"m\.yaml: num_classes=1,000,000,000 exceeds the cap of 100,000"),
    ({"img_size": 100000}, r"m\.yaml: img_size=100,000 exceeds the cap of 8,192"),
    ({"img_size": "big"}, r"m\.yaml: 'img_size' must be a positive integer"),
    ({"neck": {"name": "efm", "widths": "wide"}}, r"m\.yaml: "),
])
def test_sizes_past_the_caps_are_refused_before_allocation(tmp_path, change, match):
    with pytest.raises(ValueError, match=match) as e:
        load_config(write(tmp_path, {**BASE, **change}))
    assert "\n" not in str(e.value)


def test_alias_bombs_and_binary_model_yamls_are_one_line_errors(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("name: &n t\nbackbone: csppeleenet\nneck: efm\nhead: {name: yolo}\nnames: [*n]\n")
    with pytest.raises(ValueError, match=r"m\.yaml: not valid YAML \(line 5\): alias \*n"):
        load_config(p)
    p.write_bytes(bytes(range(256)))
    with pytest.raises(ValueError, match=r"m\.yaml: not a text file"):
        load_config(p)
