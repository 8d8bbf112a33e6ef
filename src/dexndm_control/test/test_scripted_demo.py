"""``dexndm demo``: the scripted open / close / gait sequence on the simulated hand, plot written."""
import pytest

from dexndm_control.commands import scripted_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, scripted_demo.run(out, wrist="palm_down", duration=4.0)


def test_scripted_demo_writes_plot_and_tracks(demo):
    out, result = demo
    plot = out / "commanded_vs_measured.png"
    assert plot.exists() and plot.stat().st_size > 10_000
    assert result["states"] > 0 and result["commands"] > 0
    assert result["rejected_commands"] == 0
    assert result["mean_tracking_error_rad"] < 0.15


@pytest.mark.realtime
def test_scripted_demo_states_come_at_100hz_or_more(demo):
    assert demo[1]["state_rate_hz"] >= 100
