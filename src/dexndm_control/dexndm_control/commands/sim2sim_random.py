"""``dexndm sim2sim-random``: the sim-to-sim pipeline on K reality profiles drawn at random, so
DexNDM is measured on worlds nobody tuned for (issue 19).

    dexndm sim2sim-random --distribution random_hands --k 5 --preset small --out runs/sim2sim_random

Profiles come from ``sim.reality_sampler`` (``config/reality/distributions/<name>.yaml``, seeded;
profile i depends only on the seed and i, so a rerun with a larger K keeps the first ones). Each
is written to ``profiles/profile_<i>.yaml`` and run through ``sim2sim_pipeline`` in
``profile_<i>/`` (resumable phase by phase, as ``dexndm sim2sim``); the base policy's rollouts do
not depend on the profile and are collected once, in ``rollouts/``. After every profile the
report is rewritten: ``random_profiles.md`` / ``.json`` / ``.png``, per profile and over all,
for the training and the test objects: DexNDM / direct and whole-hand / direct RotR ratios, TTF
differences, and the median, the worst and the share of profiles where DexNDM helps. With the
robust variant's options (``--ndm-ensemble``, ``--gate-quantile``, ``--disagreement-weight``) or the
refined one's (``--refine-rounds``) or the selected one's (``--select-strengths``) a finished
benchmark gains that variant in every profile (nothing else is redone) and its columns.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from dexndm_control.commands import sim2sim_pipeline
from dexndm_control.commands.sim2sim_config import PRESETS, RUNTIME_FIELDS, VARIANT_FIELDS
from dexndm_learning.config import to_dict
from dexndm_learning.residual.sim2sim import DIRECT, VARIANT_OF_KIND
from dexndm_learning.sim.reality import RealityProfile
from dexndm_learning.sim.reality_sampler import ProfileDistribution, sample_profiles
from dexndm_learning.studies.resumable import from_preset, lock_settings, write_json

JOINT, WHOLE = VARIANT_OF_KIND["joint"], VARIANT_OF_KIND["whole"]
EXTRA = {"robust": ("robust DexNDM", VARIANT_OF_KIND["robust"]), "refined": ("refined DexNDM", VARIANT_OF_KIND["refined"]),
         "selected": ("selected DexNDM", VARIANT_OF_KIND["selected"])}
"""The pipeline's optional variants: key -> (column label, variant name)."""
KNOBS = ("kp_scale", "torque_limit", "latency_steps", "frictionloss_scale", "backlash", "damping_scale")


def _mean(value) -> float | None:
    return None if value is None else float(np.mean(value))        # None: the nominal value


def _knob(value: float | None, fmt: str) -> str:
    return "nominal" if value is None else format(value, fmt)


def _ratio(m: dict, direct: dict) -> float:
    """RotR over direct transfer's; inf where direct does not rotate but the variant does (it
    helps without bound), nan where neither rotates (no information)."""
    if direct["RotR"][0] > 0:
        return m["RotR"][0] / direct["RotR"][0]
    return float("inf") if m["RotR"][0] > 0 else float("nan")


def _cell(x: dict, variant: str) -> str:
    return f"{x['RotR'][variant]:.1f} / {x['TTF'][variant]:.2f}"


def profile_row(index: int, profile: RealityProfile, results: dict) -> dict:
    """One profile: its main knobs (per-joint ones averaged) and, per object set, the variants'
    RotR / TTF (all axis groups) with DexNDM's and whole-hand's ratios to direct transfer."""
    row = {"profile": index, "knobs": {k: _mean(getattr(profile, k)) for k in KNOBS}, "sets": {}}
    for object_set, variants in results.items():
        d, j, w = (variants[v]["all"] for v in (DIRECT, JOINT, WHOLE))
        row["sets"][object_set] = {
            "RotR": {"direct": d["RotR"][0], "dexndm": j["RotR"][0], "whole": w["RotR"][0]},
            "TTF": {"direct": d["TTF"][0], "dexndm": j["TTF"][0], "whole": w["TTF"][0]},
            "dexndm_over_direct": _ratio(j, d), "whole_over_direct": _ratio(w, d),
            "dexndm_ttf_minus_direct": j["TTF"][0] - d["TTF"][0],
        }
        for key, (_, variant) in EXTRA.items():
            if variant in variants:
                r = variants[variant]["all"]
                x = row["sets"][object_set]
                x["RotR"][key], x["TTF"][key] = r["RotR"][0], r["TTF"][0]
                x[f"{key}_over_direct"], x[f"{key}_ttf_minus_direct"] = _ratio(r, d), r["TTF"][0] - d["TTF"][0]
    return row


def _median_worst(ratio: np.ndarray) -> dict:
    """Median and minimum over the profiles with a ratio (``_ratio`` gives NaN where neither direct
    transfer nor the variant turned the object); NaN for both when no profile has one."""
    known = ratio[~np.isnan(ratio)]
    if not len(known):
        return {"median": float("nan"), "worst": float("nan")}
    return {"median": float(np.median(known)), "worst": float(np.min(known))}


def _bars(ratio: dict, whole: dict, ttf: np.ndarray) -> bool:
    """The issue's bars on ``_median_worst`` of a variant's and whole-hand's ratios: >= 1.0x on every
    profile, >= 1.3x on the median, above whole-hand's median, TTF no more than 0.05 below direct
    anywhere (NaN comparisons are false: not met)."""
    return bool(ratio["worst"] >= 1.0 and ratio["median"] >= 1.3 and ratio["median"] > whole["median"]
                and np.min(ttf) >= -0.05)


def aggregate(rows: list[dict], object_set: str) -> dict:
    """Over the profiles: median and worst of each ratio, the share where DexNDM helps (ratio > 1)
    and where it beats whole-hand, the worst TTF difference, and the issue's bars; the same for
    each optional variant (``EXTRA``) that every profile has."""
    s = [r["sets"][object_set] for r in rows if object_set in r["sets"]]
    if not len(s):
        return {}
    dex = np.array([x["dexndm_over_direct"] for x in s])
    whole = np.array([x["whole_over_direct"] for x in s])
    ttf = np.array([x["dexndm_ttf_minus_direct"] for x in s])
    dex_mw, whole_mw = _median_worst(dex), _median_worst(whole)
    out = {"profiles": len(s),
           "dexndm_over_direct": dex_mw,
           "whole_over_direct": whole_mw,
           "share_dexndm_helps": float(np.mean(dex > 1.0)),
           "share_dexndm_beats_whole": float(np.mean(dex > whole)),
           "worst_ttf_minus_direct": float(np.min(ttf)),
           "bars_met": _bars(dex_mw, whole_mw, ttf)}
    for key in _extras(s):
        ratio = np.array([x[f"{key}_over_direct"] for x in s])
        key_ttf = np.array([x[f"{key}_ttf_minus_direct"] for x in s])
        key_mw = _median_worst(ratio)
        out[key] = {f"{key}_over_direct": key_mw,
                    "share_helps": float(np.mean(ratio > 1.0)), "share_beats_dexndm": float(np.mean(ratio > dex)),
                    "worst_ttf_minus_direct": float(np.min(key_ttf)), "bars_met": _bars(key_mw, whole_mw, key_ttf)}
    return out


def _extras(sets: list[dict]) -> list[str]:
    """The optional variants every one of ``sets`` (a profile's row for one object set) has."""
    return [key for key in EXTRA if sets and all(f"{key}_over_direct" in x for x in sets)]


def markdown(rows: list[dict], summary: dict, header: str) -> str:
    lines = [f"# DexNDM on random reality profiles\n\n{header}\n"]
    for object_set, agg in summary.items():
        if not agg:
            continue
        extras = [key for key in EXTRA if key in agg]
        lines += [f"## {object_set}\n", "| profile | kp | torque (N m) | latency | friction | backlash (rad) | damping | "
                  "direct RotR / TTF | DexNDM RotR / TTF | whole-hand RotR / TTF | "
                  + "".join(f"{EXTRA[key][0]} RotR / TTF | " for key in extras) + "DexNDM / direct | whole / direct |"
                  + "".join(f" {key} / direct |" for key in extras),
                  "|---|---|---|---|---|---|---|---|---|---|---|---|" + "---|---|" * len(extras)]
        for r in rows:
            x, k = r["sets"].get(object_set), r["knobs"]
            if x is None:
                continue
            knobs = " | ".join(_knob(k[name], fmt) for name, fmt in zip(KNOBS, (".2f", ".2f", ".0f", ".2f", ".3f", ".2f")))
            lines.append(f"| {r['profile']} | {knobs} | {_cell(x, 'direct')} | {_cell(x, 'dexndm')} | {_cell(x, 'whole')} | "
                         + "".join(f"{_cell(x, key)} | " for key in extras)
                         + f"{x['dexndm_over_direct']:.2f}x | {x['whole_over_direct']:.2f}x |"
                         + "".join(f" {x[f'{key}_over_direct']:.2f}x |" for key in extras))
        d, w = agg["dexndm_over_direct"], agg["whole_over_direct"]
        lines += ["", f"Over {agg['profiles']} profiles: DexNDM / direct median {d['median']:.2f}x, worst {d['worst']:.2f}x; "
                  f"whole-hand / direct median {w['median']:.2f}x, worst {w['worst']:.2f}x; DexNDM helps on "
                  f"{100 * agg['share_dexndm_helps']:.0f} % of the profiles and beats whole-hand on "
                  f"{100 * agg['share_dexndm_beats_whole']:.0f} %; worst TTF change {agg['worst_ttf_minus_direct']:+.2f}. "
                  f"Bars (>= 1.0x everywhere, >= 1.3x median, above whole-hand, TTF >= direct - 0.05): "
                  f"{'met' if agg['bars_met'] else 'not met'}.", ""]
        for key in extras:
            rb, ratio = agg[key], agg[key][f"{key}_over_direct"]
            lines += [f"{EXTRA[key][0][0].upper() + EXTRA[key][0][1:]} / direct median {ratio['median']:.2f}x, worst "
                      f"{ratio['worst']:.2f}x; helps on {100 * rb['share_helps']:.0f} % of the profiles, "
                      f"beats today's DexNDM on {100 * rb['share_beats_dexndm']:.0f} %; worst TTF change "
                      f"{rb['worst_ttf_minus_direct']:+.2f}. Bars: {'met' if rb['bars_met'] else 'not met'}.", ""]
    return "\n".join(lines)


def plot(rows: list[dict], path: Path, object_set: str) -> None:
    import matplotlib.pyplot as plt

    s = [(r["profile"], r["sets"][object_set]) for r in rows if object_set in r["sets"]]
    if not s:
        return
    x = np.arange(len(s))
    fig, ax = plt.subplots(figsize=(max(4, 1.0 * len(s) + 2), 3.2))
    bars = [("dexndm_over_direct", "DexNDM / direct"), ("whole_over_direct", "whole-hand / direct")]
    bars += [(f"{key}_over_direct", f"{EXTRA[key][0]} / direct") for key in _extras([v for _, v in s])]
    width = 0.8 / len(bars)
    for i, (key, label) in enumerate(bars):
        ax.bar(x + (i - (len(bars) - 1) / 2) * width, [v[key] for _, v in s], width, label=label)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.axhline(1.3, color="g", lw=0.8, ls="--", label="1.3x")
    ax.set_xticks(x, [str(p) for p, _ in s])
    ax.set_xlabel("profile")
    ax.set_ylabel("RotR ratio")
    ax.set_title(f"random profiles, {object_set}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def run(distribution: str, k: int, out: Path, preset: str = "small",
        base: Path = Path("models/generalist/base.pt"), seed: int = 0, **overrides) -> dict:
    """K sampled profiles through the pipeline; returns {object set: aggregate}."""
    if k < 1:
        raise ValueError(f"--k: the number of profiles must be at least 1, got {k}")
    out = Path(out)
    dist = ProfileDistribution.load(distribution)
    sim2sim_pipeline.start_grasp(from_preset(PRESETS, preset, **overrides))   # a typo must not lock the folder
    lock_settings(out / "benchmark.yaml", {"distribution": to_dict(dist), "seed": seed, "preset": preset,
                                           "base": str(Path(base).resolve()),
                                           "overrides": {k_: v for k_, v in overrides.items()
                                                         if v is not None
                                                         and k_ not in RUNTIME_FIELDS + VARIANT_FIELDS}},
                  "random-profile benchmark", "--out (a larger --k continues this one)")
    rows, summary = [], {}
    for i, profile in enumerate(sample_profiles(dist, k, seed)):
        path = out / "profiles" / f"profile_{i:02d}.yaml"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump(to_dict(profile), sort_keys=False, default_flow_style=None))
        print(f"=== profile {i} of {k}: {path}", flush=True)
        results = sim2sim_pipeline.run(str(path), out / f"profile_{i:02d}", preset, base, out / "rollouts", **overrides)
        rows.append(profile_row(i, profile, results))
        summary = {s: aggregate(rows, s) for s in rows[0]["sets"]}
        header = (f"Distribution `{distribution}` (seed {seed}), preset `{preset}`, base `{base}`; "
                  f"{len(rows)} of {k} profiles done. Ratios of RotR (all axis groups, mean over seeds).")
        write_json(out / "random_profiles.json", {"rows": rows, "summary": summary, "distribution": distribution,
                                                  "seed": seed, "preset": preset, "base": str(base)})
        (out / "random_profiles.md").write_text(markdown(rows, summary, header))
        for object_set in summary:
            plot(rows, out / f"random_profiles_{object_set}.png", object_set)
    return summary

