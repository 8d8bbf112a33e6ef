"""``dexndm sysid``: identify the hand's sim parameters from probing trajectories recorded through
ROS 2 (method.md section 10; issue 21).

    dexndm sysid --out runs/sysid/my_hand                          # the LEAP Hand
    dexndm sysid --sim --profile worn_hand --out runs/sysid/worn   # the simulated hand in a profile

1. ``probe.npz``: wave targets, one joint driven at a time (``data.wave_targets``, the sizes of
   ``config/sysid.yaml``);
2. ``bags/``: the "chaos_box" graph replays them on the free hand (scene ``hand``, no noise) and
   the recorder writes rosbag2 bags, exactly as a Chaos Box collection (resumable the same way);
3. the bags' steps go to ``sysid.fit.identify``, a per-joint cross-entropy search over many sim
   copies (rerun with other ``fit.*`` settings: the same bags are fitted again);
4. ``identified.yaml``: a reality profile of the identified sim (``--profile`` for any command);
   ``sysid.md`` / ``sysid.json`` / ``sysid.png``: per joint the identified values, the tracking
   error of the nominal and the identified sim and, with ``--sim --profile``, the true values.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from dexndm_control import graphs
from dexndm_control.chaos_box import chaos_collect
from dexndm_control.chaos_box.chaos_progress import CollectionProgress
from dexndm_learning import joint_order
from dexndm_learning.config import resolve_config, to_dict
from dexndm_learning.data.wave_targets import wave_targets
from dexndm_learning.ndm.bag_ingest import load_bags
from dexndm_learning.ndm.config import NdmConfig
from dexndm_learning.sim.hand_model import HandConfig, hand_spec
from dexndm_learning.sim.reality import RealityProfile, capture_nominal, load_profile, per_joint, profile_gains
from dexndm_learning.studies.resumable import lock_settings, write_json
from dexndm_learning.sysid.config import SysIdRunConfig
from dexndm_learning.sysid.fit import SysIdResult, identify


class Interrupted(Exception):
    """The probing collection was stopped; rerun to continue."""


def probe(out: Path, cfg: SysIdRunConfig) -> Path:
    path = out / "probe.npz"
    if not path.exists():
        targets, joints, kinds = wave_targets(cfg.trajectories, cfg.probe, cfg.seed)
        out.mkdir(parents=True, exist_ok=True)
        np.savez(path, targets=targets, joints=joints, kinds=np.array(kinds))
    return path


def collect(out: Path, source: Path, cfg: SysIdRunConfig, sim: bool, profile: str, rtf: float) -> Path:
    folder = (out / "bags").resolve()
    if CollectionProgress(folder).next_index < cfg.trajectories:
        specs = graphs.build("chaos_box", wrist=cfg.fit.wrist, sim=sim, scene="hand", profile=profile, balls=0,
                             real_time_factor=float(rtf), source=str(source.resolve()), trajectories=cfg.trajectories,
                             steps=cfg.probe.steps, noise_sigma=0.0, recorder="node", out=str(folder),
                             record_scene=False)
        result = chaos_collect.run(specs, private=sim)
        if result["interrupted"]:
            raise Interrupted(f"probing stopped with {result['completed']} of {cfg.trajectories} trajectories "
                              "in complete bags")
    return folder


def true_values(profile: RealityProfile, wrist: str) -> dict[str, list[float]]:
    """What ``identify`` should find in a simulated profile, in its own terms (x nominal, N m)."""
    nominal = capture_nominal(hand_spec(HandConfig.load(), wrist).compile())
    kp, kd = profile_gains(profile, nominal)
    torque = (np.abs(nominal.forcerange[:, 1]) if profile.torque_limit is None
              else per_joint(profile.torque_limit, "torque_limit"))
    return {"kp_scale": (kp / nominal.kp).tolist(), "kd_scale": (kd / nominal.kd).tolist(),
            "frictionloss_scale": per_joint(profile.frictionloss_scale, "frictionloss_scale").tolist(),
            "torque_limit": torque.tolist(), "damping_scale": per_joint(profile.damping_scale, "damping_scale").tolist(),
            "armature_scale": per_joint(profile.armature_scale, "armature_scale").tolist(),
            "latency_steps": profile.latency_steps}


def report(result: SysIdResult, params: list[str], truth: dict | None, steps: int) -> dict:
    joints = {}
    for j, name in enumerate(joint_order.JOINT_NAMES):
        row = {"error_nominal_rad": float(result.nominal_error[j]), "error_identified_rad": float(result.error[j])}
        for p in params:
            row[p] = float(per_joint(getattr(result.profile, p), p)[j])
            if truth is not None:
                row[f"{p}_true"] = truth[p][j]
                row[f"{p}_rel_error"] = row[p] / truth[p][j] - 1.0
        joints[name] = row
    out = {"steps": steps, "params": params, "latency_steps": result.profile.latency_steps, "joints": joints,
           "history": result.history}
    if truth is not None:
        out["latency_steps_true"] = truth["latency_steps"]
    if truth is not None:
        out["max_abs_rel_error"] = {p: max(abs(r[f"{p}_rel_error"]) for r in joints.values()) for p in params}
    return out


def markdown(rep: dict, title: str) -> str:
    params, truth = rep["params"], "max_abs_rel_error" in rep
    head = ["joint"] + [f"{p} (true)" if truth else p for p in params] + ["error nominal (mrad)", "error identified (mrad)"]
    lines = [f"# System identification: {title}", "", f"{rep['steps']} recorded control steps; mean |q_sim - q| "
             "over every step.", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in rep["joints"].items():
        cells = [f"{r[p]:.3f} ({r[p + '_true']:.3f})" if truth else f"{r[p]:.3f}" for p in params]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {1e3 * r['error_nominal_rad']:.2f} | "
                     f"{1e3 * r['error_identified_rad']:.2f} |")
    lines += ["", f"Command latency: {rep['latency_steps']} control steps"
              + (f" (true {rep['latency_steps_true']})." if truth else ".")]
    if truth:
        lines += ["", "Largest relative error over the 16 joints: " + ", ".join(
            f"{p} {100 * v:.1f} %" for p, v in rep["max_abs_rel_error"].items()) + "."]
    return "\n".join(lines) + "\n"


def plot(rep: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    params = rep["params"]
    names = list(rep["joints"])
    x = np.arange(len(names))
    fig, axes = plt.subplots(len(params) + 1, 1, figsize=(10, 2.2 * (len(params) + 1)), sharex=True)
    for ax, p in zip(axes, params):
        ax.bar(x - 0.2, [rep["joints"][n][p] for n in names], 0.4, label="identified")
        if f"{p}_true" in rep["joints"][names[0]]:
            ax.bar(x + 0.2, [rep["joints"][n][f"{p}_true"] for n in names], 0.4, label="true")
        ax.set_ylabel(p)
        ax.legend(fontsize=7)
    ax = axes[-1]
    ax.bar(x - 0.2, [1e3 * rep["joints"][n]["error_nominal_rad"] for n in names], 0.4, label="nominal sim")
    ax.bar(x + 0.2, [1e3 * rep["joints"][n]["error_identified_rad"] for n in names], 0.4, label="identified sim")
    ax.set_ylabel("tracking error (mrad)")
    ax.legend(fontsize=7)
    ax.set_xticks(x, names, rotation=60, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def run(out: Path, cfg: SysIdRunConfig, sim: bool = False, profile: str = "nominal", rtf: float = 50.0) -> dict:
    """The whole identification into ``out`` (see the module docstring); returns the report."""
    out = Path(out)
    profile_path = str(resolve_config(profile, "reality").resolve()) if sim else profile
    data = {"trajectories": cfg.trajectories, "probe": to_dict(cfg.probe), "seed": cfg.seed, "wrist": cfg.fit.wrist,
            "sim": sim, "profile": profile_path}
    lock_settings(out / "probe_settings.yaml", data, "probing collection", "--out (the fit's settings may change)")
    bags = collect(out, probe(out, cfg), cfg, sim, profile_path, rtf)
    steps, errors = load_bags([bags], NdmConfig.load().ingest)
    for err in errors:
        print(f"skipped bag: {err}", flush=True)
    result = identify(steps, cfg.fit)
    (out / "identified.yaml").write_text(yaml.safe_dump(to_dict(result.profile), sort_keys=False,
                                                        default_flow_style=None))
    truth = true_values(load_profile(profile_path), cfg.fit.wrist) if sim else None
    rep = report(result, list(cfg.fit.params), truth, len(steps))
    write_json(out / "sysid.json", rep)
    (out / "sysid.md").write_text(markdown(rep, f"{'simulated hand, profile ' + Path(profile).stem if sim else 'LEAP Hand'}"))
    plot(rep, out / "sysid.png")
    return rep


def summary(rep: dict) -> str:
    mean = lambda key: np.mean([r[key] for r in rep["joints"].values()])  # noqa: E731
    line = (f"tracking error {1e3 * mean('error_nominal_rad'):.2f} mrad (nominal sim) -> "
            f"{1e3 * mean('error_identified_rad'):.2f} mrad (identified)")
    if "max_abs_rel_error" in rep:
        line += "; largest relative error " + ", ".join(f"{p} {100 * v:.1f} %" for p, v in rep["max_abs_rel_error"].items())
    return line

