"""Chaos Box collection: the LEAP Hand (or the simulated hand in a Chaos Box scene), the replay
of the base policy's simulated action trajectories, and ``ros2 bag record`` of the collection's
topics (graph "chaos_box" of dexndm_control/graphs.py).

    ros2 launch dexndm_control chaos_box.launch.py wrist:=palm_down source:=/data/rollouts/palm_down \
        trajectories:=4000 out:=/data/chaos_box/palm_down_0
    # resume after a stop: the next index, into a new bag folder
    ros2 launch dexndm_control chaos_box.launch.py ... start_index:=1234 out:=/data/chaos_box/palm_down_1
    # the simulated hand under a reality profile, paced by its /clock
    ros2 launch dexndm_control chaos_box.launch.py sim:=true profile:=worn_hand ...

Without ros2 launch (sim hand + replay + the project's recorder in one process, resumable):
    dexndm collect chaos-box --wrist palm_down --profile worn_hand --trajectories N --out data/chaos_box/NAME \
        --from-dataset DIR
"""
from dexndm_control.graphs.launch_description import launch_description


def generate_launch_description():
    return launch_description("chaos_box")
