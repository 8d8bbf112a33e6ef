"""``dexndm sim2sim-random``: the pipeline on sampled profiles at the tiny size, and the aggregate."""
import json

import pytest

from dexndm_control import cli
from dexndm_control.commands import sim2sim_random
from dexndm_control.testing.policies import random_policy
from dexndm_learning.policy.artifact import load_policy
from dexndm_learning.residual.sim2sim import DIRECT, VARIANT_OF_KIND
from dexndm_learning.sim.reality import RealityProfile


@pytest.fixture(autouse=True)
def _grasp_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DEXNDM_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def results(direct, dexndm, whole, ttf=(0.5, 0.5, 0.5)):
    cell = lambda r, t: {"all": {"RotR": [r, 0.1], "TTF": [t, 0.01], "RotP": [1.0, 0.0]}}  # noqa: E731
    return {"normal_cylinders": {DIRECT: cell(direct, ttf[0]), VARIANT_OF_KIND["joint"]: cell(dexndm, ttf[1]),
                                 VARIANT_OF_KIND["whole"]: cell(whole, ttf[2])}}


def test_aggregate_reports_median_worst_share_and_the_bars():
    rows = [sim2sim_random.profile_row(i, RealityProfile(), r) for i, r in enumerate(
        [results(10, 15, 12), results(20, 18, 22, ttf=(0.6, 0.5, 0.6)), results(10, 14, 10)])]
    agg = sim2sim_random.aggregate(rows, "normal_cylinders")
    assert agg["dexndm_over_direct"] == {"median": pytest.approx(1.4), "worst": pytest.approx(0.9)}
    assert agg["whole_over_direct"]["median"] == pytest.approx(1.1)
    assert agg["share_dexndm_helps"] == pytest.approx(2 / 3) and agg["share_dexndm_beats_whole"] == pytest.approx(2 / 3)
    assert agg["worst_ttf_minus_direct"] == pytest.approx(-0.1)
    assert not agg["bars_met"]                        # one profile below 1.0x, one TTF 0.1 lower
    good = [sim2sim_random.profile_row(i, RealityProfile(), results(10, 14 + i, 11)) for i in range(3)]
    assert sim2sim_random.aggregate(good, "normal_cylinders")["bars_met"]
    table = sim2sim_random.markdown(rows, {"normal_cylinders": agg}, "header")
    assert "| 1 |" in table and "0.90x" in table and "helps on 67 %" in table and "not met" in table
    assert "robust" not in agg

    def with_robust(r, robust, ttf=0.5):
        r["normal_cylinders"][VARIANT_OF_KIND["robust"]] = {"all": {"RotR": [robust, 0.1], "TTF": [ttf, 0.0],
                                                                    "RotP": [1.0, 0.0]}}
        return r
    rows = [sim2sim_random.profile_row(i, RealityProfile(), with_robust(results(10, 9, 11), robust))
            for i, robust in enumerate((14, 13, 16))]
    rob = sim2sim_random.aggregate(rows, "normal_cylinders")["robust"]
    assert rob["robust_over_direct"] == {"median": pytest.approx(1.4), "worst": pytest.approx(1.3)}
    assert rob["share_beats_dexndm"] == 1.0 and rob["bars_met"]
    assert "1.40x" in sim2sim_random.markdown(rows, {"normal_cylinders": sim2sim_random.aggregate(rows, "normal_cylinders")}, "h")


def test_aggregate_without_any_ratio_reports_nan_and_bars_not_met():
    """No variant turning the object gives no ratio on any profile (the tiny preset):
    NaN median and worst, the bars not met, and no numpy warning."""
    import math
    import warnings

    rows = [sim2sim_random.profile_row(i, RealityProfile(), results(0.0, 0.0, 0.0)) for i in range(2)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        agg = sim2sim_random.aggregate(rows, "normal_cylinders")
    assert math.isnan(agg["dexndm_over_direct"]["median"]) and math.isnan(agg["whole_over_direct"]["worst"])
    assert agg["bars_met"] is False


def test_tiny_benchmark_on_two_sampled_profiles(tmp_path):
    out = tmp_path / "bench"
    argv = ["sim2sim-random", "--k", "2", "--out", str(out), "--preset", "tiny",
            "--base", str(random_policy(tmp_path / "base.pt", "base"))]
    assert cli.main(argv) == 0
    data = json.loads((out / "random_profiles.json").read_text())
    assert [r["profile"] for r in data["rows"]] == [0, 1]
    assert data["rows"][0]["knobs"] != data["rows"][1]["knobs"]                 # two different worlds
    for object_set in ("normal_cylinders", "test"):
        assert data["summary"][object_set]["profiles"] == 2
        assert (out / f"random_profiles_{object_set}.png").stat().st_size > 0
    for i in (0, 1):
        assert (out / "profiles" / f"profile_{i:02d}.yaml").is_file()
        assert json.loads((out / f"profile_{i:02d}" / "sim2sim.json").read_text()).keys() == {"normal_cylinders", "test"}
    assert "DexNDM / direct median" in (out / "random_profiles.md").read_text()
    assert (out / "rollouts" / "done.json").is_file() and not (out / "profile_00" / "rollouts").exists()   # shared
    assert cli.main(argv[:-2] + ["--base", str(tmp_path / "base.pt"), "--seed", "1"]) == 2   # other settings: refused

    # The robust variant is added to the finished benchmark: nothing else is redone.
    kept = {p: p.stat().st_mtime_ns for p in out.glob("profile_*/ndm_*/best.pt")}
    robust = ["--ndm-ensemble", "2", "--gate-quantile", "0.9", "--disagreement-weight", "0.5"]
    assert cli.main(argv + robust) == 0
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    data = json.loads((out / "random_profiles.json").read_text())
    for i in (0, 1):
        run = out / f"profile_{i:02d}"
        assert (run / "ndm_joint_seed1" / "best.pt").is_file()
        assert load_policy(run / "residual_robust" / "residual.pt").gate is not None
        assert VARIANT_OF_KIND["robust"] in json.loads((run / "sim2sim.json").read_text())["test"]
    assert "robust_over_direct" in data["rows"][1]["sets"]["normal_cylinders"]
    assert "robust" in data["summary"]["test"] and "Robust DexNDM / direct median" in (out / "random_profiles.md").read_text()
    assert cli.main(argv + robust[:2] + ["--gate-quantile", "0.5"]) == 2        # other robust settings: refused

    # So is the refined variant (deploy, refit the joint-wise NDM, retrain): the robust one stays.
    made = [*out.glob("profile_*/ndm_*/best.pt"), *out.glob("profile_*/residual_*/residual.pt")]
    kept = {p: p.stat().st_mtime_ns for p in made}
    assert cli.main(argv + robust + ["--refine-rounds", "1"]) == 0
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    data = json.loads((out / "random_profiles.json").read_text())
    for i in (0, 1):
        run = out / f"profile_{i:02d}"
        assert {p.name for p in (run / "refine_1").glob("deployment_*.npz")} == {"deployment_base.npz",
                                                                                "deployment_residual.npz"}
        assert load_policy(run / "refine_1" / "residual" / "residual.pt").kind == "residual"
        assert json.loads((run / "sim2sim.json").read_text())["test"].keys() >= {VARIANT_OF_KIND["refined"],
                                                                                 VARIANT_OF_KIND["robust"]}
    assert {"refined", "robust"} <= data["summary"]["normal_cylinders"].keys()
    assert "Refined DexNDM / direct median" in (out / "random_profiles.md").read_text()
    assert cli.main(argv + robust + ["--refine-rounds", "1", "--refine-epochs", "2"]) == 2    # other settings: refused
    # A second round continues the first: its deployments use round 1's residual; round 1 stays.
    first = {p: p.stat().st_mtime_ns for p in out.glob("profile_*/refine_1/**/*") if p.is_file()}
    assert cli.main(argv + robust + ["--refine-rounds", "2"]) == 0
    assert {p: p.stat().st_mtime_ns for p in first} == first
    for i in (0, 1):
        run = out / f"profile_{i:02d}"
        assert [p.name for p in (run / "refine_2").glob("deployment_*.npz")] == ["deployment_residual.npz"]
        assert (run / "eval" / "test_refined_r2.json").is_file()

    # And the selected variant: trial runs of the base alone and of each residual at two strengths
    # in the target; the best within the TTF margin is kept and evaluated; nothing else is redone.
    made = {p: p.stat().st_mtime_ns for p in out.glob("profile_*/**/*.pt")}
    select = ["--select-strengths", "0.5", "1"]
    assert cli.main(argv + robust + ["--refine-rounds", "2"] + select) == 0
    assert {p: p.stat().st_mtime_ns for p in made} == made
    data = json.loads((out / "random_profiles.json").read_text())
    for i in (0, 1):
        run = out / f"profile_{i:02d}"
        root = run / "select" / "joint+robust+refined_r2"
        trials = {p.stem: json.loads(p.read_text()) for p in (root / "trials").glob("*.json")}
        assert set(trials) == {"base"} | {f"{k}_x{s}" for k in ("joint", "robust", "refined") for s in ("0.5", "1")}
        score = {k: (t["summary"]["all"]["RotR"][0], t["summary"]["all"]["TTF"][0]) for k, t in trials.items()}
        allowed = [k for k, (_, ttf) in score.items() if ttf >= score["base"][1] - 0.03]
        best = max(allowed, key=lambda k: (score[k][0], k == "base"))
        assert f"kept: **{best.replace('_', ' ')}**" in (run / "sim2sim.md").read_text()
        assert (root / "residual.pt").exists() == (best != "base")
        if best != "base":
            assert load_policy(root / "residual.pt").spec.strength == trials[best]["strength"]
        assert (run / "eval" / "test_selected_joint+robust+refined_r2.json").is_file()
    assert "selected" in data["summary"]["normal_cylinders"]
    assert "Selected DexNDM / direct median" in (out / "random_profiles.md").read_text()
    assert cli.main(argv + robust + ["--refine-rounds", "2", "--select-strengths", "1"]) == 2   # other settings


def test_no_profiles_is_a_one_line_error_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "bench"
    assert cli.main(["sim2sim-random", "--k", "0", "--preset", "tiny", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dexndm: error: --k:") and "\n" not in err
    assert not out.exists()


def test_a_start_it_cannot_make_is_one_line_and_locks_nothing(tmp_path, capsys):
    out = tmp_path / "bench"
    assert cli.main(["sim2sim-random", "--k", "2", "--preset", "tiny", "--start-orientation", "sideways",
                     "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "start_orientation: 'sideways'" in err and "\n" not in err
    assert not out.exists()
