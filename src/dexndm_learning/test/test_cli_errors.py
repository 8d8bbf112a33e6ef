import pytest

from dexndm_learning import cli
from dexndm_learning.cli_errors import run_reporting_input_errors


def test_unknown_config_is_one_line_and_exit_2(capsys):
    assert cli.main(["train-specialist", "--config", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("dexndm-learn train-specialist: error: no config 'nope'") and "cyl_palm_up" in err


@pytest.mark.parametrize("resume", [False, True])
def test_a_missing_warm_start_checkpoint_is_refused_before_the_env_is_built(capsys, tmp_path, monkeypatch, resume):
    from dexndm_learning.rl import specialist

    monkeypatch.setattr(specialist, "make_runner", lambda *a, **k: pytest.fail("built the env"))
    missing, run = tmp_path / "gone.pt", tmp_path / "run"
    argv = ["train-specialist", "--config", "cyl_base_wrists_plusx", "--run-dir", str(run),
            "--set", f"init_checkpoint={missing}"] + ["--resume"] * resume
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(missing) in err and "init_checkpoint" in err
    assert not run.exists()                      # nothing left behind


def test_a_resumed_run_does_not_need_its_warm_start_checkpoint(tmp_path, monkeypatch):
    from dexndm_learning.rl import specialist

    class Built(Exception):
        pass

    def build(*a, **k):
        raise Built

    monkeypatch.setattr(specialist, "make_runner", build)
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"")     # the run's own checkpoint: the warm start is not read again
    with pytest.raises(Built):
        specialist.main(["--config", "cyl_base_wrists_plusx", "--run-dir", str(run), "--resume",
                         "--set", f"init_checkpoint={tmp_path / 'gone.pt'}"])


def test_missing_dataset_names_the_file(capsys, tmp_path):
    assert cli.main(["train-generalist", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path / "nothing") in err


@pytest.mark.parametrize("command", [["eval-specialist", "--run"], ["render-episodes", "--run"],
                                     ["eval-policy", "--out", "unused", "--policy"]])
def test_a_folder_that_is_no_specialist_run_is_named(capsys, tmp_path, command):
    assert cli.main(command + [str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{tmp_path}: not a specialist run folder (no config.yaml" in err


def test_a_missing_argument_names_the_command(capsys):
    import sys

    argv0 = sys.argv[0]
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train-ndm"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: dexndm-learn train-ndm ")
    assert "dexndm-learn train-ndm: error: the following arguments are required: --data, --out" in err
    assert sys.argv[0] == argv0                                 # restored for whoever called it


def test_bugs_keep_their_traceback():
    def broken():
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError):
        run_reporting_input_errors("x", broken)


def test_traceback_on_request(monkeypatch):
    monkeypatch.setenv("DEXNDM_TRACEBACK", "1")
    with pytest.raises(ValueError):
        run_reporting_input_errors("x", lambda: int("not a number"))


def test_a_misspelt_set_key_names_the_key_and_the_valid_ones(capsys):
    assert cli.main(["train-specialist", "--config", "cyl_palm_up", "--set", "env.num_envz=8"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "num_envz" in err and "num_envs" in err
    assert cli.main(["train-specialist", "--config", "cyl_palm_up", "--set", "env.num_envs=abc"]) == 2
    err = capsys.readouterr().err
    assert "cyl_palm_up.yaml (with overrides of env): env.num_envs: expected an integer, got 'abc'" in err


def test_a_config_that_fails_its_own_check_names_the_file(capsys):
    # a dataclass's __post_init__ check, not only a wrong type, is reported against the YAML file
    assert cli.main(["train-specialist", "--config", "cyl_palm_up", "--set", "env.grasp.object_orientation=sideways"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "cyl_palm_up.yaml (with overrides of env): env.grasp: grasp.object_orientation: unknown 'sideways'" in err


def test_set_overrides_merge_into_nested_configs():
    from dexndm_learning.config import dotted_overrides
    from dexndm_learning.rl.specialist import SpecialistConfig

    over = dotted_overrides(["env.num_envs=8", "env.reward.a_pose=0.3", "ppo.actor_hidden=[64, 32]", "seed=3"])
    assert over == {"env": {"num_envs": 8, "reward": {"a_pose": 0.3}}, "ppo": {"actor_hidden": [64, 32]}, "seed": 3}
    cfg, file = SpecialistConfig.load("cyl_palm_up", over), SpecialistConfig.load("cyl_palm_up")
    assert (cfg.env.num_envs, cfg.env.reward.a_pose, cfg.ppo.actor_hidden, cfg.seed) == (8, 0.3, [64, 32], 3)
    assert cfg.env.object_set == file.env.object_set and cfg.env.curriculum == file.env.curriculum   # siblings kept
    assert cfg.ppo.learning_rate == file.ppo.learning_rate


def test_field_options_come_from_the_dataclass():
    import argparse

    from dexndm_learning.bc.train import BCConfig
    from dexndm_learning.config import add_field_options, given_options

    ap = argparse.ArgumentParser()
    names = add_field_options(ap, BCConfig, exclude=("history",))
    assert "width" in names and "balance" in names and "init" in names and "data" not in names and "history" not in names
    args = ap.parse_args(["--width", "64", "--balance", "false", "--lr", "1e-3"])
    assert given_options(args, names) == {"width": 64, "balance": False, "lr": 1e-3}


def test_a_config_states_only_what_differs_from_its_base(tmp_path):
    from dexndm_learning.rl.specialist import SpecialistConfig

    (tmp_path / "a.yaml").write_text("env:\n  num_envs: 64\n  axis_set: '+x'\n  reward: {a_pose: 0.1, drop_penalty: 20.0}\n"
                                     "budget_minutes: 60\n")
    (tmp_path / "b.yaml").write_text("base: a\nenv:\n  axis_set: '-x'\n  reward: {a_pose: 0.2}\n")
    (tmp_path / "c.yaml").write_text("base: b.yaml\nseed: 3\n")
    c = SpecialistConfig.load(str(tmp_path / "c.yaml"))
    assert (c.env.num_envs, c.env.axis_set, c.budget_minutes, c.seed) == (64, "-x", 60, 3)   # bases of bases
    assert (c.env.reward.a_pose, c.env.reward.drop_penalty) == (0.2, 20.0)      # nested keys merge one by one
    assert SpecialistConfig.load(str(tmp_path / "a.yaml")).env.axis_set == "+x"  # the base itself unchanged


def test_a_missing_or_circular_base_is_one_line_naming_the_file(capsys, tmp_path):
    (tmp_path / "lost.yaml").write_text("base: nowhere\n")
    (tmp_path / "p.yaml").write_text("base: q\n")
    (tmp_path / "q.yaml").write_text("base: p\n")
    for name, message in (("lost", f"{tmp_path / 'lost.yaml'}: base: no config {tmp_path / 'nowhere.yaml'}"),
                          ("p", f"{tmp_path / 'q.yaml'}: base: p leads back to itself (p.yaml -> q.yaml)")):
        assert cli.main(["train-specialist", "--config", str(tmp_path / f"{name}.yaml")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
