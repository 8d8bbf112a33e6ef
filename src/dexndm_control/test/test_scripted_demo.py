"""``dexndm demo``: the scripted open / close / gait sequence on the simulated hand, plot written."""
from dexndm_control import scripted_demo


def test_scripted_demo_writes_plot_and_tracks(tmp_path):
    result = scripted_demo.run(tmp_path, wrist="palm_down", duration=4.0)
    plot = tmp_path / "commanded_vs_measured.png"
    assert plot.exists() and plot.stat().st_size > 10_000
    assert result["state_rate_hz"] >= 100
    assert result["rejected_commands"] == 0
    assert result["mean_tracking_error_rad"] < 0.15
