"""Every stage's settings object agrees with the config schema, the one place defaults live.

For each settings class and its schema section: every field is a key of that section (or says in
its metadata which other key sets it, or that it is a fixed constant), and every dataclass
default equals the schema's default, so code that builds settings directly (tests, ``quick``)
gets what a workflow run gets. The shared factory refuses an unknown key by name.
"""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from herbseg.config.schema import ConfigError, fill_defaults, load_config, schema_path
from herbseg.config.settings import section_keys, settings_from
from herbseg.measurement.postprocess import PostprocessSettings
from herbseg.measurement.refine import THIN_FOR_PLANTS, RefineSettings
from herbseg.model.tiles import TileSettings
from herbseg.stages.annotation_qc import QCSettings
from herbseg.stages.baseline import BaselineSettings
from herbseg.stages.bootstrap import BootstrapSettings
from herbseg.stages.classify import ClassifySettings
from herbseg.stages.measure import MeasureSettings, measure_settings
from herbseg.stages.predict import PredictSettings
from herbseg.stages.split import SplitSettings
from herbseg.stages.synth import SynthSettings
from herbseg.stages.train import TrainConfig
from tests.helpers import REPO

SCHEMA = yaml.safe_load(schema_path().read_text())
DEFAULTS = fill_defaults({}, SCHEMA)

# settings class -> its config section (dotted); None: no section of its own (fields say where)
SECTIONS = {
    PostprocessSettings: "postprocess",
    RefineSettings: None,
    TileSettings: "predict.tiles",
    PredictSettings: "predict",
    MeasureSettings: "measure",
    ClassifySettings: "classify",
    BaselineSettings: "baseline",
    BootstrapSettings: "bootstrap",
    QCSettings: "annotation_qc",
    SplitSettings: "split",
    SynthSettings: "synth",
    TrainConfig: "train",
}


def schema_at(dotted: str) -> dict:
    node = SCHEMA
    for part in dotted.split("."):
        node = node["properties"][part]
    return node


def default_at(dotted: str):
    node = DEFAULTS
    for part in dotted.split("."):
        node = node[part]
    return node


def as_config(value):
    """A dataclass default in the form the config holds it (tuples as lists, nested as dicts)."""
    if dataclasses.is_dataclass(value):
        return {k: as_config(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, tuple):
        return [as_config(v) for v in value]
    return value


def field_default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


@pytest.mark.parametrize("cls", list(SECTIONS), ids=lambda c: c.__name__)
def test_fields_are_schema_keys_with_the_schema_defaults(cls):
    section = SECTIONS[cls]
    own = set(section_keys(cls))
    if section is None:
        assert not own, f"{cls.__name__}: fields {own} name no config key"
    else:
        keys = set(schema_at(section)["properties"])
        assert own <= keys, f"{cls.__name__}: {sorted(own - keys)} are not in {section}"
    for f in dataclasses.fields(cls):
        if f.metadata.get("fixed"):
            continue
        where = f.metadata.get("config") or f"{section}.{f.name}"
        schema_at(where)  # the key exists
        default = field_default(f)
        if default is dataclasses.MISSING or f.metadata.get("resolved"):
            continue
        assert as_config(default) == default_at(where), f"{cls.__name__}.{f.name} vs {where}"


def test_the_schema_defaults_build_every_settings_object():
    for cls, section in SECTIONS.items():
        if section is None or "." in section:
            continue
        built = settings_from(cls, default_at(section), section)
        assert isinstance(built, cls)
    measure = measure_settings(DEFAULTS["measure"], DEFAULTS["postprocess"])
    assert measure == MeasureSettings()
    predict = settings_from(PredictSettings, DEFAULTS["predict"], "predict")
    assert predict == PredictSettings() and isinstance(predict.tiles, TileSettings)
    assert predict.refine_for("leaf") == RefineSettings()
    assert predict.refine_for("plant") == RefineSettings(thin=THIN_FOR_PLANTS, plant=True)
    assert predict.refine_for(None) == RefineSettings()  # a card from before plant models
    assert PredictSettings(refine_thin=0.2).refine_for("leaf").thin == 0.2


def test_lists_become_tuples_and_sections_nest():
    measure = settings_from(MeasureSettings, {"ignore_dpi": [72, 96, 150]}, "measure")
    assert measure.ignore_dpi == (72, 96, 150)
    predict = settings_from(PredictSettings, {"tiles": {"enabled": True, "tile": 256}}, "predict")
    assert predict.tiles == TileSettings(enabled=True, tile=256)


def test_an_unknown_key_is_refused_by_name():
    with pytest.raises(ConfigError, match=r"'baseline\.smoth'.*did you mean 'smooth'"):
        settings_from(BaselineSettings, {"smoth": 2.0}, "baseline")
    with pytest.raises(ConfigError, match=r"'predict\.tiles\.overlp'"):
        settings_from(PredictSettings, {"tiles": {"overlp": 0.5}}, "predict")
    # a field set from another section is not a key of this one
    with pytest.raises(ConfigError, match=r"'annotation_qc\.mask_class'"):
        settings_from(QCSettings, {"mask_class": "plant"}, "annotation_qc")


def test_config_files_merge_in_order_as_snakemake_merges_them():
    """``herbseg predict --config config/config.yaml --config config/demo.yaml``: the demo's keys
    win section by section, the paper's other keys stay, and the schema fills the rest."""
    config = load_config([REPO / "config/config.yaml", REPO / "config/demo.yaml"])
    assert config["model"]["encoder"] == "timm-tf_efficientnet_lite0"  # from demo.yaml
    assert config["resize"]["size"] == 384 and config["predict"]["tta"] is True
    assert config["train"]["size"] == 256 and config["train"]["lr"] == 1.0e-3
    paper = load_config(REPO / "config/config.yaml")
    assert config["predict"]["threshold"] == paper["predict"]["threshold"]  # kept from config
    assert (
        config["ingest"]["id_column"] == "title"
        and config["ingest"]["max_megapixels"] == (paper["ingest"]["max_megapixels"])
    )
