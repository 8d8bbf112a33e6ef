"""Why DexNDM helps or hurts in a reality profile, stage by stage (issue 19), from a finished
sim-to-sim run folder (``dexndm sim2sim``; its bags, NDMs and residuals):

    dexndm-learn sim2sim-diagnosis runs/sim2sim_random/profile_00 [more runs] \\
        [--envs 32 --steps 200] [--summary docs/sim2sim_diagnosis.md]

Each variant (direct transfer, each residual of the run) drives the base policy in the target
profile on the training objects, and every control step is measured four ways:

1. **Tracking, by running it.** A nominal-sim twin is put in the target world's full physics state
   before the step and given the base policy's target, as the simulator the policy was trained in
   would; ``tracking`` is the mean |q_target(t+1) - q_twin(t+1)| over joints and living envs (rad).
   The residual exists to lower it: a residual that raises it over direct transfer's makes the
   hand move less like the simulated one.
2. **NDM on the target's own rotation transitions** (what the residual was trained through):
   one-step and ``k``-step open-loop error of the run's NDMs on the direct run's (measured q,
   commanded target) histories, against the same errors on held-out Chaos Box windows: is the
   in-hand rotation inside the Chaos Box data's distribution?
3. **Model exploitation.** The same NDM errors on each residual run's transitions: a residual that
   drives the commands where the model is wrong shows a larger error there than on direct
   transfer's transitions (and, with an ensemble, a larger spread). And the gain the NDM promised
   (residual training's validation loss against no residual, ``predicted_gain``) beside the gain
   measured in 1 (``measured_gain``: tracking error against direct transfer's): a residual that
   exploits its model promises much more than it delivers.
4. **Latency.** The joint-wise NDM's mean |d q(t+1) / d a(t-k)| for k = 0..3 on Chaos Box
   windows, against the profile's latency: which past command the model credits for the next
   position, i.e. which step a next-step objective can still act on.
5. **Command response, by running it.** Two copies of the target env run the base policy in
   lockstep (same seed, same actions); one gets +-``RESPONSE_DELTA`` on every joint's command
   for ``RESPONSE_HOLD`` steps. The true response (the copies' joint positions apart) against each
   NDM's open-loop prediction of it from the same history: ``slope`` (least squares, prediction
   on truth) per step after the change. A residual learns the command change that moves the NDM
   by the wanted amount; a model that predicts half the true response (slope 0.5) teaches a
   residual twice too large.

Writes ``diagnosis/diagnosis.json`` and ``diagnosis.png`` in each run; ``--summary`` writes one
Markdown table over the runs (and ``<summary>.png``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch
import yaml

from dexndm_learning.ndm.bag_ingest import load_bags
from dexndm_learning.ndm.config import NdmConfig
from dexndm_learning.ndm.dataset import split_blocks
from dexndm_learning.ndm.models import load_model
from dexndm_learning.ndm.steps import Steps, transition_steps
from dexndm_learning.policy.artifact import load_policy
from dexndm_learning.residual.deploy import BaseResidualActor
from dexndm_learning.residual.gate import NdmEnsemble
from dexndm_learning.sim.grasps import start_grasp
from dexndm_learning.sim.rotation_env import EnvConfig, RandomizationConfig, RotationEnv

VARIANTS = ("direct", "joint", "whole", "robust")     # residual_<name>/ in the run folder
HORIZON = 5
LAGS = 4
RESPONSE_DELTA, RESPONSE_HOLD, RESPONSE_AFTER = 0.02, 4, 2    # rad; steps held; steps watched after


@dataclasses.dataclass
class Trace:
    """One variant's run: per step (T, N, 16) measured q, commanded target, next q in the target
    and in the nominal twin; alive (T, N): the env held the object through the step."""
    q: np.ndarray
    command: np.ndarray
    next_q: np.ndarray
    twin_next_q: np.ndarray
    alive: np.ndarray

    def tracking(self) -> float:
        err = np.abs(self.next_q - self.twin_next_q).mean(-1)
        return float(err[self.alive].mean())

    def windows(self, window: int, horizon: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Histories (M, W, 16, 2) of living stretches, the commands of the next ``horizon`` - 1
        steps (M, horizon - 1, 16) and the measured q of the ``horizon`` steps after (M, horizon, 16)."""
        T = self.q.shape[0]
        meas_next = np.concatenate([self.q[1:], self.q[-1:]], 0)        # measured q(t+1) (last row unused)
        xs, cs, ys = [], [], []
        for t in range(window - 1, T - horizon):
            ok = self.alive[t - window + 1:t + horizon].all(0)
            if not ok.any():
                continue
            rows = slice(t - window + 1, t + 1)
            xs.append(np.stack([self.q[rows], self.command[rows]], -1)[:, ok].transpose(1, 0, 2, 3))
            cs.append(self.command[t + 1:t + horizon][:, ok].transpose(1, 0, 2))
            ys.append(meas_next[t:t + horizon][:, ok].transpose(1, 0, 2))
        if not xs:
            return np.zeros((0, window, 16, 2)), np.zeros((0, horizon - 1, 16)), np.zeros((0, horizon, 16))
        return np.concatenate(xs), np.concatenate(cs), np.concatenate(ys)


def run_variant(env_cfg: EnvConfig, profile: str, base: Path, residual: Path | None) -> Trace:
    env = RotationEnv(dataclasses.replace(env_cfg, reality=profile))
    twin = RotationEnv(dataclasses.replace(env_cfg, reality="nominal"))
    if list(twin.obj_of_env) != list(env.obj_of_env) or twin.objects != env.objects:
        raise RuntimeError("the nominal twin holds other objects than the target world's env")
    actor = BaseResidualActor(env, base, residual)
    n, T = env.num_envs, env_cfg.episode_steps
    out = {k: np.zeros((T, n, 16)) for k in ("q", "command", "next_q", "twin_next_q")}
    alive = np.zeros((T, n), dtype=bool)
    living = np.ones(n, dtype=bool)
    state, sens = np.zeros_like(twin.state), np.zeros_like(twin.sens)
    for t in range(T):
        out["q"][t] = env.sensor_model.measure(env.state[:, 1 + env.qadr])
        before = env.state.copy()
        _, _, done, info = env.step(actor(env.observations()))
        out["command"][t], out["next_q"][t] = env.commanded, info["q"]
        for i in range(n):
            twin.stepper.set_state(i, before[i], info["targets"][i])
        twin.stepper.step(info["targets"], env.force, state, sens)
        out["twin_next_q"][t] = state[:, 1 + twin.qadr]
        alive[t] = living & ~info["dropped"]
        living &= ~done                                    # one episode per env
    env.stepper.close()
    twin.stepper.close()
    return Trace(alive=alive, **out)


def _roll(ndm, x: torch.Tensor, commands: torch.Tensor, n: int):
    """The NDM's next-q predictions for ``n`` steps from windows ``x`` (N, W, 16, 2), its own
    predictions fed back with ``commands[h]`` (N, 16) as step h + 1's command; yields (pred,
    spread), the spread an ensemble's (None for one model, whose mean is its prediction)."""
    for h in range(n):
        pred, spread = ndm.mean_and_spread(x) if isinstance(ndm, NdmEnsemble) else (ndm(x), None)
        yield pred, spread
        if h + 1 < n:
            x = torch.cat([x[:, 1:], torch.stack([pred, commands[h]], -1)[:, None]], 1)


@torch.no_grad()
def ndm_errors(ndm, x: np.ndarray, commands: np.ndarray, y: np.ndarray) -> dict:
    """One-step and open-loop (len(y) steps, own predictions fed back) mean |error| (rad)."""
    if len(x) == 0:
        return {"one_step": float("nan"), "open_loop": float("nan"), "spread": float("nan"), "n": 0}
    c = torch.as_tensor(commands, dtype=torch.float32).transpose(0, 1)
    rolled = list(_roll(ndm, torch.as_tensor(x, dtype=torch.float32), c, y.shape[1]))
    errs = [np.abs(pred.numpy() - y[:, h]).mean() for h, (pred, _) in enumerate(rolled)]
    spread = rolled[0][1]
    return {"one_step": float(errs[0]), "open_loop": float(errs[-1]),
            "spread": float("nan") if spread is None else spread.mean().item(), "n": int(len(x))}


def command_sensitivity(ndm, windows: np.ndarray, lags: int = LAGS) -> list[float]:
    """Mean |d q_hat(t+1) / d a(t-k)| (same joint) for k = 0..lags-1."""
    x = torch.as_tensor(windows, dtype=torch.float32).requires_grad_(True)
    ndm(x).sum().backward()              # joint-wise: q_hat_j depends only on joint j's own history
    g = x.grad[..., 1].abs().mean((0, 2)).numpy()          # (W,) over the window rows
    return [float(g[-1 - k]) for k in range(lags)]


@torch.no_grad()
def _open_loop(ndm, q: np.ndarray, commands: np.ndarray, start: int, window: int, n: int) -> np.ndarray:
    """The NDM's predictions (n, N, 16) of q after steps start..start+n-1 from the measured
    history ending at ``start`` (q, commands: (T, N, 16)), its own predictions fed back."""
    x = torch.as_tensor(np.stack([q[start - window + 1:start + 1], commands[start - window + 1:start + 1]], -1)
                        .transpose(1, 0, 2, 3), dtype=torch.float32)
    later = torch.as_tensor(commands[start + 1:start + n], dtype=torch.float32)
    return np.array([pred.numpy() for pred, _ in _roll(ndm, x, later, n)])


def command_response(env_cfg: EnvConfig, profile: str, base: Path, models: dict, window: int, starts: list[int],
                     delta: float = RESPONSE_DELTA, hold: int = RESPONSE_HOLD, after: int = RESPONSE_AFTER) -> dict:
    """Stage 5: for each start step a pair of target envs in lockstep, one with +-``delta`` on its
    commands for ``hold`` steps; ``true_rms`` (rad) of the response and, per model, ``slope`` and
    ``corr`` of its predicted response on the true one, for each of the ``hold + after`` steps
    from the start (envs that ended an episode in either copy are left out)."""
    n = hold + after
    sums = {"true": np.zeros(n), **{m: np.zeros((2, n)) for m in models}}    # per model: pred * true, pred^2
    count = 0
    for start in starts:
        pair = [RotationEnv(dataclasses.replace(env_cfg, reality=profile)) for _ in range(2)]
        actor = BaseResidualActor(pair[0], base)
        sign = np.random.default_rng(start).choice([-1.0, 1.0], size=(env_cfg.num_envs, 16))
        bias = np.asarray(pair[0].sensor_model.bias)
        q, commands, response = [], [], []
        living = np.ones(env_cfg.num_envs, dtype=bool)
        for t in range(start + n):
            q.append(np.asarray(pair[0].state[:, 1 + pair[0].qadr]) + bias)      # measured, without noise
            action = actor(pair[0].observations())
            pair[1].target_offset[:] = delta * sign if start <= t < start + hold else 0.0
            (_, _, done_a, info_a), (_, _, done_b, info_b) = pair[0].step(action), pair[1].step(action)
            commands.append(np.array(pair[0].commanded))
            response.append(info_b["q"] - info_a["q"])
            living &= ~done_a & ~done_b
        for env in pair:
            env.stepper.close()
        q, commands, true = np.array(q), np.array(commands), np.array(response)[start:, living]
        changed = commands.copy()
        changed[start:start + hold] += delta * sign
        sums["true"] += (true ** 2).sum((1, 2))
        for m, ndm in models.items():
            pred = (_open_loop(ndm, q, changed, start, window, n) - _open_loop(ndm, q, commands, start, window, n))[:, living]
            sums[m][0] += (pred * true).sum((1, 2))
            sums[m][1] += (pred ** 2).sum((1, 2))
        count += int(living.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        result = {"delta": delta, "hold": hold, "envs": count,
                  "true_rms": np.sqrt(sums["true"] / max(1, 16 * count)).tolist()}
        for m in models:
            result[m] = {"slope": (sums[m][0] / sums["true"]).tolist(),
                         "corr": (sums[m][0] / np.sqrt(sums["true"] * sums[m][1])).tolist()}
    return result


def response_starts(steps: int, window: int, n: int = RESPONSE_HOLD + RESPONSE_AFTER) -> list[int]:
    """Start steps of the command-response probes in an episode of ``steps`` steps."""
    starts = sorted({s for s in (steps // 4, steps // 2) if window - 1 <= s <= steps - n})
    return starts or ([window - 1] if window - 1 <= steps - n else [])


def first_effective(result: dict, model: str) -> float | None:
    """The model's slope at the first step whose true response is not negligible (after latency)."""
    true = np.asarray(result["true_rms"])
    if not len(true) or not np.nanmax(true) > 0:
        return None
    k = int(np.argmax(true > 0.1 * np.nanmax(true)))
    return float(result[model]["slope"][k])


def held_out_stretches(steps: Steps, window: int, ndm_cfg: NdmConfig, limit: int, seed: int = 0
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chaos Box stretches the NDMs did not train on (their eval split, ``ndm.dataset.split_blocks``
    with the training config's seed): history (M, W, 16, 2), the HORIZON - 1 commands after it and
    the HORIZON measured positions after it, at most ``limit`` of them."""
    tc = ndm_cfg.train
    k_all = transition_steps(steps, window)
    held = np.zeros(len(steps), dtype=bool)
    held[k_all[split_blocks(steps.segment[k_all], tc.eval_fraction, tc.seed, tc.split_block)[1]]] = True
    k = transition_steps(steps, window + HORIZON - 1)                # k: the last of HORIZON predicted steps
    k = k[held[k] & held[k - HORIZON + 1]]
    k = np.sort(np.random.default_rng(seed).choice(k, min(limit, len(k)), replace=False))
    qa = np.stack([steps.q, steps.a], -1)
    x = np.stack([qa[i - HORIZON - window + 1:i - HORIZON + 1] for i in k]).reshape(-1, window, 16, 2)
    c = np.stack([steps.a[i - HORIZON + 1:i] for i in k]).reshape(-1, HORIZON - 1, 16)
    y = np.stack([steps.q[i - HORIZON + 1:i + 1] for i in k]).reshape(-1, HORIZON, 16)
    return x, c, y


def _ensemble(run: Path) -> NdmEnsemble | None:
    """The robust residual's gate ensemble, else the joint-wise seeds of the run (None: one model)."""
    robust = run / "residual_robust" / "residual.pt"
    gate = load_policy(robust).gate if robust.exists() else None
    if gate is not None:
        return gate.ensemble
    members = [run / "ndm_joint" / "best.pt", *sorted(run.glob("ndm_joint_seed*/best.pt"))]
    return NdmEnsemble([load_model(p) for p in members]) if len(members) > 1 else None


def diagnose(run: Path, envs: int = 32, steps: int = 200, seed: int = 0, bag_windows: int = 20000) -> dict:
    run = Path(run)
    settings = yaml.safe_load((run / "pipeline.yaml").read_text())
    cfg, prof = settings["pipeline"], dict(settings["profile"])
    name = prof.pop("name")
    out = run / "diagnosis"
    out.mkdir(exist_ok=True)
    profile = out / f"{name}.yaml"
    profile.write_text(yaml.safe_dump(prof, sort_keys=False))
    base = Path(settings["base"]["path"])
    torch.set_num_threads(1)
    env_cfg = EnvConfig(num_envs=envs, wrists=list(cfg["wrists"]), axis_set=cfg["axis_set"], episode_steps=steps,
                        object_set=cfg["train_objects"], seed=1000 + seed,
                        grasp=start_grasp(cfg["grasp_candidates"], cfg.get("start_orientation", "random"),
                                          cfg.get("start_offset", [0.0, 0.0, 0.0]), cfg["axis_set"]),
                        randomization=RandomizationConfig(enabled=False), nthread=1)
    residuals = {"direct": None, **{v: run / f"residual_{v}" / "residual.pt" for v in VARIANTS[1:]
                                    if (run / f"residual_{v}" / "residual.pt").exists()}}
    traces = {v: run_variant(env_cfg, str(profile), base, r) for v, r in residuals.items()}

    ndm_cfg = NdmConfig.load()
    steps_ = load_bags([run / "bags" / w for w in cfg["wrists"]], ndm_cfg.ingest)[0]   # the pipeline's order
    models = {"joint": load_model(run / "ndm_joint" / "best.pt"), "whole": load_model(run / "ndm_whole" / "best.pt")}
    ensemble = _ensemble(run)
    if ensemble is not None:
        models["ensemble"] = ensemble
    window = models["joint"].config.window
    box_x, box_c, box_y = held_out_stretches(steps_, window, ndm_cfg, bag_windows, seed)

    tracking = {v: tr.tracking() for v, tr in traces.items()}
    promised = {}
    for v in traces:
        path = run / f"residual_{v}" / "residual_result.json"
        if path.exists():
            r = json.loads(path.read_text())
            promised[v] = 1.0 - r["best_val_loss"] / r["zero_residual_val_loss"]
    result = {"run": str(run), "profile": name, "latency_steps": prof.get("latency_steps"),
              "tracking": tracking, "predicted_gain": promised,
              "measured_gain": {v: 1.0 - tracking[v] / tracking["direct"] for v in promised},
              "ndm": {}, "sensitivity": command_sensitivity(models["joint"], box_x[:5000]),
              "held_out_box_stretches": int(len(box_x))}
    for mname, ndm in models.items():
        result["ndm"][mname] = {"chaos_box": ndm_errors(ndm, box_x, box_c, box_y)}
        for v, tr in traces.items():
            result["ndm"][mname][v] = ndm_errors(ndm, *tr.windows(window, HORIZON))
    starts = response_starts(steps, window)
    result["command_response"] = (command_response(env_cfg, str(profile), base, {m: models[m] for m in ("joint", "whole")},
                                                   window, starts) if starts else None)
    (out / "diagnosis.json").write_text(json.dumps(result, indent=1))
    plot(result, out / "diagnosis.png")
    return result


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(18, 3.4))
    tr = result["tracking"]
    axes[0].bar(list(tr), [1e3 * v for v in tr.values()])
    axes[0].set_title("target vs nominal twin, next q (mrad)")
    names = [k for k in result["ndm"]["joint"] if k != "chaos_box"]
    x = np.arange(len(names) + 1)
    for i, (m, errs) in enumerate(result["ndm"].items()):
        axes[1].bar(x + 0.25 * i - 0.25, [1e3 * errs[k]["one_step"] for k in ["chaos_box", *names]], 0.25, label=m)
    axes[1].set_xticks(x, ["chaos box", *names])
    axes[1].set_title("NDM one-step |error| (mrad) on each run's transitions")
    axes[1].legend(fontsize=7)
    axes[2].bar(np.arange(LAGS), result["sensitivity"])
    axes[2].set_xticks(np.arange(LAGS), [f"a(t-{k})" for k in range(LAGS)])
    axes[2].set_title(f"joint NDM |dq(t+1)/da|, latency {result['latency_steps']}")
    response = result.get("command_response")
    if response:
        steps = np.arange(1, len(response["true_rms"]) + 1)
        for m in ("joint", "whole"):
            axes[3].plot(steps, response[m]["slope"], "o-", label=f"{m} NDM")
        axes[3].axhline(1.0, color="k", lw=0.8)
        axes[3].axvspan(0.5, response["hold"] + 0.5, color="0.9", label="command changed")
        axes[3].set_xlabel("step after the change")
        axes[3].set_title("NDM / true response to a command change")
        axes[3].legend(fontsize=7)
    fig.suptitle(f"{result['profile']}: {result['run']}")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _response_cell(result: dict) -> str:
    response = result.get("command_response")
    if not response:
        return "-"
    slopes = [first_effective(response, m) for m in ("joint", "whole")]
    return " / ".join("-" if v is None else f"{v:.2f}" for v in slopes)


def summary_markdown(results: list[dict]) -> str:
    mr = lambda v: "-" if v is None or not np.isfinite(v) else f"{1e3 * v:.2f}"   # noqa: E731
    pct = lambda d, v: "-" if v not in d else f"{100 * d[v]:.0f}"   # noqa: E731
    lines = ["| profile | latency | tracking direct / joint / whole / robust (mrad) | gain promised by the NDM / measured, "
             "joint (%) | joint NDM 1-step: box / rotation "
             f"(direct) / joint residual run (mrad) | joint NDM {HORIZON}-step: box / rotation (mrad) | ensemble spread: "
             "box / direct / robust run (mrad) | |dq/da(t-k)|, k = 0..3 | NDM / true response to a command change, "
             "first effective step: joint / whole |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        t, j = r["tracking"], r["ndm"]["joint"]
        e = r["ndm"].get("ensemble", {})
        lines.append(
            f"| {r['profile']} | {r['latency_steps']} | " + " / ".join(mr(t.get(v)) for v in VARIANTS) + " | "
            f"{pct(r.get('predicted_gain', {}), 'joint')} / {pct(r.get('measured_gain', {}), 'joint')} | "
            f"{mr(j['chaos_box']['one_step'])} / {mr(j['direct']['one_step'])} / {mr(j.get('joint', {}).get('one_step'))} | "
            f"{mr(j['chaos_box']['open_loop'])} / {mr(j['direct']['open_loop'])} | "
            + (" / ".join(mr(e.get(k, {}).get("spread")) for k in ("chaos_box", "direct", "robust")) if e else "-")
            + " | " + ", ".join(f"{s:.2f}" for s in r["sensitivity"]) + " | " + _response_cell(r) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Stage-by-stage diagnosis of finished sim2sim runs.")
    ap.add_argument("runs", nargs="+", type=Path, help="sim2sim run folders")
    ap.add_argument("--envs", type=int, default=32)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--summary", type=Path, help="write one Markdown table over the runs here")
    args = ap.parse_args(argv)
    results = []
    for run in args.runs:
        if not (run / "sim2sim.json").exists():
            ap.error(f"{run}: not a finished sim2sim run (no sim2sim.json)")
        results.append(diagnose(run, args.envs, args.steps))
        print(json.dumps({k: results[-1][k] for k in ("profile", "tracking", "sensitivity", "command_response")}),
              flush=True)
    if args.summary:
        args.summary.parent.mkdir(parents=True, exist_ok=True)
        args.summary.write_text(summary_markdown(results))
        print(args.summary.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
