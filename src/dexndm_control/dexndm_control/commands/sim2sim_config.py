"""Sizes and settings of the sim-to-sim pipeline (``sim2sim_pipeline``), apart from it so that the
command line can derive its options from them without importing the pipeline."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PipelineConfig:
    wrists: list[str] = field(default_factory=lambda: ["palm_up"])   # the base policy's wrists
    axis_set: str = "z"                          # the base policy's axes (rollouts and evaluation)
    start_orientation: str = "random"            # how objects start: random | upright | rotation-axis (long
                                                 # axis along axis_set's one line: the x teachers' start)
    start_offset: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])   # grasp centre from the
                                                 # canonical one, hand frame (m); [-0.02, 0, -0.03]: on the palm
    train_objects: str = "normal_cylinders"      # the base policy's training objects
    test_objects: str = "test"                   # unseen objects
    rollout_episodes: int = 256                  # base-policy episodes kept (object held to the end)
    rollout_steps: int = 400
    rollout_envs: int = 64
    box_trajectories: int = 400                  # Chaos Box trajectories per wrist (the paper: 4,000)
    box_steps: int = 400                         # actions per trajectory (the paper: 400)
    scene: str = "auto"                          # auto (strapped ball palm up, else the ball box) | hand | ...
    n_balls: int = 0                             # 0: enough to cover the hand
    noise_sigma: float = 0.01                    # rad, on the targets of half of the trajectories
    sim_world: str = "nominal"                   # the simulator the pipeline trains in (rollouts, pretraining):
                                                 # nominal, or a profile such as dexndm sysid's identified.yaml
                                                 # (DexNDM on top of sysID); the UAN / ASAP rows keep nominal
    pretrain_trajectories: int = 0               # per wrist, nominal sim; 0: no NDM pretraining
    ndm_width: int = 256
    ndm_epochs: int = 20
    residual_width: int = 256
    residual_epochs: int = 8
    eval_envs: int = 64
    eval_steps: int = 400
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    grasp_candidates: int = 64
    # The robust variant (issue 19; added next to today's when any of these is set): an ensemble of
    # joint-wise NDMs (seeds 0..K-1; member 0 is today's), optionally with the whole-hand NDM as a
    # member that only adds to the spread, the residual trained through the joint-wise mean with a
    # disagreement penalty and scaled online by the ensemble's confidence gate (residual.gate).
    ndm_ensemble: int = 1                        # joint-wise members
    ensemble_whole: bool = False                 # the whole-hand NDM joins the ensemble (spread only)
    gate_quantile: float = 0.0                   # quantile of the Chaos Box data's spread at full strength (0: no gate)
    disagreement_weight: float = 0.0             # x mean ensemble spread (rad) in the residual loss
    # The refined variant (issue 19; added when refine_rounds > 0): rounds of deploying the joint-wise
    # residual (round 1 also the base alone) in the target, refitting the joint-wise NDM on the Chaos
    # Box data plus the recorded steps (from the previous round's NDM) and retraining the residual
    # through it (residual.refine).
    refine_rounds: int = 0
    refine_envs: int = 64                        # envs per deployment, each run for refine_steps
    refine_steps: int = 400
    refine_epochs: int = 8                       # NDM fine-tuning epochs per round
    # The selected variant (issue 19; added when select_strengths is set): trial runs in the target
    # (training objects, seeds select_seeds, apart from the evaluation's) of the base alone and of each
    # joint-wise residual the run has (today's, robust, refined) at each strength; the best RotR whose
    # TTF is at most select_ttf_margin below the base's is kept and evaluated (residual.select).
    select_strengths: list[float] = field(default_factory=list)   # e.g. [0.5, 1.0]
    # Four seeds: with two, a trial's spread over seeds looked like 0-4 RotR and was 3-8, as large as
    # the gaps ranked (docs/results.md, issue 19, session 19).
    select_seeds: list[int] = field(default_factory=lambda: [100, 101, 102, 103])
    select_ttf_margin: float = 0.03
    select_min_gain_se: float = 0.0              # > 0: a residual must beat the base by this many standard
                                                 # errors in the trials (residual.select.choose)
    # UAN and ASAP (issue 21; their rows are added when listed in ``baselines``): each one's model
    # fitted on data the target world gives (UAN: wave trajectories on the free hand through ROS 2;
    # ASAP: the base policy's rotation steps there), then the base distilled again from its teachers
    # (``teachers``: a generalist recipe, bc.pipeline) under their training conditions with the model
    # correcting every command, starting from the base's weights; evaluated without the model.
    baselines: list[str] = field(default_factory=list)   # "uan", "asap", "finetune" (the control: the same
                                                         # fine-tuning with no model)
    teachers: str = "generalist_all"
    uan_trajectories: int = 48                   # wave trajectories (16 joints x 3 waveforms)
    uan_steps: int = 100
    asap_envs: int = 32                          # envs x steps of the base policy in the target
    asap_steps: int = 400
    finetune_episodes: int = 200                 # successful episodes of the recipe's largest teacher entry (the
                                                 # others keep their share of the recipe's episodes)
    finetune_rounds: int = 2                     # DAgger rounds
    finetune_epochs: int = 10                    # per cloning stage
    finetune_samples: int = 50_000               # samples per epoch
    rtf: float = 50.0                            # Chaos Box pacing: at most this many sim seconds per wall second
    threads: int = 1                             # torch threads for training (0: all cores)


PRESETS = {
    "tiny": PipelineConfig(rollout_episodes=4, rollout_steps=30, rollout_envs=4, box_trajectories=3, box_steps=20,
                           ndm_width=32, ndm_epochs=1, residual_width=32, residual_epochs=1, eval_envs=2,
                           eval_steps=20, grasp_candidates=8, refine_envs=2, refine_steps=20,
                           refine_epochs=1, uan_trajectories=2, uan_steps=20, asap_envs=2, asap_steps=20,
                           finetune_episodes=2, finetune_rounds=1, finetune_epochs=1, finetune_samples=64),
    "small": PipelineConfig(),
    "full": PipelineConfig(rollout_episodes=2000, rollout_envs=256, box_trajectories=4000,
                           pretrain_trajectories=1000, ndm_epochs=100, residual_epochs=2, eval_envs=256, threads=0),
}
RUNTIME_FIELDS = ("rtf", "threads")
"""Fields that do not change the results; a resumed run may use other values."""
ROBUST_FIELDS = ("ndm_ensemble", "ensemble_whole", "gate_quantile", "disagreement_weight")
"""Fields of the robust variant only: locked apart (``robust.yaml``), so a finished run gains the
variant without redoing the others."""


REFINE_FIELDS = ("refine_rounds", "refine_envs", "refine_steps", "refine_epochs")
"""Fields of the refined variant only, locked apart (``refine.yaml``) for the same reason."""
BASELINE_FIELDS = ("baselines", "teachers", "uan_trajectories", "uan_steps", "asap_envs", "asap_steps",
                   "finetune_episodes", "finetune_rounds", "finetune_epochs", "finetune_samples")
"""Fields of the UAN and ASAP rows only, locked apart (``baselines.yaml``) for the same reason."""
SELECT_FIELDS = ("select_strengths", "select_seeds", "select_ttf_margin", "select_min_gain_se")
"""Fields of the selected variant only, locked apart (``select.yaml``) for the same reason."""
CONTROL = "finetune"
"""The baseline row of UAN / ASAP's fine-tuning with no model."""
BASELINES = ("uan", "asap", CONTROL)
VARIANT_FIELDS = ROBUST_FIELDS + REFINE_FIELDS + SELECT_FIELDS + BASELINE_FIELDS


def robust_enabled(cfg: PipelineConfig) -> bool:
    return cfg.ndm_ensemble > 1 or cfg.ensemble_whole or cfg.gate_quantile > 0 or cfg.disagreement_weight > 0


def refine_enabled(cfg: PipelineConfig) -> bool:
    return cfg.refine_rounds > 0


def select_enabled(cfg: PipelineConfig) -> bool:
    return bool(cfg.select_strengths)
