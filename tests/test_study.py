"""The accuracy study: rank correlations equal scipy's (ties included), bootstrap intervals equal a
scipy bootstrap over the same resamples, accuracy tables read and matched by name or path, and
the numbers published in docs/study.md equal scipy's on the data stored beside them."""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

import builders
from onnxlayer.api import compare
from onnxlayer.comparison import column
from onnxlayer.errors import SettingsError
from onnxlayer.study import (BASELINES, STUDY_METRICS, accuracy_study, average_ranks, bootstrap_interval, kendall,
                             kendall_rows, match_accuracy, name_keys, read_accuracy, spearman, spearman_rows)

stats = pytest.importorskip("scipy.stats")
#: scipy warns where a sample is constant (ρ and τ are undefined there, NaN); the tests expect those cases
pytestmark = pytest.mark.filterwarnings("ignore:An input array is constant")
ROOT = Path(__file__).resolve().parent.parent


def samples():
    """Pairs of samples: continuous, heavy ties on either side, tiny, and the monotone extremes."""
    rng = np.random.default_rng(7)
    out = []
    for n in (3, 4, 7, 25, 120):
        x = rng.normal(size=n)
        out.append((x, x + rng.normal(size=n)))
        out.append((rng.integers(0, 4, n).astype(float), rng.normal(size=n)))
        out.append((rng.integers(0, 3, n).astype(float), rng.integers(0, 3, n).astype(float)))
    out.append((np.arange(10.0), np.arange(10.0) ** 3))
    out.append((np.arange(10.0), -np.exp(np.arange(10.0))))
    return out


@pytest.mark.parametrize("k", range(17))
def test_correlations_equal_scipy(k):
    x, y = samples()[k]
    assert np.allclose(average_ranks(x), stats.rankdata(x), rtol=0, atol=0)
    rho, tau = stats.spearmanr(x, y).statistic, stats.kendalltau(x, y).statistic  # tau-b, scipy's default
    if np.isnan(rho):
        assert spearman(x, y) is None and kendall(x, y) is None
    else:
        assert spearman(x, y) == pytest.approx(rho, abs=1e-12)
        assert kendall(x, y) == pytest.approx(tau, abs=1e-12)


def test_constant_sample_has_no_correlation():
    assert spearman([1, 1, 1, 1], [1, 2, 3, 4]) is None
    assert kendall([1, 2, 3, 4], [5, 5, 5, 5]) is None


def test_row_statistics_match_one_at_a_time():
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 5, (50, 12)).astype(float), rng.normal(size=(50, 12))
    rho = [stats.spearmanr(a, b).statistic for a, b in zip(x, y)]
    tau = [stats.kendalltau(a, b).statistic for a, b in zip(x, y)]
    assert np.allclose(spearman_rows(x, y), rho, equal_nan=True, atol=1e-12)
    assert np.allclose(kendall_rows(x, y, chunk=7), tau, equal_nan=True, atol=1e-12)


def test_bootstrap_interval_is_the_percentile_interval_of_scipy_over_the_same_resamples():
    rng = np.random.default_rng(3)
    x = rng.normal(size=30)
    y = x + rng.normal(size=30)
    picks = np.random.default_rng(11).integers(0, 30, size=(500, 30))  # what bootstrap_interval draws with seed 11
    for ours, theirs in ((spearman_rows, lambda a, b: stats.spearmanr(a, b).statistic),
                         (kendall_rows, lambda a, b: stats.kendalltau(a, b).statistic)):
        values = np.array([theirs(x[k], y[k]) for k in picks])
        values = values[~np.isnan(values)]
        expected = np.percentile(values, [2.5, 97.5])
        assert bootstrap_interval(ours, x, y, resamples=500, seed=11) == pytest.approx(tuple(expected), abs=1e-12)


def test_bootstrap_of_a_perfect_ranking_is_a_point():
    x = np.arange(20.0)
    assert bootstrap_interval(spearman_rows, x, x ** 2, resamples=200) == (1.0, 1.0)
    assert bootstrap_interval(kendall_rows, x, -x, resamples=200) == (-1.0, -1.0)


# ------------------------------------------------------------------------------ accuracy tables


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "acc.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_read_accuracy(tmp_path):
    path = write(tmp_path, "\ufeffmodel, top1 ,extra\n resnet50 ,76.13,x\nmodels/vgg11.onnx,69.02,y\n")
    assert read_accuracy(path) == {"resnet50": 76.13, "models/vgg11.onnx": 69.02}


@pytest.mark.parametrize("text, fault", [
    ("name,top1\na,1\n", "no model column"),
    ("model,acc\na,1\n", "no top1 column"),
    ("model,top1\na,high\n", "line 2: top1 'high' is not a number"),
    ("model,top1\na,nan\n", "not a finite number"),
    ("model,top1\na,1\na,2\n", "model 'a' appears twice (line 3)"),
    ("model,top1\n,1\n", "line 2 has no model name"),
    ("model,top1\n", "no rows"),
])
def test_read_accuracy_faults_are_one_line_settings_errors(tmp_path, text, fault):
    path = write(tmp_path, text)
    with pytest.raises(SettingsError, match=re.escape(fault)) as info:
        read_accuracy(path)
    assert str(info.value).startswith(f"--accuracy {path}: ") and "\n" not in str(info.value)


def test_read_accuracy_missing_file(tmp_path):
    with pytest.raises(SettingsError, match="cannot read it"):
        read_accuracy(tmp_path / "none.csv")


def test_name_keys():
    assert name_keys("zoo:resnet50") == ["zoo:resnet50", "resnet50"]
    assert name_keys("runs/a/resnet50.onnx") == ["runs/a/resnet50.onnx", "resnet50.onnx", "resnet50"]
    assert name_keys("resnet50.a1_in1k") == ["resnet50.a1_in1k"]  # a dot in a name is not a file suffix


def test_match_by_name_or_path():
    accuracy = {"resnet50": 76.1, "out/vgg11.onnx": 69.0, "mlp.onnx": 50.0, "bert": 1.0}
    models = ["zoo:resnet50", "vgg11.onnx", "x/y/mlp.onnx", "zoo:alexnet", "out/vgg11.onnx"]
    assert match_accuracy(models, accuracy) == {"zoo:resnet50": "resnet50", "vgg11.onnx": "out/vgg11.onnx",
                                                "x/y/mlp.onnx": "mlp.onnx", "out/vgg11.onnx": "out/vgg11.onnx"}


def test_an_ambiguous_match_is_an_error():
    with pytest.raises(SettingsError, match="matches several rows"):
        match_accuracy(["resnet50.onnx"], {"a/resnet50.onnx": 1.0, "b/resnet50.onnx": 2.0}, "acc.csv")


# ------------------------------------------------------------------------------ the study of a comparison


def test_study_of_a_comparison_equals_scipy_on_its_numbers():
    models = [(f"mlp{h}", builders.mlp((4, h, 3))) for h in (2, 3, 5, 8, 13, 21)] + [("broken", b"x")]
    cmp = compare(models)
    accuracy = {"mlp2": 50.0, "mlp3": 61.0, "mlp5": 58.0, "mlp8": 70.5, "mlp13": 70.5, "mlp21": 64.0, "other": 1.0}
    study = accuracy_study(cmp, accuracy, "acc.csv", resamples=300)
    assert study.matched == tuple((f"mlp{h}", accuracy[f"mlp{h}"]) for h in (2, 3, 5, 8, 13, 21))
    assert study.unmatched_models == () and study.unused_rows == ("other",)
    assert [c.metric for c in study.correlations] == list(STUDY_METRICS)
    top1 = [t for _, t in study.matched]
    rows = [r for r in cmp.rows if r.ok]
    for c in study.correlations:
        metric = [column(c.metric).value(r.summary) for r in rows]
        assert c.n == 6 and c.baseline == (c.metric in BASELINES)
        rho = stats.spearmanr(metric, top1).statistic
        if np.isnan(rho):  # P = log2(3/4) and L = 1 for every one of these MLPs: constant
            assert c.spearman is None and c.spearman_interval is None and c.kendall is None
            continue
        assert c.spearman == pytest.approx(rho, abs=1e-12)
        assert c.kendall == pytest.approx(stats.kendalltau(metric, top1).statistic, abs=1e-12)
        low, high = c.spearman_interval
        assert -1.0 <= low <= high <= 1.0
    # W of an MLP 4→h→3 is 4h + h + 3h + 3: increasing in h, so ρ(W, top1) is ρ(h, top1)
    w = next(c for c in study.correlations if c.metric == "params")
    assert w.spearman == pytest.approx(stats.spearmanr([2, 3, 5, 8, 13, 21], top1).statistic, abs=1e-12)


def test_too_few_models_give_no_correlation():
    cmp = compare([("a", builders.mlp((4, 2, 3))), ("b", builders.mlp((4, 5, 3)))])
    study = accuracy_study(cmp, {"a": 1.0, "b": 2.0})
    assert all(c.n == 2 and c.spearman is None and c.kendall_interval is None for c in study.correlations)


# ------------------------------------------------------------------------------ in every compare format


@pytest.fixture(scope="module")
def presented():
    from onnxlayer.present.comparison import render

    cmp = compare([(f"mlp{h}", builders.mlp((4, h, 3))) for h in (2, 3, 5, 8)] + [("broken", b"x")])
    study = accuracy_study(cmp, {"mlp2": 60.0, "mlp3": 65.5, "mlp5": 63.0, "mlp8": 70.0, "vit": 80.0}, "acc.csv",
                           resamples=200)
    return study, {fmt: render(cmp, fmt, study) for fmt in ("table", "csv", "markdown", "json")}


def test_table_and_markdown_show_top1_and_the_correlations(presented):
    study, out = presented
    table = out["table"].splitlines()
    assert table[0].split()[-1] == "top1" and table[2].split()[-1] == "60" and table[6].split()[-1] == "-"
    w = next(c for c in study.correlations if c.metric == "params")
    (line,) = [t for t in table if t.startswith("W ")]
    assert line.split()[:3] == ["W", "4", f"{w.spearman:.3f}"] and line.endswith("baseline")
    assert "rows matching no model: 1" in out["table"] and "95% intervals (200 resamples, seed 0)" in out["table"]
    md = [t for t in out["markdown"].splitlines() if t.startswith("| ")]
    assert md[0].endswith("| top1 |") and md[-7].startswith("| C bits | 4 | ") and md[-1].startswith("| MACs | 4 | ")


def test_csv_holds_the_models_then_the_correlations(presented):
    study, out = presented
    models, correlations = out["csv"].split("\n\n")
    rows = list(csv.DictReader(io.StringIO(models)))
    assert [r["top1"] for r in rows] == ["60.0", "65.5", "63.0", "70.0", ""]
    published = list(csv.DictReader(io.StringIO(correlations)))
    assert [r["metric"] for r in published] == list(STUDY_METRICS)
    for r, c in zip(published, study.correlations):
        assert r["spearman"] == ("" if c.spearman is None else repr(c.spearman)) and r["baseline"] == str(c.baseline)


def test_json_carries_the_study(presented):
    study, out = presented
    data = json.loads(out["json"])
    assert data["accuracy_study"] == json.loads(json.dumps(study.to_dict()))
    assert data["accuracy_study"]["unused_rows"] == ["vit"] and len(data["rows"]) == 5
# ------------------------------------------------------------------------------ docs/study.md


def published_tables() -> list[tuple[str, list[list[str]]]]:
    """(data file, rows of the correlation table) for each `<!-- study data: FILE -->` marker of docs/study.md."""
    text = (ROOT / "docs" / "study.md").read_text(encoding="utf-8")
    out = []
    for match in re.finditer(r"<!-- study data: (\S+) -->\n(.*?)\n\n", text, re.S):
        lines = [line for line in match.group(2).splitlines() if line.startswith("| ")][1:]  # the header goes
        out.append((match.group(1), [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]))
    return out


def test_docs_study_has_both_studies():
    assert [data for data, _ in published_tables()] == ["docs/data/study_torchvision.csv", "docs/data/study_timm.csv"]


@pytest.mark.parametrize("data, table", published_tables())
def test_docs_study_correlations_equal_scipy(data, table):
    """The data file is `compare --accuracy --format csv` output: the models with their metrics and
    top1, a blank line, then the correlations at full precision."""
    models_block, correlations_block = (ROOT / data).read_text(encoding="utf-8").split("\n\n")
    models = [r for r in csv.DictReader(io.StringIO(models_block)) if r["top1"] and not r["error"]]
    published = {r["metric"]: r for r in csv.DictReader(io.StringIO(correlations_block))}
    assert len(table) == len(STUDY_METRICS)
    for key, cells in zip(STUDY_METRICS, table):
        assert cells[0] == column(key).header
        pairs = [(float(r[key]), float(r["top1"])) for r in models if r[key] != ""]
        x, y = [p[0] for p in pairs], [p[1] for p in pairs]
        rho, tau = stats.spearmanr(x, y).statistic, stats.kendalltau(x, y).statistic
        assert int(cells[1]) == len(pairs) == int(published[key]["n"])
        assert float(published[key]["spearman"]) == pytest.approx(rho, abs=1e-12)
        assert float(published[key]["kendall"]) == pytest.approx(tau, abs=1e-12)
        assert cells[2] == f"{rho:.3f}" and cells[4] == f"{tau:.3f}"


@pytest.mark.slow
def test_torchvision_study_data_is_what_onnxlayer_computes_today(tmp_path):
    """docs/data/study_torchvision.csv is `compare --zoo <the 36> --accuracy ... --format csv` output: rerun it."""
    from onnxlayer.cli import main

    out, top1 = tmp_path / "study.csv", ROOT / "docs/data/torchvision_imagenet_top1.csv"
    zoo = ",".join(row["model"] for row in csv.DictReader(io.StringIO(top1.read_text(encoding="utf-8"))))
    assert main(["compare", "--zoo", zoo, "--accuracy", str(top1), "--format", "csv", "-o", str(out)]) == 0
    fresh, stored = (list(csv.reader(io.StringIO(p.read_text(encoding="utf-8"))))
                     for p in (out, ROOT / "docs/data/study_torchvision.csv"))
    assert len(fresh) == len(stored)
    for a, b in zip(fresh, stored):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            try:
                assert float(x) == pytest.approx(float(y), rel=1e-9, abs=1e-12)
            except ValueError:  # model names, errors, True/False
                assert x == y
